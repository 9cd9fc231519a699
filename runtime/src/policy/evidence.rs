//! The per-call compliance evidence record: what the runtime did for
//! compliance on one call, hash-chained and sealed with an Ed25519
//! signature, so that any later change to it can be detected.
//!
//! ```
//! use switchyard_runtime::policy::evidence::{
//!     EvidenceHeader, EvidenceItem, EvidenceLog, EvidenceRecord, EvidenceSigner, verify,
//! };
//!
//! let signer = EvidenceSigner::generate().unwrap();
//! let mut log = EvidenceLog::new(EvidenceHeader::new("call-1", "receptionist", "sha256:ab12", 1_000));
//! log.push(1_000, EvidenceItem::Consent {
//!     node: "consent".into(),
//!     outcome: "granted".into(),
//!     method: "keypress".into(),
//! });
//! log.push(1_200, EvidenceItem::RecordingStarted { node: "record".into() });
//! log.push(9_000, EvidenceItem::Ended { reason: "caller hung up".into() });
//! let record = log.seal(&signer);
//!
//! // The record travels as JSON; a verifier needs only the public key.
//! let json = record.to_json_pretty();
//! let record = EvidenceRecord::from_json(&json).unwrap();
//! let summary = verify(&record, &signer.verifying_key()).unwrap();
//! assert_eq!(summary.entries, 3);
//! assert_eq!(summary.consent.as_deref(), Some("granted"));
//! assert_eq!(summary.key_id, signer.key_id());
//!
//! // Any change shows, and the error says where.
//! let mut altered = record.clone();
//! altered.entries[0].item = EvidenceItem::Consent {
//!     node: "consent".into(),
//!     outcome: "declined".into(),
//!     method: "keypress".into(),
//! };
//! let error = verify(&altered, &signer.verifying_key()).unwrap_err();
//! assert_eq!(error.to_string(), "entry 0: its hash does not match its contents (the entry was altered)");
//! ```
//!
//! # The record
//!
//! ```text
//! {
//!   "header":  {"format": "switchyard-evidence/v1", "call_id", "flow", "flow_digest", "started_ms"},
//!   "entries": [{"seq", "at_ms", "item": {"type": "consent", ...}, "prev", "hash"}, ...],
//!   "seal":    {"key_id", "signature"}
//! }
//! ```
//!
//! - `seq` counts from 0 without gaps; `at_ms` is epoch milliseconds.
//! - `prev` of entry 0 is the *header hash*, `hex(SHA-256(canonical(header)))`;
//!   `prev` of every later entry is the `hash` of the entry before it.
//! - `hash = hex(SHA-256(canonical({"seq", "at_ms", "item", "prev"})))`: the
//!   entry without its own `hash`.
//! - The seal's `signature` is the hex Ed25519 signature (RFC 8032, 64
//!   bytes) of the UTF-8 bytes
//!   `"switchyard-evidence/v1\n" + header_hash + "\n" + last_hash + "\n" + entry_count`,
//!   where `last_hash` is the last entry's `hash` (the header hash when there
//!   are no entries) and `entry_count` is decimal. `key_id` is the first 16
//!   hex characters of `SHA-256` of the 32-byte public key.
//!
//! Hex is always lowercase.
//!
//! # Canonical JSON
//!
//! `canonical(v)` is the JSON text of `v` as UTF-8 bytes with:
//! - no whitespace outside strings;
//! - the members of every object sorted by key, comparing the keys' UTF-8
//!   bytes (all keys in this format are ASCII, so this is also RFC 8785's
//!   order), each key once;
//! - strings escaped minimally: `"` as `\"`, `\` as `\\`, U+0008, U+0009,
//!   U+000A, U+000C, U+000D as `\b \t \n \f \r`, other characters below
//!   U+0020 as `\u00xx` (lowercase hex); everything else, including
//!   non-ASCII, as itself in UTF-8;
//! - numbers as decimal integers (the format has no fractions), `null`,
//!   `true`, `false` as themselves; an absent optional value is `null`.
//!
//! For the values this format holds that is exactly RFC 8785 (JCS), so a
//! verifier in another language can use any JCS library.
//!
//! [`EvidenceRecord::from_json`] rejects a file holding anything the hashes
//! do not cover (an unknown field, say), so what a reader sees in the file
//! is what was signed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::jurisdiction::AppliedTemplate;

/// The `format` of the header, and the first line of the signed bytes.
pub const FORMAT: &str = "switchyard-evidence/v1";

