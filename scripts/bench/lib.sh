# Shared by scripts/bench-sip.sh, bench-streams.sh and bench-voice-latency.sh
# (sourced, not run). Method and figures: docs/benchmarks-media.md.
#
# Environment (defaults in brackets):
#   BENCH_OUT     where results go       [~/.cache/switchyard/bench-results/DATE]
#   BENCH_BIN     a directory holding switchyard, bench_rtp_peer and
#                 bench_media_stream; unset: build them (release) and copy
#                 them to ~/.cache/switchyard/bench/bin-COMMIT, so a rebuild
#                 of the shared target dir cannot change them mid-run
#   CARGO_TARGET_DIR                     [~/.cache/switchyard/target]
#   HTTP_PORT [18080]  SIP_PORT [15060]  RTP_PORTS [30000-39999]
#   PEER_PORT [40000] (bench_rtp_peer's RTP port, named in every SDP offer)
#   BENCH_NICE    e.g. -10: run server, SIPp and load clients at this nice
#                 value, so that builds sharing the machine take less of
#                 their CPU
#   CLIENT_NICE   the nice value of the media-stream load clients alone
#                 [BENCH_NICE]; e.g. -15 with BENCH_NICE=-5 so that the
#                 client's own lateness does not count against the server
#   PEER_WRAP     how the RTP peer runs [empty: like any process]; e.g.
#                 "chrt -f 50" for exact timestamps on a machine with cores
#                 to spare (on 2 cores a real-time peer preempts the server
#                 on every packet it receives)
#   QUIET_MAX [20], QUIET_WAIT [900]: see bench_wait_quiet

set -euo pipefail

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/switchyard/target}
BENCH_OUT=${BENCH_OUT:-$HOME/.cache/switchyard/bench-results/$(date +%Y%m%d)}
HTTP_PORT=${HTTP_PORT:-18080}
SIP_PORT=${SIP_PORT:-15060}
RTP_PORTS=${RTP_PORTS:-30000-39999}
PEER_PORT=${PEER_PORT:-40000}
mkdir -p "$BENCH_OUT"

# The numbers the bench flows are routed from.
NUM_DTMF=+15005550101     # flows/bench/dtmf-reply.json
NUM_GREETING=+15005550102 # flows/bench/greeting.json
NUM_BARGE=+15005550103    # flows/bench/barge-in.json
NUM_TURN=+15005550104     # flows/bench/llm-turn.json

SERVER_PID=
BENCH_PIDS=()
NICE=()
if [ -n "${BENCH_NICE:-}" ]; then
  NICE=(nice -n "$BENCH_NICE")
fi
CLIENT_NICE_CMD=("${NICE[@]}")
if [ -n "${CLIENT_NICE:-}" ]; then
  CLIENT_NICE_CMD=(nice -n "$CLIENT_NICE")
fi

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# The load averages, for the record beside every figure.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# Busy % of the whole host over 3 s (100 = one core).
host_busy_pct() {
  python3 -c '
import os, time
def rd():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return sum(v) - v[3] - v[4], sum(v)
b0, t0 = rd(); time.sleep(3); b1, t1 = rd()
print(int(100.0 * (b1 - b0) / (t1 - t0) * os.cpu_count()))'
}

# Waits (at most QUIET_WAIT [900] s) until other work on the machine uses at
# most QUIET_MAX [20] % of a core, as the Pipecat baseline's run_bench.sh
# does; runs anyway after that, and says so.
bench_wait_quiet() {
  local waited=0 busy
  while :; do
    busy=$(host_busy_pct)
    if [ "$busy" -le "${QUIET_MAX:-20}" ]; then
      return 0
    fi
    if [ "$waited" -ge "${QUIET_WAIT:-900}" ]; then
      log "host still busy (${busy}% of a core), running anyway"
      return 0
    fi
    log "host busy (${busy}% of a core; load $(loadavg)), waiting"
    sleep 20
    waited=$((waited + 23))
  done
}

