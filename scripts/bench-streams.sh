#!/usr/bin/env bash
# Twilio media streams side by side with the Pipecat baseline (issue 6,
# item 10; method and figures in docs/benchmarks-media.md).
#
#   scripts/bench-streams.sh pipecat N [N...]
#       the Pipecat server of ../shared/bench/pipecat-baseline (pinned to
#       CPU 1, as in its RESULTS.md) under its own load client (CPU 0)
#   scripts/bench-streams.sh switchyard N [N...]
#       `switchyard serve` with flows/bench/dtmf-reply.json (VAD on every
#       inbound frame, each key answered with a ~1 s prompt) under a load
#       client. CLIENT=python (default): the baseline's loadclient.py,
#       unchanged, given the stream token in the URL and --prompt-frames 1
#       (Switchyard sends a prompt as one `media` message); CLIENT=rust:
#       bench_media_stream load, a Rust port of it for N beyond what the
#       Python client can drive (ECHO_MARKS=1 also echoes marks as Twilio
#       does). CORES=1 (default): server on CPU 1, client on CPU 0, like
#       the baseline; CORES=2: neither pinned.
#   scripts/bench-streams.sh table FILE.json...
#       prints the Markdown table of results
#
# Environment: DURATION [30] (measurement window, s), WARMUP [5],
# PIPECAT_DIR [../shared/bench/pipecat-baseline], PIPECAT_VENV
# [~/.cache/switchyard/tools/pipecat-bench/venv; created with
# `pip install "pipecat-ai[silero,websocket]" uvicorn` when missing],
# PIPECAT_PORT [8765]; and scripts/bench/lib.sh's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/bench/lib.sh"

DURATION=${DURATION:-30}
WARMUP=${WARMUP:-5}
CLIENT=${CLIENT:-python}
CORES=${CORES:-1}
ECHO_MARKS=${ECHO_MARKS:-0}
PIPECAT_DIR=${PIPECAT_DIR:-$BENCH_ROOT/../shared/bench/pipecat-baseline}
PIPECAT_VENV=${PIPECAT_VENV:-$HOME/.cache/switchyard/tools/pipecat-bench/venv}
PIPECAT_PORT=${PIPECAT_PORT:-8765}

python_venv() {
  if [ ! -x "$PIPECAT_VENV/bin/python" ]; then
    log "creating $PIPECAT_VENV (pipecat-ai[silero,websocket], uvicorn)"
    python3 -m venv "$PIPECAT_VENV"
    "$PIPECAT_VENV/bin/pip" install -q "pipecat-ai[silero,websocket]" uvicorn
  fi
  PY=$PIPECAT_VENV/bin/python
}

# Adds the load averages and idle RSS to a result file.
annotate() { # FILE SERVER CLIENT CORES IDLE_KIB LOAD_BEFORE LOAD_AFTER
  "$PY" - "$@" <<'EOF'
import json, sys
p, server, client, cores, idle, lb, la = sys.argv[1:]
d = json.load(open(p))
d.update(server=server, client_kind=client, cores=cores, load_before=lb, load_after=la,
         server_rss_mib_idle=int(idle) / 1024.0)
if d.get("server_rss_mib_max") is not None:
    d["server_rss_kib_per_stream"] = (d["server_rss_mib_max"] - d["server_rss_mib_idle"]) * 1024.0 / d["n"]
open(p, "w").write(json.dumps(d, indent=1) + "\n")
EOF
}

