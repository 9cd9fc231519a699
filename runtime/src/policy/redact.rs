//! PII redaction: card numbers, US SSNs, Aadhaar, Indian PAN, IBAN, e-mail
//! addresses and phone numbers, found with their checksums and redacted by
//! class (mask, token or drop) before text is stored or sent anywhere.
//!
//! ```
//! use switchyard_runtime::policy::redact::{Action, PiiClass, RedactionConfig, Redactor};
//!
//! let redactor = Redactor::new(RedactionConfig::default().with(PiiClass::Email, Action::Mask));
//! let out = redactor.redact("card four one one one 1111 1111 1111, mail me at a.b@example.com");
//! assert_eq!(out.text, "card [CARD], mail me at ****");
//! assert_eq!(out.spans[0].class, PiiClass::Card);
//!
//! // One number split across two turns of a conversation.
//! let turns = redactor.redact_conversation(&["my card is 4111 1111", "1111 1111 thanks"]);
//! assert_eq!(turns[0].text, "my card is [CARD]");
//! assert_eq!(turns[1].text, "[CARD] thanks");
//! ```
//!
//! How it works: one pass over the bytes turns digits and spoken number
//! words ("oh", "nought", "double five", "forty-one eleven") into numeric
//! tokens with their byte ranges; tokens separated only by spaces, hyphens,
//! commas or parentheses form a run (and a run that ends one turn joins the
//! run that opens the next). A run is classified as a whole by length and
//! checksum: Luhn and issuer range for cards, Verhoeff for Aadhaar, the
//! valid SSN ranges (bare nine digits only when the conversation mentions a
//! social security number), national and E.164 phone shapes. Digits glued to
//! letters, decimal points, slashes, colons or currency signs (codes,
//! prices, dates, times) never take part. PAN, IBAN (per-country length,
//! mod 97) and e-mail are found by shape around capitals and `@`. No regex
//! runs on the hot path.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A kind of personal identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiClass {
    /// Payment card number (Luhn and issuer range).
    Card,
    /// US social security number.
    Ssn,
    /// Indian Aadhaar number (Verhoeff).
    Aadhaar,
    /// Indian permanent account number.
    Pan,
    /// International bank account number (mod 97).
    Iban,
    /// E-mail address.
    Email,
    /// Phone number, E.164 or national.
    Phone,
}

impl PiiClass {
    /// Every class, in a fixed order.
    pub const ALL: [PiiClass; 7] = [
        PiiClass::Card,
        PiiClass::Ssn,
        PiiClass::Aadhaar,
        PiiClass::Pan,
        PiiClass::Iban,
        PiiClass::Email,
        PiiClass::Phone,
    ];

    /// The lowercase name used in configuration and JSON (`card`, `ssn`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PiiClass::Card => "card",
            PiiClass::Ssn => "ssn",
            PiiClass::Aadhaar => "aadhaar",
            PiiClass::Pan => "pan",
            PiiClass::Iban => "iban",
            PiiClass::Email => "email",
            PiiClass::Phone => "phone",
        }
    }

    /// The class with this name (case-insensitive), if any.
    pub fn from_name(name: &str) -> Option<PiiClass> {
        PiiClass::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The replacement for the token action: `[CARD]`, `[SSN]`, ...
    pub fn token(self) -> &'static str {
        match self {
            PiiClass::Card => "[CARD]",
            PiiClass::Ssn => "[SSN]",
            PiiClass::Aadhaar => "[AADHAAR]",
            PiiClass::Pan => "[PAN]",
            PiiClass::Iban => "[IBAN]",
            PiiClass::Email => "[EMAIL]",
            PiiClass::Phone => "[PHONE]",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for PiiClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happens to an identifier that was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Replace with `****` (cards: `****1111` with `mask_keep_last4`).
    Mask,
    /// Replace with the class token, e.g. `[CARD]`.
    Token,
    /// Remove it.
    Drop,
}

/// A class name that is not one of [`PiiClass::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownClass(pub String);

impl fmt::Display for UnknownClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = PiiClass::ALL.iter().map(|c| c.name()).collect();
        write!(
            f,
            "unknown PII class {:?} (known: {})",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownClass {}

/// Which classes are redacted, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactionConfig {
    actions: [Option<Action>; 7],
    /// Card masks keep the last four digits (`****1111`).
    pub mask_keep_last4: bool,
}

impl Default for RedactionConfig {
    /// Every class, replaced by its token.
    fn default() -> Self {
        RedactionConfig::all(Action::Token)
    }
}

impl RedactionConfig {
    /// Every class with the same action.
    pub fn all(action: Action) -> Self {
        RedactionConfig {
            actions: [Some(action); 7],
            mask_keep_last4: false,
        }
    }

    /// No class at all (add them with [`with`](Self::with)).
    pub fn none() -> Self {
        RedactionConfig {
            actions: [None; 7],
            mask_keep_last4: false,
        }
    }

    /// Redacts `class` with `action`.
    pub fn with(mut self, class: PiiClass, action: Action) -> Self {
        self.actions[class.index()] = Some(action);
        self
    }

    /// Leaves `class` alone.
    pub fn without(mut self, class: PiiClass) -> Self {
        self.actions[class.index()] = None;
        self
    }

    /// Card masks keep the last four digits.
    pub fn keep_last4(mut self, keep: bool) -> Self {
        self.mask_keep_last4 = keep;
        self
    }

    /// The action for `class`, or `None` when it is not redacted.
    pub fn action(&self, class: PiiClass) -> Option<Action> {
        self.actions[class.index()]
    }

    /// Only the classes in a comma-separated list (`"card,ssn"`), each with
    /// `action`.
    pub fn from_class_list(list: &str, action: Action) -> Result<Self, UnknownClass> {
        let mut config = RedactionConfig::none();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let class = PiiClass::from_name(name).ok_or_else(|| UnknownClass(name.to_owned()))?;
            config = config.with(class, action);
        }
        Ok(config)
    }
}

