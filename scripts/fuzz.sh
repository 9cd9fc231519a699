#!/usr/bin/env bash
# Fuzzes the media core's parsers with cargo-fuzz (libFuzzer), each target
# for a fixed time. CI calls it with the default; run it longer by hand.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to $FUZZ_SECONDS or 20; with no TARGET every
# target in runtime/media/fuzz runs. Exits non-zero if any target finds a
# crash, printing the input that crashed (CI keeps no artifacts).
#
# cargo-fuzz wants nightly for `-Zsanitizer=address`; these machines have
# only stable Rust and cannot download another toolchain, so the build runs
# stable rustc with RUSTC_BOOTSTRAP=1 (the AddressSanitizer runtime ships
# with stable's standard library). Targets build with debug assertions on,
# so integer overflow in a parser is a crash too.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-${FUZZ_SECONDS:-20}}
shift || true
case $seconds in
  '' | *[!0-9]*) echo "fuzz.sh: seconds must be a whole number, got '$seconds'" >&2; exit 2 ;;
esac

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/switchyard/fuzz-target}
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version 0.13.2
fi

cd runtime/media
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "fuzz.sh: building the targets (${targets[*]})"
if ! cargo fuzz build -O --debug-assertions >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log"
  echo "fuzz.sh: the fuzz targets do not build" >&2
  exit 1
fi
failed=()
for target in "${targets[@]}"; do
  # New inputs go to a scratch corpus; the committed seeds are only read,
  # so a run leaves the work tree as it was.
  mkdir -p "$work/$target" "$work/artifacts/$target"
  log=$work/$target.log
  if cargo fuzz run -O --debug-assertions "$target" "$work/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$work/artifacts/$target/" >"$log" 2>&1; then
    runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -n 1 || true)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 || true)
    echo "fuzz.sh: $target clean for ${seconds}s (${runs#Done }, $cov)"
  else
    failed+=("$target")
    echo "fuzz.sh: $target FAILED; the end of its log:"
    tail -n 40 "$log"
    for input in "$work/artifacts/$target"/*; do
      [ -f "$input" ] || continue
      echo "fuzz.sh: crashing input $(basename "$input") (base64):"
      base64 -w 0 "$input"
      echo
    done
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: ${#failed[@]} of ${#targets[@]} targets crashed: ${failed[*]}"
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets clean"