/// One thing the runtime did or saw for compliance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EvidenceItem {
    /// First item: which templates apply and why, the recording rule in force.
    Templates {
        templates: Vec<AppliedTemplate>,
        recording_mode: String,
        jurisdictions: Vec<String>,
    },
    /// A disclosure the runtime spoke: which, from which template, in which
    /// locale, and the SHA-256 (hex) of the exact wording played.
    Disclosure {
        node: String,
        kind: String,
        template: String,
        template_version: String,
        locale: String,
        wording_sha256: String,
    },
    /// The caller's answer to recording consent: `granted`, `declined` or
    /// `not_given`; how: `keypress`, `speech`, `stay_on_line`, `none`.
    Consent {
        node: String,
        outcome: String,
        method: String,
    },
    RecordingStarted {
        node: String,
    },
    RecordingStopped {
        node: String,
        reason: String,
    },
    /// A spoken or keyed opt-out: via `speech` or `keypress`, the phrase or
    /// key matched.
    OptOut {
        via: String,
        matched: String,
        recording_was_open: bool,
    },
    /// The caller asked if they talk to a machine; the runtime answered
    /// truthfully before the LLM saw the turn.
    AiQuestionAnswered {
        template: String,
        wording_sha256: String,
    },
    /// An LLM reply claimed to be human and was replaced by the truthful
    /// answer.
    HumanClaimReplaced {
        template: String,
        wording_sha256: String,
    },
    /// The guard refused an action (e.g. record without consent, llm before
    /// AI disclosure).
    Refused {
        node: String,
        action: String,
        reason: String,
    },
    SecureCaptureOpened {
        node: String,
        fields: Vec<String>,
    },
    /// Never the digits: [`EvidenceLog::push`] keeps at most the last four
    /// characters of `last4`.
    SecureCaptureClosed {
        node: String,
        ok: bool,
        attempts: u32,
        last4: Option<String>,
        brand: Option<String>,
    },
    /// PII redaction counts by class for one sink (`llm`, `transcript`, ...).
    Redacted {
        sink: String,
        counts: BTreeMap<String, usize>,
    },
    /// An outbound call refused (calling hours, do-not-call), with the rule.
    OutboundRefused {
        reason: String,
        rule: String,
    },
    Ended {
        reason: String,
    },
}

impl EvidenceItem {
    /// The item's `type` as written in the record (`disclosure`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Templates { .. } => "templates",
            Self::Disclosure { .. } => "disclosure",
            Self::Consent { .. } => "consent",
            Self::RecordingStarted { .. } => "recording_started",
            Self::RecordingStopped { .. } => "recording_stopped",
            Self::OptOut { .. } => "opt_out",
            Self::AiQuestionAnswered { .. } => "ai_question_answered",
            Self::HumanClaimReplaced { .. } => "human_claim_replaced",
            Self::Refused { .. } => "refused",
            Self::SecureCaptureOpened { .. } => "secure_capture_opened",
            Self::SecureCaptureClosed { .. } => "secure_capture_closed",
            Self::Redacted { .. } => "redacted",
            Self::OutboundRefused { .. } => "outbound_refused",
            Self::Ended { .. } => "ended",
        }
    }

    /// The item's key fields on one line, for people (`switchyard evidence
    /// show`). Hashes are shortened to 12 characters.
    pub fn describe(&self) -> String {
        let short = |h: &str| h.chars().take(12).collect::<String>();
        match self {
            Self::Templates {
                templates,
                recording_mode,
                jurisdictions,
            } => {
                let names: Vec<String> = templates
                    .iter()
                    .map(|t| format!("{}@{}", t.id, t.version))
                    .collect();
                format!(
                    "templates=[{}] recording={recording_mode} jurisdictions=[{}]",
                    names.join(", "),
                    jurisdictions.join(", ")
                )
            }
            Self::Disclosure {
                node,
                kind,
                template,
                template_version,
                locale,
                wording_sha256,
            } => format!(
                "node={node} kind={kind} template={template}@{template_version} locale={locale} wording={}",
                short(wording_sha256)
            ),
            Self::Consent {
                node,
                outcome,
                method,
            } => format!("node={node} outcome={outcome} method={method}"),
            Self::RecordingStarted { node } => format!("node={node}"),
            Self::RecordingStopped { node, reason } => format!("node={node} reason={reason:?}"),
            Self::OptOut {
                via,
                matched,
                recording_was_open,
            } => format!("via={via} matched={matched:?} recording_was_open={recording_was_open}"),
            Self::AiQuestionAnswered {
                template,
                wording_sha256,
            }
            | Self::HumanClaimReplaced {
                template,
                wording_sha256,
            } => format!("template={template} wording={}", short(wording_sha256)),
            Self::Refused {
                node,
                action,
                reason,
            } => format!("node={node} action={action} reason={reason:?}"),
            Self::SecureCaptureOpened { node, fields } => {
                format!("node={node} fields=[{}]", fields.join(", "))
            }
            Self::SecureCaptureClosed {
                node,
                ok,
                attempts,
                last4,
                brand,
            } => {
                let mut line = format!("node={node} ok={ok} attempts={attempts}");
                if let Some(brand) = brand {
                    line.push_str(&format!(" brand={brand}"));
                }
                if let Some(last4) = last4 {
                    line.push_str(&format!(" last4={last4}"));
                }
                line
            }
            Self::Redacted { sink, counts } => {
                let counts: Vec<String> = counts.iter().map(|(k, n)| format!("{k}={n}")).collect();
                format!("sink={sink} {}", counts.join(" "))
            }
            Self::OutboundRefused { reason, rule } => format!("reason={reason:?} rule={rule:?}"),
            Self::Ended { reason } => format!("reason={reason:?}"),
        }
    }
}

