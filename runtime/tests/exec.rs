//! The executor's rules, each shown on a small flow with the bundled plugins.

use std::sync::{Arc, OnceLock};

use serde_json::json;
use switchyard_runtime::exec::{CallSession, CallSetup, Entry, FlowSet, Input};
use switchyard_runtime::flow;
use switchyard_runtime::host::{
    HostConfig, PluginHost, PluginPackage, PluginRegistry, StepErrorCode,
};
use switchyard_sdk::protocol::{Action, RecordOp};

fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new(HostConfig::default()).unwrap())
}

fn registry() -> PluginRegistry {
    host().bundled_registry().unwrap()
}

fn call_with(registry: &PluginRegistry, doc: serde_json::Value) -> CallSession {
    let compiled =
        flow::compile(&doc.to_string(), registry, None).unwrap_or_else(|p| panic!("{p:#?}"));
    CallSession::new(
        Arc::new(FlowSet::single(compiled)),
        CallSetup::test("exec-test", 1_000),
    )
}

fn call(doc: serde_json::Value) -> CallSession {
    call_with(&registry(), doc)
}

fn said(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Say { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn menu_loop(budget: serde_json::Value) -> serde_json::Value {
    json!({
        "flow": "switchyard/v1", "name": "loop", "entry": "menu", "budget": budget,
        "nodes": {
            "menu": {"use": "menu@1", "with": {"prompt": "Press 1.", "options": ["1"], "timeout_ms": 1000},
                     "on": {"1": "bye", "timeout": "menu", "invalid": "menu"}},
            "bye": {"use": "hangup@1"}
        }
    })
}

#[test]
fn a_timer_fires_at_its_deadline_and_not_before() {
    let mut call = call(menu_loop(json!({})));
    call.start();
    assert_eq!(call.next_deadline(), Some(2_000));
    assert!(said(&call.deliver(Input::Clock { now_ms: 1_999 })).is_empty());
    assert_eq!(
        said(&call.deliver(Input::Clock { now_ms: 2_000 })),
        ["Press 1."]
    );
    assert_eq!(call.next_deadline(), Some(3_000));
    // Several deadlines inside one clock jump fire in order.
    assert_eq!(said(&call.deliver(Input::Clock { now_ms: 5_500 })).len(), 3);
    assert_eq!(call.next_deadline(), Some(6_000));
}

#[test]
fn caller_input_cancels_the_timer() {
    let mut call = call(menu_loop(json!({})));
    call.start();
    call.deliver(Input::Digits { digits: "1".into() });
    assert!(call.ended().is_some());
    assert_eq!(call.next_deadline(), None);
}

#[test]
fn the_node_visit_budget_ends_a_runaway_call_with_a_clear_reason() {
    let mut call = call(menu_loop(json!({"max_node_visits": 5})));
    call.start();
    let actions = call.deliver(Input::Clock { now_ms: 60_000 });
    assert_eq!(
        call.ended(),
        Some("node-visit budget exceeded: 6 visits, limit 5")
    );
    assert_eq!(
        said(&actions).last().map(String::as_str),
        Some("Sorry, something went wrong. Goodbye.")
    );
    assert!(matches!(actions.last(), Some(Action::Hangup { .. })));
}

#[test]
fn the_duration_budget_ends_a_long_call() {
    let mut call = call(menu_loop(
        json!({"max_duration_ms": 10_000, "max_node_visits": 1000}),
    ));
    call.start();
    call.deliver(Input::Clock { now_ms: 11_001 });
    assert!(
        call.ended()
            .unwrap()
            .starts_with("duration budget exceeded"),
        "{:?}",
        call.ended()
    );
}

#[test]
fn the_step_budget_ends_a_call_that_steps_without_moving() {
    let mut call = call(menu_loop(json!({"max_steps": 3})));
    call.start();
    call.deliver(Input::Digits { digits: "9".into() });
    call.deliver(Input::Digits { digits: "9".into() });
    call.deliver(Input::Digits { digits: "9".into() });
    assert_eq!(call.ended(), Some("step budget exceeded: 4 steps, limit 3"));
}

fn rhai_plugin(
    name: &str,
    script: &str,
    outcomes: &[&str],
) -> Arc<switchyard_runtime::host::Plugin> {
    let manifest = json!({"name": name, "version": "1.0.0", "kind": "rhai", "module": "p.rhai",
                          "outcomes": outcomes, "actions": ["say"]});
    let package =
        PluginPackage::from_parts(manifest.to_string().as_bytes(), script.as_bytes().to_vec())
            .unwrap();
    host().load(&package, false).unwrap()
}

#[test]
fn an_error_with_no_edge_and_no_on_error_ends_with_an_apology() {
    let mut registry = registry();
    registry.insert(rhai_plugin(
        "broken",
        r#"fn step(input) { throw "nope"; }"#,
        &["done"],
    ));
    let mut call = call_with(
        &registry,
        json!({"flow": "switchyard/v1", "name": "f", "entry": "a",
               "nodes": {"a": {"use": "broken@1", "on": {"error": "b", "done": "b"}},
                         "b": {"use": "broken@1", "on": {"done": "end"}},
                         "end": {"use": "hangup@1"}}}),
    );
    let actions = call.start();
    assert_eq!(said(&actions), ["Sorry, something went wrong. Goodbye."]);
    assert_eq!(
        call.ended(),
        Some("node \"b\" failed and nothing catches its error")
    );
    let errors = call.log().plugin_errors();
    assert_eq!(
        errors.len(),
        2,
        "a failed, took its error edge to b, which failed too"
    );
    assert_eq!(errors[0].1.code, StepErrorCode::Trap);
    assert!(errors[0].1.message.contains("nope"));
}

#[test]
fn an_outcome_the_plugin_does_not_declare_is_an_error() {
    let mut registry = registry();
    registry.insert(rhai_plugin(
        "liar",
        r#"fn step(input) { #{ exit: "surprise" } }"#,
        &["done"],
    ));
    let mut call = call_with(
        &registry,
        json!({"flow": "switchyard/v1", "name": "f", "entry": "a", "on_error": "sorry",
               "nodes": {"a": {"use": "liar@1", "on": {"done": "sorry"}},
                         "sorry": {"use": "hangup@1", "with": {"text": "Caught."}}}}),
    );
    assert_eq!(said(&call.start()), ["Caught."]);
    let errors = call.log().plugin_errors();
    assert_eq!(errors[0].1.code, StepErrorCode::UndeclaredOutcome);
    assert_eq!(
        errors[0].1.message,
        "took outcome \"surprise\", which liar@1 does not declare"
    );
}

#[test]
fn config_is_interpolated_from_flow_call_and_plugin_vars() {
    let mut call = call(json!({
        "flow": "switchyard/v1", "name": "f", "entry": "set", "vars": {"business": "Acme"},
        "nodes": {
            "set": {"use": "set@1", "with": {"vars": {"greeting": "Hello from {{business}}"}}, "on": {"done": "say"}},
            "say": {"use": "say@1", "with": {"text": "{{greeting}}, caller {{caller_number}}{{missing}}."}, "on": {"done": "bye"}},
            "bye": {"use": "hangup@1"}
        }
    }));
    assert_eq!(said(&call.start()), ["Hello from Acme, caller ."]);
    assert_eq!(call.vars()["greeting"], "Hello from Acme");
}

#[test]
fn input_that_nobody_waits_for_is_logged_and_ignored() {
    let mut call = call(json!({
        "flow": "switchyard/v1", "name": "f", "entry": "hook",
        "nodes": {
            "hook": {"use": "webhook@1", "with": {"endpoint": "crm"}, "on": {"ok": "bye", "failed": "bye"}},
            "bye": {"use": "hangup@1"}
        }
    }));
    let actions = call.start();
    assert!(matches!(&actions[0], Action::Http(h) if h.endpoint == "crm"));
    assert_eq!(call.awaiting(), Some("http"));
    assert!(
        call.deliver(Input::Digits { digits: "5".into() })
            .is_empty()
    );
    assert!(call.log().entries().iter().any(|e| matches!(&e.entry, Entry::Ignored { reason } if reason == "digits while waiting for http")));
    call.deliver(Input::HttpResult {
        status: 200,
        body: json!({"name": "Sam"}),
        error: None,
    });
    assert_eq!(call.vars()["webhook"]["name"], "Sam");
    assert!(call.ended().is_some());
}

#[test]
fn a_caller_hangup_lets_the_node_clean_up_and_ends_the_call() {
    let mut call = call(json!({
        "flow": "switchyard/v1", "name": "f", "entry": "vm",
        "nodes": {"vm": {"use": "voicemail@1", "on": {"done": "bye", "empty": "bye"}}, "bye": {"use": "hangup@1", "with": {"text": "Bye."}}}
    }));
    let actions = call.start();
    assert!(actions.contains(&Action::Record {
        op: RecordOp::Start
    }));
    let actions = call.deliver(Input::Hangup);
    assert_eq!(
        actions,
        vec![Action::Record { op: RecordOp::Stop }],
        "no goodbye to a caller who left"
    );
    assert_eq!(call.ended(), Some("caller hung up"));
}

#[test]
fn a_subflow_returns_its_outcome_to_the_parent_node() {
    let registry = registry();
    let child = flow::compile(
        &json!({"flow": "switchyard/v1", "name": "consent", "entry": "ask", "returns": ["yes", "no"],
                "nodes": {"ask": {"use": "menu@1", "with": {"prompt": "Press 1 to agree.", "options": ["1"], "timeout_ms": 1000},
                                  "on": {"1": "return:yes", "timeout": "return:no", "invalid": "return:no"}}}})
        .to_string(),
        &registry,
        None,
    )
    .unwrap();
    let parent = flow::compile(
        &json!({"flow": "switchyard/v1", "name": "main", "entry": "consent",
                "nodes": {"consent": {"use": "subflow@1", "with": {"flow": "consent", "outcomes": ["yes", "no"]},
                                      "on": {"yes": "thanks", "no": "bye"}},
                          "thanks": {"use": "hangup@1", "with": {"text": "Thank you."}},
                          "bye": {"use": "hangup@1", "with": {"text": "No problem."}}}})
        .to_string(),
        &registry,
        None,
    )
    .unwrap();
    let flows = Arc::new(FlowSet::new(Arc::new(parent), [Arc::new(child)]));
    let mut call = CallSession::new(flows.clone(), CallSetup::test("sub", 0));
    assert_eq!(said(&call.start()), ["Press 1 to agree."]);
    assert_eq!(
        said(&call.deliver(Input::Digits { digits: "1".into() })),
        ["Thank you."]
    );
    let mut call = CallSession::new(flows, CallSetup::test("sub2", 0));
    call.start();
    assert_eq!(
        said(&call.deliver(Input::Clock { now_ms: 1_000 })),
        ["No problem."]
    );
}

#[test]
fn the_event_log_round_trips_through_json_lines() {
    let mut call = call(menu_loop(json!({})));
    call.start();
    call.deliver(Input::Digits { digits: "1".into() });
    let text = call.log().to_jsonl();
    let parsed = switchyard_runtime::exec::EventLog::from_jsonl(&text).unwrap();
    assert_eq!(&parsed, call.log());
    assert!(text.lines().next().unwrap().contains(r#""type":"started""#));
    let error =
        switchyard_runtime::exec::EventLog::from_jsonl("{\"seq\": 0}\nnot json").unwrap_err();
    assert!(error.starts_with("line 1:"), "{error}");
}
