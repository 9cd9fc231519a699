//! Which compliance templates apply to a call.
//!
//! The tenant enables templates; the call's two numbers say where its
//! parties are. Each number is parsed as E.164 (with the `phonenumber`
//! crate, Google's libphonenumber metadata) to a country, and a US number's
//! area code gives its state. A template applies when any party is in one of
//! its jurisdictions, so the most protective rule wins when the parties are
//! in different places. A party whose place is unknown (withheld, anonymous,
//! unparseable) may be anywhere: the call gets the most protective recording
//! rule among the enabled templates. A US number without a state
//! (toll-free, non-geographic) may be in any state: templates for US states
//! apply. Every template applied carries the reasons that triggered it, for
//! the call's evidence.
//!
//! ```
//! use switchyard_runtime::policy::jurisdiction::resolve;
//! use switchyard_runtime::policy::template::{RecordingMode, bundled_templates};
//!
//! let enabled = ["us-federal", "us-all-party-consent"];
//! // A California caller to a New York business.
//! let resolution = resolve(bundled_templates(), &enabled, "+1 415 555 2671", "+12127363100");
//! assert!(resolution.applies("us-all-party-consent"));
//! assert_eq!(resolution.recording.mode, RecordingMode::AnnounceAndConsent);
//! ```

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::template::{ClockTime, ConsentMethod, RecordingMode, Template, Weekday, Window};

#[path = "us_area_codes.rs"]
mod us_area_codes;

/// The table of US area codes by subdivision (`US-CA`), territories included.
pub fn us_area_codes() -> &'static [(&'static str, &'static [u16])] {
    us_area_codes::US_AREA_CODES
}

/// The US subdivision (`US-CA`) of a geographic area code.
pub fn us_subdivision_of_area_code(area_code: u16) -> Option<&'static str> {
    us_area_codes::subdivision_of(area_code)
}

/// EU member states (ISO 3166-1 alpha-2).
const EU: [&str; 27] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
];

/// EEA states outside the EU.
const EEA_ONLY: [&str; 3] = ["IS", "LI", "NO"];

/// Outermost regions with their own numbering that are part of an EU member
/// state (and of the EU): the French overseas departments.
const FRENCH_OVERSEAS: [&str; 5] = ["GP", "MQ", "GF", "RE", "YT"];

/// US territories with their own NANP country ids.
const US_TERRITORIES: [&str; 5] = ["PR", "VI", "GU", "MP", "AS"];

/// Words carriers and SIP stacks use for a number that is not shown.
const WITHHELD: [&str; 10] = [
    "anonymous",
    "withheld",
    "private",
    "restricted",
    "unavailable",
    "unknown",
    "blocked",
    "hidden",
    "no caller id",
    "unknown caller",
];

/// A party to the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Party {
    Caller,
    Callee,
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Party::Caller => "caller",
            Party::Callee => "callee",
        })
    }
}

/// Where a party is, as far as the number tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Location {
    /// The number parsed to a country (and, for the US, maybe a state).
    Known {
        /// The number in E.164.
        e164: String,
        /// ISO 3166-1 alpha-2.
        country: String,
        /// ISO 3166-2 (`US-CA`), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subdivision: Option<String>,
    },
    /// The number is empty or withheld ("anonymous", "private", ...).
    Withheld,
    /// The number could not be placed.
    Unknown { reason: String },
}

impl Location {
    /// Whether the party could be anywhere.
    pub fn is_unknown(&self) -> bool {
        !matches!(self, Location::Known { .. })
    }
}

/// One party, located.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyLocation {
    pub party: Party,
    /// The number as given.
    pub number: String,
    pub location: Location,
    /// The jurisdiction codes the party is in, most specific first
    /// (`["US-CA", "US"]`, `["DE", "EU", "EEA"]`); empty when unknown.
    pub jurisdictions: Vec<String>,
}