/// What the record is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceHeader {
    /// Always [`FORMAT`].
    pub format: String,
    pub call_id: String,
    pub flow: String,
    pub flow_digest: String,
    /// When the call started, epoch milliseconds.
    pub started_ms: i64,
}

impl EvidenceHeader {
    /// A header in the current [`FORMAT`].
    pub fn new(
        call_id: impl Into<String>,
        flow: impl Into<String>,
        flow_digest: impl Into<String>,
        started_ms: i64,
    ) -> Self {
        Self {
            format: FORMAT.to_owned(),
            call_id: call_id.into(),
            flow: flow.into(),
            flow_digest: flow_digest.into(),
            started_ms,
        }
    }

    /// `hex(SHA-256(canonical(header)))`: entry 0's `prev`.
    pub fn hash(&self) -> String {
        sha256_hex(&canonical_json(self))
    }
}

/// One link of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceEntry {
    pub seq: u64,
    pub at_ms: i64,
    pub item: EvidenceItem,
    /// The previous entry's `hash`; the header hash for entry 0.
    pub prev: String,
    /// `hex(SHA-256(canonical({seq, at_ms, item, prev})))`.
    pub hash: String,
}

impl EvidenceEntry {
    /// The hash this entry's contents call for (which its `hash` should be).
    pub fn compute_hash(&self) -> String {
        entry_hash(self.seq, self.at_ms, &self.item, &self.prev)
    }
}

/// The signature over the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceSeal {
    /// The first 16 hex characters of SHA-256 of the public key.
    pub key_id: String,
    /// Hex Ed25519 signature of [`signed_message`].
    pub signature: String,
}

/// A sealed evidence record, as stored and handed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    pub header: EvidenceHeader,
    pub entries: Vec<EvidenceEntry>,
    pub seal: EvidenceSeal,
}

impl EvidenceRecord {
    /// The record as indented JSON (a file a person can read).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a record, refusing anything its hashes and seal do not cover:
    /// unknown fields, or a value that does not read back as written.
    ///
    /// # Errors
    /// The JSON error, or the JSON pointer of the first part that is not
    /// covered by the seal.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let record: Self = serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
        let back = serde_json::to_value(&record).map_err(|e| e.to_string())?;
        if let Some(pointer) = first_difference(&raw, &back, String::new()) {
            return Err(format!(
                "{pointer}: not part of the evidence format (the hashes and seal do not cover it)"
            ));
        }
        Ok(record)
    }
}

/// The JSON pointer of the first place `raw` differs from `back`.
fn first_difference(raw: &Value, back: &Value, at: String) -> Option<String> {
    match (raw, back) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match b.get(key) {
                    Some(other) => {
                        if let Some(found) = first_difference(value, other, here) {
                            return Some(found);
                        }
                    }
                    None => return Some(here),
                }
            }
            b.keys()
                .find(|k| !a.contains_key(*k))
                .map(|k| format!("{at}/{k}"))
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, format!("{at}/{i}"))),
        _ if raw == back => None,
        _ => Some(if at.is_empty() { "/".into() } else { at }),
    }
}

/// The evidence of a call being made: append items, then [`seal`](Self::seal).
///
/// Items are hashed into the chain when the log is sealed (or its
/// [`entries`](Self::entries) are asked for), not when they are pushed: the
/// chain protects the record at rest, and hashing at seal time keeps the
/// guard's per-action cost to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceLog {
    header: EvidenceHeader,
    items: Vec<(i64, EvidenceItem)>,
}

impl EvidenceLog {
    /// An empty log for the call the header names.
    pub fn new(header: EvidenceHeader) -> Self {
        Self {
            header,
            items: Vec::new(),
        }
    }

    /// Appends an item at `at_ms` (epoch milliseconds).
    /// A `secure_capture_closed` keeps at most the last four characters of
    /// `last4`, so the record never holds more of a card number.
    pub fn push(&mut self, at_ms: i64, mut item: EvidenceItem) {
        if let EvidenceItem::SecureCaptureClosed {
            last4: Some(last4), ..
        } = &mut item
        {
            let keep = last4.chars().count().saturating_sub(4);
            *last4 = last4.chars().skip(keep).collect();
        }
        self.items.push((at_ms, item));
    }

    /// The header.
    pub fn header(&self) -> &EvidenceHeader {
        &self.header
    }

