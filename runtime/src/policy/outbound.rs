//! The outbound calling guard: whether the runtime may place a call now.
//!
//! Before an outbound call is dialled, [`check_outbound`] answers with
//! [`Allowed`] or a [`Refusal`] that says why in one sentence and names the
//! rule behind it; [`refusal_evidence`] turns a refusal into the
//! `outbound_refused` item of the call's evidence record. Two things refuse
//! a call, checked in this order:
//!
//! 1. **The tenant's do-not-call list** ([`DoNotCallList`]): the callee's
//!    number, normalised to E.164, is on it.
//! 2. **Calling hours**: the enabled templates that apply to the call (see
//!    [`super::jurisdiction::resolve`]) set windows in the callee's local
//!    time — TCPA 08:00–21:00 in `us-federal` and `us-ai-voice`, TRAI
//!    09:00–21:00 in `in-dpdp-trai`, stricter where a template overrides it
//!    for a jurisdiction (Florida, 08:00–20:00). The call must be inside
//!    every rule.
//!
//! The callee's local time comes from the callee's number: a US number's
//! area code gives its state, and the state the IANA time zones used in it
//! ([`us_time_zones`]); other numbers their country ([`country_time_zones`]).
//! A number says where it was issued, not where its user is, and a state or
//! country may span several zones, so the call must be inside the window in
//! **every** zone of the place (a Texas number is checked in Central and in
//! Mountain time). A US number without a state (toll-free, non-geographic)
//! may be in any state: it is checked in the zones of all 50 states and DC.
//! When the local time cannot be known (withheld or unparseable number, a
//! country without a zone table) the call is refused only if some
//! calling-hours rule could bind it; with no such rule it is allowed.
//!
//! ```
//! use switchyard_runtime::policy::outbound::{
//!     DoNotCallList, OutboundRequest, Refusal, check_outbound, refusal_evidence,
//! };
//!
//! let at = |rfc3339: &str| chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis();
//! let templates = vec!["us-federal".to_string()];
//! let dnc = DoNotCallList::from_lines("# opted out\n(212) 555-0199\n", "US").unwrap();
//! let call = |to, at_ms| OutboundRequest { from: "+13125550100", to, at_ms, templates: &templates };
//!
//! // 20:30 in New York is inside the TCPA window.
//! let allowed = check_outbound(&call("+12125550123", at("2026-11-20T20:30:00-05:00")), &dnc).unwrap();
//! assert_eq!(allowed.local_times[0].to_string(), "2026-11-20 20:30 America/New_York");
//!
//! // 21:30 is not.
//! let refusal = check_outbound(&call("+12125550123", at("2026-11-20T21:30:00-05:00")), &dnc).unwrap_err();
//! assert!(matches!(refusal, Refusal::OutsideHours { .. }));
//! assert_eq!(refusal.rule(), "47 CFR §64.1200(c)(1)");
//!
//! // A number on the do-not-call list is refused at any hour.
//! let refusal = check_outbound(&call("+1 212 555 0199", at("2026-11-20T12:00:00-05:00")), &dnc).unwrap_err();
//! assert_eq!(refusal.reason(), "+12125550199 is on the tenant's do-not-call list");
//!
//! // The refusal goes into the call's evidence.
//! let item = refusal_evidence(&refusal);
//! assert_eq!(item.type_name(), "outbound_refused");
//! ```

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::{Africa, America, Asia, Atlantic, Australia, Europe, Indian, Pacific, Tz};
use serde::{Deserialize, Serialize};

use super::evidence::EvidenceItem;
use super::jurisdiction::{HoursRule, Location, Party, resolve};
use super::template::{ClockTime, Template, Weekday, Window, bundled_templates};

/// The rule a do-not-call refusal cites.
pub const DNC_RULE: &str = "tenant do-not-call list";

/// The rule an unknown-template refusal cites.
pub const UNKNOWN_TEMPLATE_RULE: &str = "enabled templates must exist";

// ---------------------------------------------------------------------------
// Do-not-call list
// ---------------------------------------------------------------------------

/// Why a do-not-call list could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DncError {
    /// The default region is not an ISO 3166-1 alpha-2 code the phone
    /// number metadata knows.
    #[error("unknown region {0:?}: expected an ISO 3166-1 alpha-2 code such as US, IN or GB")]
    UnknownRegion(String),
    /// A line is not a phone number (lines count from 1).
    #[error("line {line}: {text:?} is not a phone number: {reason}")]
    BadLine {
        line: usize,
        text: String,
        reason: String,
    },
}

/// A tenant's do-not-call list: numbers kept in E.164.
///
/// Numbers in national format (`(212) 555-0199`, `098765 43210`) are read
/// in the list's default region; numbers with a country code (`+44 20 7946
/// 0000`, `tel:+1-212-555-0199`) in their own. [`DoNotCallList::contains`]
/// normalises the number it is asked about the same way, so any spelling of
/// a listed number matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoNotCallList {
    numbers: BTreeSet<String>,
    region: phonenumber::country::Id,
}

impl DoNotCallList {
    /// An empty list whose national-format numbers are read in `region`
    /// (ISO 3166-1 alpha-2, e.g. `US`).
    pub fn new(region: &str) -> Result<DoNotCallList, DncError> {
        let code = region.trim().to_ascii_uppercase();
        let region = code
            .parse::<phonenumber::country::Id>()
            .map_err(|_| DncError::UnknownRegion(region.to_string()))?;
        Ok(DoNotCallList {
            numbers: BTreeSet::new(),
            region,
        })
    }

