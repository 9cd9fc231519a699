//! `switchyard redact`, run as a user would run it: standard input in,
//! redacted text or JSON spans out.

mod common;

use std::process::Output;

fn redact(args: &[&str], input: &str) -> Output {
    let args: Vec<&str> = std::iter::once("redact")
        .chain(args.iter().copied())
        .collect();
    common::switchyard_with_stdin(&args, input)
}

const INPUT: &str = "my card is 4111 1111\n1111 1111, and my email is a.b@example.com\nssn 123-45-6789, order 48213 on 2025-05-01\n";

#[test]
fn text_output_redacts_every_class_by_default() {
    let output = redact(&[], INPUT);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "my card is [CARD]\n[CARD], and my email is [EMAIL]\nssn [SSN], order 48213 on 2025-05-01\n"
    );
}

#[test]
fn classes_and_mask_action() {
    let output = redact(
        &[
            "--classes",
            "card, email",
            "--action",
            "mask",
            "--keep-last4",
        ],
        INPUT,
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "my card is ****\n****1111, and my email is ****\nssn 123-45-6789, order 48213 on 2025-05-01\n"
    );
}

#[test]
fn json_output_lists_spans_by_class() {
    let output = redact(&["--format", "json", "--classes", "ssn,card"], INPUT);
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let spans = report["spans"].as_array().unwrap();
    let classes: Vec<&str> = spans.iter().map(|s| s["class"].as_str().unwrap()).collect();
    assert_eq!(classes, ["card", "card", "ssn"]);
    for span in spans {
        assert_eq!(span["action"], "token");
        let (start, end) = (
            span["start"].as_u64().unwrap() as usize,
            span["end"].as_u64().unwrap() as usize,
        );
        let original = &INPUT[start..end];
        assert!(
            original == "4111 1111" || original == "1111 1111" || original == "123-45-6789",
            "{original}"
        );
    }
    assert_eq!(report["counts"]["card"], 2);
    assert_eq!(report["counts"]["ssn"], 1);
    assert!(report["text"].as_str().unwrap().contains("a.b@example.com"));
}

#[test]
fn unknown_class_is_a_clear_error_with_exit_2() {
    let output = redact(&["--classes", "card,passport"], INPUT);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown PII class \"passport\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("card, ssn, aadhaar, pan, iban, email, phone"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