# Adds the server's own account of its inbound audio, summed over the
# streams' `switchyard::ingress` lines: frames through the VAD (as % of the
# `media` messages the client sent, each one 20 ms frame), the largest lag
# behind the stream's timeline, and the share of frames 20 ms and 100 ms
# late or more (the Pipecat server's /stats counts the same).
ingress() { # FILE STDERR_LOG
  "$PY" - "$@" <<'EOF'
import json, re, sys
p, log = sys.argv[1:]
frames = ge20 = ge100 = streams = 0
lag_max = 0.0
for line in open(log, errors="replace"):
    if "switchyard::ingress" not in line:
        continue
    f = dict(re.findall(r"(\w+)=\"?([\d.]+)", line))
    streams += 1
    frames += int(f["frames"])
    ge20 += int(f["lag_ge_20ms"])
    ge100 += int(f["lag_ge_100ms"])
    lag_max = max(lag_max, float(f["lag_max_ms"]))
d = json.load(open(p))
if streams:
    d.update(server_ingress_streams=streams, server_ingress_frames=frames,
             server_ingress_lag_ms_max=lag_max,
             server_ingress_frac_ge_20ms=ge20 / frames if frames else None,
             server_ingress_frac_ge_100ms=ge100 / frames if frames else None)
    if d.get("media_sent"):
        d["server_ingress_realtime_pct"] = 100.0 * frames / d["media_sent"]
open(p, "w").write(json.dumps(d, indent=1) + "\n")
EOF
}

pins() {
  if [ "$CORES" = 1 ]; then
    SERVER_PIN=(taskset -c 1)
    CLIENT_PIN=(taskset -c 0)
  else
    SERVER_PIN=()
    CLIENT_PIN=()
  fi
}

run_pipecat() {
  local n=$1 out=$BENCH_OUT/streams-pipecat-n$1.json
  local lb la spid idle
  bench_wait_quiet
  lb=$(loadavg)
  "${NICE[@]}" taskset -c 1 "$PY" "$PIPECAT_DIR/server.py" --port "$PIPECAT_PORT" \
    --prompt "$BENCH_OUT/audio/prompt.pcm" >"$BENCH_OUT/pipecat-n$n.log" 2>&1 &
  spid=$!
  BENCH_PIDS+=("$spid")
  for _ in $(seq 150); do
    curl -sf "http://127.0.0.1:$PIPECAT_PORT/stats" >/dev/null 2>&1 && break
    sleep 0.2
  done
  idle=$(awk '/VmRSS/{print $2}' "/proc/$spid/status")
  log "pipecat N=$n (server pid $spid, load $lb)"
  "${NICE[@]}" taskset -c 0 "$PY" "$PIPECAT_DIR/loadclient.py" -n "$n" --duration "$DURATION" --warmup "$WARMUP" \
    --url "ws://127.0.0.1:$PIPECAT_PORT/ws" --speech "$AUDIO/speech.ulaw" \
    --server-pid "$spid" --stats-url "http://127.0.0.1:$PIPECAT_PORT/stats" \
    --out "$out" >/dev/null || log "client failed for N=$n"
  la=$(loadavg)
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  annotate "$out" pipecat loadclient.py 1 "$idle" "$lb" "$la"
  table "$out"
}

run_switchyard() {
  local n=$1 tag
  tag=$CLIENT-c$CORES$([ "$ECHO_MARKS" = 1 ] && echo -marks || true)
  local out=$BENCH_OUT/streams-switchyard-$tag-n$n.json
  local lb la idle
  pins
  bench_wait_quiet
  # Each stream says at its end how its inbound audio kept up
  # (`switchyard::ingress`, see `ingress` above).
  SERVER_RUST_LOG=${SERVER_RUST_LOG:-warn,switchyard::ingress=info} \
    SERVER_WRAP="${SERVER_PIN[*]}" bench_server_start "streams-n$n"
  bench_warm
  idle=$(awk '/VmRSS/{print $2}' "/proc/$SERVER_PID/status")
  lb=$(loadavg)
  log "switchyard N=$n client=$CLIENT cores=$CORES (load $lb)"
  local url="ws://127.0.0.1:$HTTP_PORT/v1/media-stream?token=$TOKEN_DTMF"
  if [ "$CLIENT" = python ]; then
    "${CLIENT_NICE_CMD[@]}" "${CLIENT_PIN[@]}" "$PY" "$PIPECAT_DIR/loadclient.py" -n "$n" --duration "$DURATION" \
      --warmup "$WARMUP" --url "$url" --speech "$AUDIO/speech.ulaw" --server-pid "$SERVER_PID" \
      --prompt-frames 1 --out "$out" >/dev/null || log "client failed for N=$n"
  else
    local marks=()
    [ "$ECHO_MARKS" = 1 ] && marks=(--echo-marks)
    "${CLIENT_NICE_CMD[@]}" "${CLIENT_PIN[@]}" "$BENCH_BIN/bench_media_stream" load -n "$n" --duration "$DURATION" \
      --warmup "$WARMUP" --url "$url" --speech "$AUDIO/speech.ulaw" --server-pid "$SERVER_PID" \
      --prompt-frames 1 --threads 1 "${marks[@]}" --out "$out" >/dev/null || log "client failed for N=$n"
  fi
  la=$(loadavg)
  local warnings
  warnings=$(grep -c -E ' (WARN|ERROR) ' "$SERVER_DIR/stderr.log" || true)
  bench_server_stop
  annotate "$out" switchyard "$CLIENT" "$CORES" "$idle" "$lb" "$la"
  ingress "$out" "$SERVER_DIR/stderr.log"
  [ "$warnings" -gt 0 ] && log "server logged $warnings warnings: $SERVER_DIR/stderr.log"
  table "$out"
}