    /// Parses a list: one number per line; `#` starts a comment (a whole
    /// line or the rest of one); blank lines are skipped. The first line
    /// that is not a number is an error naming it.
    pub fn from_lines(text: &str, region: &str) -> Result<DoNotCallList, DncError> {
        let mut list = DoNotCallList::new(region)?;
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or_default().trim();
            if entry.is_empty() {
                continue;
            }
            list.insert(entry).map_err(|reason| DncError::BadLine {
                line: i + 1,
                text: entry.to_string(),
                reason,
            })?;
        }
        Ok(list)
    }

    /// Adds a number; returns it in E.164, or why it is not a number.
    pub fn insert(&mut self, number: &str) -> Result<String, String> {
        let e164 = self.normalize(number)?;
        self.numbers.insert(e164.clone());
        Ok(e164)
    }

    /// Whether `number`, normalised like the list's entries, is on the list.
    /// A number that does not parse (withheld, empty) is not.
    pub fn contains(&self, number: &str) -> bool {
        self.normalize(number)
            .is_ok_and(|e164| self.numbers.contains(&e164))
    }

    /// `number` in E.164, national formats read in the list's region;
    /// `tel:` and `sip:` URIs and a leading `00` are accepted.
    pub fn normalize(&self, number: &str) -> Result<String, String> {
        let trimmed = number.trim();
        let lower = trimmed.to_ascii_lowercase();
        let user = ["sips:", "sip:", "tel:"]
            .iter()
            .find_map(|scheme| lower.strip_prefix(scheme))
            .unwrap_or(&lower);
        let user = user.split(['@', ';']).next().unwrap_or_default().trim();
        if user.is_empty() {
            return Err("the number is empty".into());
        }
        let user = match user.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => user.to_string(),
        };
        let parsed = phonenumber::parse(Some(self.region), &user).map_err(|e| e.to_string())?;
        Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
    }

    /// The region national-format numbers are read in (`US`).
    pub fn region(&self) -> &str {
        self.region.as_ref()
    }

    /// How many numbers are on the list.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// The numbers, in E.164, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.numbers.iter().map(String::as_str)
    }
}

// ---------------------------------------------------------------------------
// Time zones
// ---------------------------------------------------------------------------

/// The IANA time zones used in each US state, DC and territory (ISO 3166-2).
///
/// A state split between zones lists each zone it uses (tzdb's zones for
/// the state, plus areas that legally keep another zone's time: the Navajo
/// Nation in Arizona observes daylight saving time, and West Wendover,
/// Nevada, is on Mountain time). Alabama's Phenix City area observes
/// Eastern time only unofficially and is not listed.
const US_ZONES: &[(&str, &[Tz])] = &[
    ("US-AL", &[America::Chicago]),
    (
        "US-AK",
        &[
            America::Anchorage,
            America::Juneau,
            America::Sitka,
            America::Yakutat,
            America::Nome,
            America::Metlakatla,
            America::Adak,
        ],
    ),
    ("US-AZ", &[America::Phoenix, America::Denver]),
    ("US-AR", &[America::Chicago]),
    ("US-CA", &[America::Los_Angeles]),
    ("US-CO", &[America::Denver]),
    ("US-CT", &[America::New_York]),
    ("US-DE", &[America::New_York]),
    ("US-DC", &[America::New_York]),
    ("US-FL", &[America::New_York, America::Chicago]),
    ("US-GA", &[America::New_York]),
    ("US-HI", &[Pacific::Honolulu]),
    ("US-ID", &[America::Boise, America::Los_Angeles]),
    ("US-IL", &[America::Chicago]),
    (
        "US-IN",
        &[
            America::Indiana::Indianapolis,
            America::Indiana::Marengo,
            America::Indiana::Petersburg,
            America::Indiana::Vevay,
            America::Indiana::Vincennes,
            America::Indiana::Winamac,
            America::Indiana::Knox,
            America::Indiana::Tell_City,
            America::Chicago,
        ],
    ),
    ("US-IA", &[America::Chicago]),
    ("US-KS", &[America::Chicago, America::Denver]),
    (
        "US-KY",
        &[
            America::New_York,
            America::Kentucky::Louisville,
            America::Kentucky::Monticello,
            America::Chicago,
        ],
    ),
    ("US-LA", &[America::Chicago]),
    ("US-ME", &[America::New_York]),
    ("US-MD", &[America::New_York]),
    ("US-MA", &[America::New_York]),
    ("US-MI", &[America::Detroit, America::Menominee]),
    ("US-MN", &[America::Chicago]),
    ("US-MS", &[America::Chicago]),
    ("US-MO", &[America::Chicago]),
    ("US-MT", &[America::Denver]),
    ("US-NE", &[America::Chicago, America::Denver]),
    ("US-NV", &[America::Los_Angeles, America::Denver]),
    ("US-NH", &[America::New_York]),
    ("US-NJ", &[America::New_York]),
    ("US-NM", &[America::Denver]),
    ("US-NY", &[America::New_York]),
    ("US-NC", &[America::New_York]),
    (
        "US-ND",
        &[
            America::Chicago,
            America::North_Dakota::Center,
            America::North_Dakota::New_Salem,
            America::North_Dakota::Beulah,
            America::Denver,
        ],
    ),
    ("US-OH", &[America::New_York]),
    ("US-OK", &[America::Chicago]),
    ("US-OR", &[America::Los_Angeles, America::Boise]),
    ("US-PA", &[America::New_York]),
    ("US-RI", &[America::New_York]),
    ("US-SC", &[America::New_York]),
    ("US-SD", &[America::Chicago, America::Denver]),
    ("US-TN", &[America::Chicago, America::New_York]),
    ("US-TX", &[America::Chicago, America::Denver]),
    ("US-UT", &[America::Denver]),
    ("US-VT", &[America::New_York]),
    ("US-VA", &[America::New_York]),
    ("US-WA", &[America::Los_Angeles]),
    ("US-WV", &[America::New_York]),
    ("US-WI", &[America::Chicago]),
    ("US-WY", &[America::Denver]),
    // Territories.
    ("US-PR", &[America::Puerto_Rico]),
    ("US-VI", &[America::St_Thomas]),
    ("US-GU", &[Pacific::Guam]),
    ("US-MP", &[Pacific::Saipan]),
    ("US-AS", &[Pacific::Pago_Pago]),
];

/// The US territories in [`US_ZONES`]; the rest are the 50 states and DC.
const US_TERRITORY_SUBDIVISIONS: [&str; 5] = ["US-PR", "US-VI", "US-GU", "US-MP", "US-AS"];

