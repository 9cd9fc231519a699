#!/usr/bin/env bash
# Latencies of single voice calls (issue 6, item 10; method and figures in
# docs/benchmarks-media.md), p50 / p99 over TRIALS [60] samples each.
#
#   scripts/bench-voice-latency.sh stream   # Twilio media streams
#   scripts/bench-voice-latency.sh sip      # SIP/RTP (SIPp signalling, bench_rtp_peer media)
#   scripts/bench-voice-latency.sh turn     # STT → LLM → TTS turn with instant providers
#   scripts/bench-voice-latency.sh all
#
# Media streams (bench_media_stream latency, marks echoed as Twilio does):
#   start → first media (flows/bench/greeting.json), key → first media of
#   the reply when nothing plays, and while the last reply still plays
#   (flows/bench/dtmf-reply.json), key → clear and speech onset → clear
#   during a long prompt (flows/bench/barge-in.json).
# SIP (tests/sip/uac_call.xml; bench_rtp_peer answers the media):
#   200 OK received → first RTP packet and → first packet with sound
#   (greeting), key → first prompt packet (dtmf-reply), key and speech
#   onset → the prompt's audio stops (barge-in).
# Turn: fake_openai.py answers STT, chat and TTS at once and logs its own
#   time; the engine's share = (last voiced frame → first answer media)
#   − the VAD's 700 ms end-of-utterance silence − the providers' time.
# Prompt cache warm in every case (a warm-up call first), except in `turn`,
# where the cache is off so each answer is synthesized.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/bench/lib.sh"

TRIALS=${TRIALS:-60}
# One call at a time: a real-time peer costs the server nothing and keeps
# the peer's own scheduling out of the figures.
PEER_WRAP=${PEER_WRAP-chrt -f 50}
FAKE_PORT=${FAKE_PORT:-18555}
ms() { "${NICE[@]}" "$BENCH_BIN/bench_media_stream" "$@"; }
OUT=$BENCH_OUT/latency
mkdir -p "$OUT"

ws() { # TOKEN
  echo "ws://127.0.0.1:$HTTP_PORT/v1/media-stream?token=$1"
}

report() { # NAME FILE [field]
  python3 - "$@" <<'EOF'
import json, sys
name, path = sys.argv[1], sys.argv[2]
field = sys.argv[3] if len(sys.argv) > 3 else "ms"
d = json.load(open(path))
s = d[field] if field in d else d
print(f"{name}: n={s['n']} p50={s['p50']:.1f} ms p99={s['p99']:.1f} ms max={s['max']:.1f} ms")
EOF
}

stream() {
  bench_wait_quiet
  bench_server_start latency-stream
  local lb
  lb=$(loadavg)
  log "media streams (load $lb)"
  # Warm-up: the greeting and both prompts rendered once.
  ms latency start --trials 2 --url "$(ws "$TOKEN_GREETING")" >/dev/null
  ms latency start --trials "$TRIALS" --url "$(ws "$TOKEN_GREETING")" --echo-marks \
    --out "$OUT/stream-start.json" >/dev/null
  report "stream start → first media" "$OUT/stream-start.json"
  ms latency dtmf --trials "$TRIALS" --url "$(ws "$TOKEN_DTMF")" --echo-marks \
    --out "$OUT/stream-dtmf.json" >/dev/null
  report "stream key (idle) → first reply media" "$OUT/stream-dtmf.json"
  ms latency dtmf-during --trials "$TRIALS" --url "$(ws "$TOKEN_DTMF")" --echo-marks \
    --out "$OUT/stream-dtmf-during.json" >/dev/null
  report "stream key (reply playing) → first media of the new reply" "$OUT/stream-dtmf-during.json"
  report "stream key (reply playing) → clear" "$OUT/stream-dtmf-during.json" ms_b
  ms latency barge-key --trials "$TRIALS" --url "$(ws "$TOKEN_BARGE")" --echo-marks \
    --out "$OUT/stream-barge-key.json" >/dev/null
  report "stream key → clear (long prompt)" "$OUT/stream-barge-key.json"
  ms latency barge-speech --trials "$TRIALS" --url "$(ws "$TOKEN_BARGE")" --echo-marks \
    --talk "$AUDIO/talk.ulaw" --out "$OUT/stream-barge-speech.json" >/dev/null
  report "stream speech onset → clear" "$OUT/stream-barge-speech.json"
  log "load after: $(loadavg)"
  bench_server_stop
}

