//! The compliance guard: the one gate between what plugins ask for and what
//! the call does.
//!
//! Every action a plugin returns passes [`Guard::check`] before it has any
//! effect, and caller input passes [`Guard::caller_speech`] /
//! [`Guard::caller_digits`] before a plugin (and so an LLM) sees it. The
//! guard keeps the call's consent state and writes the compliance evidence.
//! What it enforces comes from the templates that apply to the call
//! ([`super::jurisdiction::resolve`]); what it always does, whatever the
//! templates, flow, plugins or tenant say:
//!
//! - `disclose` is spoken with the template's wording, never a plugin's;
//! - a caller asking whether they talk to a machine hears the truthful
//!   answer before the turn reaches any plugin;
//! - an LLM reply claiming to be human is replaced by the truthful answer;
//! - "stop recording" (in the call's language, or English), or the keys
//!   [`OPT_OUT_KEYS`], stop recording at once and for the rest of the call;
//! - `record` never starts without the consent the templates require, nor
//!   inside a secure-capture window; `llm` never runs inside one, never
//!   before the AI disclosure a template requires up front (the guard speaks
//!   it first), and never sees PII the redactor finds.
//!
//! Consent comes only from the outcome of a node whose plugin is trusted
//! (bundled or operator-installed) and claims the `recording-consent` role;
//! roles claimed by other plugins mean nothing here.
//!
//! ```
//! use switchyard_runtime::policy::guard::{CallPolicy, Guard, NodeClaims};
//! use switchyard_sdk::protocol::{Action, DisclosureKind, RecordOp, Vars};
//!
//! // A Californian caller: all-party consent applies.
//! let policy = CallPolicy::new(&["us-all-party-consent"], "+14155550100", "+18005550199", "en-US");
//! let mut guard = Guard::new(std::sync::Arc::new(policy), "call-1");
//! let plugin = NodeClaims::untrusted();
//! let vars = Vars::new();
//! // Recording without consent is refused: no action comes out.
//! let out = guard.check(0, "rec", &plugin, Action::Record { op: RecordOp::Start }, &vars);
//! assert!(out.is_empty());
//! // `disclose` becomes the template's own wording.
//! let out = guard.check(0, "consent", &plugin, Action::Disclose { kind: DisclosureKind::Recording }, &vars);
//! assert!(matches!(&out[0], Action::Say { text, .. } if text.starts_with("We'd like to record this call")));
//! // A trusted consent node's `granted` outcome opens the gate.
//! guard.outcome(1, "consent", &NodeClaims::trusted(&["recording-consent"]), "granted", "digits");
//! let out = guard.check(2, "rec", &plugin, Action::Record { op: RecordOp::Start }, &vars);
//! assert_eq!(out, vec![Action::Record { op: RecordOp::Start }]);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

use sha2::{Digest, Sha256};
use switchyard_sdk::protocol::{Action, DisclosureKind, RecordOp, Vars};

use super::evidence::{EvidenceHeader, EvidenceItem, EvidenceLog};
use super::jurisdiction::{Resolution, resolve};
use super::phrases;
use super::redact::{RedactionConfig, Redactor};
use super::template::{
    AiDisclose, ConsentMethod, DisclosureKind as TemplateDisclosure, RecordingMode, Template,
    bundled_templates,
};
use crate::flow::interpolate;

/// Keys that stop recording at any point of a call, like saying "stop
/// recording". `*` cannot be a menu choice in the bundled plugins, so this
/// never collides with a flow's own keys.
pub const OPT_OUT_KEYS: &str = "*9";

/// What the runtime says when no template applies and a caller asks whether
/// they are talking to a machine (the bundled templates cover seven locales;
/// this is the last resort).
const TRUTHFUL_FALLBACK: &str = "Yes, you're talking to an automated AI assistant, not a person.";

