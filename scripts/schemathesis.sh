#!/usr/bin/env bash
# Runs schemathesis against a live `switchyard serve` (fresh SQLite data
# directory) with the bootstrap admin key, and fails on any 5xx or any
# response that breaks the OpenAPI document the server publishes.
# Usage: scripts/schemathesis.sh [PATH_TO_SWITCHYARD_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-${CARGO_TARGET_DIR:-target}/release/switchyard}
venv=${SWITCHYARD_TOOLS_DIR:-$HOME/.cache/switchyard/tools}/schemathesis
if [ ! -x "$venv/bin/schemathesis" ]; then
  command -v python3 >/dev/null || { echo "schemathesis needs python3" >&2; exit 1; }
  python3 -m venv "$venv" 2>/dev/null || {
    sudo_or() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    sudo_or apt-get install -y -q python3-venv && python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q 'schemathesis>=4,<5'
fi
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
"$bin" serve --listen "127.0.0.1:$port" --sip 127.0.0.1:0 --data-dir "$work/data" --key-rate 100000 --auth-failure-rate 100000 >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 1 100); do grep -q '^admin key: ' "$work/out" 2>/dev/null && break; sleep 0.1; done
key=$(sed -n 's/^admin key: //p' "$work/out")
[ -n "$key" ] || { echo "server did not start:" >&2; cat "$work/log" >&2; exit 1; }
# Rate limits are raised: schemathesis tries requests without a key, and
# the per-address failure limit would otherwise answer everything with 429.
# The admin key must stay valid for the run: key revocation is excluded
# (revoking the key under test would turn the rest of the run into 401s).
# Run from the scratch directory: schemathesis writes a cache where it runs.
(cd "$work" && "$venv/bin/schemathesis" run "http://127.0.0.1:$port/v1/openapi.json" \
  --header "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --exclude-operation-id-regex 'revoke_key' \
  --phases examples,coverage,fuzzing \
  --max-examples 30 \
  --workers 2 \
  --suppress-health-check all)
if grep -q 'internal error' "$work/log"; then
  echo "the server logged internal errors:" >&2; grep 'internal error' "$work/log" >&2; exit 1
fi
