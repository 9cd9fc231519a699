//! Regional compliance templates, as data.
//!
//! A template is a JSON document in `flows/templates/`, checked against
//! `flows/templates/template.schema.json`: disclosure wording per locale,
//! ordering rules, the recording mode, opt-out phrases, AI-disclosure rules,
//! redaction classes, retention defaults and calling hours, each section
//! citing the rule it comes from. The seven bundled templates are compiled
//! into the binary.
//!
//! ```
//! use switchyard_runtime::policy::template::{
//!     DisclosureKind, RecordingMode, bundled_template,
//! };
//!
//! let template = bundled_template("us-all-party-consent").expect("bundled");
//! assert_eq!(template.recording.mode, RecordingMode::AnnounceAndConsent);
//!
//! // Wording falls back from the exact locale to the same language, then en-US.
//! let wording = template
//!     .disclosure(DisclosureKind::Recording, "es-MX")
//!     .expect("the template has a recording disclosure");
//! assert_eq!(wording.locale, "es-US");
//! assert!(wording.text.contains("grabar"));
//! ```
//!
//! Templates from elsewhere (a tenant's own) go through [`load_template`],
//! which reports every problem at once, each at its JSON pointer:
//!
//! ```
//! use switchyard_runtime::policy::template::load_template;
//!
//! let problems = load_template(r#"{"id": "Bad Id", "version": "one"}"#).unwrap_err();
//! assert!(problems.iter().any(|p| p.pointer == "/id"));
//! assert!(problems.iter().any(|p| p.pointer == "/version"));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::flow::Problem;

/// The locales every template must carry wording for.
pub const REQUIRED_LOCALES: [&str; 7] = [
    "en-US", "en-GB", "en-IN", "es-US", "de-DE", "fr-FR", "hi-IN",
];

/// The locale used when neither the exact locale nor its language is present.
pub const FALLBACK_LOCALE: &str = "en-US";

/// The JSON Schema of a template document.
pub const TEMPLATE_SCHEMA: &str = include_str!("../../../flows/templates/template.schema.json");

/// The bundled template documents: file name and source.
pub const BUNDLED_SOURCES: [(&str, &str); 7] = [
    (
        "us-federal.json",
        include_str!("../../../flows/templates/us-federal.json"),
    ),
    (
        "us-all-party-consent.json",
        include_str!("../../../flows/templates/us-all-party-consent.json"),
    ),
    (
        "us-ai-voice.json",
        include_str!("../../../flows/templates/us-ai-voice.json"),
    ),
    (
        "eu-gdpr-ai-act.json",
        include_str!("../../../flows/templates/eu-gdpr-ai-act.json"),
    ),
    ("uk.json", include_str!("../../../flows/templates/uk.json")),
    (
        "in-dpdp-trai.json",
        include_str!("../../../flows/templates/in-dpdp-trai.json"),
    ),
    (
        "pci-dss-phone.json",
        include_str!("../../../flows/templates/pci-dss-phone.json"),
    ),
];

static SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value =
        serde_json::from_str(TEMPLATE_SCHEMA).expect("the bundled template schema is valid JSON");
    jsonschema::validator_for(&schema).expect("the bundled template schema compiles")
});

static BUNDLED: LazyLock<Vec<Template>> = LazyLock::new(|| {
    BUNDLED_SOURCES
        .iter()
        .map(|(file, source)| {
            load_template(source).unwrap_or_else(|problems| {
                let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                panic!("bundled template {file} is invalid: {}", list.join("; "))
            })
        })
        .collect()
});

/// The seven bundled templates, loaded and validated once.
///
/// The documents are compiled in and checked by the test suite, so this
/// never fails at run time.
pub fn bundled_templates() -> &'static [Template] {
    &BUNDLED
}

/// A bundled template by id.
pub fn bundled_template(id: &str) -> Option<&'static Template> {
    bundled_templates().iter().find(|t| t.id == id)
}

/// Wording per locale (`en-US`, `hi-IN`, ...).
pub type LocaleText = BTreeMap<String, String>;

/// A compliance template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    /// Semantic version; evidence records carry it with the id.
    pub version: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub applies_to: AppliesTo,
    pub recording: Recording,
    pub disclosures: Disclosures,
    pub ordering: Vec<OrderingRule>,
    pub opt_out_phrases: OptOutPhrases,
    pub ai: AiRules,
    pub redaction_classes: RedactionClasses,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_capture: Option<SecureCapture>,
    pub retention: Retention,
    pub calling_hours: CallingHours,
}

