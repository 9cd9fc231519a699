//! The `switchyard` binary, run as a user would run it.

mod common;

use std::path::Path;

use common::{repo, stdout, switchyard, switchyard_with_stdin};

#[test]
fn validate_reports_every_problem_with_its_pointer_and_exits_1() {
    let output = switchyard(&["validate", "flows/invalid/many-problems.json"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("flows/invalid/many-problems.json: "),
        "{text}"
    );
    assert!(
        text.contains(
            r#"/nodes/welcome/on/done: unknown node "men", did you mean "menu"? [unknown-node]"#
        ),
        "{text}"
    );
    assert!(
        text.contains("/nodes/transfer/use: plugin \"transfer\" has no major version 2"),
        "{text}"
    );
    assert!(text.contains("/nodes/menu/with/retries:"), "{text}");
    assert!(
        text.contains("[undeclared-outcome]")
            && text.contains("[unreachable]")
            && text.contains("[config-schema]"),
        "{text}"
    );
}

#[test]
fn validate_json_output_is_for_tools() {
    let output = switchyard(&[
        "validate",
        "--format",
        "json",
        "flows/invalid/unknown-node.json",
        "flows/invalid/loop-without-wait.json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let reports: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["file"], "flows/invalid/unknown-node.json");
    let problem = &reports[0]["problems"][0];
    assert_eq!(problem["pointer"], "/nodes/menu/on/2");
    assert_eq!(problem["code"], "unknown-node");
    assert_eq!(
        problem["message"],
        "unknown node \"suport\", did you mean \"support\"?"
    );
    let looped = &reports[1]["problems"][0];
    assert_eq!(looped["code"], "loop-without-wait");
    assert_eq!(
        looped["path"],
        serde_json::json!(["again", "check", "hello", "again"])
    );
}

#[test]
fn validate_accepts_the_examples() {
    let output = switchyard(&[
        "validate",
        "flows/examples/receptionist.json",
        "flows/examples/missed-call.json",
        "flows/examples/appointments.json",
        "flows/examples/voicemail-box.json",
    ]);
    assert!(output.status.success(), "{}", stdout(&output));
    assert_eq!(stdout(&output).matches(": ok").count(), 4);
}

#[test]
fn test_runs_the_example_conversations_and_replay_reproduces_each_call() {
    let logs = tempfile::tempdir().unwrap();
    let output = switchyard(&[
        "test",
        "flows/examples/tests",
        "--log-dir",
        logs.path().to_str().unwrap(),
    ]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.lines().any(|l| l.ends_with(" passed, 0 failed")),
        "{text}"
    );
    let mut replayed = 0;
    for log in std::fs::read_dir(logs.path()).unwrap() {
        let log = log.unwrap().path();
        let output = switchyard(&["replay", log.to_str().unwrap()]);
        assert!(
            output.status.success(),
            "{}: {}",
            log.display(),
            stdout(&output)
        );
        assert!(stdout(&output).contains("all match"));
        replayed += 1;
    }
    assert!(replayed >= 10);
}

#[test]
fn replay_notices_a_log_that_the_flow_does_not_reproduce() {
    let logs = tempfile::tempdir().unwrap();
    let output = switchyard(&[
        "test",
        "flows/examples/tests/receptionist-sales.convo",
        "--log-dir",
        logs.path().to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stdout(&output));
    let log = logs.path().join("receptionist-sales.jsonl");
    let tampered = std::fs::read_to_string(&log)
        .unwrap()
        .replace("Connecting you to sales.", "Connecting you to the moon.");
    std::fs::write(&log, tampered).unwrap();
    let output = switchyard(&["replay", log.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("- recorded: to-sales: say Connecting you to the moon."),
        "{text}"
    );
    assert!(
        text.contains("+ replayed: to-sales: say Connecting you to sales."),
        "{text}"
    );
}

#[test]
fn a_failing_conversation_names_file_and_line_with_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let flow = repo().join("flows/examples/receptionist.json");
    let convo = dir.path().join("wrong.convo");
    std::fs::write(
        &convo,
        format!(
            "# a wrong expectation\nflow: {}\ncall: at=2026-11-23T10:00:00-08:00\nagent: Thanks for calling Acme Plumbing.\nagent: Press 9 for the moon.\n",
            flow.display()
        ),
    )
    .unwrap();
    let output = switchyard(&["test", convo.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains(&format!(
            "FAIL {}:5: the agent said something else",
            convo.display()
        )),
        "{text}"
    );
    assert!(text.contains("- expected: Press 9 for the moon."), "{text}");
    assert!(
        text.contains("+ actual:   For sales, press 1 or say sales."),
        "{text}"
    );
    assert!(text.contains("0 passed, 1 failed"), "{text}");
}

#[test]
fn call_holds_a_conversation_in_the_terminal() {
    let output = switchyard_with_stdin(
        &["call", "receptionist", "--at", "2026-11-23T10:00:00-08:00"],
        "support please\n",
    );
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.starts_with("agent: Thanks for calling Acme Plumbing.\n"),
        "{text}"
    );
    assert!(
        text.contains("agent: Connecting you to support.\n[transfer sip:support@acme.example]"),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("(call ended:"));
}

#[test]
fn call_of_an_unknown_flow_says_what_exists() {
    let output = switchyard(&["call", "nonesuch"]);
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("no bundled flow by that name (bundled: receptionist"),
        "{err}"
    );
}

fn package_from_wat(dir: &Path, wat_file: &str) {
    let wasm = wat::parse_file(repo().join("tests/plugins/wat").join(wat_file)).unwrap();
    std::fs::write(dir.join("hello.wasm"), wasm).unwrap();
    std::fs::copy(
        repo().join("tests/plugins/wat/manifest.json"),
        dir.join("manifest.json"),
    )
    .unwrap();
}

#[test]
fn plugin_check_accepts_bundled_and_handwritten_packages() {
    for dir in ["plugins/say", "plugins/set", "plugins/menu"] {
        let output = switchyard(&["plugin", "check", dir]);
        assert!(output.status.success(), "{dir}: {}", stdout(&output));
        assert!(stdout(&output).starts_with("ok: "), "{}", stdout(&output));
    }
    let dir = tempfile::tempdir().unwrap();
    package_from_wat(dir.path(), "hello.wat");
    let output = switchyard(&["plugin", "check", dir.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).contains("ok: hello-wat@1.0.0 sha256:"));
}

#[test]
fn plugin_check_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    package_from_wat(dir.path(), "wasi-import.wat");
    let output = switchyard(&["plugin", "check", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("unknown import `wasi_snapshot_preview1.fd_write`"),
        "{}",
        stdout(&output)
    );

    std::fs::write(
        dir.path().join("manifest.json"),
        r#"{"name": "Bad Name", "version": "1", "kind": "wasm", "module": "hello.wasm"}"#,
    )
    .unwrap();
    let output = switchyard(&[
        "plugin",
        "check",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["problems"][0],
        "manifest: name: `Bad Name` must be lowercase letters, digits, `-` or `_`"
    );
}

#[test]
fn call_lets_the_user_play_the_model_and_keeps_a_replayable_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("call.jsonl");
    let output = switchyard_with_stdin(
        &["call", "appointments", "--log", log.to_str().unwrap()],
        "I would like a cleaning\nWe have Tuesday at 10. Does that work?\n/silence 9\n",
    );
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("agent: We have Tuesday at 10. Does that work?\n"),
        "{text}"
    );
    // Nine quiet seconds pass the agent's 8-second listen timeout.
    assert!(
        text.ends_with("agent: Thanks for calling Bright Smile Dental. Goodbye.\n[hangup]\n"),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("model reply"));
    let output = switchyard(&["replay", log.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).contains("all match"));
}

#[test]
fn plugins_flag_adds_packages_from_a_directory() {
    let plugins = tempfile::tempdir().unwrap();
    let package = plugins.path().join("hello-wat");
    std::fs::create_dir(&package).unwrap();
    package_from_wat(&package, "hello.wat");
    let flows = tempfile::tempdir().unwrap();
    let flow = flows.path().join("hello.json");
    std::fs::write(
        &flow,
        r#"{"flow": "switchyard/v1", "name": "hello", "entry": "hi",
            "nodes": {"hi": {"use": "hello-wat@1", "on": {"done": "bye"}}, "bye": {"use": "hangup@1"}}}"#,
    )
    .unwrap();
    let without = switchyard(&["validate", flow.to_str().unwrap()]);
    assert_eq!(without.status.code(), Some(1));
    assert!(
        stdout(&without).contains("unknown plugin \"hello-wat\""),
        "{}",
        stdout(&without)
    );
    let with = switchyard(&[
        "--plugins",
        plugins.path().to_str().unwrap(),
        "validate",
        flow.to_str().unwrap(),
    ]);
    assert!(with.status.success(), "{}", stdout(&with));
    let call = switchyard_with_stdin(
        &[
            "--plugins",
            plugins.path().to_str().unwrap(),
            "call",
            flow.to_str().unwrap(),
        ],
        "",
    );
    assert!(
        stdout(&call).starts_with("agent: Hello from a module written in WAT.\n[hangup]"),
        "{}",
        stdout(&call)
    );
}
