//! Compliance templates (issue 4 item 1) and jurisdiction resolution (item 2).

use std::collections::BTreeSet;

use serde_json::Value;
use switchyard_runtime::policy::jurisdiction::{
    Location, Party, Trigger, jurisdictions_of, locate, resolve, us_area_codes,
    us_subdivision_of_area_code,
};
use switchyard_runtime::policy::template::{
    AiDisclose, BUNDLED_SOURCES, ClockTime, ConsentMethod, DisclosureKind, REQUIRED_LOCALES,
    RecordingMode, Weekday, bundled_template, bundled_templates, load_template,
};

const ALL: [&str; 7] = [
    "us-federal",
    "us-all-party-consent",
    "us-ai-voice",
    "eu-gdpr-ai-act",
    "uk",
    "in-dpdp-trai",
    "pci-dss-phone",
];

fn t(h: u16, m: u16) -> ClockTime {
    ClockTime::new(h, m).expect("valid time")
}

#[test]
fn every_bundled_template_validates_and_has_every_locale() {
    assert_eq!(bundled_templates().len(), 7);
    for (file, source) in BUNDLED_SOURCES {
        let template = load_template(source).unwrap_or_else(|p| panic!("{file}: {p:?}"));
        assert_eq!(format!("{}.json", template.id), file);
        assert!(
            template.missing_locales().is_empty(),
            "{file}: {:?}",
            template.missing_locales()
        );
        for locale in REQUIRED_LOCALES {
            assert!(
                template
                    .truthful_answer(locale)
                    .is_some_and(|w| w.locale == locale)
            );
            assert!(
                template
                    .opt_out_phrases(locale)
                    .is_some_and(|w| w.locale == locale)
            );
            for (kind, _) in template.disclosures.iter() {
                let wording = template.disclosure(kind, locale).expect("wording");
                assert_eq!(wording.locale, locale, "{file} {kind:?}");
                assert!(!wording.text.trim().is_empty());
            }
        }
        for (pointer, rule) in template.citations() {
            assert!(rule.trim().len() >= 3, "{file}{pointer} cites no rule");
        }
        // Hindi wording is in Devanagari.
        let hindi = template.truthful_answer("hi-IN").expect("hi-IN").text;
        assert!(
            hindi
                .chars()
                .any(|c| ('\u{0900}'..='\u{097F}').contains(&c)),
            "{file}"
        );
    }
    for id in ALL {
        assert!(bundled_template(id).is_some(), "{id}");
    }
}

#[test]
fn the_schema_file_is_draft_2020_12_and_every_section_cites_a_rule() {
    let schema: Value = serde_json::from_str(switchyard_runtime::policy::template::TEMPLATE_SCHEMA)
        .expect("schema is JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    for (_, source) in BUNDLED_SOURCES {
        let doc: Value = serde_json::from_str(source).expect("json");
        for section in [
            "applies_to",
            "recording",
            "opt_out_phrases",
            "ai",
            "redaction_classes",
            "retention",
            "calling_hours",
        ] {
            assert!(doc[section]["rule"].is_string(), "{}: {section}", doc["id"]);
        }
    }
}

