//! Load figures that criterion does not measure: WebAssembly steps per
//! second on one and on all cores, and 10,000 concurrent simulated calls on
//! the text channel, each waiting in a `menu` — resident memory per waiting
//! call, and steps per second when they all answer.
//!
//! Run: `cargo bench -p switchyard-runtime --bench calls`
//! (`CALLS=N` changes the number of calls, `STEPS=N` the number of raw
//! steps; `ONLY_STEPS=1` stops after the single-thread step loop, which is
//! what a `valgrind --tool=callgrind` run wants, with `POOL_SLOTS=2`.)

mod common;

use std::sync::Arc;
use std::time::Instant;

use switchyard_runtime::exec::{CallSession, CallSetup, Entry, FlowSet, Input};
use switchyard_runtime::flow;
use switchyard_runtime::host::{HostConfig, PluginHost};

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    // `cargo bench` passes `--bench`; this harness has no options of its own.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let calls: usize = std::env::var("CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut config = HostConfig::default();
    if let Some(slots) = std::env::var("POOL_SLOTS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        // Valgrind cannot map the default pool's address space; 2 slots fit.
        config.max_concurrent_instances = slots;
    }
    let host = PluginHost::new(config).expect("host");
    let registry = host.bundled_registry().expect("bundled plugins");
    for plugin in registry.iter() {
        plugin.prepare().expect("bundled plugin compiles");
    }

    // 1. Raw step throughput of the wasm `say` plugin.
    let say = registry.get("say", 1).expect("say@1").clone();
    let input = common::say_input();
    let total_steps: usize = std::env::var("STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let only_steps = std::env::var_os("ONLY_STEPS").is_some();
    let worker_counts = if only_steps {
        vec![1]
    } else {
        vec![1, threads]
    };
    for workers in worker_counts {
        let per_worker = total_steps / workers;
        let started = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    for _ in 0..per_worker {
                        assert!(say.step(&input).output.is_ok());
                    }
                });
            }
        });
        let rate = (per_worker * workers) as f64 / started.elapsed().as_secs_f64();
        println!("wasm say steps/s on {workers} thread(s): {rate:.0}");
    }

    if only_steps {
        return;
    }

    // 2. Many calls waiting in a menu.
    let source = serde_json::json!({
        "flow": "switchyard/v1", "name": "bench", "entry": "welcome",
        "vars": {"business": "Acme"},
        "nodes": {
            "welcome": {"use": "say@1", "with": {"text": "Welcome to {{business}}."}, "on": {"done": "menu"}},
            "menu": {"use": "menu@1", "with": {"prompt": "Press 1 for sales or 2 for support.", "options": ["1", "2"], "timeout_ms": 5000},
                     "on": {"1": "sales", "2": "support", "timeout": "menu", "invalid": "menu"}},
            "sales": {"use": "say@1", "with": {"text": "Connecting you to sales."}, "on": {"done": "bye"}},
            "support": {"use": "say@1", "with": {"text": "Support is closed today."}, "on": {"done": "bye"}},
            "bye": {"use": "hangup@1"}
        }
    })
    .to_string();
    let flows = Arc::new(FlowSet::single(
        flow::compile(&source, &registry, None).expect("bench flow"),
    ));
    let before = resident_bytes();
    let started = Instant::now();
    let mut sessions: Vec<CallSession> = (0..calls)
        .map(|i| {
            let mut call =
                CallSession::new(flows.clone(), CallSetup::test(&format!("call-{i}"), 0));
            call.start();
            call
        })
        .collect();
    let setup_time = started.elapsed();
    let after = resident_bytes();
    assert!(
        sessions
            .iter()
            .all(|s| s.current_node() == Some("menu") && s.ended().is_none())
    );
    let per_call = (after.saturating_sub(before)) as f64 / calls as f64;
    println!(
        "{calls} calls waiting in a menu: {:.1} MiB resident, {:.0} bytes ({:.1} KiB) per waiting call; set-up {:.2} s",
        (after - before) as f64 / (1 << 20) as f64,
        per_call,
        per_call / 1024.0,
        setup_time.as_secs_f64()
    );

    // Every caller answers at once; each call then steps the menu, `say` and `hangup`.
    let started = Instant::now();
    let chunk = sessions.len().div_ceil(threads);
    std::thread::scope(|s| {
        for part in sessions.chunks_mut(chunk) {
            s.spawn(move || {
                for (i, call) in part.iter_mut().enumerate() {
                    call.deliver(Input::Digits {
                        digits: if i % 2 == 0 { "1" } else { "2" }.into(),
                    });
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let steps: usize = sessions
        .iter()
        .map(|s| {
            s.log()
                .entries()
                .iter()
                .filter(|e| matches!(e.entry, Entry::Step { .. }))
                .count()
        })
        .sum();
    assert!(sessions.iter().all(|s| s.ended().is_some()));
    let answered_steps = steps - 2 * calls; // two steps per call happened during set-up
    println!(
        "{calls} calls answered on {threads} threads: {answered_steps} steps in {elapsed:.2} s = {:.0} steps/s",
        answered_steps as f64 / elapsed
    );
}
