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
# Paths in panic messages must not depend on where the clone lives. A 128 KiB
# shadow stack sits at the bottom of linear memory, so an overflow traps
# below address 0 instead of corrupting data.
export RUSTFLAGS="--remap-path-prefix=$root=/switchyard --remap-path-prefix=$HOME=/home -C link-arg=-zstack-size=131072"
export CARGO_TARGET_DIR=$target_dir

# Initial memory per plugin: stack, data and the heap of a typical step, so a
# step never calls `memory.grow` (see sdk/ABI.md, "Memory"). Small is fast:
# the host's reset after each step scans every page of it. A plugin whose
# data needs more says so in its Cargo.toml:
#   [package.metadata.switchyard]
#   initial-memory = 2097152
default_memory=524288
initial_memory() {
  local value
  value=$(sed -n '/^\[package.metadata.switchyard\]/,/^\[/s/^initial-memory *= *\([0-9]*\).*/\1/p' "$1/Cargo.toml")
  echo "${value:-$default_memory}"
}

if [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ]; then
  build() { RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc /usr/bin/cargo rustc --quiet --locked --profile plugin \
    --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort "$@"; }
else
  build() { cargo rustc --quiet --locked --profile plugin --target wasm32-unknown-unknown "$@"; }
fi
# One `cargo rustc` per plugin, because the initial memory is a link argument
# of that plugin alone; the dependencies are built once and shared.
for i in "${!plugins[@]}"; do
  build -p "switchyard-plugin-${plugins[$i]}" --crate-type cdylib -- \
    -C link-arg=--initial-memory="$(initial_memory "${dirs[$i]}")"
done

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
