//! PII redaction (issue 4 item 6): each class, each spoken-digit rule, the
//! actions, and the labelled corpus in `flows/redaction/corpus.jsonl`
//! (recall on checksum-valid identifiers, false-positive rate on numbers
//! that are not PII). Run with `--nocapture` to see the figures.

use std::collections::BTreeMap;
use std::path::PathBuf;

use switchyard_runtime::policy::redact::{
    Action, PiiClass, RedactionConfig, Redactor, aadhaar_valid, card_valid, iban_valid,
    verhoeff_valid,
};

fn redactor() -> Redactor {
    Redactor::new(RedactionConfig::default())
}

/// (class, value) of everything found in `text`.
fn found(text: &str) -> Vec<(PiiClass, String)> {
    redactor()
        .find(text)
        .into_iter()
        .map(|f| (f.class, f.value))
        .collect()
}

fn one(class: PiiClass, value: &str) -> Vec<(PiiClass, String)> {
    vec![(class, value.to_owned())]
}

#[test]
fn cards_by_luhn_and_issuer_range() {
    for (text, value) in [
        ("card 4111111111111111 thanks", "4111111111111111"),
        ("it's 4111 1111 1111 1111", "4111111111111111"),
        ("it's 4111-1111-1111-1111.", "4111111111111111"),
        ("amex 3782 822463 10005", "378282246310005"),
        ("mastercard 5555 5555 5555 4444", "5555555555554444"),
        ("mastercard 2221 0000 0000 0009", "2221000000000009"),
        ("discover 6011 1111 1111 1117", "6011111111111117"),
        ("jcb 3530 1113 3330 0000", "3530111333300000"),
        ("diners 3056 9309 0259 04", "30569309025904"),
        ("short visa 4222222222222", "4222222222222"),
    ] {
        assert_eq!(found(text), one(PiiClass::Card, value), "{text}");
    }
    // Luhn fails, or no issuer has the range.
    for text in [
        "4111 1111 1111 1112",
        "9111111111111111 is not a card",
        "1234567812345670",
        "order 41111111111111",
    ] {
        assert_eq!(found(text), vec![], "{text}");
    }
    assert!(card_valid(b"4111111111111111"));
    assert!(!card_valid(b"4111111111111"));
}

#[test]
fn ssn_formatted_or_with_context_only() {
    assert_eq!(
        found("it's 123-45-6789 on the form"),
        one(PiiClass::Ssn, "123456789")
    );
    assert_eq!(
        found("my social is 123456789"),
        one(PiiClass::Ssn, "123456789")
    );
    assert_eq!(
        found("SSN one two three four five six seven eight nine"),
        one(PiiClass::Ssn, "123456789")
    );
    // Bare nine digits without context are not an SSN.
    assert_eq!(found("tracking 123456789"), vec![]);
    // Never issued: area 000, 666, 900-999; group 00; serial 0000.
    for bad in [
        "000-12-3456",
        "666-12-3456",
        "912-12-3456",
        "123-00-4567",
        "123-45-0000",
    ] {
        assert_eq!(found(&format!("my social is {bad}")), vec![], "{bad}");
    }
}

#[test]
fn ssn_context_from_the_previous_turn() {
    let r = redactor();
    let turns = r.redact_conversation(&["what's your social security number?", "123 45 6789"]);
    assert_eq!(turns[1].text, "[SSN]");
}

#[test]
fn aadhaar_by_verhoeff() {
    assert!(verhoeff_valid(b"2363"));
    assert!(aadhaar_valid(b"234567890124"));
    assert_eq!(
        found("aadhaar 2345 6789 0124"),
        one(PiiClass::Aadhaar, "234567890124")
    );
    assert_eq!(
        found("aadhaar 234567890124"),
        one(PiiClass::Aadhaar, "234567890124")
    );
    // Verhoeff fails; first digit 0 or 1.
    assert_eq!(found("aadhaar 2345 6789 0123"), vec![]);
    assert!(!aadhaar_valid(b"134567890120"));
}

#[test]
fn pan_by_shape_and_holder_type() {
    assert_eq!(
        found("my PAN is ABCPE1234F"),
        one(PiiClass::Pan, "ABCPE1234F")
    );
    assert_eq!(found("PAN: AAACB1234Z."), one(PiiClass::Pan, "AAACB1234Z"));
    // 4th letter X is no holder type; too long; lower case.
    assert_eq!(found("ABCXE1234F"), vec![]);
    assert_eq!(found("ABCPE1234FG"), vec![]);
}

#[test]
fn iban_by_country_length_and_mod_97() {
    assert!(iban_valid(b"GB82WEST12345698765432"));
    assert_eq!(
        found("IBAN DE89 3704 0044 0532 0130 00 please"),
        one(PiiClass::Iban, "DE89370400440532013000")
    );
    assert_eq!(
        found("to GB82WEST12345698765432"),
        one(PiiClass::Iban, "GB82WEST12345698765432")
    );
    assert_eq!(
        found("FR14 2004 1010 0505 0001 3M02 606"),
        one(PiiClass::Iban, "FR1420041010050500013M02606")
    );
    // Wrong check digits; wrong length for the country.
    assert_eq!(found("GB83WEST12345698765432"), vec![]);
    assert_eq!(found("DE8937040044053201300"), vec![]);
}

