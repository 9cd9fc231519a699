//! `switchyard evidence`, run as a tenant's auditor would run it: a record
//! built by the library, written to a file, checked by the real binary.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{stdout, switchyard};
use switchyard_runtime::policy::evidence::{
    EvidenceHeader, EvidenceItem, EvidenceLog, EvidenceRecord, EvidenceSigner,
};
use switchyard_runtime::policy::jurisdiction::AppliedTemplate;

const T0: i64 = 1_746_093_600_000; // 2025-05-01T10:00:00Z

fn record(signer: &EvidenceSigner) -> EvidenceRecord {
    let mut log = EvidenceLog::new(EvidenceHeader::new(
        "call-7",
        "receptionist",
        "sha256:5f1e",
        T0,
    ));
    log.push(
        T0,
        EvidenceItem::Templates {
            templates: vec![AppliedTemplate {
                id: "us-two-party".into(),
                version: "1.2.0".into(),
            }],
            recording_mode: "all_party".into(),
            jurisdictions: vec!["US-CA".into()],
        },
    );
    log.push(
        T0 + 250,
        EvidenceItem::Disclosure {
            node: "greet".into(),
            kind: "recording".into(),
            template: "us-two-party".into(),
            template_version: "1.2.0".into(),
            locale: "en-US".into(),
            wording_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                .into(),
        },
    );
    log.push(
        T0 + 3_120,
        EvidenceItem::Consent {
            node: "greet".into(),
            outcome: "granted".into(),
            method: "keypress".into(),
        },
    );
    log.push(
        T0 + 3_200,
        EvidenceItem::RecordingStarted {
            node: "record".into(),
        },
    );
    log.push(
        T0 + 8_000,
        EvidenceItem::SecureCaptureOpened {
            node: "pay".into(),
            fields: vec!["card_number".into()],
        },
    );
    log.push(
        T0 + 20_000,
        EvidenceItem::SecureCaptureClosed {
            node: "pay".into(),
            ok: true,
            attempts: 2,
            last4: Some("4242".into()),
            brand: Some("visa".into()),
        },
    );
    log.push(
        T0 + 21_000,
        EvidenceItem::Redacted {
            sink: "transcript".into(),
            counts: BTreeMap::from([("email".into(), 1)]),
        },
    );
    log.push(
        T0 + 30_000,
        EvidenceItem::RecordingStopped {
            node: "record".into(),
            reason: "hangup".into(),
        },
    );
    log.push(
        T0 + 30_000,
        EvidenceItem::Ended {
            reason: "caller hung up".into(),
        },
    );
    log.seal(signer)
}

/// A key directory and a sealed record written beside it.
struct Fixture {
    dir: tempfile::TempDir,
    signer: EvidenceSigner,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let signer = EvidenceSigner::generate().unwrap();
        signer
            .write_public_key(&dir.path().join("key.pub"))
            .unwrap();
        Self { dir, signer }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, record: &EvidenceRecord) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, record.to_json_pretty()).unwrap();
        path
    }

    fn verify(&self, file: &Path) -> Output {
        switchyard(&[
            "evidence",
            "verify",
            file.to_str().unwrap(),
            "--key",
            self.path("key.pub").to_str().unwrap(),
        ])
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn verify_accepts_an_intact_record_and_summarises_it() {
    let fx = Fixture::new();
    let file = fx.write("call-7.json", &record(&fx.signer));
    let output = fx.verify(&file);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(
        text.starts_with(&format!(
            "ok: 9 entries, signed by key {}\n",
            fx.signer.key_id()
        )),
        "{text}"
    );
    for line in [
        "call call-7 on flow receptionist (sha256:5f1e)",
        "templates: us-two-party@1.2.0",
        "disclosures: 1",
        "consent: granted",
        "recording windows: 1\n",
        "secure-capture windows: 1",
        "refusals: 0",
        "ended: caller hung up",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
}

#[test]
fn verify_names_the_altered_entry_and_exits_1() {
    let fx = Fixture::new();
    let mut altered = record(&fx.signer);
    if let EvidenceItem::Consent { outcome, .. } = &mut altered.entries[2].item {
        *outcome = "declined".into();
    }
    let file = fx.write("altered.json", &altered);
    let output = fx.verify(&file);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        format!(
            "{}: FAILED: entry 2: its hash does not match its contents (the entry was altered)\n",
            file.display()
        )
    );
}

#[test]
fn verify_names_a_deleted_entry_a_rewritten_chain_and_the_wrong_key() {
    let fx = Fixture::new();
    let mut deleted = record(&fx.signer);
    deleted.entries.remove(4);
    let output = fx.verify(&fx.write("deleted.json", &deleted));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("FAILED: entry 4 is missing (position 4 holds entry 5)"),
        "{}",
        stdout(&output)
    );

    let mut rewritten = record(&fx.signer);
    let last = rewritten.entries.last_mut().unwrap();
    last.item = EvidenceItem::Ended {
        reason: "completed".into(),
    };
    last.hash = last.compute_hash();
    let output = fx.verify(&fx.write("rewritten.json", &rewritten));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("FAILED: the seal's signature does not match the record"),
        "{}",
        stdout(&output)
    );

    let stranger = EvidenceSigner::generate().unwrap();
    let output = fx.verify(&fx.write("stranger.json", &record(&stranger)));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains(&format!(
            "FAILED: sealed by key {}, but the key given is {}",
            stranger.key_id(),
            fx.signer.key_id()
        )),
        "{}",
        stdout(&output)
    );
}

