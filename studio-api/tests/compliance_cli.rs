//! A card payment held in the terminal with `switchyard call`, its signed
//! evidence checked with `switchyard evidence verify`, and every file and
//! stream the call produced searched for the card.

mod common;

use common::{stdout, switchyard, switchyard_with_stdin};

#[test]
fn a_payment_call_keeps_the_card_out_of_every_sink_and_its_evidence_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("call.evidence.json");
    let log = dir.path().join("call.jsonl");
    let key = dir.path().join("keys/evidence.key");
    let to_str = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    // Consent by keypress, choose "pay", then the card, expiry and CVV.
    let keys = "1\n1\n4111111111111111#\n1230#\n737#\n";
    let out = switchyard_with_stdin(
        &[
            "call",
            "flows/compliance/payment.json",
            "--from",
            "+14155550100",
            "--to",
            "+18005550199",
            "--log",
            &to_str(&log),
            "--evidence",
            &to_str(&evidence),
            "--evidence-key",
            &to_str(&key),
        ],
        keys,
    );
    let said = stdout(&out);
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}\n{errors}");
    assert!(said.contains("We'd like to record this call"), "{said}");
    assert!(said.contains("[record start]"), "{said}");
    assert!(said.contains("Please enter your card number"), "{said}");
    assert!(
        said.contains("Thank you, your card ending in 1111 was accepted."),
        "{said}"
    );
    // Recording was stopped before the window and not restarted inside it.
    let stop = said.find("[record stop]").expect("recording stopped");
    let window = said.find("[secure_capture]").expect("window opened");
    assert!(stop < window, "{said}");

    let log_text = std::fs::read_to_string(&log).unwrap();
    let evidence_text = std::fs::read_to_string(&evidence).unwrap();
    for (sink, text) in [
        ("stdout", &said),
        ("stderr", &errors),
        ("event log", &log_text),
        ("evidence", &evidence_text),
    ] {
        assert!(!text.contains("4111111111111111"), "card number in {sink}");
        assert!(!text.contains("\"737\""), "CVV in {sink}");
        assert!(!text.contains("1230#"), "expiry in {sink}");
    }

    let verified = switchyard(&[
        "evidence",
        "verify",
        &to_str(&evidence),
        "--key",
        &to_str(&key.with_extension("pub")),
    ]);
    let report = stdout(&verified);
    assert!(verified.status.success(), "{report}");
    assert!(report.starts_with("ok: "), "{report}");
    assert!(report.contains("granted"), "{report}");

    // One changed byte in the record is caught.
    std::fs::write(&evidence, evidence_text.replacen("granted", "declined", 1)).unwrap();
    let tampered = switchyard(&[
        "evidence",
        "verify",
        &to_str(&evidence),
        "--key",
        &to_str(&key.with_extension("pub")),
    ]);
    assert_eq!(tampered.status.code(), Some(1), "{}", stdout(&tampered));
}

#[test]
fn the_terminal_says_why_the_guard_refused_a_recording() {
    // After hours the receptionist takes a voicemail, which records. With
    // all-party consent enabled for a Californian caller and no consent
    // step in the flow, the recording is refused, and the terminal says so.
    let out = switchyard_with_stdin(
        &[
            "call",
            "receptionist",
            "--at",
            "2026-11-21T22:30:00-08:00",
            "--from",
            "+14155550100",
            "--templates",
            "us-all-party-consent",
        ],
        "Hi, this is Sam, please call me back.\n",
    );
    let said = stdout(&out);
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}\n{errors}");
    assert!(!said.contains("[record start]"), "{said}");
    assert!(
        errors.contains("refused: the caller has not consented to recording)"),
        "{errors}"
    );
}
