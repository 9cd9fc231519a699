//! The call's event log: every input, step and action, append-only.
//! It is what `switchyard replay` re-runs and what the compliance evidence
//! of later work reads.

use serde::{Deserialize, Serialize};
use switchyard_sdk::protocol::{Action, Vars};

use super::Input;
use crate::host::{LogLine, StepError};

/// How a call was set up: enough to start it again identically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallSetup {
    pub id: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// The call's locale; empty means the flow's.
    #[serde(default)]
    pub locale: String,
    #[serde(default)]
    pub jurisdiction: Vec<String>,
    /// Compliance templates the tenant enabled, on top of the flow's own
    /// `compliance` list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<String>,
    /// Variables given to the call on top of the flow's own.
    #[serde(default)]
    pub vars: Vars,
    /// When the call started, epoch milliseconds.
    pub start_ms: i64,
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    /// The first entry: the call, the flow version and the plugin digests.
    Started {
        call: CallSetup,
        flow: String,
        flow_digest: String,
        /// Where the flow came from (a file path or a stored version), for replay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        flow_source: Option<String>,
        plugins: std::collections::BTreeMap<String, String>,
    },
    /// Something from outside: the caller, the clock, or a provider's answer.
    Input { input: Input },
    /// The call arrived at a node.
    Enter { flow: String, node: String },
    /// A plugin step ran.
    Step {
        flow: String,
        node: String,
        event: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        logs: Vec<LogLine>,
    },
    /// A step failed; the node takes `error`.
    PluginError { node: String, error: StepError },
    /// An action the runtime carried out.
    Action { node: String, action: Action },
    /// A timer fired.
    Timer { node: String },
    /// Input that arrived while nothing waited for it.
    Ignored { reason: String },
    /// The node's `error` had no edge and the flow's `on_error` took over, or
    /// there was none and the call ends with an apology.
    Fallback { node: String, to: Option<String> },
    /// Variables changed.
    Vars { vars: Vars },
    /// The call ended.
    Ended { reason: String },
}

/// One log line: a sequence number, the virtual time and the entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: u64,
    pub at_ms: i64,
    #[serde(flatten)]
    pub entry: Entry,
}

/// An append-only event log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventLog {
    entries: Vec<LogEntry>,
}

impl EventLog {
    /// Appends an entry.
    pub fn push(&mut self, at_ms: i64, entry: Entry) {
        let seq = self.entries.len() as u64;
        self.entries.push(LogEntry { seq, at_ms, entry });
    }

    /// Every entry, in order.
    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }

    /// The log as JSON lines.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for entry in &self.entries {
            out.push_str(&serde_json::to_string(entry).unwrap_or_default());
            out.push('\n');
        }
        out
    }

    /// Reads a log written by [`EventLog::to_jsonl`].
    ///
    /// # Errors
    /// The line number and reason of the first line that does not parse.
    pub fn from_jsonl(text: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let entry: LogEntry =
                serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
            entries.push(entry);
        }
        Ok(EventLog { entries })
    }

    /// The actions carried out, in order, with their nodes.
    pub fn actions(&self) -> Vec<(String, Action)> {
        self.entries
            .iter()
            .filter_map(|e| match &e.entry {
                Entry::Action { node, action } => Some((node.clone(), action.clone())),
                _ => None,
            })
            .collect()
    }

    /// The outside inputs, in order, with their times.
    pub fn inputs(&self) -> Vec<Input> {
        self.entries
            .iter()
            .filter_map(|e| match &e.entry {
                Entry::Input { input } => Some(input.clone()),
                _ => None,
            })
            .collect()
    }

    /// How the call ended, if it has.
    pub fn ended(&self) -> Option<&str> {
        self.entries.iter().rev().find_map(|e| match &e.entry {
            Entry::Ended { reason } => Some(reason.as_str()),
            _ => None,
        })
    }

    /// The plugin errors, with their nodes.
    pub fn plugin_errors(&self) -> Vec<(String, StepError)> {
        self.entries
            .iter()
            .filter_map(|e| match &e.entry {
                Entry::PluginError { node, error } => Some((node.clone(), error.clone())),
                _ => None,
            })
            .collect()
    }
}