    /// The items, in order.
    pub fn items(&self) -> impl ExactSizeIterator<Item = &EvidenceItem> + '_ {
        self.items.iter().map(|(_, item)| item)
    }

    /// The entries, in order, each chained to the one before.
    pub fn entries(&self) -> Vec<EvidenceEntry> {
        let mut prev = self.header.hash();
        self.items
            .iter()
            .enumerate()
            .map(|(seq, (at_ms, item))| {
                let seq = seq as u64;
                let hash = entry_hash(seq, *at_ms, item, &prev);
                EvidenceEntry {
                    seq,
                    at_ms: *at_ms,
                    item: item.clone(),
                    prev: std::mem::replace(&mut prev, hash.clone()),
                    hash,
                }
            })
            .collect()
    }

    /// The head of the chain: the last entry's hash, or the header hash.
    pub fn last_hash(&self) -> String {
        self.entries()
            .last()
            .map_or_else(|| self.header.hash(), |e| e.hash.clone())
    }

    /// The record signed by `signer`. The log can go on and be sealed again.
    pub fn seal(&self, signer: &EvidenceSigner) -> EvidenceRecord {
        let header_hash = self.header.hash();
        let entries = self.entries();
        let last_hash = entries
            .last()
            .map_or(header_hash.as_str(), |e| e.hash.as_str());
        let message = signed_message(&header_hash, last_hash, entries.len());
        let signature = signer.key.sign(message.as_bytes());
        EvidenceRecord {
            header: self.header.clone(),
            entries,
            seal: EvidenceSeal {
                key_id: signer.key_id(),
                signature: hex::encode(signature.to_bytes()),
            },
        }
    }
}

/// The bytes the seal signs.
pub fn signed_message(header_hash: &str, last_hash: &str, entry_count: usize) -> String {
    format!("{FORMAT}\n{header_hash}\n{last_hash}\n{entry_count}")
}

/// The key id of a public key: the first 16 hex characters of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> String {
    let mut id = sha256_hex(key.as_bytes());
    id.truncate(16);
    id
}

/// A problem with a key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{}: already exists; refusing to overwrite a key", path.display())]
    Exists { path: PathBuf },
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// The key that seals evidence records. Its `Debug` shows only the key id;
/// the secret is wiped from memory when it is dropped.
pub struct EvidenceSigner {
    key: SigningKey,
}

impl fmt::Debug for EvidenceSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvidenceSigner")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl EvidenceSigner {
    /// A new key from the operating system's random source.
    ///
    /// # Errors
    /// When the operating system gives no randomness.
    pub fn generate() -> Result<Self, KeyError> {
        let mut secret = Zeroizing::new([0_u8; 32]);
        getrandom::fill(secret.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self {
            key: SigningKey::from_bytes(&secret),
        })
    }

    /// Reads the secret key at `path` (64 hex characters), or creates a new
    /// one there (mode 0600 on unix) when there is none.
    ///
    /// # Errors
    /// The file cannot be read or written, or does not hold a key.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        match Self::create(path) {
            Err(KeyError::Exists { .. }) => Self::load(path),
            other => other,
        }
    }

    /// Reads the secret key at `path`.
    ///
    /// # Errors
    /// The file cannot be read or does not hold 64 hex characters.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyError::Io {
                    path: path.to_owned(),
                    source,
                })?,
            );
        let mut secret = Zeroizing::new([0_u8; 32]);
        hex::decode_to_slice(text.trim(), secret.as_mut()).map_err(|_| KeyError::Malformed {
            path: path.to_owned(),
            reason: "not an evidence secret key (64 hex characters)".into(),
        })?;
        Ok(Self {
            key: SigningKey::from_bytes(&secret),
        })
    }

    /// A new key written to `path` (mode 0600 on unix); never overwrites.
    ///
    /// # Errors
    /// [`KeyError::Exists`] when `path` exists; the file cannot be written.
    pub fn create(path: &Path) -> Result<Self, KeyError> {
        use std::io::Write;
        let signer = Self::generate()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let io = |source: std::io::Error| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = options.open(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists {
                    path: path.to_owned(),
                }
            } else {
                io(source)
            }
        })?;
        let text = Zeroizing::new(format!("{}\n", hex::encode(signer.key.to_bytes())));
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(signer)
    }

    /// The public key that verifies this signer's seals.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as 64 hex characters.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.verifying_key().as_bytes())
    }

    /// The key id written in seals.
    pub fn key_id(&self) -> String {
        key_id(&self.verifying_key())
    }

    /// Writes the public key, as hex, to `path`.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write_public_key(&self, path: &Path) -> Result<(), KeyError> {
        std::fs::write(path, format!("{}\n", self.public_key_hex())).map_err(|source| {
            KeyError::Io {
                path: path.to_owned(),
                source,
            }
        })
    }
}

/// Parses a public key written as 64 hex characters.
///
/// # Errors
/// Not 64 hex characters, or not a valid Ed25519 public key.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let mut bytes = [0_u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes)
        .map_err(|_| "not an evidence public key (64 hex characters)".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid Ed25519 public key".to_owned())
}

/// Reads a public key file written by [`EvidenceSigner::write_public_key`].
///
/// # Errors
/// The file cannot be read or does not hold a public key.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_public_key(&text).map_err(|reason| KeyError::Malformed {
        path: path.to_owned(),
        reason,
    })
}