/// One redacted range of the original text (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    pub class: PiiClass,
    pub start: usize,
    pub end: usize,
    pub action: Action,
}

/// Redacted text and what was redacted where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redacted {
    pub text: String,
    pub spans: Vec<Span>,
}

impl Redacted {
    /// How many identifiers of each class were redacted (for evidence).
    /// An identifier split across turns counts once per turn it touches.
    pub fn counts(&self) -> BTreeMap<PiiClass, usize> {
        let mut counts = BTreeMap::new();
        for span in &self.spans {
            *counts.entry(span.class).or_insert(0) += 1;
        }
        counts
    }
}

/// Where part of an identifier lies: the turn and its byte range there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub turn: usize,
    pub start: usize,
    pub end: usize,
}

/// An identifier found, with its normalised value (digits; `+` and digits
/// for E.164 phones; upper-case PAN and compact IBAN; lower-case e-mail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub class: PiiClass,
    pub value: String,
    /// One part per turn the identifier touches (one for a single text).
    pub parts: Vec<Part>,
}

/// Finds and redacts PII. Cheap to share; holds no per-call state.
#[derive(Debug, Clone)]
pub struct Redactor {
    config: RedactionConfig,
}

impl Redactor {
    pub fn new(config: RedactionConfig) -> Self {
        Redactor { config }
    }

    pub fn config(&self) -> &RedactionConfig {
        &self.config
    }

    /// The identifiers of the configured classes in one text.
    pub fn find(&self, text: &str) -> Vec<Finding> {
        self.find_conversation(&[text])
    }

    /// The identifiers of the configured classes in a conversation, including
    /// numbers split across consecutive turns.
    pub fn find_conversation(&self, turns: &[&str]) -> Vec<Finding> {
        let mut findings = scan(turns);
        findings.retain(|f| self.config.action(f.class).is_some());
        findings
    }

    /// Redacts one text.
    pub fn redact(&self, text: &str) -> Redacted {
        let findings = self.find(text);
        let mut spans = Vec::with_capacity(findings.len());
        for finding in &findings {
            if let Some(action) = self.config.action(finding.class) {
                for part in &finding.parts {
                    spans.push((
                        Span {
                            class: finding.class,
                            start: part.start,
                            end: part.end,
                            action,
                        },
                        self.last4(finding),
                    ));
                }
            }
        }
        render(text, spans)
    }

    /// The last four digits a card mask keeps, if configured.
    fn last4<'f>(&self, finding: &'f Finding) -> Option<&'f str> {
        (finding.class == PiiClass::Card && self.config.mask_keep_last4)
            .then(|| finding.value.get(finding.value.len().saturating_sub(4)..))
            .flatten()
    }

    /// Redacts each turn of a conversation; an identifier split across turns
    /// is redacted in each turn it touches.
    pub fn redact_conversation(&self, turns: &[&str]) -> Vec<Redacted> {
        let findings = self.find_conversation(turns);
        let mut per_turn: Vec<Vec<(Span, Option<&str>)>> = vec![Vec::new(); turns.len()];
        for finding in &findings {
            let Some(action) = self.config.action(finding.class) else {
                continue;
            };
            let last = finding.parts.len().saturating_sub(1);
            for (k, part) in finding.parts.iter().enumerate() {
                if let Some(list) = per_turn.get_mut(part.turn) {
                    list.push((
                        Span {
                            class: finding.class,
                            start: part.start,
                            end: part.end,
                            action,
                        },
                        if k == last { self.last4(finding) } else { None },
                    ));
                }
            }
        }
        turns
            .iter()
            .zip(per_turn)
            .map(|(text, spans)| render(text, spans))
            .collect()
    }
}