#[test]
fn email() {
    assert_eq!(
        found("mail John.Smith+x@Example.co.uk."),
        one(PiiClass::Email, "john.smith+x@example.co.uk")
    );
    assert_eq!(found("at @ home, a@b, x@y.1"), vec![]);
}

#[test]
fn phones_e164_and_national() {
    for (text, value) in [
        ("call +1 415 555 0100", "+14155550100"),
        ("call +44 20 7946 0000 now", "+442079460000"),
        ("+91 98765 43210", "+919876543210"),
        ("(415) 555-0100", "4155550100"),
        ("415-555-0100", "4155550100"),
        ("020 7946 0000", "02079460000"),
        ("1 415 555 0100", "14155550100"),
        ("four one five five five five oh one oh oh", "4155550100"),
    ] {
        assert_eq!(found(text), one(PiiClass::Phone, value), "{text}");
    }
}

#[test]
fn not_phones_cards_dates_times_prices_orders() {
    for text in [
        "4111 1111 1111 1112",
        "on 2024-05-01 at 10:30",
        "05/12/2025",
        "$1,299.99",
        "it costs 4155550100.50",
        "order number 4155550100",
        "invoice 2125550100",
        "version 4.15.5550100",
        "ticket 4155-5501",
        "room 1204 floor 12",
    ] {
        assert_eq!(found(text), vec![], "{text}");
    }
}

#[test]
fn spoken_digit_rules() {
    let card = one(PiiClass::Card, "4111111111111111");
    // oh / o / nought / zero
    assert_eq!(
        found("four one five five five five oh one o o"),
        one(PiiClass::Phone, "4155550100")
    );
    assert_eq!(
        found("four one five five five five nought one zero zero"),
        one(PiiClass::Phone, "4155550100")
    );
    // double, triple, treble
    assert_eq!(
        found("four one five triple five oh one double oh"),
        one(PiiClass::Phone, "4155550100")
    );
    assert_eq!(
        found("four one five treble 5 0 1 double 0"),
        one(PiiClass::Phone, "4155550100")
    );
    // tens and units: forty-one eleven
    assert_eq!(
        found("forty-one eleven eleven eleven eleven eleven eleven eleven"),
        card
    );
    assert_eq!(
        found("forty one eleven eleven eleven eleven eleven eleven eleven"),
        card
    );
    // mixed words and digits
    assert_eq!(found("four one one one 1111 one one one one 1111"), card);
    assert_eq!(found("4111, 1111, 1111, 1111"), card);
    // "oh" as an interjection is no zero
    assert_eq!(
        found("oh, 415 555 0100"),
        one(PiiClass::Phone, "4155550100")
    );
    assert_eq!(
        found("Oh four one five five five five zero one zero zero"),
        one(PiiClass::Phone, "4155550100")
    );
    assert_eq!(found("oh I see, double check the o ring"), vec![]);
}

#[test]
fn digits_split_across_turns() {
    let r = redactor();
    let out = r.redact_conversation(&["my card is 4111 1111", "1111 1111", "thanks"]);
    assert_eq!(out[0].text, "my card is [CARD]");
    assert_eq!(out[1].text, "[CARD]");
    assert_eq!(out[2].text, "thanks");
    let found = r.find_conversation(&["my card is four one one one 1111.", "1111 and 1111 1111"]);
    assert!(found.is_empty(), "{found:?}");
    let found = r.find_conversation(&["my number is 415 555", "0100, got it?"]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].value, "4155550100");
    assert_eq!(found[0].parts.len(), 2);
}

#[test]
fn actions_spans_and_counts() {
    let text = "card 4111 1111 1111 1111, ssn 123-45-6789, mail a@b.com";
    let token = redactor().redact(text);
    assert_eq!(token.text, "card [CARD], ssn [SSN], mail [EMAIL]");
    assert_eq!(
        token
            .spans
            .iter()
            .map(|s| (s.start, s.end))
            .collect::<Vec<_>>(),
        vec![(5, 24), (30, 41), (48, 55)]
    );
    assert_eq!(&text[5..24], "4111 1111 1111 1111");
    let counts = token.counts();
    assert_eq!(counts.get(&PiiClass::Card), Some(&1));
    assert_eq!(counts.len(), 3);

    let mask = Redactor::new(RedactionConfig::all(Action::Mask)).redact(text);
    assert_eq!(mask.text, "card ****, ssn ****, mail ****");
    let last4 = Redactor::new(RedactionConfig::all(Action::Mask).keep_last4(true)).redact(text);
    assert_eq!(last4.text, "card ****1111, ssn ****, mail ****");
    let drop = Redactor::new(RedactionConfig::all(Action::Drop)).redact(text);
    assert_eq!(drop.text, "card , ssn , mail ");

    let only_card = Redactor::new(RedactionConfig::none().with(PiiClass::Card, Action::Token));
    assert_eq!(
        only_card.redact(text).text,
        "card [CARD], ssn 123-45-6789, mail a@b.com"
    );
    assert!(RedactionConfig::from_class_list("card,ssn", Action::Token).is_ok());
    let err = RedactionConfig::from_class_list("card,passport", Action::Token).unwrap_err();
    assert!(err.to_string().contains("passport"), "{err}");
}