/// Places a number: E.164 to a country; a US area code to a state.
///
/// Accepts `tel:` and `sip:` URIs and the usual spacing and punctuation. A
/// number without a country code (no leading `+`) cannot be placed.
pub fn locate(number: &str) -> Location {
    let trimmed = number.trim();
    let lower = trimmed.to_ascii_lowercase();
    // sip:+14155550100@host;user=phone, tel:+1-415-555-0100
    let user = lower
        .strip_prefix("sips:")
        .or_else(|| lower.strip_prefix("sip:"))
        .or_else(|| lower.strip_prefix("tel:"))
        .unwrap_or(&lower);
    let user = user.split(['@', ';']).next().unwrap_or_default().trim();
    if user.is_empty()
        || WITHHELD
            .iter()
            .any(|w| user == *w || user.starts_with(&format!("{w} ")))
    {
        return Location::Withheld;
    }
    if !user.starts_with('+') && !user.starts_with("00") {
        return Location::Unknown {
            reason: format!("\"{trimmed}\" has no country code"),
        };
    }
    let digits: String = user
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    let digits = match digits.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => digits,
    };
    let parsed = match phonenumber::parse(None, &digits) {
        Ok(parsed) => parsed,
        Err(e) => {
            return Location::Unknown {
                reason: format!("\"{trimmed}\" is not a phone number: {e}"),
            };
        }
    };
    let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
    let code = parsed.code().value();
    let national = parsed.national().value().to_string();
    let mut country = parsed.country().id().map(|id| id.as_ref().to_string());
    let mut subdivision = None;
    if code == 1 && national.len() == 10 {
        let area_code: u16 = national[..3].parse().unwrap_or(0);
        let state = us_subdivision_of_area_code(area_code);
        // libphonenumber rejects some numbers (reserved 555 lines, new
        // overlays); the area code table still places them.
        if country.is_none() && state.is_some() {
            country = Some("US".into());
        }
        if matches!(country.as_deref(), Some("US")) {
            subdivision = state.map(str::to_string);
        } else if let Some(territory) = country.as_deref().filter(|c| US_TERRITORIES.contains(c)) {
            subdivision = Some(format!("US-{territory}"));
        }
    }
    match country {
        Some(country) => Location::Known {
            e164,
            country,
            subdivision,
        },
        None => Location::Unknown {
            reason: format!("{e164} does not belong to a known country"),
        },
    }
}

/// The jurisdiction codes of a location, most specific first.
pub fn jurisdictions_of(location: &Location) -> Vec<String> {
    let Location::Known {
        country,
        subdivision,
        ..
    } = location
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(subdivision) = subdivision {
        out.push(subdivision.clone());
    }
    out.push(country.clone());
    let c = country.as_str();
    if US_TERRITORIES.contains(&c) {
        out.push("US".into());
    }
    if FRENCH_OVERSEAS.contains(&c) {
        out.push("FR".into());
    }
    if EU.contains(&c) || FRENCH_OVERSEAS.contains(&c) {
        out.push("EU".into());
        out.push("EEA".into());
    } else if EEA_ONLY.contains(&c) {
        out.push("EEA".into());
    }
    out
}

/// Why a template applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Trigger {
    /// The party is in one of the template's jurisdictions.
    Jurisdiction { jurisdiction: String },
    /// The template applies everywhere (`*`).
    Everywhere,
    /// The party's country is known but not its state, and the template
    /// applies in some state of that country.
    SubdivisionUnknown { country: String },
    /// The party's place is unknown, and this template has the most
    /// protective recording rule among those enabled.
    LocationUnknown { recording_mode: RecordingMode },
}

/// One reason a template applies: which party, what triggered it, and the
/// rule behind it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reason {
    pub template: String,
    pub party: Party,
    pub trigger: Trigger,
    pub rule: String,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match &self.trigger {
            Trigger::Jurisdiction { jurisdiction } => format!("is in {jurisdiction}"),
            Trigger::Everywhere => "is anywhere (template applies everywhere)".into(),
            Trigger::SubdivisionUnknown { country } => {
                format!("is in {country}, state unknown, so may be in any state")
            }
            Trigger::LocationUnknown { recording_mode } => format!(
                "cannot be placed, so the most protective recording rule enabled ({recording_mode}) applies"
            ),
        };
        write!(
            f,
            "{}: the {} {why} ({})",
            self.template, self.party, self.rule
        )
    }
}

