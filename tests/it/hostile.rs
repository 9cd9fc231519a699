//! Hostile and broken plugins: each fails its own step with a clear,
//! structured reason, and nothing else notices.

use std::sync::Arc;

use serde_json::json;
use switchyard_runtime::exec::{CallSession, CallSetup, Entry, FlowSet, Input};
use switchyard_runtime::flow;
use switchyard_runtime::host::{LoadError, Plugin, PluginPackage, StepErrorCode};
use switchyard_sdk::protocol::{ABI_VERSION, Action, CallInfo, Event, NodeInfo, StepInput};

use crate::support::{bundled, host, load_wat, repo};

fn input(config: serde_json::Value) -> StepInput {
    StepInput {
        abi: ABI_VERSION,
        node: NodeInfo {
            id: "n".into(),
            config,
        },
        call: CallInfo {
            id: "hostile".into(),
            locale: "en-US".into(),
            jurisdiction: vec![],
            vars: Default::default(),
            now_ms: 0,
            seed: 7,
        },
        state: serde_json::Value::Null,
        event: Event::Enter,
    }
}

fn step_error(plugin: &Plugin) -> (StepErrorCode, String) {
    let error = plugin
        .step(&input(json!({})))
        .output
        .expect_err("the step must fail");
    (error.code, error.message)
}

#[test]
fn an_infinite_loop_hits_the_cpu_deadline() {
    let (code, message) = step_error(&load_wat("infinite-loop.wat").unwrap());
    assert_eq!(code, StepErrorCode::CpuLimit);
    assert!(message.contains("CPU deadline of 50 ms"), "{message}");
}

#[test]
fn a_memory_grow_bomb_hits_the_memory_limit() {
    let (code, message) = step_error(&load_wat("memory-bomb.wat").unwrap());
    assert_eq!(code, StepErrorCode::MemoryLimit);
    assert!(
        message.contains("exceeds the limit of 67108864 bytes"),
        "{message}"
    );
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let (code, _) = step_error(&load_wat("deep-recursion.wat").unwrap());
    assert_eq!(code, StepErrorCode::StackOverflow);
}

#[test]
fn a_100_mb_output_is_refused() {
    let (code, message) = step_error(&load_wat("huge-output.wat").unwrap());
    assert_eq!(code, StepErrorCode::OutputLimit);
    assert!(
        message.contains("104857600 bytes exceeds the limit of 262144"),
        "{message}"
    );
}

#[test]
fn a_log_flood_hits_the_log_limit() {
    let (code, _) = step_error(&load_wat("log-flood.wat").unwrap());
    assert_eq!(code, StepErrorCode::LogLimit);
}

#[test]
fn output_that_is_not_json_is_bad_output() {
    let (code, message) = step_error(&load_wat("bad-output.wat").unwrap());
    assert_eq!(code, StepErrorCode::BadOutput);
    assert!(message.contains("not a valid step output"), "{message}");
}

#[test]
fn returning_without_output_is_reported() {
    let (code, _) = step_error(&load_wat("no-output.wat").unwrap());
    assert_eq!(code, StepErrorCode::NoOutput);
}

