#!/usr/bin/env python3
"""Instant OpenAI-compatible providers for the turn benchmark
(docs/benchmarks-media.md): chat completions streamed as SSE, speech to text
(`/audio/transcriptions`) and text to speech (`/audio/speech`, pcm 24 kHz).

They answer at once with fixed content, so what is left of a turn's time
is the engine's. Each request is timed from its first byte read (the
request line) to its last byte written, and logged as one JSON line to
--log: {"kind", "t0", "t1", "ms"} (time.monotonic(), seconds).

Usage: fake_openai.py --port 18555 --log providers.jsonl --tts-audio reply24k.s16
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TRANSCRIPT = "what are your opening hours"
REPLY = "We are open from nine to five."

LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_file = None
    tts_audio = b""

    def log_message(self, *args):  # quiet
        pass

    def handle_one_request(self):
        # Time from the first byte of the request line.
        self._t0 = None
        try:
            self.raw_requestline = self.rfile.readline(65537)
            self._t0 = time.monotonic()
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self.send_error(501)
                return
            method()
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _log(self, kind):
        t1 = time.monotonic()
        line = json.dumps({"kind": kind, "t0": self._t0, "t1": t1, "ms": (t1 - self._t0) * 1000.0})
        with LOCK:
            with open(self.log_file, "a") as f:
                f.write(line + "\n")

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_POST(self):
        body = self._body()
        path = self.path
        if path.endswith("/chat/completions"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            words = REPLY.split(" ")
            chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
            for i, w in enumerate(words):
                chunks.append({"choices": [{"index": 0, "delta": {"content": (" " if i else "") + w}}]})
            chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            out = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
            out += b"data: [DONE]\n\n"
            self.wfile.write(out)
            self.wfile.flush()
            self.close_connection = True
            self._log("llm")
        elif path.endswith("/audio/transcriptions") or path.endswith("/inference"):
            out = json.dumps({"text": TRANSCRIPT}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            self.wfile.flush()
            self._log("stt")
        elif path.endswith("/audio/speech"):
            out = self.tts_audio
            self.send_response(200)
            self.send_header("Content-Type", "audio/pcm")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            self.wfile.flush()
            self._log("tts")
        else:
            self.send_error(404)
        del body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18555)
    ap.add_argument("--log", required=True)
    ap.add_argument("--tts-audio", required=True, help="raw s16le mono 24 kHz")
    args = ap.parse_args()
    Handler.log_file = args.log
    with open(args.tts_audio, "rb") as f:
        Handler.tts_audio = f.read()
    open(args.log, "w").close()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"fake providers on http://127.0.0.1:{args.port}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