/// Where a template applies: jurisdiction codes such as `US`, `US-CA`,
/// `EU`, `EEA`, `DE`, `GB`, `IN`, or `*` for everywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliesTo {
    pub jurisdictions: Vec<String>,
    /// Mixed-rule jurisdictions treated as all-party consent, to be safe.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub treated_as_all_party: Vec<String>,
    /// The rule behind each jurisdiction, where they differ.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_jurisdiction: BTreeMap<String, String>,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl AppliesTo {
    /// The rule that makes this template apply in `jurisdiction`.
    pub fn rule_for(&self, jurisdiction: &str) -> &str {
        self.per_jurisdiction
            .get(jurisdiction)
            .unwrap_or(&self.rule)
    }
}

/// How recording is allowed to start. Ordered from least to most protective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordingMode {
    /// No announcement or consent is required (one-party consent).
    NoneRequired,
    /// The parties are told; staying on the line is enough.
    Announce,
    /// The parties are told and must actively agree.
    AnnounceAndConsent,
}

impl fmt::Display for RecordingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordingMode::NoneRequired => "none-required",
            RecordingMode::Announce => "announce",
            RecordingMode::AnnounceAndConsent => "announce-and-consent",
        })
    }
}

/// How a caller may give consent to recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsentMethod {
    Keypress,
    Speech,
    StayOnLine,
}

/// The recording rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub mode: RecordingMode,
    pub consent_methods: Vec<ConsentMethod>,
    /// Whether declining (or withdrawing) consent ends the recording.
    pub declining_ends_recording: bool,
    /// Whether recording is suppressed during a secure-capture window.
    #[serde(default)]
    pub suppress_during_secure_capture: bool,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One disclosure: wording per locale and the rule behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disclosure {
    /// Wording per locale; placeholders `{{business_name}}`,
    /// `{{callback_number}}`, `{{purpose}}`, `{{privacy_url}}`.
    pub text: LocaleText,
    /// Whether the template requires it on every call it applies to.
    pub required: bool,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The disclosures a template defines.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Disclosures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<Disclosure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai: Option<Disclosure>,
    /// First-layer privacy notice (controller, purpose, where the full notice is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<Disclosure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_capture: Option<Disclosure>,
}

/// Which disclosure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DisclosureKind {
    Recording,
    Ai,
    Notice,
    SecureCapture,
}

impl DisclosureKind {
    pub const ALL: [DisclosureKind; 4] = [
        DisclosureKind::Recording,
        DisclosureKind::Ai,
        DisclosureKind::Notice,
        DisclosureKind::SecureCapture,
    ];

    /// The key of this disclosure in a template document.
    pub fn key(self) -> &'static str {
        match self {
            DisclosureKind::Recording => "recording",
            DisclosureKind::Ai => "ai",
            DisclosureKind::Notice => "notice",
            DisclosureKind::SecureCapture => "secure_capture",
        }
    }
}

impl Disclosures {
    pub fn get(&self, kind: DisclosureKind) -> Option<&Disclosure> {
        match kind {
            DisclosureKind::Recording => self.recording.as_ref(),
            DisclosureKind::Ai => self.ai.as_ref(),
            DisclosureKind::Notice => self.notice.as_ref(),
            DisclosureKind::SecureCapture => self.secure_capture.as_ref(),
        }
    }

    /// The disclosures present, with their kind.
    pub fn iter(&self) -> impl Iterator<Item = (DisclosureKind, &Disclosure)> {
        DisclosureKind::ALL
            .into_iter()
            .filter_map(|k| self.get(k).map(|d| (k, d)))
    }
}

/// A step that an ordering rule refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Notice,
    RecordingDisclosure,
    RecordingConsent,
    AiDisclosure,
    CallerIdentification,
    SecureCapture,
    Record,
    Llm,
}

/// `first` must happen before `then` on every path through a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderingRule {
    pub first: Step,
    pub then: Step,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Phrases that stop recording, per locale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptOutPhrases {
    pub phrases: BTreeMap<String, Vec<String>>,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// When the AI must be disclosed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AiDisclose {
    /// Only when the caller asks (the truthful answer is always given).
    OnRequest,
    /// Before the first LLM turn, and on request.
    UpFront,
}

