//! One plugin step, three ways: the bundled `say` plugin as WebAssembly (a
//! fresh instance per step, JSON in and out; also with a new wasmtime store
//! per step, as before the host's store cache), the same plugin as a Rhai
//! script, and the same Rust function called natively with the same JSON
//! round trip.
//!
//! A `floor` group measures the host's own share: an empty WAT guest that
//! returns constant output. Two knobs for profiling experiments:
//! `SAY_WASM=/path/to/module.wasm` adds `floor/say-variant`, the same step
//! with another build of `say`; `KEEP_RESIDENT=BYTES` changes the pooled
//! memory kept resident for the `floor` group.
//!
//! Run: `cargo bench -p switchyard-runtime --bench step`

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_runtime::host::{HostConfig, PluginHost, PluginPackage};
use switchyard_sdk::protocol::StepOutput;

fn steps(c: &mut Criterion) {
    let host = PluginHost::new(HostConfig::default()).expect("host");
    let registry = host.bundled_registry().expect("bundled plugins");
    let say = registry.get("say", 1).expect("say@1").clone();
    say.prepare().expect("say compiles");
    let manifest = r#"{"name": "say-rhai", "version": "1.0.0", "kind": "rhai", "module": "say.rhai",
                       "outcomes": ["done"], "actions": ["say"]}"#;
    let rhai_package =
        PluginPackage::from_parts(manifest.as_bytes(), include_bytes!("say.rhai").to_vec())
            .expect("package");
    let say_rhai = host.load(&rhai_package, true).expect("rhai say loads");
    // The same plugin on a host without the store cache: a new wasmtime
    // store for every step, as before it.
    let host_per_step = PluginHost::new(HostConfig {
        steps_per_store: 1,
        ..HostConfig::default()
    })
    .expect("host");
    let say_store_per_step = host_per_step
        .bundled_registry()
        .expect("bundled plugins")
        .get("say", 1)
        .expect("say@1")
        .clone();
    say_store_per_step.prepare().expect("say compiles");
    let input = common::say_input();
    let with_vars = common::say_input_with_vars();
    assert_eq!(
        say.step(&input).output.expect("wasm ok").exit.as_deref(),
        Some("done")
    );
    assert_eq!(
        say_rhai
            .step(&input)
            .output
            .expect("rhai ok")
            .exit
            .as_deref(),
        Some("done")
    );

    let mut group = c.benchmark_group("say-step");
    group.bench_function("wasm", |b| {
        b.iter(|| black_box(say.step(black_box(&input))))
    });
    group.bench_function("wasm-store-per-step", |b| {
        b.iter(|| black_box(say_store_per_step.step(black_box(&input))))
    });
    group.bench_function("wasm-with-vars", |b| {
        b.iter(|| black_box(say.step(black_box(&with_vars))))
    });
    group.bench_function("rhai", |b| {
        b.iter(|| black_box(say_rhai.step(black_box(&input))))
    });
    group.bench_function("native", |b| {
        b.iter(|| {
            // The same JSON round trip as the wasm path: the host serialises
            // the input, the guest parses it, steps, serialises the output,
            // and the host parses that.
            let bytes = serde_json::to_vec(black_box(&input)).expect("serialise");
            let out = switchyard_sdk::guest::step_json(&bytes, switchyard_plugin_say::step)
                .expect("step");
            black_box(
                serde_json::from_str::<StepOutput>(std::str::from_utf8(&out).expect("UTF-8"))
                    .expect("parse"),
            )
        })
    });
    group.bench_function("native-with-vars", |b| {
        b.iter(|| {
            let bytes = serde_json::to_vec(black_box(&with_vars)).expect("serialise");
            let out = switchyard_sdk::guest::step_json(&bytes, switchyard_plugin_say::step)
                .expect("step");
            black_box(
                serde_json::from_str::<StepOutput>(std::str::from_utf8(&out).expect("UTF-8"))
                    .expect("parse"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, steps);
criterion_main!(benches, floor_benches);

fn floor(c: &mut Criterion) {
    let mut config = HostConfig::default();
    if let Some(keep) = std::env::var("KEEP_RESIDENT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.memory_keep_resident_bytes = keep;
    }
    let host = PluginHost::new(config).expect("host");
    let wat = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/plugins/wat/hello.wat"
    ))
    .unwrap();
    let manifest = r#"{"name": "hello", "version": "1.0.0", "kind": "wasm", "module": "hello.wasm", "outcomes": ["done"], "actions": ["say"]}"#;
    let package =
        PluginPackage::from_parts(manifest.as_bytes(), wat::parse_str(&wat).unwrap()).unwrap();
    let hello = host.load(&package, true).unwrap();
    let input = common::say_input();
    c.bench_function("floor/wat-constant", |b| {
        b.iter(|| black_box(hello.step(black_box(&input))))
    });
    if let Ok(path) = std::env::var("SAY_WASM") {
        let manifest = r#"{"name": "say", "version": "1.0.0", "kind": "wasm", "module": "say.wasm", "outcomes": ["done"], "actions": ["say"]}"#;
        let package =
            PluginPackage::from_parts(manifest.as_bytes(), std::fs::read(path).unwrap()).unwrap();
        let say = host.load(&package, true).unwrap();
        assert!(say.step(&input).output.is_ok());
        c.bench_function("floor/say-variant", |b| {
            b.iter(|| black_box(say.step(black_box(&input))))
        });
    }
}
criterion_group!(floor_benches, floor);