/// Applies the spans (with a card's last four digits, for masks) to `text`.
fn render(text: &str, mut spans: Vec<(Span, Option<&str>)>) -> Redacted {
    spans.sort_by_key(|(s, _)| s.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut kept = Vec::with_capacity(spans.len());
    for (span, last4) in spans {
        if span.start < at || span.end > text.len() {
            continue;
        }
        out.push_str(text.get(at..span.start).unwrap_or_default());
        match span.action {
            Action::Token => out.push_str(span.class.token()),
            Action::Mask => {
                out.push_str("****");
                if let Some(last4) = last4 {
                    out.push_str(last4);
                }
            }
            Action::Drop => {}
        }
        at = span.end;
        kept.push(span);
    }
    out.push_str(text.get(at..).unwrap_or_default());
    Redacted {
        text: out,
        spans: kept,
    }
}

// ---------------------------------------------------------------------------
// Checksums and shapes.

/// Luhn (mod 10) check over ASCII digits.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d.wrapping_sub(b'0'));
        if v > 9 {
            return false;
        }
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

fn prefix_num(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0, |acc, &d| acc * 10 + u32::from(d.wrapping_sub(b'0')))
}

/// Card brand by issuer range and length, if any.
pub fn card_brand(digits: &[u8]) -> Option<&'static str> {
    let len = digits.len();
    if !(13..=19).contains(&len) {
        return None;
    }
    let p1 = prefix_num(digits, 1);
    let p2 = prefix_num(digits, 2);
    let p3 = prefix_num(digits, 3);
    let p4 = prefix_num(digits, 4);
    let p6 = prefix_num(digits, 6);
    let long = (16..=19).contains(&len);
    if p1 == 4 && matches!(len, 13 | 16 | 19) {
        Some("visa")
    } else if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16 {
        Some("mastercard")
    } else if (p2 == 34 || p2 == 37) && len == 15 {
        Some("amex")
    } else if (p4 == 6011
        || (622126..=622925).contains(&p6)
        || (644..=649).contains(&p3)
        || p2 == 65)
        && long
    {
        Some("discover")
    } else if (3528..=3589).contains(&p4) && long {
        Some("jcb")
    } else if ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39)
        && (14..=19).contains(&len)
    {
        Some("diners")
    } else if (matches!(p2, 60 | 81 | 82) || p3 == 508) && len == 16 {
        // RuPay (India); its 65 range is Discover's above.
        Some("rupay")
    } else {
        None
    }
}