/// The IANA time zones used in each country (ISO 3166-1 alpha-2). A country
/// spanning several zones lists them all.
const COUNTRY_ZONES: &[(&str, &[Tz])] = &[
    ("IN", &[Asia::Kolkata]),
    ("GB", &[Europe::London]),
    ("IE", &[Europe::Dublin]),
    ("DE", &[Europe::Berlin]),
    ("FR", &[Europe::Paris]),
    ("ES", &[Europe::Madrid, Atlantic::Canary, Africa::Ceuta]),
    ("IT", &[Europe::Rome]),
    ("NL", &[Europe::Amsterdam]),
    ("BE", &[Europe::Brussels]),
    ("AT", &[Europe::Vienna]),
    ("CH", &[Europe::Zurich]),
    ("PT", &[Europe::Lisbon, Atlantic::Madeira, Atlantic::Azores]),
    ("SE", &[Europe::Stockholm]),
    ("NO", &[Europe::Oslo]),
    ("DK", &[Europe::Copenhagen]),
    ("FI", &[Europe::Helsinki]),
    ("PL", &[Europe::Warsaw]),
    // The rest of the EU and EEA, so EU-wide templates can be checked.
    ("BG", &[Europe::Sofia]),
    ("HR", &[Europe::Zagreb]),
    ("CY", &[Asia::Nicosia, Asia::Famagusta]),
    ("CZ", &[Europe::Prague]),
    ("EE", &[Europe::Tallinn]),
    ("GR", &[Europe::Athens]),
    ("HU", &[Europe::Budapest]),
    ("LV", &[Europe::Riga]),
    ("LT", &[Europe::Vilnius]),
    ("LU", &[Europe::Luxembourg]),
    ("MT", &[Europe::Malta]),
    ("RO", &[Europe::Bucharest]),
    ("SK", &[Europe::Bratislava]),
    ("SI", &[Europe::Ljubljana]),
    ("IS", &[Atlantic::Reykjavik]),
    ("LI", &[Europe::Vaduz]),
    // French overseas departments: French law (and its calling hours) applies.
    ("GP", &[America::Guadeloupe]),
    ("MQ", &[America::Martinique]),
    ("GF", &[America::Cayenne]),
    ("RE", &[Indian::Reunion]),
    ("YT", &[Indian::Mayotte]),
    // US territories, should a number place them without a subdivision.
    ("PR", &[America::Puerto_Rico]),
    ("VI", &[America::St_Thomas]),
    ("GU", &[Pacific::Guam]),
    ("MP", &[Pacific::Saipan]),
    ("AS", &[Pacific::Pago_Pago]),
    (
        "AU",
        &[
            Australia::Sydney,
            Australia::Melbourne,
            Australia::Brisbane,
            Australia::Lindeman,
            Australia::Adelaide,
            Australia::Broken_Hill,
            Australia::Darwin,
            Australia::Perth,
            Australia::Eucla,
            Australia::Hobart,
            Australia::Lord_Howe,
        ],
    ),
    ("NZ", &[Pacific::Auckland, Pacific::Chatham]),
    (
        "CA",
        &[
            America::St_Johns,
            America::Halifax,
            America::Glace_Bay,
            America::Moncton,
            America::Goose_Bay,
            America::BlancSablon,
            America::Toronto,
            America::Iqaluit,
            America::Atikokan,
            America::Winnipeg,
            America::Rankin_Inlet,
            America::Resolute,
            America::Regina,
            America::Swift_Current,
            America::Edmonton,
            America::Cambridge_Bay,
            America::Inuvik,
            America::Creston,
            America::Dawson_Creek,
            America::Fort_Nelson,
            America::Whitehorse,
            America::Dawson,
            America::Vancouver,
        ],
    ),
    (
        "MX",
        &[
            America::Mexico_City,
            America::Cancun,
            America::Merida,
            America::Monterrey,
            America::Matamoros,
            America::Chihuahua,
            America::Ciudad_Juarez,
            America::Ojinaga,
            America::Mazatlan,
            America::Bahia_Banderas,
            America::Hermosillo,
            America::Tijuana,
        ],
    ),
    (
        "BR",
        &[
            America::Noronha,
            America::Belem,
            America::Fortaleza,
            America::Recife,
            America::Araguaina,
            America::Maceio,
            America::Bahia,
            America::Sao_Paulo,
            America::Campo_Grande,
            America::Cuiaba,
            America::Santarem,
            America::Porto_Velho,
            America::Boa_Vista,
            America::Manaus,
            America::Eirunepe,
            America::Rio_Branco,
        ],
    ),
    ("JP", &[Asia::Tokyo]),
    ("SG", &[Asia::Singapore]),
    ("AE", &[Asia::Dubai]),
    ("ZA", &[Africa::Johannesburg]),
    ("CN", &[Asia::Shanghai]),
    ("HK", &[Asia::Hong_Kong]),
    ("PH", &[Asia::Manila]),
    ("KR", &[Asia::Seoul]),
    ("IL", &[Asia::Jerusalem]),
    ("SA", &[Asia::Riyadh]),
    ("PK", &[Asia::Karachi]),
    ("BD", &[Asia::Dhaka]),
    ("LK", &[Asia::Colombo]),
    ("NP", &[Asia::Kathmandu]),
];

/// The IANA time zones used in a US state, DC or territory (`US-TX`).
pub fn us_time_zones(subdivision: &str) -> Option<&'static [Tz]> {
    US_ZONES
        .iter()
        .find(|(s, _)| *s == subdivision)
        .map(|(_, zones)| *zones)
}

/// The IANA time zones used in a country (ISO 3166-1 alpha-2, `IN`).
pub fn country_time_zones(country: &str) -> Option<&'static [Tz]> {
    COUNTRY_ZONES
        .iter()
        .find(|(c, _)| *c == country)
        .map(|(_, zones)| *zones)
}