/// AI-disclosure rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiRules {
    pub disclose: AiDisclose,
    /// The disclosure must identify the business.
    #[serde(default)]
    pub identify_caller: bool,
    /// The disclosure must give a callback number.
    #[serde(default)]
    pub callback_number: bool,
    /// The answer to "am I talking to a robot?", per locale.
    pub truthful_answer: LocaleText,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Templates name redaction classes and actions with the redactor's own types.
pub use super::redact::{Action as RedactionAction, PiiClass as RedactionClass};

/// One redaction class's setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactionEntry {
    pub action: RedactionAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Redaction classes and their actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactionClasses {
    pub classes: BTreeMap<RedactionClass, RedactionEntry>,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Sealed card capture requirements (PCI DSS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecureCapture {
    pub required_for_card_entry: bool,
    pub input: String,
    pub suppress_recording: bool,
    pub never_store: Vec<String>,
    pub never_send_to: Vec<String>,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Retention periods in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionDays {
    pub recordings: u32,
    pub transcripts: u32,
    pub call_metadata: u32,
    pub security_logs: u32,
}

/// Minimum retention periods the law requires, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RetentionMinimums {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recordings: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcripts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_metadata: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_logs: Option<u32>,
}

/// Retention defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retention {
    pub days: RetentionDays,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_days: Option<RetentionMinimums>,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A time of day, `HH:MM`, as minutes since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClockTime(u16);

impl ClockTime {
    /// From hours and minutes; `None` when out of range.
    pub fn new(hours: u16, minutes: u16) -> Option<ClockTime> {
        (hours < 24 && minutes < 60).then_some(ClockTime(hours * 60 + minutes))
    }

    /// Minutes since midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl TryFrom<String> for ClockTime {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl std::str::FromStr for ClockTime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("\"{s}\" is not a time of day HH:MM");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        ClockTime::new(h, m).ok_or_else(bad)
    }
}

impl From<ClockTime> for String {
    fn from(t: ClockTime) -> String {
        t.to_string()
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl From<chrono::Weekday> for Weekday {
    fn from(d: chrono::Weekday) -> Weekday {
        match d {
            chrono::Weekday::Mon => Weekday::Mon,
            chrono::Weekday::Tue => Weekday::Tue,
            chrono::Weekday::Wed => Weekday::Wed,
            chrono::Weekday::Thu => Weekday::Thu,
            chrono::Weekday::Fri => Weekday::Fri,
            chrono::Weekday::Sat => Weekday::Sat,
            chrono::Weekday::Sun => Weekday::Sun,
        }
    }
}

/// A local-time window, `start` inclusive and `end` exclusive, on the
/// listed days (every day when `days` is absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: ClockTime,
    pub end: ClockTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<Weekday>>,
}

impl Window {
    /// Whether `time` on `day` falls in the window.
    pub fn contains(&self, day: Weekday, time: ClockTime) -> bool {
        let on_day = self.days.as_ref().is_none_or(|days| days.contains(&day));
        on_day && self.start <= time && time < self.end
    }
}

/// Stricter windows for one jurisdiction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoursOverride {
    pub jurisdiction: String,
    pub windows: Vec<Window>,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Calling hours for outbound calls, in the callee's local time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallingHours {
    /// Always `callee-local`.
    pub basis: String,
    /// Calls are allowed in any window; empty means no limit.
    pub windows: Vec<Window>,
    pub overrides: Vec<HoursOverride>,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl CallingHours {
    /// The override for the most specific of `jurisdictions` (listed most
    /// specific first, e.g. `["US-FL", "US"]`), if any.
    pub fn override_for<S: AsRef<str>>(&self, jurisdictions: &[S]) -> Option<&HoursOverride> {
        jurisdictions
            .iter()
            .find_map(|j| self.overrides.iter().find(|o| o.jurisdiction == j.as_ref()))
    }
}

/// Localised wording, with the locale it was found under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Localized<'a, T: ?Sized> {
    pub locale: &'a str,
    pub text: &'a T,
}

/// Normalises a locale tag: `_` to `-`, language lower case, region upper case.
fn normalize_locale(locale: &str) -> (String, Option<String>) {
    let locale = locale.trim().replace('_', "-");
    let mut parts = locale.split('-');
    let language = parts.next().unwrap_or_default().to_ascii_lowercase();
    let region = parts.next_back().map(|r| r.to_ascii_uppercase());
    (language, region)
}

/// Looks `locale` up in `map`: the exact locale, then the bare language,
/// then the first locale of the same language (in sorted order), then
/// [`FALLBACK_LOCALE`], then the first entry at all.
pub fn localize<'a, T: ?Sized, V: std::borrow::Borrow<T>>(
    map: &'a BTreeMap<String, V>,
    locale: &str,
) -> Option<Localized<'a, T>> {
    fn found<'a, T: ?Sized, V: std::borrow::Borrow<T>>(
        key: &'a str,
        value: &'a V,
    ) -> Option<Localized<'a, T>> {
        Some(Localized {
            locale: key,
            text: value.borrow(),
        })
    }
    let (language, region) = normalize_locale(locale);
    let exact = match &region {
        Some(region) => format!("{language}-{region}"),
        None => language.clone(),
    };
    if let Some((k, v)) = map.get_key_value(&exact) {
        return found(k, v);
    }
    if let Some((k, v)) = map.get_key_value(&language) {
        return found(k, v);
    }
    let prefix = format!("{language}-");
    if !language.is_empty()
        && let Some((k, v)) = map.iter().find(|(k, _)| k.starts_with(&prefix))
    {
        return found(k, v);
    }
    if let Some((k, v)) = map.get_key_value(FALLBACK_LOCALE) {
        return found(k, v);
    }
    map.iter().next().and_then(|(k, v)| found(k, v))
}