#[test]
fn template_facts_match_the_reference() {
    let all_party = bundled_template("us-all-party-consent").expect("bundled");
    let states: BTreeSet<&str> = all_party
        .applies_to
        .jurisdictions
        .iter()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "CA", "DE", "FL", "IL", "MD", "MA", "MT", "NV", "NH", "PA", "WA", "CT", "MI", "OR",
    ]
    .iter()
    .map(|s| match *s {
        "CA" => "US-CA",
        "DE" => "US-DE",
        "FL" => "US-FL",
        "IL" => "US-IL",
        "MD" => "US-MD",
        "MA" => "US-MA",
        "MT" => "US-MT",
        "NV" => "US-NV",
        "NH" => "US-NH",
        "PA" => "US-PA",
        "WA" => "US-WA",
        "CT" => "US-CT",
        "MI" => "US-MI",
        _ => "US-OR",
    })
    .collect();
    assert_eq!(states, expected);
    assert_eq!(
        all_party.applies_to.treated_as_all_party,
        ["US-CT", "US-MI", "US-OR"]
    );
    assert_eq!(all_party.recording.mode, RecordingMode::AnnounceAndConsent);
    assert_eq!(
        all_party.applies_to.rule_for("US-CA"),
        "Cal. Penal Code §632"
    );

    let federal = bundled_template("us-federal").expect("bundled");
    assert_eq!(federal.recording.mode, RecordingMode::NoneRequired);
    assert_eq!(federal.recording.rule, "18 U.S.C. §2511(2)(d)");
    assert_eq!(federal.calling_hours.windows[0].start, t(8, 0));
    assert_eq!(federal.calling_hours.windows[0].end, t(21, 0));
    assert_eq!(federal.calling_hours.rule, "47 CFR §64.1200(c)(1)");
    let florida = federal
        .calling_hours
        .override_for(&["US-FL", "US"])
        .expect("Florida override");
    assert_eq!(
        (florida.windows[0].start, florida.windows[0].end),
        (t(8, 0), t(20, 0))
    );

    let india = bundled_template("in-dpdp-trai").expect("bundled");
    assert_eq!(india.calling_hours.windows[0].start, t(9, 0));
    assert_eq!(india.calling_hours.windows[0].end, t(21, 0));
    assert_eq!(india.retention.days.security_logs, 180);
    assert!(
        india
            .retention
            .rule
            .contains("CERT-In Directions 28 Apr 2022 §(iv)")
    );

    let eu = bundled_template("eu-gdpr-ai-act").expect("bundled");
    assert_eq!(eu.ai.disclose, AiDisclose::UpFront);
    assert!(eu.disclosures.notice.is_some());
    assert_eq!(eu.recording.rule, "GDPR Art. 6(1)(a), 7(3)");
    assert!(
        !eu.recording
            .consent_methods
            .contains(&ConsentMethod::StayOnLine)
    );

    let ai = bundled_template("us-ai-voice").expect("bundled");
    assert!(ai.ai.identify_caller && ai.ai.callback_number);
    let wording = ai
        .disclosure(DisclosureKind::Ai, "en-US")
        .expect("ai disclosure")
        .text;
    assert!(wording.contains("{{callback_number}}") && wording.contains("{{business_name}}"));

    let pci = bundled_template("pci-dss-phone").expect("bundled");
    assert_eq!(pci.applies_to.jurisdictions, ["*"]);
    assert!(
        pci.secure_capture
            .as_ref()
            .is_some_and(|s| s.never_store.iter().any(|x| x == "cvv"))
    );

    let uk = bundled_template("uk").expect("bundled");
    assert_eq!(uk.recording.mode, RecordingMode::Announce);
}

#[test]
fn locale_fallback_goes_exact_then_language_then_en_us() {
    let eu = bundled_template("eu-gdpr-ai-act").expect("bundled");
    let w = eu.disclosure(DisclosureKind::Ai, "de_DE").expect("wording");
    assert_eq!(w.locale, "de-DE");
    let w = eu.disclosure(DisclosureKind::Ai, "de-AT").expect("wording");
    assert_eq!(w.locale, "de-DE");
    let w = eu.disclosure(DisclosureKind::Ai, "fr").expect("wording");
    assert_eq!(w.locale, "fr-FR");
    let w = eu.disclosure(DisclosureKind::Ai, "ja-JP").expect("wording");
    assert_eq!(w.locale, "en-US");
    let w = eu.disclosure(DisclosureKind::Ai, "").expect("wording");
    assert_eq!(w.locale, "en-US");
    assert!(
        eu.disclosure(DisclosureKind::SecureCapture, "en-US")
            .is_none()
    );
}

