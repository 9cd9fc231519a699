//! Conversation tests of the bundled compliance plugins, generated for every
//! outcome in every locale of every template: the caller hears the
//! template's own wording in their language, and each answer (keys, speech
//! in that language, silence) takes the right outcome with the right effect.
//!
//! The scripts are ordinary `*.convo` text run by the same runner as
//! `switchyard test`; a failing one is printed in full.

use std::sync::OnceLock;

use serde_json::json;
use switchyard_runtime::convo::{ConvoReport, run_source};
use switchyard_runtime::host::{HostConfig, PluginHost, PluginRegistry};
use switchyard_runtime::policy::template::{
    DisclosureKind, REQUIRED_LOCALES, Template, bundled_template,
};

fn registry() -> &'static PluginRegistry {
    static REGISTRY: OnceLock<PluginRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        PluginHost::new(HostConfig::default())
            .unwrap()
            .bundled_registry()
            .unwrap()
    })
}

/// Values for the variables disclosure wording uses.
fn vars() -> serde_json::Value {
    json!({
        "business_name": "Acme Plumbing",
        "callback_number": "+1 800 555 0199",
        "purpose": "booking and billing",
        "privacy_url": "acme.example/privacy"
    })
}

fn fill(text: &str) -> String {
    let mut out = text.to_owned();
    for (name, value) in vars().as_object().unwrap() {
        out = out.replace(&format!("{{{{{name}}}}}"), value.as_str().unwrap());
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A caller inside the template's jurisdiction.
fn caller_for(template: &str) -> &'static str {
    match template {
        "us-all-party-consent" => "+14155550100",
        "eu-gdpr-ai-act" => "+4930901820",
        "in-dpdp-trai" => "+919812345678",
        "uk" => "+442079460000",
        _ => "+12125550100",
    }
}

/// Words a caller would use to agree and refuse, by language.
fn yes_no(locale: &str) -> (&'static str, &'static str) {
    match &locale[..2] {
        "es" => ("sí, claro", "no, gracias"),
        "de" => ("ja", "nein danke"),
        "fr" => ("oui", "non merci"),
        "hi" => ("हाँ", "नहीं"),
        _ => ("yes", "no thanks"),
    }
}

fn run(flow: &serde_json::Value, script: &str) -> ConvoReport {
    let flow = flow.to_string();
    let load = move |_: &str| Ok(flow.clone());
    let report = run_source(registry(), script, "generated.convo", &load);
    assert!(
        report.passed(),
        "{}\n--- script ---\n{script}\n--- transcript ---\n{}",
        report.render(),
        report.transcript.join("\n")
    );
    report
}

/// notice (where the template has one) → recording-consent → say what happened.
fn consent_flow(template: &Template) -> serde_json::Value {
    let mut nodes = json!({
        "consent": {"use": "recording-consent@1", "with": {"timeout_ms": 5000, "retries": 0},
                    "on": {"granted": "rec", "declined": "without", "timeout": "silent"}},
        "rec": {"use": "record@1", "with": {"op": "start"}, "on": {"done": "with"}},
        "with": {"use": "hangup@1", "with": {"text": "Recording on."}},
        "without": {"use": "hangup@1", "with": {"text": "Not recording."}},
        "silent": {"use": "hangup@1", "with": {"text": "No answer."}}
    });
    let has_notice = template.disclosures.notice.is_some();
    if has_notice {
        nodes["notice"] = json!({"use": "notice@1", "on": {"done": "consent"}});
    }
    json!({
        "flow": "switchyard/v1", "name": "consent", "locale": "en-US",
        "compliance": [template.id],
        "entry": if has_notice { "notice" } else { "consent" },
        "vars": vars(),
        "nodes": nodes
    })
}

fn header(template: &Template, locale: &str) -> String {
    let mut script = format!(
        "flow: consent.json\ncall: from={} to={} locale={locale}\n",
        caller_for(&template.id),
        caller_for(&template.id)
    );
    if let Some(notice) = template.disclosure(DisclosureKind::Notice, locale) {
        script += &format!("agent: {}\n", fill(notice.text));
    }
    let wording = template
        .disclosure(DisclosureKind::Recording, locale)
        .expect("a recording disclosure");
    script += &format!("agent: {}\n", fill(wording.text));
    script
}

fn consent_templates() -> Vec<&'static Template> {
    [
        "us-all-party-consent",
        "eu-gdpr-ai-act",
        "in-dpdp-trai",
        "uk",
        "us-federal",
    ]
    .into_iter()
    .map(|id| bundled_template(id).unwrap())
    .collect()
}