#[test]
fn hostile_input_never_panics() {
    let r = redactor();
    for text in [
        "",
        "@",
        "@@.@",
        "+",
        "(",
        "double",
        "triple triple",
        "forty-",
        "£€₹$",
        "ünïcödé 4111 1111 1111 1111 ☎ +44 20 7946 0000",
        "DE89",
        "GB82 WEST 1234 5698 7654 3",
        "ABCPE1234",
        &"9".repeat(10_000),
        &"one ".repeat(5_000),
    ] {
        let out = r.redact(text);
        for span in &out.spans {
            assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
        }
    }
    // Long runs and many lone "o"s stay linear.
    let started = std::time::Instant::now();
    for text in [
        "1 ".repeat(200_000),
        "o, ".repeat(100_000),
        "a@".repeat(100_000),
    ] {
        r.redact(&text);
    }
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    let out = r.redact("ünïcödé 4111 1111 1111 1111 ☎");
    assert_eq!(out.text, "ünïcödé [CARD] ☎");
}

#[derive(serde::Deserialize)]
struct Line {
    text: String,
    #[serde(default)]
    turns: Option<Vec<String>>,
    pii: Vec<Label>,
    #[serde(default)]
    decoys: usize,
}

#[derive(serde::Deserialize)]
struct Label {
    class: String,
    value: String,
}

#[test]
fn corpus_recall_and_false_positives() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flows/redaction/corpus.jsonl");
    let corpus = std::fs::read_to_string(&path).expect("corpus");
    let r = redactor();
    let mut lines = 0;
    let mut labelled: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut false_positives = Vec::new();
    let (mut decoys, mut clean_lines, mut clean_lines_flagged) = (0, 0, 0);
    for raw in corpus.lines().filter(|l| !l.trim().is_empty()) {
        let line: Line = serde_json::from_str(raw).expect("corpus line");
        lines += 1;
        decoys += line.decoys;
        let found = match &line.turns {
            Some(turns) => {
                let turns: Vec<&str> = turns.iter().map(String::as_str).collect();
                r.find_conversation(&turns)
            }
            None => r.find(&line.text),
        };
        let found: Vec<(String, String)> = found
            .into_iter()
            .map(|f| (f.class.name().to_owned(), f.value))
            .collect();
        for label in &line.pii {
            let entry = labelled.entry(label.class.clone()).or_default();
            entry.0 += 1;
            if found.contains(&(label.class.clone(), label.value.clone())) {
                entry.1 += 1;
            } else {
                misses.push(format!("{} {}: {}", label.class, label.value, line.text));
            }
        }
        let extra: Vec<_> = found
            .iter()
            .filter(|(c, v)| !line.pii.iter().any(|l| &l.class == c && &l.value == v))
            .collect();
        if line.pii.is_empty() {
            clean_lines += 1;
            if !extra.is_empty() {
                clean_lines_flagged += 1;
            }
        }
        for (class, value) in extra {
            false_positives.push(format!("{class} {value}: {}", line.text));
        }
    }
    let total: usize = labelled.values().map(|v| v.0).sum();
    let hit: usize = labelled.values().map(|v| v.1).sum();
    let recall = hit as f64 / total.max(1) as f64;
    let fp_rate = false_positives.len() as f64 / decoys.max(1) as f64;
    let clean_rate = clean_lines_flagged as f64 / clean_lines.max(1) as f64;
    println!("corpus: {lines} utterances, {total} labelled identifiers, {decoys} non-PII numbers");
    for (class, (n, h)) in &labelled {
        println!("  {class:8} {h}/{n}");
    }
    println!(
        "recall {:.2}% ({hit}/{total}); false positives {} of {decoys} non-PII numbers ({:.2}%); \
         {clean_lines_flagged} of {clean_lines} PII-free utterances flagged ({:.2}%)",
        recall * 100.0,
        false_positives.len(),
        fp_rate * 100.0,
        clean_rate * 100.0
    );
    for miss in &misses {
        println!("  MISS {miss}");
    }
    for fp in &false_positives {
        println!("  FALSE POSITIVE {fp}");
    }
    assert!(lines >= 500, "corpus has {lines} utterances");
    assert!(misses.is_empty(), "missed: {misses:#?}");
    assert!(fp_rate < 0.01, "false positives: {false_positives:#?}");
    assert!(clean_rate < 0.01);
}
