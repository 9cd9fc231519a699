#!/usr/bin/env bash
# Load figures of the Studio API with wrk, on SQLite or PostgreSQL:
#   scripts/bench-api.sh sqlite|postgres [SECONDS]
# Publishes a 200-node flow repeatedly (one connection), then GETs a flow
# and a page of the call list with 32 connections on 2 threads. Prints wrk's
# latency distribution; the README quotes requests/s, p50 and p99.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
seconds=${2:-10}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
command -v wrk >/dev/null || { as_root apt-get update -q; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
cargo build --release -q -p switchyard-studio-api
bin=${CARGO_TARGET_DIR:-target}/release/switchyard
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
args=(--data-dir "$work/data" --key-rate 10000000)
if [ "$backend" = postgres ]; then
  base=$(scripts/postgres.sh | tail -n1)
  db="sy_bench_$$"
  as_root runuser -u postgres -- psql -q -c "CREATE DATABASE $db" >/dev/null
  args+=(--database-url "$base/$db")
fi
port=$((20000 + RANDOM % 20000))
"$bin" serve --listen "127.0.0.1:$port" --sip 127.0.0.1:0 "${args[@]}" >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 1 100); do grep -q '^admin key: ' "$work/out" 2>/dev/null && break; sleep 0.1; done
key=$(sed -n 's/^admin key: //p' "$work/out")
api="http://127.0.0.1:$port"
auth="Authorization: Bearer $key"

# A 200-node flow: 199 `say` nodes in a chain, then `hangup`.
python3 - >"$work/big.json" <<'PY'
import json
nodes = {f"n{i}": {"use": "say@1", "with": {"text": f"Step {i}."}, "on": {"done": f"n{i+1}"}} for i in range(199)}
nodes["n199"] = {"use": "hangup@1"}
print(json.dumps({"flow": "switchyard/v1", "name": "big", "entry": "n0", "nodes": nodes}))
PY
curl -sf -o /dev/null -X POST "$api/v1/flows" -H "$auth" -H 'content-type: application/json' --data @"$work/big.json"
# Calls for the list: text-channel calls to the bundled receptionist.
for i in $(seq 1 200); do
  id=$(curl -sf -X POST "$api/v1/calls" -H "$auth" -H 'content-type: application/json' \
    -d "{\"from\": \"+1415555$(printf %04d "$i")\", \"to\": \"+18005550199\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -sf -o /dev/null -X POST "$api/v1/calls/$id/input" -H "$auth" -H 'content-type: application/json' -d '{"hangup": true}'
done

cat >"$work/publish.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"live": false}'
wrk.headers["Content-Type"] = "application/json"
LUA
echo "== $backend: publish a 200-node flow (1 connection)"
wrk -t1 -c1 -d"${seconds}s" --latency -H "$auth" -s "$work/publish.lua" "$api/v1/flows/big/versions"
echo "== $backend: GET /v1/flows/receptionist (32 connections)"
wrk -t2 -c32 -d"${seconds}s" --latency -H "$auth" "$api/v1/flows/receptionist"
echo "== $backend: GET /v1/calls?limit=50 (32 connections)"
wrk -t2 -c32 -d"${seconds}s" --latency -H "$auth" "$api/v1/calls?limit=50"
if grep -q 'internal error' "$work/log"; then echo "the server logged internal errors" >&2; exit 1; fi
