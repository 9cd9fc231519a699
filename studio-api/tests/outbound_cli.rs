//! `switchyard outbound check`, run as an operator would before a campaign:
//! the real binary, real instants, a do-not-call file on disk.

mod common;

use std::process::Output;

use common::{stdout, switchyard};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

#[test]
fn a_new_york_call_at_20_59_is_allowed() {
    let out = switchyard(&[
        "outbound",
        "check",
        "--to",
        "+12125550123",
        "--at",
        "2026-11-20T20:59:00-05:00",
    ]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out),
        "allowed: 2026-11-20 20:59 America/New_York is within 08:00–21:00 (us-federal)\n"
    );
}

#[test]
fn a_new_york_call_at_21_00_is_refused_with_reason_and_rule() {
    let out = switchyard(&[
        "outbound",
        "check",
        "--to",
        "+12125550123",
        "--from",
        "+13125550100",
        "--at",
        "2026-11-21T02:00:00Z",
    ]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out),
        "refused: the callee would be called at 2026-11-20 21:00 America/New_York (Friday) \
         local time, outside the calling hours 08:00–21:00 set by us-federal \
         (47 CFR §64.1200(c)(1))\n"
    );
}

#[test]
fn florida_and_india_rules_are_named() {
    let out = switchyard(&[
        "outbound",
        "check",
        "--to",
        "+13055550123",
        "--at",
        "2026-03-10T20:30:00-04:00",
        "--templates",
        "us-federal,in-dpdp-trai",
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("(Fla. Stat. §501.616(6)(a))"),
        "{}",
        stdout(&out)
    );

    let out = switchyard(&[
        "outbound",
        "check",
        "--to",
        "+91 98765 43210",
        "--at",
        "2026-01-15T08:30:00+05:30",
        "--templates",
        "in-dpdp-trai",
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).ends_with("(TRAI TCCCPR 2018)\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_number_on_the_do_not_call_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dnc = dir.path().join("dnc.txt");
    std::fs::write(&dnc, "# opted out\n(212) 555-0123\n").unwrap();
    let out = switchyard(&[
        "outbound",
        "check",
        "--to",
        "+12125550123",
        "--at",
        "2026-11-20T12:00:00-05:00",
        "--dnc",
        dnc.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stdout(&out),
        "refused: +12125550123 is on the tenant's do-not-call list (tenant do-not-call list)\n"
    );
}

#[test]
fn no_templates_allow_any_hour() {
    let out = switchyard(&[
        "outbound",
        "check",
        "--to",
        "+12125550123",
        "--at",
        "2026-11-21T03:00:00-05:00",
        "--templates",
        "",
    ]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out),
        "allowed: no calling-hours rule applies to this call\n"
    );
}

#[test]
fn the_default_time_is_now() {
    // Whatever the hour, an answer comes back: allowed or refused, never a usage error.
    let out = switchyard(&["outbound", "check", "--to", "+12125550123"]);
    assert!(matches!(code(&out), 0 | 1), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("allowed: ") || stdout(&out).starts_with("refused: "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_arguments_are_errors_with_status_2() {
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "outbound",
                "check",
                "--to",
                "+12125550123",
                "--at",
                "tomorrow",
            ],
            "error: --at tomorrow:",
        ),
        (
            &[
                "outbound",
                "check",
                "--to",
                "+12125550123",
                "--templates",
                "us-fedral",
            ],
            "error: --templates: unknown template us-fedral (known: us-federal,",
        ),
        (
            &[
                "outbound",
                "check",
                "--to",
                "+12125550123",
                "--dnc",
                "/nonexistent/dnc.txt",
            ],
            "error: /nonexistent/dnc.txt:",
        ),
        (
            &[
                "outbound",
                "check",
                "--to",
                "+12125550123",
                "--region",
                "XX",
            ],
            "error: --region: unknown region \"XX\"",
        ),
        (&["outbound", "check"], "--to"),
    ];
    for (args, expected) in cases {
        let out = switchyard(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "", "{args:?}");
    }
}

#[test]
fn a_bad_do_not_call_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let dnc = dir.path().join("dnc.txt");
    std::fs::write(&dnc, "+12125550123\n\nnot-a-number\n").unwrap();
    let out = switchyard(&[
        "outbound",
        "check",
        "--to",
        "+12125550123",
        "--dnc",
        dnc.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("dnc.txt: line 3: \"not-a-number\" is not a phone number"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_refusal_is_kept_as_signed_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("refused.json");
    let key = dir.path().join("evidence.key");
    let out = switchyard(&[
        "outbound",
        "check",
        "--to",
        "+919812345678",
        "--templates",
        "in-dpdp-trai",
        "--at",
        "2026-11-20T08:30:00+05:30",
        "--evidence",
        evidence.to_str().unwrap(),
        "--evidence-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let record = std::fs::read_to_string(&evidence).unwrap();
    assert!(record.contains("\"outbound_refused\""), "{record}");
    assert!(record.contains("TRAI TCCCPR 2018"), "{record}");
    let verified = switchyard(&[
        "evidence",
        "verify",
        evidence.to_str().unwrap(),
        "--key",
        key.with_extension("pub").to_str().unwrap(),
    ]);
    assert_eq!(
        code(&verified),
        0,
        "{}{}",
        stdout(&verified),
        stderr(&verified)
    );
    // An allowed call leaves no refusal behind.
    let allowed = dir.path().join("allowed.json");
    let out = switchyard(&[
        "outbound",
        "check",
        "--to",
        "+919812345678",
        "--templates",
        "in-dpdp-trai",
        "--at",
        "2026-11-20T10:00:00+05:30",
        "--evidence",
        allowed.to_str().unwrap(),
        "--evidence-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(!allowed.exists());
}