bench_build() {
  if [ -n "${BENCH_BIN:-}" ]; then
    return
  fi
  local commit
  commit=$(git -C "$BENCH_ROOT" rev-parse --short HEAD)
  if ! git -C "$BENCH_ROOT" diff --quiet -- studio-api/src runtime plugins sdk; then
    commit="$commit-dirty"
  fi
  log "building (release) the server and the bench clients"
  (cd "$BENCH_ROOT" && cargo build --release -q -p switchyard-studio-api \
    --bin switchyard --example bench_rtp_peer --example bench_media_stream)
  BENCH_BIN=$HOME/.cache/switchyard/bench/bin-$commit
  mkdir -p "$BENCH_BIN"
  cp "$CARGO_TARGET_DIR/release/switchyard" "$CARGO_TARGET_DIR/release/examples/bench_rtp_peer" \
    "$CARGO_TARGET_DIR/release/examples/bench_media_stream" "$BENCH_BIN/"
  log "binaries in $BENCH_BIN"
}

# Caller audio (espeak-ng + sox, 8 kHz µ-law):
#   speech.ulaw  ~20 s of speech with pauses, looped by load clients (the
#                same sentences and recipe as the Pipecat baseline's
#                make_audio.sh)
#   talk.ulaw    "support" (a short utterance for barge-in)
#   turn.ulaw    "What are your opening hours?" (a caller's turn)
#   reply24k.s16 "We are open from nine to five." at 24 kHz s16le (what the
#                instant TTS provider answers)
bench_audio() {
  AUDIO=$BENCH_OUT/audio
  if [ -s "$AUDIO/speech.ulaw" ] && [ -s "$AUDIO/talk.ulaw" ] && [ -s "$AUDIO/turn.ulaw" ] \
    && [ -s "$AUDIO/reply24k.s16" ]; then
    return
  fi
  mkdir -p "$AUDIO"
  local tmp i=0
  tmp=$(mktemp -d)
  local parts=()
  for s in \
    "Hello, I am calling about my account balance." \
    "I would like to check the status of my last payment, please." \
    "Yes, the number is four two seven, one one nine, three three." \
    "Could you also tell me when the next bill is due?" \
    "Thank you very much, that is all for today."; do
    espeak-ng -s 160 -w "$tmp/s$i.wav" "$s"
    sox "$tmp/s$i.wav" -r 8000 -c 1 -b 16 -e signed-integer "$tmp/p$i.wav" pad 0 0.$((6 + i))
    parts+=("$tmp/p$i.wav")
    i=$((i + 1))
  done
  sox "${parts[@]}" "$tmp/speech8k.wav"
  sox "$tmp/speech8k.wav" -t raw -r 8000 -c 1 -e mu-law -b 8 "$AUDIO/speech.ulaw"
  espeak-ng -w "$tmp/talk.wav" "support"
  sox "$tmp/talk.wav" -t raw -r 8000 -c 1 -e mu-law -b 8 "$AUDIO/talk.ulaw"
  espeak-ng -w "$tmp/turn.wav" "What are your opening hours?"
  sox "$tmp/turn.wav" -t raw -r 8000 -c 1 -e mu-law -b 8 "$AUDIO/turn.ulaw"
  espeak-ng -w "$tmp/reply.wav" "We are open from nine to five."
  sox "$tmp/reply.wav" -t raw -r 24000 -c 1 -e signed-integer -b 16 "$AUDIO/reply24k.s16"
  rm -rf "$tmp"
}