/// The first problem [`verify`] found, in reading order: header, entries,
/// seal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("unknown format {found:?} (expected {FORMAT:?})")]
    UnknownFormat { found: String },
    /// The entry with this seq is not there; the entries after it are.
    #[error("entry {seq} is missing (position {position} holds entry {found})")]
    MissingEntry {
        seq: u64,
        position: usize,
        found: u64,
    },
    /// An entry stands where another belongs.
    #[error(
        "entries out of order: position {position} holds entry {found}, expected entry {expected}"
    )]
    Reordered {
        position: usize,
        expected: u64,
        found: u64,
    },
    /// Entry 0's `prev` is not the header hash: the header was altered (or
    /// the entries belong to another record).
    #[error(
        "entry 0: prev does not match the header's hash (the header was altered, or the entries come from another record)"
    )]
    HeaderAltered,
    /// The entry's `prev` is not the previous entry's `hash`.
    #[error(
        "entry {seq}: prev does not match the hash of entry {} (the chain is broken before it)",
        .seq - 1
    )]
    BrokenLink { seq: u64 },
    /// The entry's `hash` is not the hash of its contents.
    #[error("entry {seq}: its hash does not match its contents (the entry was altered)")]
    WrongHash { seq: u64 },
    /// The record was sealed by another key than the one given.
    #[error("sealed by key {sealed_by}, but the key given is {given}")]
    WrongKey { sealed_by: String, given: String },
    #[error("the seal's signature is not 128 hex characters")]
    MalformedSignature,
    /// The chain is intact but the signature does not cover it.
    #[error(
        "the seal's signature does not match the record (entries were added, removed or rewritten after sealing, or the signature was replaced)"
    )]
    BadSignature,
}

/// What a verified record says, in counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifySummary {
    pub key_id: String,
    pub entries: usize,
    /// `id@version` of the applicable templates, from the `templates` item.
    pub templates: Vec<String>,
    pub disclosures: usize,
    /// The last consent outcome recorded, if any.
    pub consent: Option<String>,
    /// Recording windows opened (`recording_started`).
    pub recording_windows: usize,
    /// Whether a recording window was still open at the last entry.
    pub recording_open_at_end: bool,
    pub opt_outs: usize,
    pub secure_capture_windows: usize,
    /// AI questions answered and human claims replaced.
    pub ai_truthfulness: usize,
    /// Actions the guard refused, and refused outbound calls.
    pub refusals: usize,
    pub redactions: usize,
    pub ended: Option<String>,
}

impl fmt::Display for VerifySummary {
    /// Lines of `name: value`, for people.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.templates.is_empty() {
            writeln!(f, "templates: {}", self.templates.join(", "))?;
        }
        writeln!(f, "disclosures: {}", self.disclosures)?;
        writeln!(
            f,
            "consent: {}",
            self.consent.as_deref().unwrap_or("not recorded")
        )?;
        write!(f, "recording windows: {}", self.recording_windows)?;
        if self.recording_open_at_end {
            write!(f, " (one still open at the last entry)")?;
        }
        writeln!(f)?;
        writeln!(f, "opt-outs: {}", self.opt_outs)?;
        writeln!(f, "secure-capture windows: {}", self.secure_capture_windows)?;
        writeln!(
            f,
            "AI questions answered / human claims replaced: {}",
            self.ai_truthfulness
        )?;
        writeln!(f, "refusals: {}", self.refusals)?;
        writeln!(f, "redaction reports: {}", self.redactions)?;
        write!(
            f,
            "ended: {}",
            self.ended.as_deref().unwrap_or("not recorded")
        )
    }
}