table() {
  "${PY:-python3}" - "$@" <<'EOF'
import json, sys
def late(d):
    a, b = d.get("server_ingress_frac_ge_20ms"), d.get("server_ingress_frac_ge_100ms")
    return "-" if a is None else f"{100 * a:.2f} / {100 * b:.2f}"
def f(v, nd=1):
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))
cols = ["server", "client", "cores", "N", "server CPU %", "CPU %/stream", "streams/core at this load",
        "RSS idle/max MiB", "KiB/stream", "DTMF→reply p50/p99/max ms", "answered/sent",
        "inbound through VAD %", "frames ≥ 20 / ≥ 100 ms late %", "client CPU %", "client late p99 ms", "other CPU %", "load before → after"]
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
for p in sys.argv[1:]:
    d = json.load(open(p))
    cpu = d.get("server_cpu_pct")
    per_core = d["n"] / (cpu / 100.0) if cpu else None
    ingress = d.get("server_ingress_realtime_pct")
    row = [d.get("server"), d.get("client_kind"), d.get("cores"), d["n"], f(cpu),
           f(d.get("server_cpu_pct_per_stream"), 3), f(per_core, 0),
           f"{f(d.get('server_rss_mib_idle'), 0)} / {f(d.get('server_rss_mib_max'), 0)}",
           f(d.get("server_rss_kib_per_stream"), 0),
           f"{f(d.get('lat_ms_p50'))} / {f(d.get('lat_ms_p99'))} / {f(d.get('lat_ms_max'))}",
           f"{d['dtmf_answered']}/{d['dtmf_sent']}", f(ingress),
           late(d),
           f(d.get("client_cpu_pct")), f(d.get("send_lateness_ms_p99")), f(d.get("other_cpu_pct")),
           f"{d.get('load_before')} → {d.get('load_after')}"]
    print("| " + " | ".join(str(x) for x in row) + " |")
EOF
}

cmd=${1:-}
shift || true
case "$cmd" in
  pipecat)
    bench_audio
    python_venv
    # The baseline's reply prompt (exactly 1 s of "Thank you.").
    if [ ! -s "$BENCH_OUT/audio/prompt.pcm" ]; then
      "$PIPECAT_DIR/make_audio.sh" "$BENCH_OUT/audio-pipecat" >/dev/null
      cp "$BENCH_OUT/audio-pipecat/prompt.pcm" "$BENCH_OUT/audio/prompt.pcm"
    fi
    for n in "$@"; do run_pipecat "$n"; done
    ;;
  switchyard)
    bench_build
    bench_audio
    python_venv
    for n in "$@"; do run_switchyard "$n"; done
    ;;
  table)
    table "$@"
    ;;
  *)
    sed -n '2,26p' "$0"
    exit 2
    ;;
esac