/// The compliance roles a node's plugin holds: empty unless the plugin is
/// trusted.
#[derive(Debug, Clone, Default)]
pub struct NodeClaims {
    roles: Vec<String>,
}

impl NodeClaims {
    /// A plugin whose claims count for nothing.
    pub fn untrusted() -> Self {
        NodeClaims::default()
    }

    /// A trusted plugin with these roles.
    pub fn trusted(roles: &[&str]) -> Self {
        NodeClaims {
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    /// The claims of `plugin`: its manifest's roles if it is trusted.
    pub fn of(plugin: &crate::host::Plugin) -> Self {
        if plugin.trusted() {
            NodeClaims {
                roles: plugin.manifest().roles.clone(),
            }
        } else {
            NodeClaims::untrusted()
        }
    }

    fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Everything the guard needs to know about a call before it starts, shared
/// by reference: which templates apply, the call's locale, and the redactor.
#[derive(Debug)]
pub struct CallPolicy {
    pub resolution: Resolution,
    /// The templates that apply, in the order they were enabled.
    applied: Vec<&'static Template>,
    /// Templates enabled but not applying to these parties: their wording is
    /// still used when a flow discloses something no applying template words.
    enabled: Vec<&'static Template>,
    locale: String,
    redactor: Redactor,
    /// Opt-out phrases: every bundled template's, in the call's locale and
    /// in English, so no setting can narrow them.
    opt_out: Arc<[String]>,
}

impl CallPolicy {
    /// The policy for a call between `caller` and `callee` (numbers as
    /// received) with `enabled` template ids (the flow's `compliance` list
    /// and the tenant's), in `locale`.
    pub fn new<S: AsRef<str>>(enabled: &[S], caller: &str, callee: &str, locale: &str) -> Self {
        let catalog = bundled_templates();
        let resolution = resolve(catalog, enabled, caller, callee);
        let find = |id: &str| catalog.iter().find(|t| t.id == id);
        let applied: Vec<&'static Template> = resolution
            .templates
            .iter()
            .filter_map(|t| find(&t.id))
            .collect();
        let enabled: Vec<&'static Template> = enabled
            .iter()
            .filter_map(|id| find(id.as_ref()))
            .filter(|t| !applied.iter().any(|a| a.id == t.id))
            .collect();
        let mut config = RedactionConfig::default();
        for template in applied.iter().rev() {
            for (class, entry) in &template.redaction_classes.classes {
                config = config.with(*class, entry.action);
            }
        }
        CallPolicy {
            resolution,
            applied,
            enabled,
            locale: locale.to_owned(),
            redactor: Redactor::new(config),
            opt_out: opt_out_phrases(locale),
        }
    }

    /// The call's locale (the flow's unless the call set one).
    pub fn locale(&self) -> &str {
        &self.locale
    }

    /// Whether any applying template requires the AI disclosure before the
    /// first LLM turn.
    fn ai_up_front(&self) -> bool {
        self.applied
            .iter()
            .any(|t| t.ai.disclose == AiDisclose::UpFront)
    }

    /// The template and wording for a disclosure: the templates that decide
    /// (for recording, those with the winning mode; for AI, those requiring
    /// it up front) first, then any applying one, then the enabled ones,
    /// then every bundled template.
    fn wording(&self, kind: TemplateDisclosure) -> Option<(&'static Template, &'static str)> {
        let preferred = self.applied.iter().filter(|t| match kind {
            TemplateDisclosure::Recording => self.resolution.recording.decided_by.contains(&t.id),
            TemplateDisclosure::Ai => t.ai.disclose == AiDisclose::UpFront,
            _ => true,
        });
        preferred
            .chain(self.applied.iter())
            .chain(self.enabled.iter())
            .copied()
            .chain(bundled_templates().iter())
            .find_map(|t| t.disclosure(kind, &self.locale).map(|w| (t, w.text)))
    }

    /// The truthful answer to "am I talking to a machine?".
    fn truthful_answer(&self) -> (&'static str, &'static str) {
        self.applied
            .iter()
            .chain(self.enabled.iter())
            .copied()
            .chain(bundled_templates().iter())
            .find_map(|t| {
                t.truthful_answer(&self.locale)
                    .map(|w| (t.id.as_str(), w.text))
            })
            .unwrap_or(("(runtime)", TRUTHFUL_FALLBACK))
    }
}

/// The caller's answer on recording, as far as the guard knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consent {
    /// Nobody asked yet.
    Unasked,
    Granted,
    Declined,
    /// Asked, but no answer that counts as consent under the templates.
    NotGiven,
    /// Said or keyed "stop recording": final for the rest of the call.
    OptedOut,
}

/// One call's guard: consent state, disclosures made, recording and
/// secure-capture windows, and the evidence of all of it.
#[derive(Debug)]
pub struct Guard {
    policy: Arc<CallPolicy>,
    consent: Consent,
    recording_disclosed: bool,
    ai_disclosed: bool,
    recording_open: bool,
    secure_capture: Option<String>,
    /// A recording paused for the secure-capture window, to resume after it.
    resume_recording: bool,
    evidence: EvidenceLog,
}

impl Guard {
    /// A guard for one call; the evidence starts with the templates that apply.
    pub fn new(policy: Arc<CallPolicy>, call_id: &str) -> Self {
        Guard::with_header(policy, EvidenceHeader::new(call_id, "", "", 0), 0)
    }

    /// A guard whose evidence carries `header` and starts at `now_ms`.
    pub fn with_header(policy: Arc<CallPolicy>, header: EvidenceHeader, now_ms: i64) -> Self {
        let mut evidence = EvidenceLog::new(header);
        let mut jurisdictions: Vec<String> = policy
            .resolution
            .parties
            .iter()
            .flat_map(|p| p.jurisdictions.iter().cloned())
            .collect();
        jurisdictions.dedup();
        evidence.push(
            now_ms,
            EvidenceItem::Templates {
                templates: policy.resolution.templates.clone(),
                recording_mode: policy.resolution.recording.mode.to_string(),
                jurisdictions,
            },
        );
        Guard {
            policy,
            consent: Consent::Unasked,
            recording_disclosed: false,
            ai_disclosed: false,
            recording_open: false,
            secure_capture: None,
            resume_recording: false,
            evidence,
        }
    }

    /// The evidence so far.
    pub fn evidence(&self) -> &EvidenceLog {
        &self.evidence
    }

    /// The policy the guard enforces.
    pub fn policy(&self) -> &CallPolicy {
        &self.policy
    }

    /// Whether a recording is open.
    pub fn recording(&self) -> bool {
        self.recording_open
    }

    /// Passes one plugin action: returns what the call actually does, which
    /// may be nothing (refused), the action itself, or runtime actions in
    /// its place or before it.
    pub fn check(
        &mut self,
        now_ms: i64,
        node: &str,
        claims: &NodeClaims,
        action: Action,
        vars: &Vars,
    ) -> Vec<Action> {
        match action {
            Action::Disclose { kind } => self
                .disclose(now_ms, node, kind, vars)
                .into_iter()
                .collect(),
            Action::Record {
                op: RecordOp::Start,
            } => match self.record_refusal() {
                Some(reason) => {
                    self.refuse(now_ms, node, "record", reason);
                    Vec::new()
                }
                None if self.recording_open => Vec::new(),
                None => {
                    self.recording_open = true;
                    self.evidence.push(
                        now_ms,
                        EvidenceItem::RecordingStarted {
                            node: node.to_owned(),
                        },
                    );
                    vec![action]
                }
            },
            Action::Record { op: RecordOp::Stop } => self
                .stop_recording(now_ms, node, "flow stopped it")
                .into_iter()
                .collect(),
            Action::Llm(mut request) => {
                if self.secure_capture.is_some() {
                    self.refuse(now_ms, node, "llm", "inside a secure-capture window");
                    return Vec::new();
                }
                let mut out = Vec::new();
                if self.policy.ai_up_front() && !self.ai_disclosed {
                    out.extend(self.disclose(now_ms, "(guard)", DisclosureKind::Ai, vars));
                }
                self.redact_for_llm(now_ms, &mut request);
                out.push(Action::Llm(request));
                out
            }
            Action::SecureCapture { fields } => {
                if !claims.has("secure-capture") {
                    self.refuse(
                        now_ms,
                        node,
                        "secure_capture",
                        "only a trusted plugin with the secure-capture role may open a secure-capture window",
                    );
                    return Vec::new();
                }
                let mut out = Vec::new();
                if let Some(stop) = self.stop_recording(now_ms, node, "paused for secure capture") {
                    // Paused, not ended: nothing of the window is recorded,
                    // and recording resumes when it closes.
                    self.resume_recording = true;
                    out.push(stop);
                }
                self.secure_capture = Some(node.to_owned());
                self.evidence.push(
                    now_ms,
                    EvidenceItem::SecureCaptureOpened {
                        node: node.to_owned(),
                        fields: fields.clone(),
                    },
                );
                if let Some(say) = self.speak(now_ms, node, TemplateDisclosure::SecureCapture, vars)
                {
                    out.push(say);
                }
                out.push(Action::SecureCapture { fields });
                out
            }
            other => vec![other],
        }
    }

    /// Why `record start` may not run now, if it may not.
    fn record_refusal(&self) -> Option<&'static str> {
        if self.secure_capture.is_some() {
            return Some("inside a secure-capture window");
        }
        match self.consent {
            Consent::OptedOut => return Some("the caller opted out of recording"),
            Consent::Declined => return Some("the caller declined recording"),
            _ => {}
        }
        match self.policy.resolution.recording.mode {
            RecordingMode::NoneRequired => None,
            RecordingMode::Announce if self.recording_disclosed => None,
            RecordingMode::Announce => Some("the recording disclosure has not been played"),
            RecordingMode::AnnounceAndConsent if self.consent == Consent::Granted => None,
            RecordingMode::AnnounceAndConsent => Some("the caller has not consented to recording"),
        }
    }

    fn refuse(&mut self, now_ms: i64, node: &str, action: &str, reason: &str) {
        self.evidence.push(
            now_ms,
            EvidenceItem::Refused {
                node: node.to_owned(),
                action: action.to_owned(),
                reason: reason.to_owned(),
            },
        );
    }

    fn stop_recording(&mut self, now_ms: i64, node: &str, reason: &str) -> Option<Action> {
        if !self.recording_open {
            return None;
        }
        self.recording_open = false;
        self.evidence.push(
            now_ms,
            EvidenceItem::RecordingStopped {
                node: node.to_owned(),
                reason: reason.to_owned(),
            },
        );
        Some(Action::Record { op: RecordOp::Stop })
    }

    /// Speaks a disclosure with the template's wording.
    fn disclose(
        &mut self,
        now_ms: i64,
        node: &str,
        kind: DisclosureKind,
        vars: &Vars,
    ) -> Option<Action> {
        let kind = match kind {
            DisclosureKind::Recording => {
                self.recording_disclosed = true;
                TemplateDisclosure::Recording
            }
            DisclosureKind::Ai => {
                self.ai_disclosed = true;
                TemplateDisclosure::Ai
            }
            DisclosureKind::Notice => TemplateDisclosure::Notice,
        };
        self.speak(now_ms, node, kind, vars)
    }

    fn speak(
        &mut self,
        now_ms: i64,
        node: &str,
        kind: TemplateDisclosure,
        vars: &Vars,
    ) -> Option<Action> {
        let (template, wording) = self.policy.wording(kind)?;
        let text = match interpolate(&serde_json::Value::String(wording.to_owned()), vars) {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        self.evidence.push(
            now_ms,
            EvidenceItem::Disclosure {
                node: node.to_owned(),
                kind: kind.key().to_owned(),
                template: template.id.clone(),
                template_version: template.version.clone(),
                locale: self.policy.locale.clone(),
                wording_sha256: sha256_hex(&text),
            },
        );
        Some(Action::Say {
            text,
            barge_in: false,
        })
    }

    /// A node took `outcome` after an event of kind `via`. Only a trusted
    /// `recording-consent` node changes the consent state. Returns actions
    /// the runtime must carry out (stopping a recording on decline).
    pub fn outcome(
        &mut self,
        now_ms: i64,
        node: &str,
        claims: &NodeClaims,
        outcome: &str,
        via: &str,
    ) -> Vec<Action> {
        if !claims.has("recording-consent") || self.consent == Consent::OptedOut {
            return Vec::new();
        }
        let requirement = &self.policy.resolution.recording;
        let (consent, method) = match (outcome, via) {
            ("granted", "digits") => (Consent::Granted, "keypress"),
            ("granted", "speech") => (Consent::Granted, "speech"),
            ("granted", _) => (Consent::Granted, "none"),
            ("declined", "speech") => (Consent::Declined, "speech"),
            ("declined", _) => (Consent::Declined, "keypress"),
            ("timeout", _)
                if requirement.mode < RecordingMode::AnnounceAndConsent
                    || requirement
                        .consent_methods
                        .contains(&ConsentMethod::StayOnLine) =>
            {
                (Consent::Granted, "stay_on_line")
            }
            _ => (Consent::NotGiven, "none"),
        };
        self.consent = consent;
        self.evidence.push(
            now_ms,
            EvidenceItem::Consent {
                node: node.to_owned(),
                outcome: match consent {
                    Consent::Granted => "granted",
                    Consent::Declined => "declined",
                    _ => "not_given",
                }
                .to_owned(),
                method: method.to_owned(),
            },
        );
        if consent == Consent::Declined && requirement.declining_ends_recording {
            return self
                .stop_recording(now_ms, node, "caller declined")
                .into_iter()
                .collect();
        }
        Vec::new()
    }

    /// The caller said `text`. Returns what the runtime does before any
    /// plugin sees the turn: the truthful answer to "are you a robot?", and
    /// a stop of the recording on an opt-out phrase.
    pub fn caller_speech(&mut self, now_ms: i64, text: &str) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(phrase) = phrases::find_phrase(text, &self.policy.opt_out) {
            let phrase = phrase.to_owned();
            out.extend(self.opt_out(now_ms, "speech", &phrase));
        }
        if phrases::asks_if_machine(text) {
            let (template, answer) = self.policy.truthful_answer();
            self.evidence.push(
                now_ms,
                EvidenceItem::AiQuestionAnswered {
                    template: template.to_owned(),
                    wording_sha256: sha256_hex(answer),
                },
            );
            self.ai_disclosed = true;
            out.push(Action::Say {
                text: answer.to_owned(),
                barge_in: false,
            });
        }
        out
    }

    /// The caller pressed `digits`. Returns the runtime's actions and the
    /// digits left for the flow (the opt-out keys removed).
    pub fn caller_digits(&mut self, now_ms: i64, digits: &str) -> (Vec<Action>, String) {
        if !digits.contains(OPT_OUT_KEYS) {
            return (Vec::new(), digits.to_owned());
        }
        let rest = digits.replacen(OPT_OUT_KEYS, "", 1);
        (self.opt_out(now_ms, "keypress", OPT_OUT_KEYS), rest)
    }

    fn opt_out(&mut self, now_ms: i64, via: &str, matched: &str) -> Vec<Action> {
        let was_open = self.recording_open;
        self.evidence.push(
            now_ms,
            EvidenceItem::OptOut {
                via: via.to_owned(),
                matched: matched.to_owned(),
                recording_was_open: was_open,
            },
        );
        self.consent = Consent::OptedOut;
        self.stop_recording(now_ms, "(guard)", "caller opted out")
            .into_iter()
            .collect()
    }

    /// The model replied `text`: a claim to be human is replaced by the
    /// truthful answer before any plugin or caller sees it.
    pub fn llm_reply(&mut self, now_ms: i64, text: String) -> String {
        if !phrases::claims_human(&text) {
            return text;
        }
        let (template, answer) = self.policy.truthful_answer();
        self.evidence.push(
            now_ms,
            EvidenceItem::HumanClaimReplaced {
                template: template.to_owned(),
                wording_sha256: sha256_hex(answer),
            },
        );
        answer.to_owned()
    }

    /// The secure-capture window closed with this (sealed) result. Returns
    /// the recording's restart if the window paused one (and consent still
    /// holds).
    pub fn secure_result(
        &mut self,
        now_ms: i64,
        ok: bool,
        attempts: u32,
        last4: Option<String>,
        brand: Option<String>,
    ) -> Vec<Action> {
        let Some(node) = self.secure_capture.take() else {
            return Vec::new();
        };
        self.evidence.push(
            now_ms,
            EvidenceItem::SecureCaptureClosed {
                node: node.clone(),
                ok,
                attempts,
                last4,
                brand,
            },
        );
        if std::mem::take(&mut self.resume_recording) && self.record_refusal().is_none() {
            self.recording_open = true;
            self.evidence
                .push(now_ms, EvidenceItem::RecordingStarted { node });
            return vec![Action::Record {
                op: RecordOp::Start,
            }];
        }
        Vec::new()
    }

    /// The call ended: an open recording is closed in the evidence.
    pub fn end(&mut self, now_ms: i64, reason: &str) {
        self.stop_recording(now_ms, "(runtime)", "call ended");
        self.evidence.push(
            now_ms,
            EvidenceItem::Ended {
                reason: reason.to_owned(),
            },
        );
    }

    /// Redacts what the caller and tools said before it goes to the model;
    /// identifiers split across the caller's turns are found too.
    fn redact_for_llm(&mut self, now_ms: i64, request: &mut switchyard_sdk::protocol::LlmRequest) {
        let indices: Vec<usize> = request
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.role == "user" || m.role == "tool")
            .map(|(i, _)| i)
            .collect();
        let turns: Vec<&str> = indices
            .iter()
            .map(|&i| request.messages[i].content.as_str())
            .collect();
        let redacted = self.policy.redactor.redact_conversation(&turns);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for (i, turn) in indices.into_iter().zip(redacted) {
            for (class, n) in turn.counts() {
                *counts.entry(class.name().to_owned()).or_default() += n;
            }
            request.messages[i].content = turn.text;
        }
        if !counts.is_empty() {
            self.evidence.push(
                now_ms,
                EvidenceItem::Redacted {
                    sink: "llm".into(),
                    counts,
                },
            );
        }
    }
}

/// Every bundled template's opt-out phrases in `locale` and in English,
/// computed once per locale and shared by all calls in it.
fn opt_out_phrases(locale: &str) -> Arc<[String]> {
    static CACHE: LazyLock<Mutex<HashMap<String, Arc<[String]>>>> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = cache.get(locale) {
        return found.clone();
    }
    let mut phrases: Vec<String> = Vec::new();
    for template in bundled_templates() {
        for wanted in [locale, "en-US"] {
            if let Some(found) = template.opt_out_phrases(wanted) {
                for phrase in found.text {
                    if !phrases.contains(phrase) {
                        phrases.push(phrase.clone());
                    }
                }
            }
        }
    }
    let phrases: Arc<[String]> = phrases.into();
    if cache.len() < 256 {
        cache.insert(locale.to_owned(), phrases.clone());
    }
    phrases
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}