#[test]
fn recording_consent_granted_by_key_and_by_speech_in_every_locale() {
    for template in consent_templates() {
        let flow = consent_flow(template);
        for locale in REQUIRED_LOCALES {
            let (yes, _) = yes_no(locale);
            for answer in ["caller: 1".to_owned(), format!("caller says: {yes}")] {
                let script = format!(
                    "{}{answer}\nexpect: record start\nagent: Recording on.\nexpect: hangup\n",
                    header(template, locale)
                );
                run(&flow, &script);
            }
        }
    }
}

#[test]
fn recording_consent_declined_by_key_and_by_speech_in_every_locale() {
    for template in consent_templates() {
        let flow = consent_flow(template);
        for locale in REQUIRED_LOCALES {
            let (_, no) = yes_no(locale);
            for answer in ["caller: 2".to_owned(), format!("caller says: {no}")] {
                let script = format!(
                    "{}{answer}\nagent: Not recording.\nexpect: hangup\n",
                    header(template, locale)
                );
                let report = run(&flow, &script);
                let evidence = report.evidence.unwrap();
                assert!(
                    evidence
                        .items()
                        .any(|e| format!("{e:?}").contains("declined")),
                    "{} {locale}: no declined consent in the evidence",
                    template.id
                );
            }
        }
    }
}

#[test]
fn recording_consent_timeout_in_every_locale_counts_only_where_silence_is_consent() {
    for template in consent_templates() {
        let flow = consent_flow(template);
        for locale in REQUIRED_LOCALES {
            let script = format!(
                "{}caller: silence 6s\nagent: No answer.\nexpect: hangup\n",
                header(template, locale)
            );
            let report = run(&flow, &script);
            let consent = report
                .evidence
                .unwrap()
                .items()
                .map(|e| format!("{e:?}"))
                .find(|e| e.starts_with("Consent"))
                .expect("a consent entry");
            let silence_counts = template.recording.mode
                < switchyard_runtime::policy::template::RecordingMode::AnnounceAndConsent;
            assert_eq!(
                consent.contains("\"granted\""),
                silence_counts,
                "{} {locale}: {consent}",
                template.id
            );
        }
    }
}

#[test]
fn ai_disclosure_speaks_each_templates_wording_in_every_locale() {
    for id in ["us-ai-voice", "eu-gdpr-ai-act"] {
        let template = bundled_template(id).unwrap();
        let mut nodes = json!({
            "ai": {"use": "ai-disclosure@1", "on": {"done": "bye"}},
            "bye": {"use": "hangup@1", "with": {"text": "Bye."}}
        });
        let entry = if template.disclosures.notice.is_some() {
            nodes["notice"] = json!({"use": "notice@1", "on": {"done": "ai"}});
            "notice"
        } else {
            "ai"
        };
        let flow = json!({
            "flow": "switchyard/v1", "name": "ai", "compliance": [id], "entry": entry,
            "vars": vars(), "nodes": nodes
        });
        for locale in REQUIRED_LOCALES {
            let mut script = format!(
                "flow: ai.json\ncall: from={0} to={0} locale={locale}\n",
                caller_for(id)
            );
            if let Some(notice) = template.disclosure(DisclosureKind::Notice, locale) {
                script += &format!("agent: {}\n", fill(notice.text));
            }
            let wording = template.disclosure(DisclosureKind::Ai, locale).unwrap();
            assert_eq!(wording.locale, locale, "{id} has wording for {locale}");
            script += &format!(
                "agent: {}\nagent: Bye.\nexpect: hangup\n",
                fill(wording.text)
            );
            run(&flow, &script);
        }
    }
}