sip_call() { # TAG NUMBER HOLD_MS CALLS [peer args...]
  local tag=$1 num=$2 hold=$3 calls=$4
  shift 4
  local d
  d=$(sipp_dir "latency-$tag")
  bench_peer_start "$OUT/sip-$tag-peer.json" --idle-exit 3 --per-call "$@"
  (cd "$d" && "${NICE[@]}" sipp -sf "$BENCH_ROOT/tests/sip/uac_call.xml" -s "$num" -key rtp_port "$PEER_PORT" \
    -d "$hold" -m "$calls" -l 1 -r 1 -i 127.0.0.1 -p 15080 -mp 16000 -nostdin \
    -trace_msg -message_file msg.log -trace_stat -stf stat.csv \
    -timeout "$((hold / 1000 * calls + 120))s" -timeout_error "127.0.0.1:$SIP_PORT" >sipp.out 2>&1) \
    || log "SIPp exited with an error ($tag): $d/sipp.out"
  bench_peer_wait
  SIPP_DIR=$d
}

sip() {
  bench_wait_quiet
  bench_server_start latency-sip
  log "SIP (load $(loadavg))"
  # Warm-up call (renders the greeting and the reply once).
  sip_call warm "$NUM_GREETING" 2500 1 --dtmf-every 1000 --dtmf-first 1500
  # Answer → first audio.
  sip_call answer "$NUM_GREETING" 1500 "$TRIALS"
  python3 - "$SIPP_DIR/msg.log" "$OUT/sip-answer-peer.json" "$OUT/sip-answer.json" <<'EOF'
import datetime, json, re, sys
log, peer, out = sys.argv[1:]
text = open(log, errors="replace").read()
blocks = re.split(r"\n-{40,} ", "\n" + text)
answers = {}
for b in blocks:
    head = b.split("\n", 2)
    if len(head) < 3 or "received" not in head[1] or "SIP/2.0 200 OK" not in head[2] or "m=audio" not in b:
        continue
    t = datetime.datetime.strptime(head[0].strip()[:26], "%Y-%m-%d %H:%M:%S.%f")
    port = int(re.search(r"m=audio (\d+)", b).group(1))
    answers[port] = t.timestamp() * 1e6  # SIPp writes local time
calls = json.load(open(peer))["per_call"]
first, sound = [], []
for c in calls:
    a = answers.get(c["rtp_port"])
    if a is None:
        continue
    first.append((c["first_packet_unix_us"] - a) / 1000.0)
    if c["first_sound_unix_us"]:
        sound.append((c["first_sound_unix_us"] - a) / 1000.0)
def s(v):
    v = sorted(v)
    p = lambda q: v[min(len(v) - 1, round(q / 100 * (len(v) - 1)))] if v else None
    return {"n": len(v), "p50": p(50), "p90": p(90), "p99": p(99), "max": v[-1] if v else None}
res = {"answer_to_first_packet_ms": s(first), "answer_to_first_sound_ms": s(sound)}
json.dump(res, open(out, "w"), indent=1)
print("SIP 200 OK → first RTP packet: n={n} p50={p50:.1f} p99={p99:.1f} max={max:.1f} ms".format(**res["answer_to_first_packet_ms"]))
print("SIP 200 OK → first packet with the greeting: n={n} p50={p50:.1f} p99={p99:.1f} max={max:.1f} ms".format(**res["answer_to_first_sound_ms"]))
EOF
  # Key → reply: one call, a key every 1.5–2 s.
  local keys_s=$((TRIALS * 7 / 4 + 5))
  sip_call dtmf "$NUM_DTMF" "$((keys_s * 1000))" 1 --dtmf-every 1500 --dtmf-first 1000 --dtmf-jitter 500
  report "SIP key → first prompt packet" "$OUT/sip-dtmf-peer.json" key_to_prompt_ms
  # Barge-in by key: a key every 3–5 s into the ~6 s prompt.
  local barge_s=$((TRIALS * 5 + 10))
  sip_call barge-key "$NUM_BARGE" "$((barge_s * 1000))" 1 --dtmf-every 3000 --dtmf-first 1500 --dtmf-jitter 2000
  report "SIP key → prompt stopped" "$OUT/sip-barge-key-peer.json" key_barge_in_ms
  # Barge-in by speech: "support" every 5 s.
  sip_call barge-speech "$NUM_BARGE" "$((barge_s * 1000 + 60000))" 1 --talk "$AUDIO/talk.ulaw" \
    --talk-every 5000 --talk-first 2500
  report "SIP speech onset → prompt stopped" "$OUT/sip-barge-speech-peer.json" speech_barge_in_ms
  log "load after: $(loadavg)"
  bench_server_stop
}