#[test]
fn verify_reports_unreadable_input_naming_the_file_with_exit_2() {
    let fx = Fixture::new();
    let missing = fx.path("missing.json");
    let output = fx.verify(&missing);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with(&format!("error: {}: ", missing.display())),
        "{}",
        stderr(&output)
    );

    let broken = fx.path("broken.json");
    std::fs::write(&broken, "{\"header\": ").unwrap();
    let output = fx.verify(&broken);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with(&format!(
            "error: {}: not an evidence record: ",
            broken.display()
        )),
        "{}",
        stderr(&output)
    );

    // A field the seal does not cover is refused, not silently ignored.
    let mut value = serde_json::to_value(record(&fx.signer)).unwrap();
    value["entries"][1]["item"]["wording"] = "the full text".into();
    let extra = fx.path("extra.json");
    std::fs::write(&extra, value.to_string()).unwrap();
    let output = fx.verify(&extra);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("/entries/1/item/wording: not part of the evidence format"),
        "{}",
        stderr(&output)
    );

    let file = fx.write("ok.json", &record(&fx.signer));
    std::fs::write(fx.path("key.pub"), "nonsense").unwrap();
    let output = fx.verify(&file);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("key.pub: not an evidence public key"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn keygen_writes_a_private_secret_and_a_public_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let output = switchyard(&["evidence", "keygen", keys.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let (secret, public) = (keys.join("evidence.key"), keys.join("evidence.pub"));
    let signer = EvidenceSigner::load(&secret).unwrap();
    assert!(
        stdout(&output).starts_with(&format!("key {}\n", signer.key_id())),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        std::fs::read_to_string(&public).unwrap().trim(),
        signer.public_key_hex()
    );
    // The secret is never printed.
    let secret_hex = std::fs::read_to_string(&secret).unwrap();
    assert!(!stdout(&output).contains(secret_hex.trim()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    // The keys verify what they seal.
    let file = dir.path().join("call.json");
    std::fs::write(&file, record(&signer).to_json_pretty()).unwrap();
    let output = switchyard(&[
        "evidence",
        "verify",
        file.to_str().unwrap(),
        "--key",
        public.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    // A second keygen refuses and leaves the key alone.
    let output = switchyard(&["evidence", "keygen", keys.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("already exists; refusing to overwrite"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), secret_hex);
}

#[test]
fn show_prints_one_line_per_entry() {
    let fx = Fixture::new();
    let file = fx.write("call-7.json", &record(&fx.signer));
    let output = switchyard(&["evidence", "show", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 9 + 1, "{text}");
    assert!(
        lines[0].starts_with(
            "switchyard-evidence/v1 call call-7 flow receptionist (sha256:5f1e) started 2025-05-01T10:00:00.000Z"
        ),
        "{text}"
    );
    let consent = lines[3];
    for part in [
        "2",
        "2025-05-01T10:00:03.120Z",
        "+3.120s",
        "consent",
        "node=greet outcome=granted method=keypress",
    ] {
        assert!(consent.contains(part), "{part:?} missing from {consent:?}");
    }
    assert!(
        lines[2].contains(
            "kind=recording template=us-two-party@1.2.0 locale=en-US wording=9f86d081884c"
        ),
        "{text}"
    );
    assert!(
        lines[6].contains("node=pay ok=true attempts=2 brand=visa last4=4242"),
        "{text}"
    );
    assert!(
        lines[10].starts_with(&format!("sealed by key {}", fx.signer.key_id())),
        "{text}"
    );
}
