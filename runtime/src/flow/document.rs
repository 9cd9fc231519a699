//! The `switchyard/v1` flow document, as parsed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_sdk::protocol::Vars;

/// A flow document. The JSON Schema is `flows/schema/switchyard-v1.schema.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    pub flow: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default = "default_locale")]
    pub locale: String,
    #[serde(default)]
    pub compliance: Vec<String>,
    pub entry: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
    #[serde(default)]
    pub vars: Vars,
    #[serde(default)]
    pub returns: Vec<String>,
    #[serde(default)]
    pub budget: Budget,
    pub nodes: BTreeMap<String, Node>,
}

fn default_locale() -> String {
    "en-US".to_owned()
}

/// One node: a plugin, its config and its outgoing edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    #[serde(rename = "use")]
    pub uses: String,
    #[serde(default = "empty_object", rename = "with")]
    pub config: Value,
    #[serde(default)]
    pub on: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// Per-call limits that end a runaway call with a clear reason. Loops that
/// wait for the caller are legal, so these are what stop a caller (or a
/// bug) from holding a call forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    #[serde(default = "default_visits")]
    pub max_node_visits: u32,
    #[serde(default = "default_duration")]
    pub max_duration_ms: u64,
    #[serde(default = "default_steps")]
    pub max_steps: u32,
}

fn default_visits() -> u32 {
    200
}
fn default_duration() -> u64 {
    2 * 60 * 60 * 1000
}
fn default_steps() -> u32 {
    2_000
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_node_visits: default_visits(),
            max_duration_ms: default_duration(),
            max_steps: default_steps(),
        }
    }
}

/// Where an edge leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// Another node of the same flow.
    Node(&'a str),
    /// Return from this (sub-)flow with an outcome.
    Return(&'a str),
}

impl<'a> Target<'a> {
    /// Reads an edge target: `return:NAME` or a node id.
    pub fn parse(target: &'a str) -> Self {
        match target.strip_prefix("return:") {
            Some(outcome) => Target::Return(outcome),
            None => Target::Node(target),
        }
    }
}