api() { # METHOD PATH [JSON]
  local url="http://127.0.0.1:$HTTP_PORT$2"
  if [ $# -ge 3 ]; then
    curl -sf -X "$1" -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
      --data-binary "$3" "$url"
  else
    curl -sf -X "$1" -H "Authorization: Bearer $ADMIN_KEY" "$url"
  fi
}

# Publishes the bench flows, routes a number to each and mints a token per
# number (TOKEN_DTMF, TOKEN_GREETING, TOKEN_BARGE, TOKEN_TURN).
bench_configure() {
  local f name num var
  for pair in dtmf-reply:$NUM_DTMF:TOKEN_DTMF greeting:$NUM_GREETING:TOKEN_GREETING \
    barge-in:$NUM_BARGE:TOKEN_BARGE llm-turn:$NUM_TURN:TOKEN_TURN; do
    f=${pair%%:*}
    num=$(echo "$pair" | cut -d: -f2)
    var=${pair##*:}
    name=$(jq -r .name "$BENCH_ROOT/flows/bench/$f.json")
    api POST /v1/flows "$(cat "$BENCH_ROOT/flows/bench/$f.json")" >/dev/null
    api POST "/v1/flows/$name/versions" '{}' >/dev/null
    api POST /v1/routes "{\"address\":\"$num\",\"flow\":\"$name\",\"environment\":\"production\"}" >/dev/null
    printf -v "$var" '%s' "$(api POST /v1/media-stream/tokens "{\"to\":\"$num\",\"ttl_seconds\":86400}" | jq -r .token)"
  done
}

# Starts a fresh server (new data directory) and configures it.
# Usage: bench_server_start NAME [extra serve args...]
bench_server_start() {
  local name=$1
  shift
  local dir=$BENCH_OUT/server-$name
  rm -rf "$dir"
  mkdir -p "$dir"
  ulimit -n "$(ulimit -Hn)"
  # SERVER_WRAP: e.g. "taskset -c 1" to pin the server.
  # shellcheck disable=SC2086
  RUST_LOG=${SERVER_RUST_LOG:-warn} "${NICE[@]}" ${SERVER_WRAP:-} "$BENCH_BIN/switchyard" serve \
    --listen "127.0.0.1:$HTTP_PORT" --sip "127.0.0.1:$SIP_PORT" --rtp-ports "$RTP_PORTS" \
    --data-dir "$dir/data" "$@" >"$dir/stdout.log" 2>"$dir/stderr.log" &
  SERVER_PID=$!
  BENCH_PIDS+=("$SERVER_PID")
  for _ in $(seq 100); do
    grep -q '^admin key:' "$dir/stdout.log" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/stderr.log" >&2; return 1; }
    sleep 0.1
  done
  ADMIN_KEY=$(awk '/^admin key:/{print $3}' "$dir/stdout.log")
  bench_configure
  SERVER_DIR=$dir
  log "server $name: pid $SERVER_PID, RSS $(awk '/VmRSS/{print $2}' /proc/$SERVER_PID/status) KiB"
}

# Renders the bench flows' prompts once, as a deployment does for fixed
# prompts (the cache then serves them).
bench_warm() {
  "$BENCH_BIN/bench_media_stream" latency dtmf --trials 1 \
    --url "ws://127.0.0.1:$HTTP_PORT/v1/media-stream?token=$TOKEN_DTMF" >/dev/null
  "$BENCH_BIN/bench_media_stream" latency start --trials 1 \
    --url "ws://127.0.0.1:$HTTP_PORT/v1/media-stream?token=$TOKEN_GREETING" >/dev/null
  sleep 1
}

bench_server_stop() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}

bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 0.5
  for pid in "${BENCH_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap bench_cleanup EXIT

# Starts the RTP peer in the background (real-time priority); PEER_PID.
# Usage: bench_peer_start OUT.json [peer args...]
bench_peer_start() {
  local out=$1
  shift
  # shellcheck disable=SC2086
  ${PEER_WRAP:-} "$BENCH_BIN/bench_rtp_peer" --bind "127.0.0.1:$PEER_PORT" --out "$out" "$@" \
    >"${out%.json}.log" 2>&1 &
  PEER_PID=$!
  BENCH_PIDS+=("$PEER_PID")
  sleep 0.3
}

bench_peer_wait() {
  wait "$PEER_PID" 2>/dev/null || true
}

# A working directory for SIPp with its pcap link.
sipp_dir() {
  local d=$BENCH_OUT/sipp-$1
  rm -rf "$d"
  mkdir -p "$d"
  ln -s /usr/share/sip-tester "$d/pcap"
  echo "$d"
}

# Reads SIPp's last statistics line (-trace_stat): "successful failed".
sipp_counts() {
  python3 - "$1" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
h, last = rows[0], rows[-1]
get = lambda name: last[h.index(name)]
print(get("SuccessfulCall(C)"), get("FailedCall(C)"))
EOF
}