#[test]
fn a_broken_template_reports_every_problem_at_its_pointer() {
    let mut doc: Value = serde_json::from_str(BUNDLED_SOURCES[1].1).expect("json");
    doc["version"] = "1.0".into();
    doc["recording"]["mode"] = "maybe".into();
    doc["disclosures"]["recording"]["text"]
        .as_object_mut()
        .expect("text")
        .remove("hi-IN");
    doc["redaction_classes"]["classes"]["card"]["action"] = "shred".into();
    doc["calling_hours"]["windows"][0]["end"] = "25:00".into();
    doc["ordering"][0]
        .as_object_mut()
        .expect("ordering")
        .remove("rule");
    doc["surprise"] = true.into();
    let problems = load_template(&doc.to_string()).expect_err("broken");
    let pointers: BTreeSet<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
    for expected in [
        "/version",
        "/recording/mode",
        "/disclosures/recording/text",
        "/redaction_classes/classes/card/action",
        "/calling_hours/windows/0/end",
        "/ordering/0",
        "",
    ] {
        assert!(
            pointers.contains(expected),
            "{expected} missing from {problems:#?}"
        );
    }
    assert!(problems.iter().all(|p| p.code == "template-schema"));

    // Rules the schema cannot state are reported too, with pointers.
    let mut doc: Value = serde_json::from_str(BUNDLED_SOURCES[0].1).expect("json");
    doc["calling_hours"]["windows"][0]["start"] = "22:00".into();
    doc["ordering"] = serde_json::json!([{"first": "record", "then": "record", "rule": "x y z"}]);
    let problems = load_template(&doc.to_string()).expect_err("broken");
    let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        ["/calling_hours/windows/0", "/ordering/0"],
        "{problems:#?}"
    );

    // A consent template without wording to announce it, an up-front AI rule
    // without an AI disclosure.
    let mut doc: Value = serde_json::from_str(BUNDLED_SOURCES[3].1).expect("json");
    let disclosures = doc["disclosures"].as_object_mut().expect("disclosures");
    disclosures.remove("recording");
    disclosures.remove("ai");
    let problems = load_template(&doc.to_string()).expect_err("broken");
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems
            .iter()
            .all(|p| p.pointer == "/disclosures" && p.code == "template-rule")
    );

    let problems = load_template("{ not json").expect_err("syntax");
    assert_eq!(problems[0].code, "json-syntax");
}

#[test]
fn area_code_table_covers_every_state_once() {
    let mut seen = BTreeSet::new();
    let mut states = BTreeSet::new();
    for (subdivision, codes) in us_area_codes() {
        states.insert(*subdivision);
        for code in *codes {
            assert!((200..=999).contains(code), "{code}");
            assert!(seen.insert(*code), "area code {code} listed twice");
        }
    }
    let fifty_and_dc = [
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
        "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
        "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
        "VT", "VA", "WA", "WV", "WI", "WY",
    ];
    for s in fifty_and_dc {
        assert!(states.contains(format!("US-{s}").as_str()), "{s}");
    }
    assert!(seen.len() > 330, "{}", seen.len());
    assert_eq!(us_subdivision_of_area_code(415), Some("US-CA"));
    assert_eq!(us_subdivision_of_area_code(212), Some("US-NY"));
    assert_eq!(us_subdivision_of_area_code(305), Some("US-FL"));
    assert_eq!(us_subdivision_of_area_code(800), None);
}