#[test]
fn a_wasi_import_is_refused_at_load_naming_it() {
    let error = load_wat("wasi-import.wat").unwrap_err();
    assert!(matches!(error, LoadError::UnknownImport { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("wasi_snapshot_preview1.fd_write"),
        "{message}"
    );
    assert!(message.contains("WASI is not available"), "{message}");
}

#[test]
fn a_missing_step_export_is_refused_at_load() {
    let error = load_wat("missing-step.wat").unwrap_err().to_string();
    assert_eq!(
        error,
        "missing export `switchyard_step`: expected a function (i32, i32) -> (i32)"
    );
}

#[test]
fn a_wrong_abi_marker_is_refused_at_load() {
    let error = load_wat("wrong-abi.wat").unwrap_err().to_string();
    assert_eq!(
        error,
        "wrong ABI version: expected export `switchyard_abi_v1`, found `switchyard_abi_v2`"
    );
}

#[test]
fn a_wrong_step_signature_is_refused_at_load() {
    let error = load_wat("wrong-signature.wat").unwrap_err().to_string();
    assert_eq!(
        error,
        "export `switchyard_step` is a function (i32) -> (i32), expected a function (i32, i32) -> (i32)"
    );
}

#[test]
fn a_rust_guest_panic_is_reported_with_its_message() {
    let plugin = host()
        .load_dir(&repo().join("tests/plugins/panicker"), false)
        .unwrap();
    let error = plugin
        .step(&input(json!({"panic": "card reader on fire"})))
        .output
        .unwrap_err();
    assert_eq!(error.code, StepErrorCode::GuestPanic);
    assert!(
        error.message.contains("card reader on fire"),
        "{}",
        error.message
    );
    // The same module steps fine on the next call: the panic cost one instance.
    let output = plugin.step(&input(json!({}))).output.unwrap();
    assert_eq!(output.exit.as_deref(), Some("done"));
}

fn rhai(script: &str, actions: &[&str]) -> Arc<Plugin> {
    let manifest = json!({"name": "script", "version": "1.0.0", "kind": "rhai", "module": "script.rhai",
                          "outcomes": ["done"], "actions": actions});
    let package =
        PluginPackage::from_parts(manifest.to_string().as_bytes(), script.as_bytes().to_vec())
            .unwrap();
    host().load(&package, false).unwrap()
}

#[test]
fn a_rhai_script_that_loops_forever_runs_out_of_operations() {
    let plugin = rhai("fn step(input) { loop { } }", &[]);
    let (code, message) = step_error(&plugin);
    assert_eq!(code, StepErrorCode::CpuLimit);
    assert!(message.contains("operation budget"), "{message}");
}

#[test]
fn a_rhai_script_building_a_huge_string_hits_the_size_cap() {
    let plugin = rhai(r#"fn step(input) { let s = "x"; loop { s += s; } }"#, &[]);
    let (code, message) = step_error(&plugin);
    assert_eq!(code, StepErrorCode::MemoryLimit);
    assert!(message.contains("exceeds its size limit"), "{message}");
}

#[test]
fn rhai_recursion_is_capped() {
    let plugin = rhai("fn down(n) { down(n + 1) } fn step(input) { down(0) }", &[]);
    assert_eq!(step_error(&plugin).0, StepErrorCode::StackOverflow);
}

#[test]
fn rhai_has_no_eval_and_no_modules() {
    let manifest =
        json!({"name": "script", "version": "1.0.0", "kind": "rhai", "module": "s.rhai"});
    for script in [
        r#"fn step(input) { eval("1") }"#,
        r#"import "fs" as fs; fn step(input) { 1 }"#,
    ] {
        let package =
            PluginPackage::from_parts(manifest.to_string().as_bytes(), script.as_bytes().to_vec())
                .unwrap();
        assert!(
            host().load(&package, false).is_err(),
            "{script} should not compile"
        );
    }
}

#[test]
fn an_action_the_manifest_does_not_declare_is_refused() {
    let plugin = rhai(
        r#"fn step(input) { #{ actions: [#{ type: "transfer", to: "+15550000000" }], exit: "done" } }"#,
        &["say"],
    );
    let (code, message) = step_error(&plugin);
    assert_eq!(code, StepErrorCode::UndeclaredAction);
    assert!(
        message.contains("`transfer`") && message.contains("declared: say"),
        "{message}"
    );
}

#[test]
fn the_handwritten_wat_plugin_speaks_the_abi() {
    let plugin = load_wat("hello.wat").unwrap();
    let result = plugin.step(&input(json!({})));
    let output = result.output.unwrap();
    assert_eq!(output.exit.as_deref(), Some("done"));
    assert_eq!(
        output.actions,
        vec![Action::Say {
            text: "Hello from a module written in WAT.".into(),
            barge_in: true
        }]
    );
    assert_eq!(result.logs[0].message, "hello.wat stepping");
}

/// The host reuses wasmtime stores between steps (see `wasm_host::StoreCache`);
/// each step must still start from a fresh instance, including after a step
/// that trapped or grew its memory. `remember.wat` sets a global and a byte
/// of memory in every step and says "stale" if it finds either set.
#[test]
fn no_step_sees_what_an_earlier_step_left() {
    let plugin = load_wat("remember.wat").unwrap();
    let padded = |n: usize| input(json!({"pad": "x".repeat(n)}));
    for round in 0..64 {
        let (step_input, traps) = match round % 4 {
            0 | 1 => (input(json!({})), false),
            2 => (padded(400), true),
            _ => (padded(800), false),
        };
        let output = plugin.step(&step_input).output;
        if traps {
            assert_eq!(
                output.unwrap_err().code,
                StepErrorCode::Trap,
                "round {round}"
            );
        } else {
            assert_eq!(
                output.unwrap().actions,
                vec![Action::Say {
                    text: "fresh".into(),
                    barge_in: true
                }],
                "round {round}"
            );
        }
    }
}

/// A flow whose first node runs `plugin_use`, with an `on_error` fallback.
fn flow_with(plugin_use: &str) -> String {
    json!({
        "flow": "switchyard/v1", "name": "guarded", "entry": "risky", "on_error": "recovered",
        "nodes": {
            "risky": {"use": plugin_use, "on": {"done": "bye"}},
            "recovered": {"use": "say@1", "with": {"text": "We recovered."}, "on": {"done": "bye"}},
            "bye": {"use": "hangup@1"}
        }
    })
    .to_string()
}

#[test]
fn a_failing_node_takes_the_error_fallback_and_logs_a_structured_reason() {
    let mut registry = bundled();
    registry.insert(load_wat("infinite-loop.wat").unwrap());
    let compiled = flow::compile(&flow_with("infinite-loop@1"), &registry, None).unwrap();
    let mut call = CallSession::new(Arc::new(FlowSet::single(compiled)), CallSetup::test("c", 0));
    let actions = call.start();
    assert_eq!(
        actions[0],
        Action::Say {
            text: "We recovered.".into(),
            barge_in: true
        }
    );
    let errors = call.log().plugin_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "risky");
    assert_eq!(errors[0].1.code, StepErrorCode::CpuLimit);
    assert!(
        call.log()
            .entries()
            .iter()
            .any(|e| matches!(&e.entry, Entry::Fallback { to: Some(to), .. } if to == "recovered"))
    );
    let line = call.log().to_jsonl();
    assert!(
        line.contains(r#""code":"cpu-limit""#),
        "the log carries the code: {line}"
    );
}

#[test]
fn hostile_plugins_do_not_disturb_fifty_calls_running_alongside() {
    let mut registry = bundled();
    for name in [
        "infinite-loop.wat",
        "memory-bomb.wat",
        "deep-recursion.wat",
        "huge-output.wat",
        "log-flood.wat",
    ] {
        registry.insert(load_wat(name).unwrap());
    }
    let panicker = host()
        .load_dir(&repo().join("tests/plugins/panicker"), false)
        .unwrap();
    registry.insert(panicker);
    let registry = Arc::new(registry);

    let good = json!({
        "flow": "switchyard/v1", "name": "good", "entry": "hi",
        "nodes": {
            "hi": {"use": "say@1", "with": {"text": "Hello {{caller_number}}."}, "on": {"done": "menu"}},
            "menu": {"use": "menu@1", "with": {"prompt": "Press 1 or 2.", "options": ["1", "2"], "timeout_ms": 3000},
                     "on": {"1": "one", "2": "two", "timeout": "two", "invalid": "two"}},
            "one": {"use": "hangup@1", "with": {"text": "You chose one."}},
            "two": {"use": "hangup@1", "with": {"text": "You chose two."}}
        }
    })
    .to_string();
    let good = Arc::new(FlowSet::single(
        flow::compile(&good, &registry, None).unwrap(),
    ));

    let mut hostile_threads = Vec::new();
    for name in [
        "infinite-loop@1",
        "memory-bomb@1",
        "deep-recursion@1",
        "huge-output@1",
        "log-flood@1",
        "panicker@1",
    ] {
        let registry = registry.clone();
        let name = name.to_owned();
        hostile_threads.push(std::thread::spawn(move || {
            let mut doc: serde_json::Value = serde_json::from_str(&flow_with(&name)).unwrap();
            if name == "panicker@1" {
                doc["nodes"]["risky"]["with"] = json!({"panic": "boom"});
            }
            let flows = Arc::new(FlowSet::single(
                flow::compile(&doc.to_string(), &registry, None).unwrap(),
            ));
            for round in 0..5 {
                let mut call = CallSession::new(
                    flows.clone(),
                    CallSetup::test(&format!("{name}-{round}"), 0),
                );
                let actions = call.start();
                assert_eq!(
                    actions[0],
                    Action::Say {
                        text: "We recovered.".into(),
                        barge_in: true
                    },
                    "{name}"
                );
                assert_eq!(call.log().plugin_errors().len(), 1, "{name}");
            }
        }));
    }

    let good_threads: Vec<_> = (0..50)
        .map(|i| {
            let flows = good.clone();
            std::thread::spawn(move || {
                let setup = CallSetup {
                    from: format!("+1555000{i:04}"),
                    ..CallSetup::test(&format!("good-{i}"), 0)
                };
                let mut call = CallSession::new(flows, setup);
                let mut said = Vec::new();
                let mut collect = |actions: Vec<Action>| {
                    said.extend(actions.into_iter().filter_map(|a| match a {
                        Action::Say { text, .. } => Some(text),
                        _ => None,
                    }))
                };
                collect(call.start());
                let choice = if i % 2 == 0 { "1" } else { "2" };
                collect(call.deliver(Input::Digits {
                    digits: choice.into(),
                }));
                let ending = if i % 2 == 0 {
                    "You chose one."
                } else {
                    "You chose two."
                };
                assert_eq!(
                    said,
                    vec![
                        format!("Hello +1555000{i:04}."),
                        "Press 1 or 2.".into(),
                        ending.into()
                    ]
                );
                assert!(call.log().plugin_errors().is_empty());
                assert!(call.ended().is_some());
            })
        })
        .collect();

    for thread in good_threads.into_iter().chain(hostile_threads) {
        thread.join().expect("no thread panicked");
    }
}
