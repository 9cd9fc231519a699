#!/usr/bin/env bash
# Runs the curl session of README.md's "## Studio API" section as written,
# against a freshly started `switchyard serve` (a temporary data directory,
# free ports), and prints each command with what it answered: to check the
# README (studio-api/tests/api/readme.rs does) or to refresh it.
#
# The session is the first ```sh block of that section: lines starting with
# "$ " are commands, the others what they printed. Three commands are not
# run as written, because what they hold differs on every run:
#   $ switchyard serve &   starts the binary here instead, on 127.0.0.1:0
#                          with a temporary --data-dir and SIP on a free port;
#   $ KEY=...              takes the admin key this server printed;
#   $ CALL=...             takes the "id" the command before it printed;
# and "localhost:8080" in a command becomes this server's address. Every
# other command runs unchanged, in this shell, from the repository root.
#
# Output: each command as "$ COMMAND", what it printed, then "#> HTTP CODE"
# for each request curl made. Exits 1 when a request answers 4xx or 5xx or
# a command fails.
# Usage: scripts/readme-session.sh [PATH_TO_SWITCHYARD_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-${CARGO_TARGET_DIR:-target}/release/switchyard}
[ -x "$bin" ] || { echo "no switchyard binary at $bin (cargo build --release -p switchyard-studio-api)" >&2; exit 2; }
command -v curl >/dev/null || { echo "the session needs curl" >&2; exit 2; }
work=$(mktemp -d)
pid=
trap '[ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }; rm -rf "$work"' EXIT

awk '/^## Studio API$/ {in_section = 1; next}
     in_section && /^## / {exit}
     in_section && !in_block && /^```sh$/ {in_block = 1; next}
     in_block && /^```$/ {exit}
     in_block {print}' README.md >"$work/session"
grep -q '^\$ ' "$work/session" || { echo "no session in README.md's Studio API section" >&2; exit 2; }

# The README's commands call curl; this one also reports each status.
curl() { command curl -w '%{stderr}#> HTTP %{http_code}\n' "$@"; }

failed=0 addr='' key='' last=''
while IFS= read -r line; do
  [[ $line == '$ '* ]] || continue
  cmd=${line#'$ '}
  printf '%s\n' "$line"
  case $cmd in
    'switchyard serve'*)
      env -u SWITCHYARD_MASTER_KEY -u SWITCHYARD_DATABASE_URL "$bin" serve --listen 127.0.0.1:0 \
        --sip 127.0.0.1:0 --data-dir "$work/data" >"$work/serve.out" 2>"$work/serve.log" &
      pid=$!
      for _ in $(seq 1 300); do grep -q '^SIP: ' "$work/serve.out" && break; sleep 0.1; done
      grep -q '^SIP: ' "$work/serve.out" || { echo "the server did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
      cat "$work/serve.out"
      addr=$(sed -n 's|^switchyard serve: listening on http://\([^ ]*\) .*|\1|p' "$work/serve.out")
      key=$(sed -n 's/^admin key: //p' "$work/serve.out")
      continue ;;
    KEY=*) KEY=$key; continue ;;
    CALL=*)
      CALL=$(sed -n 's/^{"id":"\([^"]*\)".*/\1/p' <<<"$last")
      [ -n "$CALL" ] || { echo "no id in: $last" >&2; exit 1; }
      continue ;;
  esac
  [ -n "$addr" ] || { echo "the session runs a command before switchyard serve" >&2; exit 1; }
  if ! eval "${cmd//localhost:8080/$addr}" >"$work/stdout" 2>"$work/status"; then
    echo "#> the command failed"; failed=1
  fi
  last=$(cat "$work/stdout")
  [ -z "$last" ] || printf '%s\n' "$last"
  cat "$work/status"
  if grep -q '^#> HTTP [45]' "$work/status"; then failed=1; fi
done <"$work/session"
exit "$failed"