#[test]
fn numbers_are_located() {
    match locate("+1 415 555 2671") {
        Location::Known {
            country,
            subdivision,
            e164,
        } => {
            assert_eq!(country, "US");
            assert_eq!(subdivision.as_deref(), Some("US-CA"));
            assert_eq!(e164, "+14155552671");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        jurisdictions_of(&locate("sip:+4930123456@example.com;user=phone")),
        ["DE", "EU", "EEA"]
    );
    assert_eq!(jurisdictions_of(&locate("tel:+91-98765-43210")), ["IN"]);
    assert_eq!(jurisdictions_of(&locate("+44 20 7946 0958")), ["GB"]);
    assert_eq!(
        jurisdictions_of(&locate("0049 89 1234567")),
        ["DE", "EU", "EEA"]
    );
    assert_eq!(
        jurisdictions_of(&locate("+1 787 555 1234")),
        ["US-PR", "PR", "US"]
    );
    for withheld in [
        "",
        "  ",
        "anonymous",
        "Anonymous",
        "sip:anonymous@anonymous.invalid",
        "Withheld",
        "private",
    ] {
        assert_eq!(locate(withheld), Location::Withheld, "{withheld:?}");
    }
    for unknown in ["4155552671", "+", "+999 123", "not a number"] {
        assert!(
            matches!(locate(unknown), Location::Unknown { .. }),
            "{unknown:?}"
        );
    }
}

#[test]
fn california_caller_to_new_york_business_gets_all_party_consent() {
    let r = resolve(
        bundled_templates(),
        &ALL,
        "+1 415 555 2671",
        "+1 212 736 3100",
    );
    for id in [
        "us-federal",
        "us-all-party-consent",
        "us-ai-voice",
        "pci-dss-phone",
    ] {
        assert!(r.applies(id), "{id}: {r:#?}");
    }
    for id in ["eu-gdpr-ai-act", "uk", "in-dpdp-trai"] {
        assert!(!r.applies(id), "{id}");
    }
    let reasons: Vec<_> = r.reasons_for("us-all-party-consent").collect();
    assert_eq!(reasons.len(), 1, "{reasons:#?}");
    assert_eq!(reasons[0].party, Party::Caller);
    assert_eq!(
        reasons[0].trigger,
        Trigger::Jurisdiction {
            jurisdiction: "US-CA".into()
        }
    );
    assert_eq!(reasons[0].rule, "Cal. Penal Code §632");
    assert_eq!(r.recording.mode, RecordingMode::AnnounceAndConsent);
    assert_eq!(r.recording.decided_by, ["us-all-party-consent"]);
    assert_eq!(
        r.recording.consent_methods,
        [ConsentMethod::Keypress, ConsentMethod::Speech]
    );
    assert!(r.templates.iter().all(|t| t.version == "1.0.0"));

    // Both parties in New York: federal one-party consent only.
    let r = resolve(
        bundled_templates(),
        &ALL,
        "+1 718 555 0134",
        "+1 212 736 3100",
    );
    assert!(!r.applies("us-all-party-consent"));
    assert_eq!(r.recording.mode, RecordingMode::NoneRequired);

    // The business in California, the caller in New York: still all-party.
    let r = resolve(
        bundled_templates(),
        &ALL,
        "+1 212 736 3100",
        "+1 415 555 2671",
    );
    assert_eq!(
        r.reasons_for("us-all-party-consent")
            .next()
            .map(|r| r.party),
        Some(Party::Callee)
    );
}

#[test]
fn connecticut_michigan_and_oregon_are_treated_as_all_party() {
    for (number, state) in [
        ("+1 203 555 0198", "US-CT"),
        ("+1 313 555 0123", "US-MI"),
        ("+1 503 555 0147", "US-OR"),
    ] {
        let r = resolve(bundled_templates(), &ALL, number, "+1 212 736 3100");
        assert!(r.applies("us-all-party-consent"), "{state}");
        assert_eq!(
            r.reasons_for("us-all-party-consent")
                .next()
                .map(|r| r.trigger.clone()),
            Some(Trigger::Jurisdiction {
                jurisdiction: state.into()
            })
        );
        assert_eq!(r.recording.mode, RecordingMode::AnnounceAndConsent);
    }
}

#[test]
fn indian_caller_gets_dpdp_and_trai() {
    let r = resolve(
        bundled_templates(),
        &ALL,
        "+91 98765 43210",
        "+1 212 736 3100",
    );
    assert!(r.applies("in-dpdp-trai"), "{r:#?}");
    assert!(!r.applies("us-all-party-consent"));
    assert!(!r.applies("eu-gdpr-ai-act"));
    assert_eq!(r.recording.mode, RecordingMode::AnnounceAndConsent);
    assert_eq!(r.recording.decided_by, ["in-dpdp-trai"]);
    let reason = r.reasons_for("in-dpdp-trai").next().expect("reason");
    assert_eq!(reason.party, Party::Caller);
    assert_eq!(
        reason.trigger,
        Trigger::Jurisdiction {
            jurisdiction: "IN".into()
        }
    );

    // An outbound call to India: TRAI hours bind.
    let r = resolve(
        bundled_templates(),
        &ALL,
        "+1 212 736 3100",
        "+91 98765 43210",
    );
    assert!(r.calling_hours.iter().any(|h| h.rule == "TRAI TCCCPR 2018"));
    assert!(!r.calling_allowed(Weekday::Mon, t(8, 30)));
    assert!(r.calling_allowed(Weekday::Mon, t(9, 0)));
    assert!(!r.calling_allowed(Weekday::Mon, t(21, 0)));
}

#[test]
fn german_caller_gets_gdpr_and_the_ai_act() {
    let r = resolve(
        bundled_templates(),
        &ALL,
        "+49 30 1234567",
        "+44 20 7946 0958",
    );
    assert!(r.applies("eu-gdpr-ai-act"), "{r:#?}");
    assert!(r.applies("uk"));
    assert!(!r.applies("us-federal"));
    let reason = r.reasons_for("eu-gdpr-ai-act").next().expect("reason");
    assert_eq!(
        reason.trigger,
        Trigger::Jurisdiction {
            jurisdiction: "EU".into()
        }
    );
    // GDPR consent is more protective than the UK's announcement.
    assert_eq!(r.recording.mode, RecordingMode::AnnounceAndConsent);
    assert_eq!(r.recording.decided_by, ["eu-gdpr-ai-act"]);
    assert!(
        !r.recording
            .consent_methods
            .contains(&ConsentMethod::StayOnLine)
    );
}

#[test]
fn a_withheld_number_gets_the_most_protective_recording_rule() {
    for withheld in [
        "",
        "anonymous",
        "sip:anonymous@anonymous.invalid",
        "garbage",
    ] {
        let enabled = ["us-federal", "us-all-party-consent", "uk", "pci-dss-phone"];
        let r = resolve(bundled_templates(), &enabled, withheld, "+1 212 736 3100");
        assert!(r.parties[0].location.is_unknown());
        assert!(r.applies("us-all-party-consent"), "{withheld:?}: {r:#?}");
        assert!(!r.applies("uk"), "announce is less protective than consent");
        assert_eq!(r.recording.mode, RecordingMode::AnnounceAndConsent);
        let reason = r
            .reasons_for("us-all-party-consent")
            .next()
            .expect("reason");
        assert_eq!(reason.party, Party::Caller);
        assert_eq!(
            reason.trigger,
            Trigger::LocationUnknown {
                recording_mode: RecordingMode::AnnounceAndConsent
            }
        );
    }
    // With only one-party and announce templates enabled, the announcement wins.
    let r = resolve(
        bundled_templates(),
        &["us-federal", "uk"],
        "anonymous",
        "+1 212 736 3100",
    );
    assert!(r.applies("uk"));
    assert_eq!(r.recording.mode, RecordingMode::Announce);
    // Every consent template ties: all of them apply.
    let r = resolve(bundled_templates(), &ALL, "anonymous", "+1 212 736 3100");
    for id in ["us-all-party-consent", "eu-gdpr-ai-act", "in-dpdp-trai"] {
        assert!(r.applies(id), "{id}");
    }
}

#[test]
fn a_us_number_without_a_state_may_be_in_an_all_party_state() {
    let r = resolve(
        bundled_templates(),
        &ALL,
        "+1 800 555 0199",
        "+1 212 736 3100",
    );
    let reason = r
        .reasons_for("us-all-party-consent")
        .next()
        .expect("reason");
    assert_eq!(
        reason.trigger,
        Trigger::SubdivisionUnknown {
            country: "US".into()
        }
    );
}

#[test]
fn florida_has_stricter_calling_hours() {
    let r = resolve(
        bundled_templates(),
        &ALL,
        "+1 212 736 3100",
        "+1 305 555 0142",
    );
    let florida: Vec<_> = r
        .calling_hours
        .iter()
        .filter(|h| h.jurisdiction.as_deref() == Some("US-FL"))
        .collect();
    assert!(!florida.is_empty(), "{:#?}", r.calling_hours);
    assert!(
        florida
            .iter()
            .all(|h| h.rule == "Fla. Stat. §501.616(6)(a)")
    );
    assert!(r.calling_allowed(Weekday::Tue, t(19, 59)));
    assert!(!r.calling_allowed(Weekday::Tue, t(20, 30)));
    assert!(!r.calling_allowed(Weekday::Tue, t(7, 59)));

    // New York: the federal window, 08:00-21:00.
    let r = resolve(
        bundled_templates(),
        &ALL,
        "+1 305 555 0142",
        "+1 212 736 3100",
    );
    assert!(r.calling_hours.iter().all(|h| h.jurisdiction.is_none()));
    assert!(r.calling_allowed(Weekday::Tue, t(20, 30)));
    assert!(!r.calling_allowed(Weekday::Tue, t(21, 0)));
}

#[test]
fn unknown_enabled_ids_are_reported_and_duplicates_ignored() {
    let r = resolve(
        bundled_templates(),
        &["us-federal", "us-federal", "no-such-template"],
        "+1 212 736 3100",
        "+1 212 736 3100",
    );
    assert_eq!(r.unknown_templates, ["no-such-template"]);
    assert_eq!(r.templates.len(), 1);
    assert_eq!(r.reasons.len(), 2, "one per party");
    let json = serde_json::to_value(&r).expect("serialises for evidence");
    assert_eq!(json["reasons"][0]["trigger"]["kind"], "jurisdiction");
}