turn() {
  cat >"$OUT/speech-config.json" <<EOF
{
  "tts": {"provider": "openai", "base_url": "http://127.0.0.1:$FAKE_PORT/v1", "model": "x", "voice": "x",
          "api_key_env": null, "response_format": "pcm", "pcm_sample_rate": 24000},
  "stt": {"provider": "openai", "base_url": "http://127.0.0.1:$FAKE_PORT/v1", "model": "x", "api_key_env": null},
  "llm": {"provider": "openai", "base_url": "http://127.0.0.1:$FAKE_PORT/v1", "model": "x", "api_key_env": null},
  "tts_cache_samples": 0
}
EOF
  python3 "$here/bench/fake_openai.py" --port "$FAKE_PORT" --log "$OUT/providers.jsonl" \
    --tts-audio "$AUDIO/reply24k.s16" >"$OUT/fake.log" 2>&1 &
  BENCH_PIDS+=("$!")
  sleep 0.5
  bench_wait_quiet
  bench_server_start latency-turn --speech-config "$OUT/speech-config.json"
  log "turn (load $(loadavg))"
  ms latency turn --trials 2 --url "$(ws "$TOKEN_TURN")" --echo-marks --talk "$AUDIO/turn.ulaw" >/dev/null
  : >"$OUT/providers.jsonl"
  ms latency turn --trials "$TRIALS" --url "$(ws "$TOKEN_TURN")" --echo-marks \
    --talk "$AUDIO/turn.ulaw" --out "$OUT/turn.json" >/dev/null
  bench_server_stop
  python3 - "$OUT/turn.json" "$OUT/providers.jsonl" "$OUT/turn-engine.json" <<'EOF'
import json, sys
turn, prov, out = sys.argv[1:]
t = json.load(open(turn))
rows = [json.loads(l) for l in open(prov) if l.strip()]
by = {k: [r["ms"] for r in rows if r["kind"] == k] for k in ("stt", "llm", "tts")}
n = min(len(t["samples_b_ms"]), *(len(v) for v in by.values()))
engine = [t["samples_b_ms"][i] - by["stt"][i] - by["llm"][i] - by["tts"][i] for i in range(n)]
prov_total = [by["stt"][i] + by["llm"][i] + by["tts"][i] for i in range(n)]
def s(v):
    v = sorted(v)
    p = lambda q: v[min(len(v) - 1, round(q / 100 * (len(v) - 1)))] if v else None
    return {"n": len(v), "p50": p(50), "p99": p(99), "max": v[-1] if v else None, "min": v[0] if v else None}
res = {"requests": {k: len(v) for k, v in by.items()},
       "end_of_speech_to_answer_ms": s(t["samples_ms"][:n]),
       "after_end_silence_ms": s(t["samples_b_ms"][:n]),
       "providers_ms": s(prov_total),
       "engine_ms": s(engine)}
json.dump(res, open(out, "w"), indent=1)
for k in ("end_of_speech_to_answer_ms", "after_end_silence_ms", "providers_ms", "engine_ms"):
    print(f"turn {k}: " + " ".join(f"{a}={b:.1f}" if isinstance(b, float) else f"{a}={b}" for a, b in res[k].items()))
print("provider requests:", res["requests"])
EOF
}

bench_build
bench_audio
case "${1:-all}" in
  stream) stream ;;
  sip) sip ;;
  turn) turn ;;
  all)
    stream
    sip
    turn
    ;;
  *)
    sed -n '2,26p' "$0"
    exit 2
    ;;
esac