/// A template that applies, by id and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedTemplate {
    pub id: String,
    pub version: String,
}

/// The recording rule for the call: the most protective of the applicable
/// templates'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingRequirement {
    pub mode: RecordingMode,
    /// Consent methods every deciding template allows. When they share none,
    /// only a keypress (the most explicit) is allowed.
    pub consent_methods: Vec<ConsentMethod>,
    pub declining_ends_recording: bool,
    pub suppress_during_secure_capture: bool,
    /// The templates with the winning mode.
    pub decided_by: Vec<String>,
    /// Their rules.
    pub rules: Vec<String>,
}

/// One calling-hours rule that binds an outbound call to the callee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoursRule {
    pub template: String,
    /// The override's jurisdiction, when a stricter local rule replaced the
    /// template's windows (`US-FL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
    pub windows: Vec<Window>,
    pub rule: String,
}

/// Which templates apply to a call, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub parties: Vec<PartyLocation>,
    /// In the order the tenant enabled them.
    pub templates: Vec<AppliedTemplate>,
    pub reasons: Vec<Reason>,
    pub recording: RecordingRequirement,
    /// Every rule binds (a call is allowed only when all allow it); for the
    /// callee's local time.
    pub calling_hours: Vec<HoursRule>,
    /// Enabled ids that name no known template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_templates: Vec<String>,
}

impl Resolution {
    /// Whether the template applies.
    pub fn applies(&self, id: &str) -> bool {
        self.templates.iter().any(|t| t.id == id)
    }

    /// The reasons a template applies.
    pub fn reasons_for<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Reason> + 'a {
        self.reasons.iter().filter(move |r| r.template == id)
    }

    /// Whether an outbound call is within every calling-hours rule at the
    /// callee's local `day` and `time`.
    pub fn calling_allowed(&self, day: Weekday, time: ClockTime) -> bool {
        self.calling_hours
            .iter()
            .all(|h| h.windows.iter().any(|w| w.contains(day, time)))
    }
}

