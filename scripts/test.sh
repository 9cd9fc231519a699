#!/usr/bin/env bash
# The test command: installs what the tests need on a Debian machine that
# has only the Rust toolchain, then checks formatting, lints, the committed
# plugin modules, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian's rustc-web carries the standard library sources, which is how the
# wasm32 plugins are built where `rustup target add` cannot download
# (see ../shared/MACHINE.md); wabt gives wasm-objdump for inspecting modules.
need=()
{ [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ]; } || need+=(rustc-web cargo-web rust-web-src)
command -v wasm-ld-22 >/dev/null || need+=(lld-22)
command -v wasm-objdump >/dev/null || need+=(wabt)
# The media core's real peers and local speech: SIPp, baresip, espeak-ng,
# pocketsphinx with Debian's en-US model, sox for fixtures.
command -v sipp >/dev/null || need+=(sip-tester)
command -v baresip >/dev/null || need+=(baresip-core)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
{ command -v pocketsphinx >/dev/null || command -v pocketsphinx_continuous >/dev/null; } || need+=(pocketsphinx)
[ -d /usr/share/pocketsphinx/model/en-us ] || need+=(pocketsphinx-en-us)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

echo "== PostgreSQL (the API tests run on it and on SQLite)"
SWITCHYARD_TEST_POSTGRES=$(scripts/postgres.sh | tail -n1)
export SWITCHYARD_TEST_POSTGRES

echo "== formatting"
cargo fmt --all -- --check

echo "== committed plugin modules match their sources"
scripts/build-plugins.sh --check

echo "== clippy"
cargo clippy --workspace --all-targets --release --locked -- -D warnings

echo "== tests"
cargo test --workspace --release --locked

echo "== schemathesis against a live server (fails on any 5xx or schema violation)"
scripts/schemathesis.sh "${CARGO_TARGET_DIR:-target}/release/switchyard"

echo "== fuzzing the media core's parsers briefly (SDP, RTP, RTCP, RFC 4733, Twilio messages, audio)"
scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