#[test]
fn secure_capture_in_every_locale_captures_and_fails_without_the_digits_anywhere() {
    let template = bundled_template("pci-dss-phone").unwrap();
    let flow = json!({
        "flow": "switchyard/v1", "name": "pay", "compliance": ["pci-dss-phone"], "entry": "card",
        "nodes": {
            "card": {"use": "secure-capture@1", "on": {"captured": "paid", "failed": "sorry"}},
            "paid": {"use": "hangup@1", "with": {"text": "Paid with the {{card_brand}} card ending {{card_last4}}."}},
            "sorry": {"use": "hangup@1", "with": {"text": "Sorry, no payment."}}
        }
    });
    for locale in REQUIRED_LOCALES {
        let wording = template
            .disclosure(DisclosureKind::SecureCapture, locale)
            .unwrap();
        let start = format!(
            "flow: pay.json\ncall: from=+14155550100 to=+18005550199 at=2026-11-22T10:00:00Z locale={locale}\nagent: {}\nexpect: secure_capture\nagent~: .+\n",
            fill(wording.text)
        );
        let captured = format!(
            "{start}caller: 4111111111111111#\nagent~: .+\ncaller: 1228#\nagent~: .+\ncaller: 123#\nagent: Paid with the visa card ending 1111.\nexpect: hangup\n"
        );
        let report = run(&flow, &captured);
        // The transcript has no hashes or clocks, so any trace of the
        // number, the expiry or the CVV would show as digits.
        let transcript = report.transcript.join("\n");
        assert!(
            transcript.contains("caller: (card keys, sealed)"),
            "{transcript}"
        );
        for secret in ["4111111111111111", "1228", "123"] {
            assert!(
                !transcript.contains(secret),
                "{locale}: {secret} in\n{transcript}"
            );
        }
        // The session never received the keys: no digits entry at all.
        let log = report.log.to_jsonl();
        assert!(
            !log.contains("\"digits\""),
            "{locale}: keys in the event log\n{log}"
        );
        assert!(
            !log.contains("4111111111111111"),
            "{locale}: card in the event log"
        );
        let evidence = format!("{:?}", report.evidence);
        assert!(
            !evidence.contains("4111111111111111"),
            "{locale}: card in the evidence"
        );
        assert!(evidence.contains("last4: Some(\"1111\")"), "{evidence}");
        let failed = format!(
            "{start}caller: 4111111111111112#\nagent~: .+\ncaller: 4111111111111113#\nagent~: .+\ncaller: 4111111111111114#\nagent: Sorry, no payment.\nexpect: hangup\n"
        );
        run(&flow, &failed);
    }
}

#[test]
fn a_script_expecting_other_wording_than_the_template_fails() {
    // The guard speaks the German wording to a German-locale call; a test
    // that expects the English wording must fail, or the tests above would
    // prove nothing.
    let template = bundled_template("us-all-party-consent").unwrap();
    let flow = consent_flow(template);
    let english = template
        .disclosure(DisclosureKind::Recording, "en-US")
        .unwrap();
    let script = format!(
        "flow: consent.json\ncall: from=+14155550100 to=+14155550100 locale=de-DE\nagent: {}\ncaller: 1\n",
        fill(english.text)
    );
    let flow = flow.to_string();
    let load = move |_: &str| Ok(flow.clone());
    let report = run_source(registry(), &script, "wrong.convo", &load);
    let failure = report.failure.expect("the test fails");
    assert_eq!(failure.line, 3);
    assert!(
        failure
            .actual
            .unwrap()
            .starts_with("Wir möchten dieses Gespräch")
    );
}

#[test]
fn a_conversation_can_enable_templates_the_flow_does_not_list() {
    // The flow lists no template and records straight away; with the
    // tenant's all-party-consent template enabled for a Californian caller,
    // the guard refuses the recording, so no `record start` comes out.
    let flow = json!({
        "flow": "switchyard/v1", "name": "rec", "entry": "rec",
        "nodes": {
            "rec": {"use": "record@1", "with": {"op": "start"}, "on": {"done": "bye"}},
            "bye": {"use": "hangup@1", "with": {"text": "Bye."}}
        }
    });
    let script = |templates: &str| {
        format!(
            "flow: rec.json\ncall: from=+14155550100 to=+14155550100{templates}\nagent: Bye.\nexpect: record start\n"
        )
    };
    let flow_text = flow.to_string();
    let load = move |_: &str| Ok(flow_text.clone());
    let plain = run_source(registry(), &script(""), "plain.convo", &load);
    assert!(plain.passed(), "{}", plain.render());
    let guarded = run_source(
        registry(),
        &script(" templates=us-all-party-consent"),
        "guarded.convo",
        &load,
    );
    let failure = guarded.failure.expect("no record start to expect");
    assert_eq!(failure.message, "no such action");
}
