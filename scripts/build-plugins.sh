#!/usr/bin/env bash
# Builds every bundled Rust plugin for wasm32-unknown-unknown and copies the
# module next to its manifest (plugins/NAME/NAME.wasm), where the runtime
# embeds it. With --check it builds into a scratch directory instead and fails
# if any committed module differs from what the sources produce.
#
# Toolchain: a rustup toolchain with the wasm32 target if there is one;
# otherwise Debian's rustc-web with rust-web-src, building std from source
# (see ../shared/MACHINE.md). Both produce the same bytes only with the same
# compiler, so the committed modules are built with Debian's rustc-web and CI
# checks with it too.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=${1:-build}

plugins=()
dirs=()
for manifest in plugins/*/manifest.json tests/plugins/*/manifest.json; do
  dir=$(dirname "$manifest")
  if [ -f "$dir/Cargo.toml" ]; then
    plugins+=("$(basename "$dir")")
    dirs+=("$dir")
  fi
done

target_dir=${SWITCHYARD_WASM_TARGET_DIR:-$root/target/wasm}
# Paths in panic messages must not depend on where the clone lives.
export RUSTFLAGS="--remap-path-prefix=$root=/switchyard --remap-path-prefix=$HOME=/home -C link-arg=--initial-memory=2097152 -C link-arg=-zstack-size=262144"
export CARGO_TARGET_DIR=$target_dir

args=()
for p in "${plugins[@]}"; do args+=(-p "switchyard-plugin-$p"); done

if [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ]; then
  RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc /usr/bin/cargo build --quiet --locked --profile plugin \
    --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort "${args[@]}"
else
  cargo build --quiet --locked --profile plugin --target wasm32-unknown-unknown "${args[@]}"
fi

status=0
for i in "${!plugins[@]}"; do
  p=${plugins[$i]}
  built="$target_dir/wasm32-unknown-unknown/plugin/switchyard_plugin_${p//-/_}.wasm"
  committed="${dirs[$i]}/$p.wasm"
  if [ "$mode" = "--check" ]; then
    if ! cmp -s "$built" "$committed"; then
      echo "$committed differs from what ${dirs[$i]} builds to; run scripts/build-plugins.sh and commit" >&2
      status=1
    fi
  else
    cp "$built" "$committed"
    echo "built $committed ($(stat -c %s "$committed") bytes)"
  fi
done
exit $status