impl Template {
    /// A disclosure's wording in `locale` (with fallback), if the template
    /// has that disclosure.
    pub fn disclosure(&self, kind: DisclosureKind, locale: &str) -> Option<Localized<'_, str>> {
        localize::<str, _>(&self.disclosures.get(kind)?.text, locale)
    }

    /// The truthful answer to "am I talking to a machine?" in `locale`.
    pub fn truthful_answer(&self, locale: &str) -> Option<Localized<'_, str>> {
        localize::<str, _>(&self.ai.truthful_answer, locale)
    }

    /// The opt-out phrases in `locale` (with fallback).
    pub fn opt_out_phrases(&self, locale: &str) -> Option<Localized<'_, [String]>> {
        localize::<[String], _>(&self.opt_out_phrases.phrases, locale)
    }

    /// Every citation in the template: the JSON pointer of the entry and its rule.
    pub fn citations(&self) -> Vec<(String, &str)> {
        let mut out: Vec<(String, &str)> =
            vec![("/applies_to/rule".into(), self.applies_to.rule.as_str())];
        for (j, rule) in &self.applies_to.per_jurisdiction {
            out.push((format!("/applies_to/per_jurisdiction/{j}"), rule));
        }
        out.push(("/recording/rule".into(), &self.recording.rule));
        for (kind, d) in self.disclosures.iter() {
            out.push((format!("/disclosures/{}/rule", kind.key()), &d.rule));
        }
        for (i, o) in self.ordering.iter().enumerate() {
            out.push((format!("/ordering/{i}/rule"), &o.rule));
        }
        out.push(("/opt_out_phrases/rule".into(), &self.opt_out_phrases.rule));
        out.push(("/ai/rule".into(), &self.ai.rule));
        out.push((
            "/redaction_classes/rule".into(),
            &self.redaction_classes.rule,
        ));
        if let Some(sc) = &self.secure_capture {
            out.push(("/secure_capture/rule".into(), &sc.rule));
        }
        out.push(("/retention/rule".into(), &self.retention.rule));
        out.push(("/calling_hours/rule".into(), &self.calling_hours.rule));
        for (i, o) in self.calling_hours.overrides.iter().enumerate() {
            out.push((format!("/calling_hours/overrides/{i}/rule"), &o.rule));
        }
        out
    }

    /// Every place a required locale is missing, as JSON pointers.
    pub fn missing_locales(&self) -> Vec<String> {
        let mut missing = Vec::new();
        let mut check = |base: String, has: &dyn Fn(&str) -> bool| {
            for locale in REQUIRED_LOCALES {
                if !has(locale) {
                    missing.push(format!("{base}/{locale}"));
                }
            }
        };
        for (kind, d) in self.disclosures.iter() {
            check(format!("/disclosures/{}/text", kind.key()), &|l| {
                d.text.contains_key(l)
            });
        }
        check("/ai/truthful_answer".into(), &|l| {
            self.ai.truthful_answer.contains_key(l)
        });
        check("/opt_out_phrases/phrases".into(), &|l| {
            self.opt_out_phrases.phrases.contains_key(l)
        });
        missing
    }
}