/// Resolves the templates that apply to a call.
///
/// `catalog` is every known template (e.g. [`super::template::bundled_templates`]
/// plus the tenant's own), `enabled` the ids the tenant enabled; `caller` and
/// `callee` the numbers as received (empty, `anonymous` or a `sip:` URI are
/// fine).
pub fn resolve<S: AsRef<str>>(
    catalog: &[Template],
    enabled: &[S],
    caller: &str,
    callee: &str,
) -> Resolution {
    let mut seen = BTreeSet::new();
    let mut unknown_templates = Vec::new();
    let mut candidates: Vec<&Template> = Vec::new();
    for id in enabled {
        let id = id.as_ref();
        if !seen.insert(id) {
            continue;
        }
        match catalog.iter().find(|t| t.id == id) {
            Some(t) => candidates.push(t),
            None => unknown_templates.push(id.to_string()),
        }
    }

    let parties: Vec<PartyLocation> = [(Party::Caller, caller), (Party::Callee, callee)]
        .into_iter()
        .map(|(party, number)| {
            let location = locate(number);
            PartyLocation {
                party,
                number: number.to_string(),
                jurisdictions: jurisdictions_of(&location),
                location,
            }
        })
        .collect();

    let most_protective = candidates.iter().map(|t| t.recording.mode).max();
    let mut reasons = Vec::new();
    for t in &candidates {
        let listed = &t.applies_to.jurisdictions;
        for p in &parties {
            if listed.iter().any(|j| j == "*") {
                reasons.push(Reason {
                    template: t.id.clone(),
                    party: p.party,
                    trigger: Trigger::Everywhere,
                    rule: t.applies_to.rule_for("*").to_string(),
                });
                continue;
            }
            if let Some(j) = p.jurisdictions.iter().find(|j| listed.contains(j)) {
                reasons.push(Reason {
                    template: t.id.clone(),
                    party: p.party,
                    trigger: Trigger::Jurisdiction {
                        jurisdiction: j.clone(),
                    },
                    rule: t.applies_to.rule_for(j).to_string(),
                });
                continue;
            }
            match &p.location {
                Location::Known {
                    country,
                    subdivision: None,
                    ..
                } => {
                    let prefix = format!("{country}-");
                    if let Some(j) = listed.iter().find(|j| j.starts_with(&prefix)) {
                        reasons.push(Reason {
                            template: t.id.clone(),
                            party: p.party,
                            trigger: Trigger::SubdivisionUnknown {
                                country: country.clone(),
                            },
                            rule: t.applies_to.rule_for(j).to_string(),
                        });
                    }
                }
                Location::Known { .. } => {}
                Location::Withheld | Location::Unknown { .. } => {
                    if Some(t.recording.mode) == most_protective
                        && t.recording.mode > RecordingMode::NoneRequired
                    {
                        reasons.push(Reason {
                            template: t.id.clone(),
                            party: p.party,
                            trigger: Trigger::LocationUnknown {
                                recording_mode: t.recording.mode,
                            },
                            rule: t.recording.rule.clone(),
                        });
                    }
                }
            }
        }
    }

    let applied: Vec<&Template> = candidates
        .iter()
        .copied()
        .filter(|t| reasons.iter().any(|r| r.template == t.id))
        .collect();
    let recording = recording_requirement(&applied);
    let callee_jurisdictions = parties
        .iter()
        .find(|p| p.party == Party::Callee)
        .map(|p| p.jurisdictions.clone())
        .unwrap_or_default();
    let calling_hours = applied
        .iter()
        .filter_map(|t| {
            let hours = &t.calling_hours;
            match hours.override_for(&callee_jurisdictions) {
                Some(o) => Some(HoursRule {
                    template: t.id.clone(),
                    jurisdiction: Some(o.jurisdiction.clone()),
                    windows: o.windows.clone(),
                    rule: o.rule.clone(),
                }),
                None if hours.windows.is_empty() => None,
                None => Some(HoursRule {
                    template: t.id.clone(),
                    jurisdiction: None,
                    windows: hours.windows.clone(),
                    rule: hours.rule.clone(),
                }),
            }
        })
        .collect();

    Resolution {
        parties,
        templates: applied
            .iter()
            .map(|t| AppliedTemplate {
                id: t.id.clone(),
                version: t.version.clone(),
            })
            .collect(),
        reasons,
        recording,
        calling_hours,
        unknown_templates,
    }
}

fn recording_requirement(applied: &[&Template]) -> RecordingRequirement {
    let mode = applied
        .iter()
        .map(|t| t.recording.mode)
        .max()
        .unwrap_or(RecordingMode::NoneRequired);
    let deciding: Vec<&&Template> = applied
        .iter()
        .filter(|t| t.recording.mode == mode)
        .collect();
    let mut consent_methods: Option<BTreeSet<ConsentMethod>> = None;
    for t in &deciding {
        let methods: BTreeSet<ConsentMethod> =
            t.recording.consent_methods.iter().copied().collect();
        consent_methods = Some(match consent_methods {
            None => methods,
            Some(acc) => acc.intersection(&methods).copied().collect(),
        });
    }
    let mut consent_methods: Vec<ConsentMethod> =
        consent_methods.unwrap_or_default().into_iter().collect();
    if consent_methods.is_empty() && mode == RecordingMode::AnnounceAndConsent {
        consent_methods.push(ConsentMethod::Keypress);
    }
    RecordingRequirement {
        mode,
        consent_methods,
        declining_ends_recording: applied.iter().any(|t| t.recording.declining_ends_recording),
        suppress_during_secure_capture: applied
            .iter()
            .any(|t| t.recording.suppress_during_secure_capture),
        decided_by: deciding.iter().map(|t| t.id.clone()).collect(),
        rules: deciding.iter().map(|t| t.recording.rule.clone()).collect(),
    }
}