/// Every zone of the 50 states and DC, each once: where a US number
/// without a state may be.
fn all_us_state_zones() -> Vec<Tz> {
    let mut zones: Vec<Tz> = Vec::new();
    for (subdivision, list) in US_ZONES {
        if US_TERRITORY_SUBDIVISIONS.contains(subdivision) {
            continue;
        }
        for zone in *list {
            if !zones.contains(zone) {
                zones.push(*zone);
            }
        }
    }
    zones
}

/// The time zones a located number may be in; `Err` says why they cannot
/// be known.
pub fn time_zones_of(location: &Location) -> Result<Vec<Tz>, String> {
    match location {
        Location::Withheld => Err("the number is withheld".into()),
        Location::Unknown { reason } => Err(reason.clone()),
        Location::Known {
            e164,
            country,
            subdivision,
        } => {
            if let Some(zones) = subdivision.as_deref().and_then(us_time_zones) {
                return Ok(zones.to_vec());
            }
            if country == "US" {
                return Ok(all_us_state_zones());
            }
            country_time_zones(country)
                .map(<[Tz]>::to_vec)
                .ok_or_else(|| format!("{e164} is in {country}, whose time zones are not known"))
        }
    }
}

// ---------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------

/// An outbound call about to be placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundRequest<'a> {
    /// The number the call comes from (the tenant's caller ID).
    pub from: &'a str,
    /// The number to call.
    pub to: &'a str,
    /// When the call would be placed, epoch milliseconds.
    pub at_ms: i64,
    /// The template ids the tenant enabled.
    pub templates: &'a [String],
}

/// The callee's local time in one zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalTime {
    /// The IANA zone (`America/Chicago`).
    pub zone: String,
    /// The local date, `YYYY-MM-DD`.
    pub date: String,
    pub day: Weekday,
    pub time: ClockTime,
}

impl LocalTime {
    fn at(utc: DateTime<Utc>, zone: Tz) -> LocalTime {
        let local = utc.with_timezone(&zone);
        LocalTime {
            zone: zone.name().to_string(),
            date: local.format("%Y-%m-%d").to_string(),
            day: local.weekday().into(),
            time: ClockTime::new(local.hour() as u16, local.minute() as u16)
                .expect("chrono hours and minutes are in range"),
        }
    }
}

impl fmt::Display for LocalTime {
    /// `2026-11-21 21:30 America/Chicago`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.date, self.time, self.zone)
    }
}

/// A call the guard allows, with what it checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowed {
    /// The callee's local time in each zone checked; empty when no
    /// calling-hours rule applies.
    pub local_times: Vec<LocalTime>,
    /// The calling-hours rules the call is inside (empty: none applies).
    pub rules: Vec<HoursRule>,
}

impl Allowed {
    /// One line for people: what was checked against which rules.
    ///
    /// `2026-11-20 20:30 America/New_York is within 08:00–21:00 (us-federal)`
    pub fn summary(&self) -> String {
        if self.rules.is_empty() {
            return "no calling-hours rule applies to this call".into();
        }
        let times: Vec<String> = self.local_times.iter().map(ToString::to_string).collect();
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|r| format!("{} ({})", format_windows(&r.windows), set_by(r)))
            .collect();
        format!(
            "{} {} within {}",
            times.join(" and "),
            if times.len() == 1 { "is" } else { "are" },
            rules.join(" and ")
        )
    }
}

/// Why an outbound call is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Refusal {
    /// The callee's number is on the tenant's do-not-call list.
    DoNotCall {
        /// The number in E.164.
        number: String,
    },
    /// The call would reach the callee outside a calling-hours rule.
    OutsideHours {
        /// The callee's local time in the zone that fails:
        /// `2026-11-21 21:30 America/Chicago`.
        local_time: String,
        /// The local day of the week.
        day: Weekday,
        /// The rule's windows: `08:00–21:00`.
        windows: String,
        /// The template that sets the rule.
        template: String,
        /// The jurisdiction of the template's override, when a stricter
        /// local rule applies (`US-FL`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jurisdiction: Option<String>,
        rule: String,
    },
    /// A calling-hours rule may bind the call, but the callee's local time
    /// cannot be known.
    UnknownLocalTime {
        /// The number as given.
        number: String,
        /// Why the local time is unknown.
        reason: String,
        /// The templates whose calling hours cannot be checked.
        templates: Vec<String>,
        /// Their rules.
        rules: Vec<String>,
    },
    /// The tenant enabled template ids that name no known template, so the
    /// rules for the call are unknown.
    UnknownTemplates { ids: Vec<String> },
}

impl Refusal {
    /// Why, in one English sentence (lower case, no final stop, as in the
    /// evidence record).
    pub fn reason(&self) -> String {
        match self {
            Refusal::DoNotCall { number } => {
                format!("{number} is on the tenant's do-not-call list")
            }
            Refusal::OutsideHours {
                local_time,
                day,
                windows,
                template,
                jurisdiction,
                ..
            } => {
                let by = match jurisdiction {
                    Some(j) => format!("{template} for {j}"),
                    None => template.clone(),
                };
                format!(
                    "the callee would be called at {local_time} ({}) local time, \
                     outside the calling hours {windows} set by {by}",
                    day_name(*day)
                )
            }
            Refusal::UnknownLocalTime {
                number,
                reason,
                templates,
                ..
            } => {
                let who = if number.trim().is_empty() {
                    "the callee".to_string()
                } else {
                    number.trim().to_string()
                };
                format!(
                    "the local time of {who} cannot be known ({reason}), \
                     so the calling hours of {} cannot be checked",
                    templates.join(", ")
                )
            }
            Refusal::UnknownTemplates { ids } => format!(
                "the enabled template{} {} {} not exist, so the rules for this call are unknown",
                if ids.len() == 1 { "" } else { "s" },
                ids.join(", "),
                if ids.len() == 1 { "does" } else { "do" },
            ),
        }
    }

