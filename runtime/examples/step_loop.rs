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
//! ```
//!
//! It prints the steps per second of the loop; take differences of two step
//! counts under `perf stat -e instructions` to get the cost of one step.

use std::sync::Arc;
use std::time::Instant;

use switchyard_runtime::host::{HostConfig, Plugin, PluginHost, PluginPackage};
use switchyard_sdk::protocol::{ABI_VERSION, CallInfo, Event, NodeInfo, StepInput, StepOutput};

fn main() {
    let mut args = std::env::args().skip(1);
    let steps: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let which = args.next();
    let input = say_input();
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

/// The input of the `step` benchmark's `say`: no call variables, about 250
/// bytes of JSON.
fn say_input() -> StepInput {
    StepInput {
        abi: ABI_VERSION,
        node: NodeInfo {
            id: "welcome".into(),
            config: serde_json::json!({"text": "Thanks for calling Acme Plumbing. For sales, press 1. For support, press 2."}),
        },
        call: CallInfo {
            id: "bench-call-0001".into(),
            locale: "en-US".into(),
            jurisdiction: vec!["US-CA".into()],
            // `VARS=1`: five call variables, as a plugin that declares
            // `reads_vars` gets them (the `wasm-with-vars` benchmark).
            vars: if std::env::var_os("VARS").is_some() {
                serde_json::json!({
                    "business": "Acme Plumbing", "caller_number": "+14155550100",
                    "called_number": "+18005550199", "sales": "sip:sales@acme.example",
                    "support": "sip:support@acme.example"
                })
                .as_object()
                .cloned()
                .unwrap_or_default()
            } else {
                Default::default()
            },
            now_ms: 1_790_000_000_000,
            seed: 42,
        },
        state: serde_json::Value::Null,
        event: Event::Enter,
    }
}