/// Parses a template document, checks it against the schema and the rules
/// the schema cannot state, and returns the typed template, or every
/// problem found, sorted, each at its JSON pointer.
pub fn load_template(source: &str) -> Result<Template, Vec<Problem>> {
    let value: Value = serde_json::from_str(source).map_err(|e| {
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        vec![Problem::new(
            "",
            "json-syntax",
            format!(
                "not valid JSON: {message} at line {}, column {}",
                e.line(),
                e.column()
            ),
        )]
    })?;
    load_template_value(value)
}

/// [`load_template`] for a document already parsed.
pub fn load_template_value(value: Value) -> Result<Template, Vec<Problem>> {
    let mut problems: Vec<Problem> = SCHEMA
        .iter_errors(&value)
        .map(|e| {
            Problem::new(
                e.instance_path().to_string(),
                "template-schema",
                crate::flow::shorten(e.to_string()),
            )
        })
        .collect();
    let template = match serde_json::from_value::<Template>(value) {
        Ok(template) => template,
        Err(e) => {
            if problems.is_empty() {
                problems.push(Problem::new("", "template-schema", e.to_string()));
            }
            problems.sort();
            return Err(problems);
        }
    };
    problems.extend(check(&template));
    if problems.is_empty() {
        Ok(template)
    } else {
        problems.sort();
        problems.dedup();
        Err(problems)
    }
}

/// Rules the schema cannot state.
fn check(t: &Template) -> Vec<Problem> {
    let mut problems = Vec::new();
    let listed: BTreeSet<&str> = t
        .applies_to
        .jurisdictions
        .iter()
        .map(String::as_str)
        .collect();
    for (i, j) in t.applies_to.treated_as_all_party.iter().enumerate() {
        if !listed.contains(j.as_str()) {
            problems.push(Problem::new(
                format!("/applies_to/treated_as_all_party/{i}"),
                "template-rule",
                format!("\"{j}\" is not listed in applies_to.jurisdictions"),
            ));
        }
    }
    for j in t.applies_to.per_jurisdiction.keys() {
        if !listed.contains(j.as_str()) {
            problems.push(Problem::new(
                format!("/applies_to/per_jurisdiction/{j}"),
                "template-rule",
                format!("\"{j}\" is not listed in applies_to.jurisdictions"),
            ));
        }
    }
    if t.recording.mode > RecordingMode::NoneRequired && t.disclosures.recording.is_none() {
        problems.push(Problem::new(
            "/disclosures",
            "template-rule",
            format!(
                "recording mode {} needs a `recording` disclosure to announce it",
                t.recording.mode
            ),
        ));
    }
    if t.ai.disclose == AiDisclose::UpFront && t.disclosures.ai.is_none() {
        problems.push(Problem::new(
            "/disclosures",
            "template-rule",
            "up-front AI disclosure needs an `ai` disclosure",
        ));
    }
    for (i, o) in t.ordering.iter().enumerate() {
        if o.first == o.then {
            problems.push(Problem::new(
                format!("/ordering/{i}"),
                "template-rule",
                "an ordering rule must name two different steps",
            ));
        }
    }
    fn check_windows(problems: &mut Vec<Problem>, base: String, windows: &[Window]) {
        for (i, w) in windows.iter().enumerate() {
            if w.start >= w.end {
                problems.push(Problem::new(
                    format!("{base}/{i}"),
                    "template-rule",
                    format!("window starts at {} but ends at {}", w.start, w.end),
                ));
            }
        }
    }
    check_windows(
        &mut problems,
        "/calling_hours/windows".into(),
        &t.calling_hours.windows,
    );
    let mut seen = BTreeSet::new();
    for (i, o) in t.calling_hours.overrides.iter().enumerate() {
        check_windows(
            &mut problems,
            format!("/calling_hours/overrides/{i}/windows"),
            &o.windows,
        );
        if !seen.insert(o.jurisdiction.as_str()) {
            problems.push(Problem::new(
                format!("/calling_hours/overrides/{i}/jurisdiction"),
                "template-rule",
                format!("a second override for \"{}\"", o.jurisdiction),
            ));
        }
    }
    problems
}