    /// The rule behind the refusal (`47 CFR §64.1200(c)(1)`).
    pub fn rule(&self) -> String {
        match self {
            Refusal::DoNotCall { .. } => DNC_RULE.into(),
            Refusal::OutsideHours { rule, .. } => rule.clone(),
            Refusal::UnknownLocalTime { rules, .. } => rules.join("; "),
            Refusal::UnknownTemplates { .. } => UNKNOWN_TEMPLATE_RULE.into(),
        }
    }
}

impl fmt::Display for Refusal {
    /// `<reason> (<rule>)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.rule())
    }
}

/// The evidence item that records a refusal.
pub fn refusal_evidence(refusal: &Refusal) -> EvidenceItem {
    EvidenceItem::OutboundRefused {
        reason: refusal.reason(),
        rule: refusal.rule(),
    }
}

/// Checks an outbound call against the do-not-call list and the calling
/// hours of the bundled templates the tenant enabled.
pub fn check_outbound(req: &OutboundRequest, dnc: &DoNotCallList) -> Result<Allowed, Refusal> {
    check_outbound_with(bundled_templates(), req, dnc)
}

/// [`check_outbound`] with another template catalogue (the bundled
/// templates plus the tenant's own, say).
pub fn check_outbound_with(
    catalog: &[Template],
    req: &OutboundRequest,
    dnc: &DoNotCallList,
) -> Result<Allowed, Refusal> {
    if dnc.contains(req.to) {
        return Err(Refusal::DoNotCall {
            number: dnc.normalize(req.to).unwrap_or_else(|_| req.to.to_string()),
        });
    }
    let resolution = resolve(catalog, req.templates, req.from, req.to);
    if !resolution.unknown_templates.is_empty() {
        return Err(Refusal::UnknownTemplates {
            ids: resolution.unknown_templates,
        });
    }
    let callee = resolution
        .parties
        .iter()
        .find(|p| p.party == Party::Callee)
        .map(|p| p.location.clone())
        .unwrap_or(Location::Withheld);

    let unknown = |reason: String, rules: Vec<(String, String)>| {
        let (templates, rules) = rules.into_iter().unzip();
        Refusal::UnknownLocalTime {
            number: req.to.to_string(),
            reason,
            templates,
            rules,
        }
    };

    // A callee who cannot be placed may be anywhere: every enabled template
    // with calling hours (windows, or an override for some jurisdiction)
    // may bind the call.
    if callee.is_unknown() {
        let mut binding: Vec<(String, String)> = resolution
            .calling_hours
            .iter()
            .map(|h| (h.template.clone(), h.rule.clone()))
            .collect();
        for id in req.templates {
            let Some(t) = catalog.iter().find(|t| &t.id == id) else {
                continue;
            };
            let hours = &t.calling_hours;
            let has_hours = !hours.windows.is_empty() || !hours.overrides.is_empty();
            if has_hours && !binding.iter().any(|(template, _)| *template == t.id) {
                binding.push((t.id.clone(), hours.rule.clone()));
            }
        }
        if binding.is_empty() {
            return Ok(Allowed {
                local_times: Vec::new(),
                rules: Vec::new(),
            });
        }
        let reason = time_zones_of(&callee).err().unwrap_or_default();
        return Err(unknown(reason, binding));
    }

    let rules = resolution.calling_hours;
    if rules.is_empty() {
        return Ok(Allowed {
            local_times: Vec::new(),
            rules,
        });
    }
    let binding = || {
        rules
            .iter()
            .map(|h| (h.template.clone(), h.rule.clone()))
            .collect()
    };
    let zones = time_zones_of(&callee).map_err(|reason| unknown(reason, binding()))?;
    let Some(utc) = DateTime::<Utc>::from_timestamp_millis(req.at_ms) else {
        return Err(unknown(
            format!("the instant {} ms is out of range", req.at_ms),
            binding(),
        ));
    };
    let local_times: Vec<LocalTime> = zones.iter().map(|z| LocalTime::at(utc, *z)).collect();
    for rule in &rules {
        for local in &local_times {
            if !rule
                .windows
                .iter()
                .any(|w| w.contains(local.day, local.time))
            {
                return Err(Refusal::OutsideHours {
                    local_time: local.to_string(),
                    day: local.day,
                    windows: format_windows(&rule.windows),
                    template: rule.template.clone(),
                    jurisdiction: rule.jurisdiction.clone(),
                    rule: rule.rule.clone(),
                });
            }
        }
    }
    Ok(Allowed { local_times, rules })
}

/// `us-federal`, or `us-federal for US-FL` for an override.
fn set_by(rule: &HoursRule) -> String {
    match &rule.jurisdiction {
        Some(j) => format!("{} for {j}", rule.template),
        None => rule.template.clone(),
    }
}

fn day_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

fn day_abbrev(day: Weekday) -> &'static str {
    &day_name(day)[..3]
}

const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// `08:00–21:00`; `Mon–Fri 10:00–13:00, Mon–Fri 14:00–20:00`; `none` for no
/// window at all.
pub fn format_windows(windows: &[Window]) -> String {
    if windows.is_empty() {
        return "none".into();
    }
    let list: Vec<String> = windows
        .iter()
        .map(|w| {
            let hours = format!("{}–{}", w.start, w.end);
            match &w.days {
                None => hours,
                Some(days) => format!("{} {hours}", format_days(days)),
            }
        })
        .collect();
    list.join(", ")
}