/// A valid card number: issuer range, length and Luhn.
pub fn card_valid(digits: &[u8]) -> bool {
    card_brand(digits).is_some() && luhn_valid(digits)
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// Verhoeff check over ASCII digits (the last digit is the check digit).
pub fn verhoeff_valid(digits: &[u8]) -> bool {
    let mut c = 0usize;
    for (i, &d) in digits.iter().rev().enumerate() {
        let v = d.wrapping_sub(b'0') as usize;
        if v > 9 {
            return false;
        }
        c = VERHOEFF_D[c][VERHOEFF_P[i % 8][v] as usize] as usize;
    }
    !digits.is_empty() && c == 0
}

/// A valid Aadhaar number: 12 digits, first 2–9, Verhoeff.
pub fn aadhaar_valid(digits: &[u8]) -> bool {
    digits.len() == 12 && (b'2'..=b'9').contains(&digits[0]) && verhoeff_valid(digits)
}

/// A US SSN in the issued ranges: area not 000, 666 or 900–999, group not
/// 00, serial not 0000.
pub fn ssn_valid(digits: &[u8]) -> bool {
    if digits.len() != 9 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let area = prefix_num(digits, 3);
    let group = prefix_num(&digits[3..], 2);
    let serial = prefix_num(&digits[5..], 4);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// An Indian PAN: `[A-Z]{5}[0-9]{4}[A-Z]`, 4th letter a holder type.
pub fn pan_valid(s: &[u8]) -> bool {
    s.len() == 10
        && s[..5].iter().all(u8::is_ascii_uppercase)
        && s[5..9].iter().all(u8::is_ascii_digit)
        && s[9].is_ascii_uppercase()
        && matches!(
            s[3],
            b'P' | b'C' | b'H' | b'F' | b'A' | b'T' | b'B' | b'L' | b'J' | b'G'
        )
}

/// IBAN length by country (SEPA, GB and other common IBAN countries).
pub fn iban_length(country: &[u8]) -> Option<usize> {
    Some(match country {
        b"AD" => 24,
        b"AE" => 23,
        b"AL" => 28,
        b"AT" => 20,
        b"AZ" => 28,
        b"BA" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"BH" => 22,
        b"BR" => 29,
        b"CH" => 21,
        b"CR" => 22,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DK" => 18,
        b"DO" => 28,
        b"EE" => 20,
        b"EG" => 29,
        b"ES" => 24,
        b"FI" => 18,
        b"FO" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GE" => 22,
        b"GI" => 23,
        b"GL" => 18,
        b"GR" => 27,
        b"GT" => 28,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IL" => 23,
        b"IS" => 26,
        b"IT" => 27,
        b"JO" => 30,
        b"KW" => 30,
        b"KZ" => 20,
        b"LB" => 28,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"MC" => 27,
        b"MD" => 24,
        b"ME" => 22,
        b"MK" => 19,
        b"MR" => 27,
        b"MT" => 31,
        b"MU" => 30,
        b"NL" => 18,
        b"NO" => 15,
        b"PK" => 24,
        b"PL" => 28,
        b"PS" => 29,
        b"PT" => 25,
        b"QA" => 29,
        b"RO" => 24,
        b"RS" => 22,
        b"SA" => 24,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"TN" => 24,
        b"TR" => 26,
        b"UA" => 29,
        b"VA" => 22,
        b"VG" => 24,
        b"XK" => 20,
        _ => return None,
    })
}

/// A valid compact IBAN: known country, its length, mod 97 = 1.
pub fn iban_valid(s: &[u8]) -> bool {
    if s.len() < 5
        || iban_length(&s[..2]) != Some(s.len())
        || !s[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let mut rem = 0u32;
    for &c in s[4..].iter().chain(&s[..4]) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else if c.is_ascii_uppercase() {
            rem = (rem * 100 + u32::from(c - b'A' + 10)) % 97;
        } else {
            return false;
        }
    }
    rem == 1
}

// ---------------------------------------------------------------------------
// Scanning.

/// A numeric token: literal digits or number words, with its byte range.
#[derive(Debug, Clone, Copy)]
struct Tok {
    turn: usize,
    start: usize,
    end: usize,
    /// Range in the shared digit buffer.
    d0: usize,
    d1: usize,
    /// Written as digits (not words).
    literal: bool,
    /// "oh" / "o": zero only next to other numbers.
    weak: bool,
    /// Written with a capital ("Oh four one ..."): likely an interjection.
    capital: bool,
    /// A tens word ("forty") that a following unit word may complete.
    tens: bool,
    /// Immediately preceded by `+`.
    plus: bool,
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

enum Word {
    Digits(&'static [u8]),
    Weak,
    Tens(u8),
    Repeat(usize),
}

fn number_word(word: &[u8]) -> Option<Word> {
    if word.len() > 9 {
        return None;
    }
    let mut buf = [0u8; 9];
    for (b, w) in buf.iter_mut().zip(word) {
        *b = w.to_ascii_lowercase();
    }
    Some(match &buf[..word.len()] {
        b"zero" | b"nought" | b"naught" => Word::Digits(b"0"),
        b"oh" | b"o" => Word::Weak,
        b"one" => Word::Digits(b"1"),
        b"two" => Word::Digits(b"2"),
        b"three" => Word::Digits(b"3"),
        b"four" => Word::Digits(b"4"),
        b"five" => Word::Digits(b"5"),
        b"six" => Word::Digits(b"6"),
        b"seven" => Word::Digits(b"7"),
        b"eight" => Word::Digits(b"8"),
        b"nine" => Word::Digits(b"9"),
        b"ten" => Word::Digits(b"10"),
        b"eleven" => Word::Digits(b"11"),
        b"twelve" => Word::Digits(b"12"),
        b"thirteen" => Word::Digits(b"13"),
        b"fourteen" => Word::Digits(b"14"),
        b"fifteen" => Word::Digits(b"15"),
        b"sixteen" => Word::Digits(b"16"),
        b"seventeen" => Word::Digits(b"17"),
        b"eighteen" => Word::Digits(b"18"),
        b"nineteen" => Word::Digits(b"19"),
        b"twenty" => Word::Tens(b'2'),
        b"thirty" => Word::Tens(b'3'),
        b"forty" | b"fourty" => Word::Tens(b'4'),
        b"fifty" => Word::Tens(b'5'),
        b"sixty" => Word::Tens(b'6'),
        b"seventy" => Word::Tens(b'7'),
        b"eighty" => Word::Tens(b'8'),
        b"ninety" => Word::Tens(b'9'),
        b"double" => Word::Repeat(2),
        b"triple" | b"treble" => Word::Repeat(3),
        _ => return None,
    })
}

fn ends_with_currency(before: &[u8]) -> bool {
    before.ends_with(b"$")
        || before.ends_with("£".as_bytes())
        || before.ends_with("€".as_bytes())
        || before.ends_with("₹".as_bytes())
}

/// Tokenises one turn, appending to `toks` and `digits`. Bytes inside
/// `skip` ranges (already found by shape) are ignored.
fn tokenize(
    turn: usize,
    text: &[u8],
    skip: &[(usize, usize)],
    toks: &mut Vec<Tok>,
    digits: &mut Vec<u8>,
) {
    let n = text.len();
    let first = toks.len();
    let mut i = 0;
    let mut skip_at = 0;
    // A pending "double"/"triple": (count, start, end).
    let mut repeat: Option<(usize, usize, usize)> = None;
    while i < n {
        while skip_at < skip.len() && skip[skip_at].1 <= i {
            skip_at += 1;
        }
        if skip_at < skip.len() && skip[skip_at].0 <= i {
            i = skip[skip_at].1;
            repeat = None;
            continue;
        }
        let b = text[i];
        if b.is_ascii_digit() {
            let mut j = i + 1;
            while j < n && text[j].is_ascii_digit() {
                j += 1;
            }
            let glued_before = i > 0
                && (text[i - 1].is_ascii_alphabetic()
                    || ends_with_currency(&text[..i])
                    || (matches!(text[i - 1], b'.' | b':' | b'/' | b',')
                        && i >= 2
                        && text[i - 2].is_ascii_digit()));
            let glued_after = j < n
                && (text[j].is_ascii_alphabetic()
                    || text[j] == b'%'
                    || (matches!(text[j], b'.' | b':' | b'/' | b',')
                        && j + 1 < n
                        && text[j + 1].is_ascii_digit()));
            if !glued_before && !glued_after {
                let plus = i > 0 && text[i - 1] == b'+'
                    || i > 1 && text[i - 1] == b'(' && text[i - 2] == b'+';
                let d0 = digits.len();
                let mut start = i;
                if let Some((count, rstart, rend)) = repeat.take()
                    && j - i == 1
                    && gap_is_space(&text[rend..i])
                {
                    for _ in 1..count {
                        digits.push(b);
                    }
                    start = rstart;
                }
                digits.extend_from_slice(&text[i..j]);
                toks.push(Tok {
                    turn,
                    start,
                    end: j,
                    d0,
                    d1: digits.len(),
                    literal: true,
                    weak: false,
                    capital: false,
                    tens: false,
                    plus,
                });
            } else {
                repeat = None;
            }
            i = j;
        } else if b.is_ascii_alphabetic() {
            let mut j = i + 1;
            while j < n && (text[j].is_ascii_alphabetic() || text[j] == b'\'') {
                j += 1;
            }
            let glued = j < n && text[j].is_ascii_digit();
            match number_word(&text[i..j]).filter(|_| !glued) {
                None => repeat = None,
                Some(Word::Repeat(count)) => repeat = Some((count, i, j)),
                Some(word) => {
                    let (ds, weak, tens): (&[u8], bool, bool) = match &word {
                        Word::Digits(d) => (d, false, false),
                        Word::Weak => (b"0", true, false),
                        Word::Tens(t) => (std::slice::from_ref(t), false, true),
                        Word::Repeat(_) => (b"", false, false),
                    };
                    // "forty-one", "forty one": complete the tens word.
                    if ds.len() == 1
                        && !tens
                        && !weak
                        && ds[0] != b'0'
                        && let Some(last) = toks.last_mut()
                        && last.tens
                        && last.turn == turn
                        && last.end + 1 == i
                        && matches!(text[last.end], b' ' | b'-')
                    {
                        if let Some(slot) = digits.get_mut(last.d0 + 1) {
                            *slot = ds[0];
                        }
                        last.end = j;
                        last.tens = false;
                        repeat = None;
                        i = j;
                        continue;
                    }
                    let d0 = digits.len();
                    let mut start = i;
                    if let Some((count, rstart, rend)) = repeat.take()
                        && ds.len() == 1
                        && !tens
                        && gap_is_space(&text[rend..i])
                    {
                        for _ in 1..count {
                            digits.push(ds[0]);
                        }
                        start = rstart;
                    }
                    digits.extend_from_slice(ds);
                    if tens {
                        digits.push(b'0');
                    }
                    toks.push(Tok {
                        turn,
                        start,
                        end: j,
                        d0,
                        d1: digits.len(),
                        literal: false,
                        weak: weak && start == i,
                        capital: text[i].is_ascii_uppercase(),
                        tens,
                        plus: false,
                    });
                }
            }
            i = j;
        } else {
            if !matches!(b, b' ' | b'\t') {
                repeat = None;
            }
            i += 1;
        }
    }
    // "oh" / "o" count only right next to another number.
    if !toks[first..].iter().any(|t| t.weak) {
        return;
    }
    let lone: Vec<bool> = (first..toks.len())
        .map(|k| {
            let t = toks[k];
            let gap = |a: usize, b: usize| text.get(a..b).is_some_and(tight_gap);
            t.weak
                && !(k > first && gap(toks[k - 1].end, t.start))
                && !(k + 1 < toks.len() && gap(t.end, toks[k + 1].start))
        })
        .collect();
    let mut lone = lone.into_iter();
    let mut k = 0;
    toks.retain(|_| {
        k += 1;
        k <= first || !lone.next().unwrap_or(false)
    });
}

fn gap_is_space(gap: &[u8]) -> bool {
    gap.len() <= 3 && gap.iter().all(|&b| b == b' ' || b == b'\t')
}

/// Between two numbers with nothing but a space or hyphen.
fn tight_gap(gap: &[u8]) -> bool {
    !gap.is_empty() && gap.len() <= 2 && gap.iter().all(|&b| matches!(b, b' ' | b'-'))
}

/// Between two numbers of one run: spaces, hyphens, commas, parentheses.
fn run_gap(gap: &[u8]) -> bool {
    gap.len() <= 4
        && gap
            .iter()
            .all(|&b| matches!(b, b' ' | b'\t' | b'-' | b',' | b'(' | b')'))
}

/// Nothing but spaces and sentence punctuation.
fn edge_only(s: &[u8]) -> bool {
    s.iter().all(|&b| {
        matches!(
            b,
            b' ' | b'\t' | b'\r' | b'\n' | b'.' | b',' | b'!' | b'?' | b';' | b'-' | b'+' | b'('
        )
    })
}

/// Some word in `hay` starts with one of `stems` (ASCII case ignored).
fn mentions(hay: &[u8], stems: &[&[u8]]) -> bool {
    hay.split(|b| !b.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3)
        .any(|w| {
            stems
                .iter()
                .any(|stem| w.len() >= stem.len() && w[..stem.len()].eq_ignore_ascii_case(stem))
        })
}

const SSN_WORDS: [&[u8]; 2] = [b"social", b"ssn"];
const NOT_PHONE_WORDS: [&[u8]; 16] = [
    b"order",
    b"invoice",
    b"reference",
    b"confirmation",
    b"tracking",
    b"ticket",
    b"case",
    b"booking",
    b"policy",
    b"account",
    b"receipt",
    b"serial",
    b"transaction",
    b"claim",
    b"member",
    b"pnr",
];

fn national_phone(d: &[u8]) -> bool {
    let nanp = |d: &[u8]| d.len() == 10 && d[0] >= b'2' && d[3] >= b'2';
    match d.len() {
        10 => nanp(d) || (d[0] == b'0' && d[1] != b'0'),
        11 => (d[0] == b'1' && nanp(&d[1..])) || (d[0] == b'0' && d[1] != b'0'),
        _ => false,
    }
}

struct Scan<'a> {
    turns: &'a [&'a str],
    toks: Vec<Tok>,
    digits: Vec<u8>,
    findings: Vec<Finding>,
}

impl Scan<'_> {
    /// The conversation mentions a social security number near the number:
    /// shortly before or after it in its turn, or in the turn before.
    fn ssn_context(&self, turn: usize, start: usize, end: usize) -> bool {
        let mentions = |s: &[u8]| mentions(s, &SSN_WORDS);
        let near = self.turns.get(turn).is_some_and(|s| {
            let s = s.as_bytes();
            let from = start.saturating_sub(48).min(s.len());
            let to = (end + 24).min(s.len());
            mentions(&s[from..to])
        });
        near || (turn > 0
            && self
                .turns
                .get(turn - 1)
                .is_some_and(|s| mentions(s.as_bytes())))
    }

    /// Classifies tokens `a..b` taken as one number.
    fn classify(&mut self, a: usize, b: usize) -> Option<(PiiClass, String)> {
        let first = self.toks[a];
        let last = self.toks[b - 1];
        let d = &self.digits[first.d0..last.d1];
        let len = d.len();
        if len < 8 {
            return None;
        }
        let as_string = ascii;
        if first.plus && (8..=15).contains(&len) && d[0] != b'0' {
            return Some((PiiClass::Phone, format!("+{}", as_string(d))));
        }
        if (13..=19).contains(&len) && card_valid(d) {
            return Some((PiiClass::Card, as_string(d)));
        }
        if len == 12 && aadhaar_valid(d) {
            return Some((PiiClass::Aadhaar, as_string(d)));
        }
        if len == 9 && ssn_valid(d) {
            let toks = &self.toks[a..b];
            let formatted = toks.len() == 3
                && toks.iter().all(|t| t.literal)
                && toks[0].d1 - toks[0].d0 == 3
                && toks[1].d1 - toks[1].d0 == 2
                && toks[0].turn == toks[2].turn
                && self.turns.get(first.turn).is_some_and(|s| {
                    s.as_bytes().get(toks[0].end) == Some(&b'-')
                        && s.as_bytes().get(toks[1].end) == Some(&b'-')
                        && toks[1].start == toks[0].end + 1
                        && toks[2].start == toks[1].end + 1
                });
            let value = as_string(d);
            if formatted
                || self.ssn_context(first.turn, first.start, first.end)
                || self.ssn_context(last.turn, last.start, last.end)
            {
                return Some((PiiClass::Ssn, value));
            }
            return None;
        }
        if national_phone(d) {
            let text = self
                .turns
                .get(first.turn)
                .map_or(&b""[..], |s| s.as_bytes());
            let from = first.start.saturating_sub(40);
            let before = &text[from..first.start.min(text.len())];
            if mentions(before, &NOT_PHONE_WORDS) {
                return None;
            }
            return Some((PiiClass::Phone, as_string(d)));
        }
        None
    }

    fn push(&mut self, class: PiiClass, value: String, a: usize, b: usize) {
        let mut parts: Vec<Part> = Vec::new();
        for t in &self.toks[a..b] {
            match parts.last_mut() {
                Some(p) if p.turn == t.turn => p.end = t.end,
                _ => {
                    let mut start = t.start;
                    if class == PiiClass::Phone
                        && let Some(text) = self.turns.get(t.turn)
                    {
                        let bytes = text.as_bytes();
                        while start > 0 && matches!(bytes[start - 1], b'+' | b'(') {
                            start -= 1;
                        }
                    }
                    parts.push(Part {
                        turn: t.turn,
                        start,
                        end: t.end,
                    })
                }
            }
        }
        self.findings.push(Finding {
            class,
            value,
            parts,
        });
    }

    /// Classifies run `a..b`: whole, else (for long runs or runs opened by
    /// "oh") the longest valid pieces from left to right.
    fn run(&mut self, a: usize, b: usize) {
        if b - a > 1 && self.toks[a].weak && self.toks[a].capital {
            return self.run(a + 1, b);
        }
        if let Some((class, value)) = self.classify(a, b) {
            self.push(class, value, a, b);
            return;
        }
        // "415 555 0100, 94107": numbers listed with commas.
        let commas: Vec<usize> = (a + 1..b)
            .filter(|&k| {
                let (p, t) = (self.toks[k - 1], self.toks[k]);
                p.turn == t.turn
                    && self
                        .turns
                        .get(t.turn)
                        .and_then(|s| s.as_bytes().get(p.end..t.start))
                        .is_some_and(|gap| gap.contains(&b','))
            })
            .collect();
        if !commas.is_empty() {
            let mut s = a;
            for k in commas.into_iter().chain([b]) {
                if let Some((class, value)) = self.classify(s, k) {
                    self.push(class, value, s, k);
                }
                s = k;
            }
            return;
        }
        let total = self.toks[b - 1].d1 - self.toks[a].d0;
        if b - a < 2 || (total <= 19 && !self.toks[a].weak) {
            return;
        }
        let mut i = a;
        while i < b {
            let mut next = i + 1;
            // At most 19 digits, so at most 19 tokens: linear in the run.
            let mut far = i + 1;
            while far < b && self.toks[far].d1 - self.toks[i].d0 <= 19 {
                far += 1;
            }
            for j in (i + 1..=far).rev() {
                if (i == a && j == b) || self.toks[j - 1].d1 - self.toks[i].d0 > 19 {
                    continue;
                }
                if let Some((class, value)) = self.classify(i, j) {
                    self.push(class, value, i, j);
                    next = j;
                    break;
                }
            }
            i = next;
        }
    }
}

thread_local! {
    /// Token and digit buffers reused between calls on one thread.
    static SCRATCH: Cell<(Vec<Tok>, Vec<u8>)> = const { Cell::new((Vec::new(), Vec::new())) };
}

/// Finds every identifier of every class in the turns.
fn scan(turns: &[&str]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut skips: Vec<Vec<(usize, usize)>> = Vec::with_capacity(turns.len());
    for (turn, text) in turns.iter().enumerate() {
        let before = findings.len();
        find_shapes(turn, text, &mut findings);
        let mut skip: Vec<(usize, usize)> = findings[before..]
            .iter()
            .flat_map(|f: &Finding| f.parts.iter().map(|p| (p.start, p.end)))
            .collect();
        skip.sort_unstable();
        skips.push(skip);
    }
    let (mut toks, mut digits) = SCRATCH.try_with(|s| s.take()).unwrap_or_default();
    toks.clear();
    digits.clear();
    let mut scan = Scan {
        turns,
        toks,
        digits,
        findings,
    };
    for (turn, text) in turns.iter().enumerate() {
        let skip = skips.get(turn).map_or(&[][..], Vec::as_slice);
        tokenize(
            turn,
            text.as_bytes(),
            skip,
            &mut scan.toks,
            &mut scan.digits,
        );
    }
    // Runs: maximal token ranges joined by separator gaps, or across a turn
    // boundary when one turn ends with numbers and the next begins with them.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut a = 0;
    for k in 1..=scan.toks.len() {
        let joined = k < scan.toks.len() && {
            let (p, t) = (scan.toks[k - 1], scan.toks[k]);
            if p.turn == t.turn {
                turns
                    .get(t.turn)
                    .and_then(|s| s.as_bytes().get(p.end..t.start))
                    .is_some_and(run_gap)
            } else {
                t.turn == p.turn + 1
                    && turns
                        .get(p.turn)
                        .and_then(|s| s.as_bytes().get(p.end..))
                        .is_some_and(edge_only)
                    && turns
                        .get(t.turn)
                        .and_then(|s| s.as_bytes().get(..t.start))
                        .is_some_and(edge_only)
            }
        };
        if !joined {
            if k > a {
                runs.push((a, k));
            }
            a = k;
        }
    }
    for (a, b) in runs {
        let crosses = scan.toks[a].turn != scan.toks[b - 1].turn;
        if !crosses {
            scan.run(a, b);
            continue;
        }
        // A run across turns: whole if it is an identifier, else each
        // turn's piece on its own.
        if let Some((class, value)) = scan.classify(a, b) {
            scan.push(class, value, a, b);
            continue;
        }
        let mut s = a;
        for k in a + 1..=b {
            if k == b || scan.toks[k].turn != scan.toks[s].turn {
                scan.run(s, k);
                s = k;
            }
        }
    }
    let Scan {
        toks,
        digits,
        mut findings,
        ..
    } = scan;
    // Keep the buffers for the next call on this thread.
    let _ = SCRATCH.try_with(|s| s.set((toks, digits)));
    findings.sort_by_key(|f| f.parts.first().map(|p| (p.turn, p.start)));
    findings
}

/// PAN, IBAN and e-mail: found by their shape in one turn.
fn find_shapes(turn: usize, text: &str, out: &mut Vec<Finding>) {
    let s = text.as_bytes();
    let n = s.len();
    let one = |class, value: String, start, end| Finding {
        class,
        value,
        parts: vec![Part { turn, start, end }],
    };
    // E-mail around each '@'.
    let mut from = 0;
    while let Some(off) = text.get(from..).and_then(|t| t.find('@')) {
        let at = from + off;
        from = at + 1;
        let local_ok = |b: u8| is_alnum(b) || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
        let mut start = at;
        while start > 0 && local_ok(s[start - 1]) {
            start -= 1;
        }
        while start < at && s[start] == b'.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < n && (is_alnum(s[end]) || matches!(s[end], b'.' | b'-')) {
            end += 1;
        }
        while end > at + 1 && matches!(s[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &s[at + 1..end];
        let tld = domain.rsplit(|&b| b == b'.').next().unwrap_or_default();
        if start < at
            && domain.contains(&b'.')
            && tld.len() >= 2
            && tld.iter().all(u8::is_ascii_alphabetic)
        {
            let value = String::from_utf8_lossy(&s[start..end]).to_ascii_lowercase();
            out.push(one(PiiClass::Email, value, start, end));
            from = end;
        }
    }
    // PAN and IBAN start with a capital at a word boundary.
    let mut i = 0;
    while i + 4 < n {
        let b = s[i];
        if !b.is_ascii_uppercase() || (i > 0 && is_alnum(s[i - 1])) {
            i += 1;
            continue;
        }
        if i + 10 <= n && (i + 10 == n || !is_alnum(s[i + 10])) && pan_valid(&s[i..i + 10]) {
            if !inside(out, turn, i) {
                out.push(one(PiiClass::Pan, ascii(&s[i..i + 10]), i, i + 10));
            }
            i += 10;
            continue;
        }
        if s[i + 1].is_ascii_uppercase()
            && s[i + 2].is_ascii_digit()
            && s[i + 3].is_ascii_digit()
            && let Some(len) = iban_length(&s[i..i + 2])
        {
            let mut buf = [0u8; 34];
            let mut got = 0;
            let mut j = i;
            while j < n && got < len {
                let c = s[j];
                if c.is_ascii_uppercase() || c.is_ascii_digit() {
                    if let Some(slot) = buf.get_mut(got) {
                        *slot = c;
                    }
                    got += 1;
                    j += 1;
                } else if c == b' ' && got.is_multiple_of(4) && j + 1 < n && is_alnum(s[j + 1]) {
                    j += 1;
                } else {
                    break;
                }
            }
            let compact = &buf[..got.min(34)];
            if compact.len() == len
                && (j == n || !is_alnum(s[j]))
                && iban_valid(compact)
                && !inside(out, turn, i)
            {
                out.push(one(PiiClass::Iban, ascii(compact), i, j));
                i = j;
                continue;
            }
        }
        i += 1;
    }
}

/// ASCII bytes (digits, letters) as a string.
fn ascii(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn inside(found: &[Finding], turn: usize, at: usize) -> bool {
    found.iter().any(|f| {
        f.parts
            .iter()
            .any(|p| p.turn == turn && p.start <= at && at < p.end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(!luhn_valid(b"4111111111111112"));
        assert!(verhoeff_valid(b"2363"));
        assert!(iban_valid(b"DE89370400440532013000"));
        assert!(iban_valid(b"GB82WEST12345698765432"));
        assert!(!iban_valid(b"GB82WEST12345698765433"));
        assert!(ssn_valid(b"123456789"));
        assert!(!ssn_valid(b"666456789"));
    }
}