/// Checks a record against the public key that should have sealed it:
/// the header format, every entry's seq, `prev` link and hash in order, the
/// key id and the signature.
///
/// # Errors
/// The first problem, naming the entry by seq where there is one.
pub fn verify(record: &EvidenceRecord, key: &VerifyingKey) -> Result<VerifySummary, VerifyError> {
    if record.header.format != FORMAT {
        return Err(VerifyError::UnknownFormat {
            found: record.header.format.clone(),
        });
    }
    let header_hash = record.header.hash();
    let mut prev = header_hash.as_str();
    for (position, entry) in record.entries.iter().enumerate() {
        let expected = position as u64;
        if entry.seq != expected {
            let later = record.entries[position..].iter().any(|e| e.seq == expected);
            return Err(if entry.seq > expected && !later {
                VerifyError::MissingEntry {
                    seq: expected,
                    position,
                    found: entry.seq,
                }
            } else {
                VerifyError::Reordered {
                    position,
                    expected,
                    found: entry.seq,
                }
            });
        }
        if entry.prev != prev {
            return Err(if position == 0 {
                VerifyError::HeaderAltered
            } else {
                VerifyError::BrokenLink { seq: entry.seq }
            });
        }
        if entry.compute_hash() != entry.hash {
            return Err(VerifyError::WrongHash { seq: entry.seq });
        }
        prev = &entry.hash;
    }
    let given = key_id(key);
    if record.seal.key_id != given {
        return Err(VerifyError::WrongKey {
            sealed_by: record.seal.key_id.clone(),
            given,
        });
    }
    let mut signature = [0_u8; 64];
    hex::decode_to_slice(&record.seal.signature, &mut signature)
        .map_err(|_| VerifyError::MalformedSignature)?;
    let message = signed_message(&header_hash, prev, record.entries.len());
    key.verify_strict(message.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(summarize(record, given))
}

fn summarize(record: &EvidenceRecord, key_id: String) -> VerifySummary {
    let mut summary = VerifySummary {
        key_id,
        entries: record.entries.len(),
        ..VerifySummary::default()
    };
    for entry in &record.entries {
        match &entry.item {
            EvidenceItem::Templates { templates, .. } => {
                summary.templates = templates
                    .iter()
                    .map(|t| format!("{}@{}", t.id, t.version))
                    .collect();
            }
            EvidenceItem::Disclosure { .. } => summary.disclosures += 1,
            EvidenceItem::Consent { outcome, .. } => summary.consent = Some(outcome.clone()),
            EvidenceItem::RecordingStarted { .. } => {
                summary.recording_windows += 1;
                summary.recording_open_at_end = true;
            }
            EvidenceItem::RecordingStopped { .. } => summary.recording_open_at_end = false,
            EvidenceItem::OptOut { .. } => summary.opt_outs += 1,
            EvidenceItem::AiQuestionAnswered { .. } | EvidenceItem::HumanClaimReplaced { .. } => {
                summary.ai_truthfulness += 1;
            }
            EvidenceItem::Refused { .. } | EvidenceItem::OutboundRefused { .. } => {
                summary.refusals += 1;
            }
            EvidenceItem::SecureCaptureOpened { .. } => summary.secure_capture_windows += 1,
            EvidenceItem::SecureCaptureClosed { .. } => {}
            EvidenceItem::Redacted { .. } => summary.redactions += 1,
            EvidenceItem::Ended { reason } => summary.ended = Some(reason.clone()),
        }
    }
    summary
}

/// `hex(SHA-256(canonical({seq, at_ms, item, prev})))`.
fn entry_hash(seq: u64, at_ms: i64, item: &EvidenceItem, prev: &str) -> String {
    #[derive(Serialize)]
    struct Hashed<'a> {
        seq: u64,
        at_ms: i64,
        item: &'a EvidenceItem,
        prev: &'a str,
    }
    sha256_hex(&canonical_json(&Hashed {
        seq,
        at_ms,
        item,
        prev,
    }))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The canonical JSON bytes of a value (see the module docs).
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // The evidence types serialize infallibly (string keys, no floats).
    if let Ok(value) = serde_json::to_value(value) {
        write_canonical(&value, &mut out);
    }
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Array(items) => {
            out.push(b'[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Sorted here rather than trusting the map type: serde_json's
            // `preserve_order` feature, if any crate enables it, keeps
            // insertion order.
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (k, (key, item)) in members.into_iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
        scalar => write_scalar(scalar, out),
    }
}

/// Null, booleans, integers and strings as serde_json writes them compactly,
/// which is the minimal escaping the module docs describe.
fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_log() -> EvidenceLog {
        let mut log = EvidenceLog::new(EvidenceHeader::new(
            "call-42",
            "receptionist",
            "sha256:0123abcd",
            1_700_000_000_000,
        ));
        let t0 = 1_700_000_000_000;
        log.push(
            t0,
            EvidenceItem::Templates {
                templates: vec![AppliedTemplate {
                    id: "us-ca".into(),
                    version: "1.0.0".into(),
                }],
                recording_mode: "all_party".into(),
                jurisdictions: vec!["US-CA".into()],
            },
        );
        log.push(
            t0 + 100,
            EvidenceItem::Disclosure {
                node: "consent".into(),
                kind: "recording".into(),
                template: "us-ca".into(),
                template_version: "1.0.0".into(),
                locale: "en-US".into(),
                wording_sha256: sha256_hex(b"This call may be recorded."),
            },
        );
        log.push(
            t0 + 2_000,
            EvidenceItem::Consent {
                node: "consent".into(),
                outcome: "granted".into(),
                method: "keypress".into(),
            },
        );
        log.push(
            t0 + 2_100,
            EvidenceItem::RecordingStarted {
                node: "record".into(),
            },
        );
        log.push(
            t0 + 5_000,
            EvidenceItem::SecureCaptureOpened {
                node: "pay".into(),
                fields: vec!["card_number".into(), "expiry".into()],
            },
        );
        log.push(
            t0 + 9_000,
            EvidenceItem::SecureCaptureClosed {
                node: "pay".into(),
                ok: true,
                attempts: 1,
                last4: Some("4111111111111111".into()),
                brand: Some("visa".into()),
            },
        );
        log.push(
            t0 + 9_500,
            EvidenceItem::Redacted {
                sink: "transcript".into(),
                counts: BTreeMap::from([("email".into(), 1), ("card".into(), 2)]),
            },
        );
        log.push(
            t0 + 10_000,
            EvidenceItem::OptOut {
                via: "speech".into(),
                matched: "stop recording".into(),
                recording_was_open: true,
            },
        );
        log.push(
            t0 + 10_001,
            EvidenceItem::RecordingStopped {
                node: "record".into(),
                reason: "opt_out".into(),
            },
        );
        log.push(
            t0 + 12_000,
            EvidenceItem::Refused {
                node: "record".into(),
                action: "record".into(),
                reason: "consent withdrawn".into(),
            },
        );
        log.push(
            t0 + 20_000,
            EvidenceItem::Ended {
                reason: "hangup".into(),
            },
        );
        log
    }

    fn signer() -> EvidenceSigner {
        EvidenceSigner::generate().unwrap()
    }

    #[test]
    fn seal_then_verify_round_trips_through_json() {
        let signer = signer();
        let record = sample_log().seal(&signer);
        let text = record.to_json_pretty();
        let read = EvidenceRecord::from_json(&text).unwrap();
        assert_eq!(read, record);
        let summary = verify(&read, &signer.verifying_key()).unwrap();
        assert_eq!(
            summary,
            VerifySummary {
                key_id: signer.key_id(),
                entries: 11,
                templates: vec!["us-ca@1.0.0".into()],
                disclosures: 1,
                consent: Some("granted".into()),
                recording_windows: 1,
                recording_open_at_end: false,
                opt_outs: 1,
                secure_capture_windows: 1,
                ai_truthfulness: 0,
                refusals: 1,
                redactions: 1,
                ended: Some("hangup".into()),
            }
        );
        assert!(summary.to_string().contains("consent: granted"));
    }

    #[test]
    fn an_empty_log_seals_and_verifies() {
        let signer = signer();
        let log = EvidenceLog::new(EvidenceHeader::new("c", "f", "d", 0));
        assert_eq!(log.last_hash(), log.header().hash());
        let summary = verify(&log.seal(&signer), &signer.verifying_key()).unwrap();
        assert_eq!(summary.entries, 0);
    }

    #[test]
    fn the_chain_links_each_entry_to_the_one_before() {
        let log = sample_log();
        assert_eq!(log.entries()[0].prev, log.header().hash());
        for pair in log.entries().windows(2) {
            assert_eq!(pair[1].prev, pair[0].hash);
        }
        assert_eq!(log.items().len(), 11);
        assert_eq!(log.items().last().unwrap().type_name(), "ended");
    }

    #[test]
    fn the_record_never_holds_more_than_four_card_digits() {
        let log = sample_log();
        let closed = log
            .items()
            .find(|i| i.type_name() == "secure_capture_closed")
            .unwrap();
        let EvidenceItem::SecureCaptureClosed { last4, .. } = closed else {
            unreachable!()
        };
        assert_eq!(last4.as_deref(), Some("1111"));
    }

    #[test]
    fn canonical_json_is_compact_with_sorted_keys_and_minimal_escapes() {
        let item = EvidenceItem::Redacted {
            sink: "llm \"quoted\"\n\u{1}é".into(),
            counts: BTreeMap::from([("ssn".into(), 1), ("card".into(), 2)]),
        };
        assert_eq!(
            String::from_utf8(canonical_json(&item)).unwrap(),
            r#"{"counts":{"card":2,"ssn":1},"sink":"llm \"quoted\"\n\u0001é","type":"redacted"}"#
        );
        // An entry hash is the SHA-256 of exactly these bytes: pinned, so a
        // change to the format cannot pass unnoticed.
        let hash = entry_hash(3, -5, &EvidenceItem::Ended { reason: "x".into() }, "ab");
        assert_eq!(
            hash,
            sha256_hex(br#"{"at_ms":-5,"item":{"reason":"x","type":"ended"},"prev":"ab","seq":3}"#)
        );
        let header = EvidenceHeader::new("c", "f", "d", 7);
        assert_eq!(
            String::from_utf8(canonical_json(&header)).unwrap(),
            r#"{"call_id":"c","flow":"f","flow_digest":"d","format":"switchyard-evidence/v1","started_ms":7}"#
        );
    }

    #[test]
    fn an_altered_item_names_its_entry() {
        let signer = signer();
        let mut record = sample_log().seal(&signer);
        if let EvidenceItem::Consent { outcome, .. } = &mut record.entries[2].item {
            *outcome = "declined".into();
        }
        assert_eq!(
            verify(&record, &signer.verifying_key()),
            Err(VerifyError::WrongHash { seq: 2 })
        );
    }

    #[test]
    fn an_altered_item_with_its_hash_recomputed_breaks_the_next_link() {
        let signer = signer();
        let mut record = sample_log().seal(&signer);
        record.entries[3].at_ms += 1;
        record.entries[3].hash = record.entries[3].compute_hash();
        let error = verify(&record, &signer.verifying_key()).unwrap_err();
        assert_eq!(error, VerifyError::BrokenLink { seq: 4 });
        assert_eq!(
            error.to_string(),
            "entry 4: prev does not match the hash of entry 3 (the chain is broken before it)"
        );
    }

    #[test]
    fn a_rewritten_chain_fails_the_signature() {
        let signer = signer();
        let mut record = sample_log().seal(&signer);
        // Rewrite the last entry and re-hash it: the chain is consistent,
        // but the seal signed the old head.
        let last = record.entries.len() - 1;
        record.entries[last].item = EvidenceItem::Ended {
            reason: "completed".into(),
        };
        record.entries[last].hash = record.entries[last].compute_hash();
        assert_eq!(
            verify(&record, &signer.verifying_key()),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn a_deleted_entry_is_named() {
        let signer = signer();
        let mut record = sample_log().seal(&signer);
        record.entries.remove(5);
        let error = verify(&record, &signer.verifying_key()).unwrap_err();
        assert_eq!(
            error,
            VerifyError::MissingEntry {
                seq: 5,
                position: 5,
                found: 6
            }
        );
        assert!(
            error.to_string().starts_with("entry 5 is missing"),
            "{error}"
        );
    }

    #[test]
    fn a_deleted_last_entry_fails_the_signature() {
        let signer = signer();
        let mut record = sample_log().seal(&signer);
        record.entries.pop();
        assert_eq!(
            verify(&record, &signer.verifying_key()),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn reordered_entries_are_named() {
        let signer = signer();
        let mut record = sample_log().seal(&signer);
        record.entries.swap(3, 4);
        let error = verify(&record, &signer.verifying_key()).unwrap_err();
        assert_eq!(
            error,
            VerifyError::Reordered {
                position: 3,
                expected: 3,
                found: 4
            }
        );
        assert_eq!(
            error.to_string(),
            "entries out of order: position 3 holds entry 4, expected entry 3"
        );
    }

    #[test]
    fn an_altered_header_breaks_the_first_link() {
        let signer = signer();
        let mut record = sample_log().seal(&signer);
        record.header.call_id = "call-43".into();
        assert_eq!(
            verify(&record, &signer.verifying_key()),
            Err(VerifyError::HeaderAltered)
        );
        record.header.format = "switchyard-evidence/v0".into();
        assert!(matches!(
            verify(&record, &signer.verifying_key()),
            Err(VerifyError::UnknownFormat { .. })
        ));
    }

    #[test]
    fn a_swapped_signature_fails() {
        let signer = signer();
        let mut record = sample_log().seal(&signer);
        let mut other = sample_log();
        other.push(
            1,
            EvidenceItem::Ended {
                reason: "again".into(),
            },
        );
        record.seal.signature = other.seal(&signer).seal.signature;
        assert_eq!(
            verify(&record, &signer.verifying_key()),
            Err(VerifyError::BadSignature)
        );
        record.seal.signature = "zz".into();
        assert_eq!(
            verify(&record, &signer.verifying_key()),
            Err(VerifyError::MalformedSignature)
        );
    }

    #[test]
    fn a_different_key_is_named() {
        let (signer, other) = (signer(), self::signer());
        let record = sample_log().seal(&signer);
        let error = verify(&record, &other.verifying_key()).unwrap_err();
        assert_eq!(
            error,
            VerifyError::WrongKey {
                sealed_by: signer.key_id(),
                given: other.key_id()
            }
        );
        // Claiming the other key's id does not help: the signature fails.
        let mut forged = record.clone();
        forged.seal.key_id = other.key_id();
        assert_eq!(
            verify(&forged, &other.verifying_key()),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn from_json_refuses_fields_the_seal_does_not_cover() {
        let signer = signer();
        let record = sample_log().seal(&signer);
        let mut value = serde_json::to_value(&record).unwrap();
        value["entries"][2]["item"]["note"] = "caller sounded unsure".into();
        let error = EvidenceRecord::from_json(&value.to_string()).unwrap_err();
        assert_eq!(
            error,
            "/entries/2/item/note: not part of the evidence format (the hashes and seal do not cover it)"
        );
        assert!(EvidenceRecord::from_json("{").is_err());
    }

    #[test]
    fn keys_are_created_once_with_a_private_mode_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evidence.key");
        let created = EvidenceSigner::load_or_create(&path).unwrap();
        let loaded = EvidenceSigner::load_or_create(&path).unwrap();
        assert_eq!(created.public_key_hex(), loaded.public_key_hex());
        assert!(matches!(
            EvidenceSigner::create(&path),
            Err(KeyError::Exists { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let public = dir.path().join("evidence.pub");
        created.write_public_key(&public).unwrap();
        assert_eq!(read_public_key(&public).unwrap(), created.verifying_key());
        assert_eq!(created.key_id().len(), 16);
        // Debug never shows the secret.
        let secret = std::fs::read_to_string(&path).unwrap();
        let debug = format!("{created:?}");
        assert!(!debug.contains(secret.trim()), "{debug}");
        assert!(debug.contains(&created.key_id()));

        std::fs::write(&path, "not hex").unwrap();
        let error = EvidenceSigner::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("evidence.key: not an evidence secret key"),
            "{error}"
        );
    }
}
