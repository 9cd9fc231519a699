#!/bin/sh
# Regenerates the G.711 reference vectors with SoX (Debian `sox`, 14.4.2).
# Inputs: every code 0..=255 in order, and every 16-bit sample -32768..=32767
# in order (little-endian). -D turns dither off so the output is exact.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)))' > "$tmp/codes.u8"
python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack("<65536h", *range(-32768, 32768)))' > "$tmp/sweep.s16le"
sox -D -t raw -r 8000 -e u-law -b 8 -c 1 "$tmp/codes.u8" -t raw -e signed-integer -b 16 -L ulaw_decoded.s16le
sox -D -t raw -r 8000 -e a-law -b 8 -c 1 "$tmp/codes.u8" -t raw -e signed-integer -b 16 -L alaw_decoded.s16le
# SoX warns that it clipped 2 (µ-law) and 4 (A-law) samples: the top inputs
# round past the largest 14-/13-bit value and saturate, as ours do.
sox -D -t raw -r 8000 -e signed-integer -b 16 -L -c 1 "$tmp/sweep.s16le" -t raw -e u-law -b 8 ulaw_encoded.u8
sox -D -t raw -r 8000 -e signed-integer -b 16 -L -c 1 "$tmp/sweep.s16le" -t raw -e a-law -b 8 alaw_encoded.u8