/// Runs of three or more consecutive days as `Mon–Fri`, others listed:
/// `Mon–Wed, Sat`.
fn format_days(days: &[Weekday]) -> String {
    let present: Vec<bool> = WEEK.iter().map(|d| days.contains(d)).collect();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < WEEK.len() {
        if !present[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i + 1 < WEEK.len() && present[i + 1] {
            i += 1;
        }
        match i - start {
            0 => parts.push(day_abbrev(WEEK[start]).to_string()),
            1 => {
                parts.push(day_abbrev(WEEK[start]).to_string());
                parts.push(day_abbrev(WEEK[i]).to_string());
            }
            _ => parts.push(format!(
                "{}–{}",
                day_abbrev(WEEK[start]),
                day_abbrev(WEEK[i])
            )),
        }
        i += 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::policy::evidence::{EvidenceHeader, EvidenceLog};
    use crate::policy::jurisdiction::{locate, us_area_codes};

    /// Epoch milliseconds of a wall-clock time in `zone`.
    fn at(zone: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        zone.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("an unambiguous local time")
            .timestamp_millis()
    }

    fn templates(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn no_dnc() -> DoNotCallList {
        DoNotCallList::new("US").unwrap()
    }

    fn check(to: &str, at_ms: i64, ids: &[&str]) -> Result<Allowed, Refusal> {
        let templates = templates(ids);
        check_outbound(
            &OutboundRequest {
                from: "+13125550100",
                to,
                at_ms,
                templates: &templates,
            },
            &no_dnc(),
        )
    }

    const NEW_YORK: &str = "+12125550123";
    const MIAMI: &str = "+13055550123";
    const DALLAS: &str = "+12145550123";
    const MUMBAI: &str = "+919876543210";

    #[test]
    fn new_york_at_20_59_is_allowed_and_at_21_00_refused() {
        let allowed = check(
            NEW_YORK,
            at(America::New_York, 2026, 11, 20, 20, 59),
            &["us-federal"],
        )
        .unwrap();
        assert_eq!(
            allowed.summary(),
            "2026-11-20 20:59 America/New_York is within 08:00–21:00 (us-federal)"
        );

        let refusal = check(
            NEW_YORK,
            at(America::New_York, 2026, 11, 20, 21, 0),
            &["us-federal"],
        )
        .unwrap_err();
        assert_eq!(
            refusal,
            Refusal::OutsideHours {
                local_time: "2026-11-20 21:00 America/New_York".into(),
                day: Weekday::Fri,
                windows: "08:00–21:00".into(),
                template: "us-federal".into(),
                jurisdiction: None,
                rule: "47 CFR §64.1200(c)(1)".into(),
            }
        );
        assert_eq!(
            refusal.reason(),
            "the callee would be called at 2026-11-20 21:00 America/New_York (Friday) local \
             time, outside the calling hours 08:00–21:00 set by us-federal"
        );
        assert_eq!(refusal.rule(), "47 CFR §64.1200(c)(1)");
    }

    #[test]
    fn before_8_in_new_york_is_refused_too() {
        let refusal = check(
            NEW_YORK,
            at(America::New_York, 2026, 7, 4, 7, 59),
            &["us-ai-voice"],
        )
        .unwrap_err();
        assert!(matches!(refusal, Refusal::OutsideHours { .. }));
        assert!(
            check(
                NEW_YORK,
                at(America::New_York, 2026, 7, 4, 8, 0),
                &["us-ai-voice"]
            )
            .is_ok()
        );
    }

    #[test]
    fn florida_at_20_30_is_refused_by_the_state_override() {
        // Inside the federal window, outside Florida's.
        let refusal = check(
            MIAMI,
            at(America::New_York, 2026, 3, 10, 20, 30),
            &["us-federal"],
        )
        .unwrap_err();
        let Refusal::OutsideHours {
            local_time,
            windows,
            jurisdiction,
            rule,
            ..
        } = &refusal
        else {
            panic!("expected outside hours, got {refusal:?}");
        };
        assert_eq!(local_time, "2026-03-10 20:30 America/New_York");
        assert_eq!(windows, "08:00–20:00");
        assert_eq!(jurisdiction.as_deref(), Some("US-FL"));
        assert!(rule.contains("Fla. Stat. §501.616"), "{rule}");
        assert!(refusal.reason().ends_with("set by us-federal for US-FL"));
        // The same instant to New York is fine.
        assert!(
            check(
                NEW_YORK,
                at(America::New_York, 2026, 3, 10, 20, 30),
                &["us-federal"]
            )
            .is_ok()
        );
    }

    #[test]
    fn florida_panhandle_time_is_checked_too() {
        // 08:30 Eastern is 07:30 in the Central panhandle (Pensacola).
        let refusal = check(
            MIAMI,
            at(America::New_York, 2026, 3, 10, 8, 30),
            &["us-federal"],
        )
        .unwrap_err();
        let Refusal::OutsideHours { local_time, .. } = &refusal else {
            panic!("{refusal:?}");
        };
        assert_eq!(local_time, "2026-03-10 07:30 America/Chicago");
    }

    #[test]
    fn india_at_08_30_is_refused_and_at_09_00_allowed() {
        let refusal = check(
            MUMBAI,
            at(Asia::Kolkata, 2026, 1, 15, 8, 30),
            &["in-dpdp-trai"],
        )
        .unwrap_err();
        let Refusal::OutsideHours {
            local_time,
            windows,
            template,
            rule,
            ..
        } = &refusal
        else {
            panic!("{refusal:?}");
        };
        assert_eq!(local_time, "2026-01-15 08:30 Asia/Kolkata");
        assert_eq!(windows, "09:00–21:00");
        assert_eq!(template, "in-dpdp-trai");
        assert_eq!(rule, "TRAI TCCCPR 2018");
        assert_eq!(refusal.rule(), "TRAI TCCCPR 2018");

        let allowed = check(
            MUMBAI,
            at(Asia::Kolkata, 2026, 1, 15, 9, 0),
            &["in-dpdp-trai"],
        )
        .unwrap();
        assert_eq!(allowed.local_times.len(), 1);
        assert_eq!(
            allowed.local_times[0].to_string(),
            "2026-01-15 09:00 Asia/Kolkata"
        );
        assert_eq!(allowed.rules[0].rule, "TRAI TCCCPR 2018");
    }

    #[test]
    fn texas_is_checked_in_central_and_mountain_time() {
        assert_eq!(
            us_time_zones("US-TX"),
            Some(&[America::Chicago, America::Denver][..])
        );
        // 20:30 in Dallas is inside the window everywhere in Texas.
        let allowed = check(
            DALLAS,
            at(America::Chicago, 2026, 11, 20, 20, 30),
            &["us-federal"],
        )
        .unwrap();
        let times: Vec<String> = allowed
            .local_times
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            times,
            [
                "2026-11-20 20:30 America/Chicago",
                "2026-11-20 19:30 America/Denver"
            ]
        );
        // 08:30 Central is still 07:30 in El Paso (Mountain): refused there.
        let refusal = check(
            DALLAS,
            at(America::Chicago, 2026, 11, 20, 8, 30),
            &["us-federal"],
        )
        .unwrap_err();
        let Refusal::OutsideHours { local_time, .. } = &refusal else {
            panic!("{refusal:?}");
        };
        assert_eq!(local_time, "2026-11-20 07:30 America/Denver");
        // 21:30 Central is 20:30 Mountain: refused in Central time.
        let refusal = check(
            DALLAS,
            at(America::Chicago, 2026, 11, 20, 21, 30),
            &["us-federal"],
        )
        .unwrap_err();
        let Refusal::OutsideHours { local_time, .. } = &refusal else {
            panic!("{refusal:?}");
        };
        assert_eq!(local_time, "2026-11-20 21:30 America/Chicago");
    }

    #[test]
    fn a_number_on_the_do_not_call_list_is_refused_inside_hours() {
        let dnc = DoNotCallList::from_lines(
            "# numbers that asked not to be called\n\n(212) 555-0123  # asked 2026-01-02\n+44 20 7946 0000\n",
            "US",
        )
        .unwrap();
        assert_eq!(dnc.len(), 2);
        let templates = templates(&["us-federal"]);
        let request = OutboundRequest {
            from: "+13125550100",
            to: NEW_YORK,
            at_ms: at(America::New_York, 2026, 11, 20, 12, 0),
            templates: &templates,
        };
        let refusal = check_outbound(&request, &dnc).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::DoNotCall {
                number: NEW_YORK.into()
            }
        );
        assert_eq!(
            refusal.to_string(),
            "+12125550123 is on the tenant's do-not-call list (tenant do-not-call list)"
        );
        // The list is checked before the hours, and whatever the templates.
        let night = OutboundRequest {
            to: "tel:+1-212-555-0123",
            at_ms: at(America::New_York, 2026, 11, 20, 23, 0),
            templates: &[],
            ..request
        };
        assert!(matches!(
            check_outbound(&night, &dnc),
            Err(Refusal::DoNotCall { .. })
        ));
        // Another number at the same time is allowed.
        let other = OutboundRequest {
            to: "+12125550124",
            ..request
        };
        assert!(check_outbound(&other, &dnc).is_ok());
    }

    #[test]
    fn do_not_call_numbers_match_in_any_spelling() {
        let dnc = DoNotCallList::from_lines("+919876543210\n", "IN").unwrap();
        assert!(dnc.contains("098765 43210"));
        assert!(dnc.contains("+91 98765-43210"));
        assert!(dnc.contains("0091 98765 43210"));
        assert!(dnc.contains("sip:+919876543210@carrier.example;user=phone"));
        assert!(!dnc.contains("anonymous"));
        assert!(!dnc.contains(""));
        assert_eq!(dnc.iter().collect::<Vec<_>>(), ["+919876543210"]);
        assert_eq!(dnc.region(), "IN");
    }

    #[test]
    fn a_bad_do_not_call_line_is_an_error_naming_it() {
        let error =
            DoNotCallList::from_lines("# list\n+12125550123\nnot a number\n", "US").unwrap_err();
        let DncError::BadLine { line, text, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(*line, 3);
        assert_eq!(text, "not a number");
        assert!(
            error.to_string().starts_with("line 3: \"not a number\""),
            "{error}"
        );

        assert!(matches!(
            DoNotCallList::from_lines("", "XX"),
            Err(DncError::UnknownRegion(_))
        ));
        assert!(DoNotCallList::from_lines("", "us").is_ok());
    }

    #[test]
    fn without_templates_any_hour_is_allowed() {
        let allowed = check(NEW_YORK, at(America::New_York, 2026, 11, 21, 3, 0), &[]).unwrap();
        assert!(allowed.rules.is_empty());
        assert!(allowed.local_times.is_empty());
        assert_eq!(
            allowed.summary(),
            "no calling-hours rule applies to this call"
        );
        // A template without calling hours changes nothing.
        assert!(
            check(
                NEW_YORK,
                at(America::New_York, 2026, 11, 21, 3, 0),
                &["pci-dss-phone"]
            )
            .is_ok()
        );
    }

    #[test]
    fn a_withheld_number_under_us_federal_has_no_known_local_time() {
        let at_ms = at(America::New_York, 2026, 11, 20, 12, 0);
        for (from, to) in [("+13125550100", "anonymous"), ("", ""), ("", "withheld")] {
            let templates = templates(&["us-federal"]);
            let refusal = check_outbound(
                &OutboundRequest {
                    from,
                    to,
                    at_ms,
                    templates: &templates,
                },
                &no_dnc(),
            )
            .unwrap_err();
            assert_eq!(
                refusal,
                Refusal::UnknownLocalTime {
                    number: to.into(),
                    reason: "the number is withheld".into(),
                    templates: vec!["us-federal".into()],
                    rules: vec!["47 CFR §64.1200(c)(1)".into()],
                },
                "from {from:?} to {to:?}"
            );
        }
        let refusal = check("anonymous", at_ms, &["us-federal"]).unwrap_err();
        assert_eq!(
            refusal.reason(),
            "the local time of anonymous cannot be known (the number is withheld), so the \
             calling hours of us-federal cannot be checked"
        );
        // With no calling-hours rule enabled, the call is allowed.
        assert!(check("anonymous", at_ms, &["uk"]).is_ok());
    }

    #[test]
    fn a_country_without_a_zone_table_is_refused_only_when_hours_bind() {
        let at_ms = at(America::New_York, 2026, 11, 20, 12, 0);
        // A US caller: us-federal applies, its hours bind, Ghana's zones are unknown here.
        let refusal = check("+233302123456", at_ms, &["us-federal"]).unwrap_err();
        let Refusal::UnknownLocalTime { reason, .. } = &refusal else {
            panic!("{refusal:?}");
        };
        assert!(reason.contains("GH"), "{reason}");
        // An Indian-only template does not apply to a US caller and a Ghanaian callee.
        assert!(check("+233302123456", at_ms, &["in-dpdp-trai"]).is_ok());
        // An unparseable number under a template with hours.
        assert!(matches!(
            check("2125550123", at_ms, &["in-dpdp-trai"]),
            Err(Refusal::UnknownLocalTime { .. })
        ));
    }

    #[test]
    fn a_us_number_without_a_state_is_checked_in_every_state() {
        // Toll-free: 12:00 Eastern is 07:00 in Honolulu.
        let refusal = check(
            "+18005550199",
            at(America::New_York, 2026, 1, 15, 12, 0),
            &["us-federal"],
        )
        .unwrap_err();
        assert!(
            matches!(refusal, Refusal::OutsideHours { .. }),
            "{refusal:?}"
        );
        // 15:00 Eastern is 10:00 in Hawaii and the Aleutians: fine everywhere.
        let allowed = check(
            "+18005550199",
            at(America::New_York, 2026, 1, 15, 15, 0),
            &["us-federal"],
        )
        .unwrap();
        assert!(allowed.local_times.len() > 10);
    }

    #[test]
    fn french_override_uses_weekday_windows() {
        let paris = "+33142685300";
        let saturday = at(Europe::Paris, 2026, 11, 21, 11, 0);
        let refusal = check(paris, saturday, &["eu-gdpr-ai-act"]).unwrap_err();
        assert_eq!(
            refusal.reason(),
            "the callee would be called at 2026-11-21 11:00 Europe/Paris (Saturday) local \
             time, outside the calling hours Mon–Fri 10:00–13:00, Mon–Fri 14:00–20:00 set by \
             eu-gdpr-ai-act for FR"
        );
        assert!(
            check(
                paris,
                at(Europe::Paris, 2026, 11, 20, 11, 0),
                &["eu-gdpr-ai-act"]
            )
            .is_ok()
        );
        // Germany has no rule in the template.
        assert!(check("+493012345678", saturday, &["eu-gdpr-ai-act"]).is_ok());
    }

    #[test]
    fn unknown_templates_are_refused() {
        let refusal = check(NEW_YORK, 0, &["us-fedral"]).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::UnknownTemplates {
                ids: vec!["us-fedral".into()]
            }
        );
        assert_eq!(
            refusal.reason(),
            "the enabled template us-fedral does not exist, so the rules for this call are unknown"
        );
    }

    #[test]
    fn refusals_go_into_the_evidence() {
        let refusal = check(
            NEW_YORK,
            at(America::New_York, 2026, 11, 20, 22, 0),
            &["us-federal"],
        )
        .unwrap_err();
        let item = refusal_evidence(&refusal);
        assert_eq!(
            item,
            EvidenceItem::OutboundRefused {
                reason: refusal.reason(),
                rule: "47 CFR §64.1200(c)(1)".into(),
            }
        );
        let mut log = EvidenceLog::new(EvidenceHeader::new("call-1", "outbound", "sha256:00", 0));
        log.push(0, item);
        assert_eq!(log.entries().len(), 1);
    }

    #[test]
    fn every_us_subdivision_and_listed_country_has_zones() {
        for (subdivision, _) in us_area_codes() {
            let zones = us_time_zones(subdivision).unwrap_or_else(|| panic!("{subdivision}"));
            assert!(!zones.is_empty());
        }
        assert_eq!(US_ZONES.len(), 51 + US_TERRITORY_SUBDIVISIONS.len());
        for (state, zones) in [
            ("US-FL", 2),
            ("US-IN", 2),
            ("US-KY", 2),
            ("US-TN", 2),
            ("US-ND", 2),
            ("US-SD", 2),
            ("US-NE", 2),
            ("US-KS", 2),
            ("US-ID", 2),
            ("US-OR", 2),
            ("US-MI", 2),
            ("US-AK", 2),
            ("US-TX", 2),
        ] {
            // Distinct UTC offsets at one instant in January.
            let utc = DateTime::<Utc>::from_timestamp(1_768_478_400, 0).unwrap();
            let offsets: BTreeSet<String> = us_time_zones(state)
                .unwrap()
                .iter()
                .map(|z| utc.with_timezone(z).format("%z").to_string())
                .collect();
            assert!(offsets.len() >= zones, "{state}: {offsets:?}");
        }
        for country in [
            "IN", "GB", "IE", "DE", "FR", "ES", "IT", "NL", "BE", "AT", "CH", "PT", "SE", "NO",
            "DK", "FI", "PL", "AU", "CA", "MX", "BR", "JP", "SG", "AE", "ZA",
        ] {
            assert!(country_time_zones(country).is_some(), "{country}");
        }
        assert!(country_time_zones("AU").unwrap().len() > 3);
        assert!(country_time_zones("CA").unwrap().len() > 3);
        // Every country of the EU and EEA (EU-wide templates) has zones.
        for number in ["+35921234567", "+3726123456", "+3545101234"] {
            assert!(time_zones_of(&locate(number)).is_ok(), "{number}");
        }
    }

    #[test]
    fn windows_are_formatted_for_people() {
        let w = |start: &str, end: &str, days: Option<Vec<Weekday>>| Window {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
            days,
        };
        assert_eq!(format_windows(&[w("08:00", "21:00", None)]), "08:00–21:00");
        assert_eq!(
            format_windows(&[w(
                "09:00",
                "12:00",
                Some(vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Sat])
            )]),
            "Mon–Wed, Sat 09:00–12:00"
        );
        assert_eq!(
            format_windows(&[w("09:00", "12:00", Some(vec![Weekday::Sat, Weekday::Sun]))]),
            "Sat, Sun 09:00–12:00"
        );
        assert_eq!(format_windows(&[]), "none");
    }
}
