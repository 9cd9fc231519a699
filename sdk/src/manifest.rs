//! The plugin manifest (`manifest.json`): what a plugin is, which outcomes it
//! can take, which actions it may emit, the JSON Schema of its config, and the
//! limits it runs under.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A plugin package's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Lowercase name used in flows: `use: "<name>@<major>"`.
    pub name: String,
    /// Semantic version; flows pin the major version.
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub kind: PluginKind,
    /// The module or script file, relative to the manifest.
    pub module: String,
    /// Outcomes the plugin can take besides `error`, which every plugin has.
    #[serde(default)]
    pub outcomes: Vec<String>,
    /// Outcomes that come from the node's config, as a JSON pointer into it.
    /// The value found is a list of strings or an object whose keys are
    /// outcomes; a `*` segment walks every item of an array
    /// (`/cases/*/outcome`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcomes_from_config: Option<String>,
    /// Whether a visit to this node waits for the caller (input or a timer)
    /// before it can take an outcome. A loop of nodes none of which wait is a
    /// validation error.
    #[serde(default)]
    pub waits_for_caller: bool,
    /// Whether the plugin reads the call's variables. Plugins that do not
    /// get `call.vars` empty: config strings are interpolated by the
    /// runtime, so most plugins never need them, and variables can hold
    /// personal data (transcripts, webhook answers) that a plugin should
    /// only see when it asks. It also keeps step inputs small.
    #[serde(default)]
    pub reads_vars: bool,
    /// Action kinds the plugin may emit; anything else is refused at run time.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Compliance roles claimed (only honoured for trusted plugins).
    #[serde(default)]
    pub roles: Vec<String>,
    /// JSON Schema (draft 2020-12) of the node's `with` block.
    #[serde(default = "empty_object_schema")]
    pub config_schema: Value,
    /// Per-step limits; unset ones take the host's defaults.
    #[serde(default)]
    pub limits: Limits,
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object"})
}

/// How the plugin is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    /// A core WebAssembly module implementing the ABI in `sdk/ABI.md`.
    Wasm,
    /// A Rhai script defining `fn step(input)`.
    Rhai,
}

/// Per-step limits a manifest may ask for. The host clamps each to its own
/// ceiling, so a manifest can lower limits but never raise them past it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_bytes: Option<u64>,
}

impl Manifest {
    /// The major version, the number flows write after `@`.
    pub fn major(&self) -> Option<u64> {
        self.version.split('.').next()?.parse().ok()
    }

    /// Every outcome this plugin can take with the given config, `error` included.
    pub fn outcomes_for(&self, config: &Value) -> Vec<String> {
        let mut outcomes = self.outcomes.clone();
        if let Some(pointer) = &self.outcomes_from_config {
            collect_outcomes(config, pointer.trim_start_matches('/'), &mut outcomes);
        }
        if !outcomes.iter().any(|o| o == "error") {
            outcomes.push("error".to_owned());
        }
        outcomes
    }
}

fn collect_outcomes(value: &Value, rest: &str, out: &mut Vec<String>) {
    if rest.is_empty() {
        match value {
            Value::Array(items) => {
                out.extend(items.iter().filter_map(|v| v.as_str().map(str::to_owned)))
            }
            Value::Object(map) => out.extend(map.keys().cloned()),
            Value::String(s) => out.push(s.clone()),
            _ => {}
        }
        return;
    }
    let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let head = head.replace("~1", "/").replace("~0", "~");
    match (head.as_str(), value) {
        ("*", Value::Array(items)) => items.iter().for_each(|v| collect_outcomes(v, tail, out)),
        (key, Value::Object(map)) => {
            if let Some(v) = map.get(key) {
                collect_outcomes(v, tail, out)
            }
        }
        (index, Value::Array(items)) => {
            if let Some(v) = index.parse::<usize>().ok().and_then(|i| items.get(i)) {
                collect_outcomes(v, tail, out)
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(pointer: &str) -> Manifest {
        serde_json::from_value(json!({
            "name": "x", "version": "1.0.0", "kind": "wasm", "module": "x.wasm",
            "outcomes": ["timeout"], "outcomes_from_config": pointer
        }))
        .unwrap()
    }

    #[test]
    fn outcomes_come_from_array_object_and_wildcard_pointers() {
        let m = manifest("/options");
        assert_eq!(
            m.outcomes_for(&json!({"options": ["1", "2"]})),
            ["timeout", "1", "2", "error"]
        );
        assert_eq!(
            m.outcomes_for(&json!({"options": {"1": ["sales"]}})),
            ["timeout", "1", "error"]
        );
        let m = manifest("/cases/*/outcome");
        let config = json!({"cases": [{"outcome": "vip"}, {"outcome": "new"}]});
        assert_eq!(m.outcomes_for(&config), ["timeout", "vip", "new", "error"]);
    }

    #[test]
    fn major_version_is_parsed() {
        assert_eq!(manifest("/o").major(), Some(1));
    }
}
