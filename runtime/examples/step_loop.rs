//! Runs one plugin step in a loop, for profilers and instruction counters
//! (`perf stat`, `perf record`, `valgrind --tool=callgrind`), which want a
//! process that does nothing else. Criterion's timings move ±20% on shared
//! VMs; instruction counts do not.
//!
//! ```sh
//! cargo run --release -p switchyard-runtime --example step_loop -- 200000
//! # another build of a plugin, e.g. to compare guest settings:
//! cargo run --release -p switchyard-runtime --example step_loop -- 200000 path/to/say.wasm
//! # the same Rust function called natively, with the same JSON round trip:
//! cargo run --release -p switchyard-runtime --example step_loop -- 200000 native
//! # a new wasmtime store for every step (no store cache):
//! STEPS_PER_STORE=1 cargo run --release -p switchyard-runtime --example step_loop -- 200000
//! ```
//!
//! It prints the steps per second of the loop; take differences of two step
//! counts under `perf stat -e instructions` to get the cost of one step.

#[path = "../benches/common.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use switchyard_runtime::host::{HostConfig, Plugin, PluginHost, PluginPackage};
use switchyard_sdk::protocol::StepOutput;

fn main() {
    let mut args = std::env::args().skip(1);
    let steps: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let which = args.next();
    // `VARS=1`: five call variables, as a plugin that declares `reads_vars`
    // gets them (the `wasm-with-vars` benchmark).
    let input = if std::env::var_os("VARS").is_some() {
        common::say_input_with_vars()
    } else {
        common::say_input()
    };
    if which.as_deref() == Some("native") {
        let started = Instant::now();
        for _ in 0..steps {
            let bytes = serde_json::to_vec(std::hint::black_box(&input)).expect("serialise");
            let out = switchyard_sdk::guest::step_json(&bytes, switchyard_plugin_say::step)
                .expect("step");
            std::hint::black_box(
                serde_json::from_str::<StepOutput>(std::str::from_utf8(&out).expect("UTF-8"))
                    .expect("parse"),
            );
        }
        report(steps, started);
    } else {
        let say = load_say(which.as_deref());
        let started = Instant::now();
        for _ in 0..steps {
            let result = say.step(std::hint::black_box(&input));
            assert!(result.output.is_ok(), "{:?}", result.output);
        }
        report(steps, started);
    }
}

fn report(steps: u64, started: Instant) {
    let elapsed = started.elapsed();
    println!(
        "{steps} steps in {elapsed:.2?}: {:.2} µs per step",
        elapsed.as_secs_f64() * 1e6 / steps as f64
    );
}

/// The bundled `say`, or another build of it from `path`.
fn load_say(path: Option<&str>) -> Arc<Plugin> {
    // `POOL_SLOTS=2` fits under valgrind, which cannot reserve the default
    // pool's address space.
    let mut config = HostConfig::default();
    if let Some(slots) = std::env::var("POOL_SLOTS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        config.max_concurrent_instances = slots;
    }
    // `STEPS_PER_STORE=1`: a new wasmtime store for every step, as before
    // the store cache, to compare the two (valgrind fits 2 with POOL_SLOTS=2).
    if let Some(steps) = std::env::var("STEPS_PER_STORE")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        config.steps_per_store = steps;
    }
    let host = PluginHost::new(config).expect("host");
    match path {
        Some(path) => {
            let manifest = r#"{"name": "say", "version": "1.0.0", "kind": "wasm", "module": "say.wasm",
                               "outcomes": ["done"], "actions": ["say"]}"#;
            let module = std::fs::read(path).expect("read the module");
            let package = PluginPackage::from_parts(manifest.as_bytes(), module).expect("package");
            host.load(&package, true).expect("module loads")
        }
        None => {
            let registry = host.bundled_registry().expect("bundled plugins");
            let say = registry.get("say", 1).expect("say@1").clone();
            say.prepare().expect("say compiles");
            say
        }
    }
}
