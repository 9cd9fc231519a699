//! Flow validation: every problem at once, each at its JSON pointer.
//!
//! Parsing never stops at the first problem (errors are data): the document
//! is checked against the flow JSON Schema, then each node against its
//! plugin, then the graph as a whole.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::proofs::prove;
use super::{CompiledFlow, Flow, FlowGraph, Target};
use crate::host::{Plugin, PluginRegistry, registry_parse_use};
use crate::policy::template::{Template, bundled_templates};

/// One problem with a flow, at a JSON pointer into the document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Problem {
    pub pointer: String,
    pub code: String,
    pub message: String,
    /// A counterexample path through the graph, for graph-wide rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<String>>,
}

impl Problem {
    /// A problem without a path.
    pub fn new(pointer: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Problem {
            pointer: pointer.into(),
            code: code.into(),
            message: message.into(),
            path: None,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {} [{}]", self.message, self.code)?;
        if let Some(path) = &self.path {
            write!(f, " (path: {})", path.join(" → "))?;
        }
        Ok(())
    }
}

/// Tells validation which other flows exist: given a flow name, the
/// outcomes it returns with, or `None` when there is no such flow.
pub type FlowResolver<'a> = &'a dyn Fn(&str) -> Option<Vec<String>>;

static FLOW_SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(include_str!(
        "../../../flows/schema/switchyard-v1.schema.json"
    ))
    .expect("the bundled flow schema is valid JSON");
    jsonschema::validator_for(&schema).expect("the bundled flow schema compiles")
});

/// Escapes one JSON pointer segment (RFC 6901).
pub(super) fn segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Caps a message at 240 bytes, so a schema error quoting a large value stays readable.
pub(crate) fn shorten(mut message: String) -> String {
    if message.len() > 240 {
        let mut cut = 240;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}

/// Parses and validates a flow document. Returns the flow when it parsed
/// far enough to be typed, and every problem found.
pub fn validate_source(
    source: &str,
    registry: &PluginRegistry,
    resolver: Option<FlowResolver<'_>>,
) -> (Option<Flow>, Vec<Problem>) {
    let value: Value = match serde_json::from_str(source) {
        Ok(value) => value,
        Err(e) => {
            let problem = Problem::new(
                "",
                "json-syntax",
                format!(
                    "not valid JSON: {} at line {}, column {}",
                    strip_position(&e.to_string()),
                    e.line(),
                    e.column()
                ),
            );
            return (None, vec![problem]);
        }
    };
    let mut problems: Vec<Problem> = FLOW_SCHEMA
        .iter_errors(&value)
        .map(|e| {
            Problem::new(
                e.instance_path().to_string(),
                "flow-schema",
                shorten(e.to_string()),
            )
        })
        .collect();
    let flow: Flow = match serde_json::from_value(value) {
        Ok(flow) => flow,
        Err(e) => {
            if problems.is_empty() {
                problems.push(Problem::new("", "flow-schema", e.to_string()));
            }
            problems.sort();
            return (None, problems);
        }
    };
    problems.extend(validate(&flow, registry, resolver));
    problems.sort();
    problems.dedup();
    (Some(flow), problems)
}

fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

/// Checks a parsed flow against its plugins and as a graph.
pub fn validate(
    flow: &Flow,
    registry: &PluginRegistry,
    resolver: Option<FlowResolver<'_>>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let node_exists = |id: &str| flow.nodes.contains_key(id);

    if !node_exists(&flow.entry) {
        problems.push(Problem::new(
            "/entry",
            "entry-missing",
            format!(
                "entry node \"{}\" does not exist{}",
                flow.entry,
                suggest(&flow.entry, flow.nodes.keys())
            ),
        ));
    }
    if let Some(on_error) = &flow.on_error
        && !node_exists(on_error)
    {
        problems.push(Problem::new(
            "/on_error",
            "unknown-node",
            format!(
                "unknown node \"{on_error}\"{}",
                suggest(on_error, flow.nodes.keys())
            ),
        ));
    }

    let mut waits: BTreeMap<&str, bool> = BTreeMap::new();
    for (id, node) in &flow.nodes {
        let base = format!("/nodes/{}", segment(id));
        let outcomes = check_node(flow, id, node, registry, resolver, &base, &mut problems);
        if let Some((waits_for_caller, _)) = &outcomes {
            waits.insert(id, *waits_for_caller);
        }
        for (outcome, target) in &node.on {
            let pointer = format!("{base}/on/{}", segment(outcome));
            match Target::parse(target) {
                Target::Node(to) if !node_exists(to) => problems.push(Problem::new(
                    pointer.clone(),
                    "unknown-node",
                    format!("unknown node \"{to}\"{}", suggest(to, flow.nodes.keys())),
                )),
                Target::Return(name) if !flow.returns.iter().any(|r| r == name) => problems.push(Problem::new(
                    pointer.clone(),
                    "unknown-return",
                    format!(
                        "returns with \"{name}\", which is not listed in the flow's `returns` ({})",
                        list_or_none(&flow.returns)
                    ),
                )),
                _ => {}
            }
            if let Some((_, declared)) = &outcomes
                && !declared.contains(outcome)
            {
                problems.push(Problem::new(
                    pointer,
                    "undeclared-outcome",
                    format!(
                        "{} has no outcome \"{outcome}\" (it declares: {})",
                        node.uses,
                        declared.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        if let Some((_, declared)) = &outcomes {
            let has_fallback = node.on.contains_key("error") || flow.on_error.is_some();
            for outcome in declared
                .iter()
                .filter(|o| *o != "error" && !node.on.contains_key(*o))
            {
                if !has_fallback {
                    problems.push(Problem::new(
                        format!("{base}/on"),
                        "missing-outcome",
                        format!(
                            "outcome \"{outcome}\" of {} has no edge, and neither an `error` edge nor the flow's `on_error` catches it",
                            node.uses
                        ),
                    ));
                }
            }
        }
    }

    let graph = FlowGraph::build(flow);
    let mut roots = vec![flow.entry.as_str()];
    if let Some(on_error) = &flow.on_error {
        roots.push(on_error);
    }
    let reachable: BTreeSet<String> = graph.reachable(&roots).into_iter().collect();
    if node_exists(&flow.entry) {
        for id in flow.nodes.keys().filter(|id| !reachable.contains(*id)) {
            problems.push(Problem::new(
                format!("/nodes/{}", segment(id)),
                "unreachable",
                format!(
                    "node \"{id}\" cannot be reached from the entry \"{}\"",
                    flow.entry
                ),
            ));
        }
    }
    // Nodes whose plugin is unknown count as waiting, so one unknown plugin
    // does not also produce a loop report.
    for cycle in graph.loops_without_wait(|id| waits.get(id).copied().unwrap_or(true)) {
        let mut problem = Problem::new(
            format!("/nodes/{}", segment(&cycle[0])),
            "loop-without-wait",
            format!(
                "{} loop forever without waiting for the caller; put a node that waits (menu, gather, ...) in the loop",
                cycle.join(" → ")
            ),
        );
        problem.path = Some(cycle);
        problems.push(problem);
    }
    // Compliance proofs over the listed templates. `prove` walks the graph
    // only when the entry exists and every node's plugin is known; the
    // problems that stop it are reported above.
    if !flow.compliance.is_empty() {
        let plugins: BTreeMap<String, Arc<Plugin>> = flow
            .nodes
            .iter()
            .filter_map(|(id, node)| {
                let (name, major) = registry_parse_use(&node.uses)?;
                Some((id.clone(), Arc::clone(registry.get(name, major)?)))
            })
            .collect();
        let catalog: Vec<&Template> = bundled_templates().iter().collect();
        problems.extend(prove(flow, &plugins, &catalog));
    }
    problems
}

/// Checks one node against its plugin. Returns whether it waits for the
/// caller and its declared outcomes, when the plugin is known.
fn check_node(
    flow: &Flow,
    id: &str,
    node: &super::Node,
    registry: &PluginRegistry,
    resolver: Option<FlowResolver<'_>>,
    base: &str,
    problems: &mut Vec<Problem>,
) -> Option<(bool, BTreeSet<String>)> {
    let _ = (flow, id);
    // A malformed `use` is already reported by the flow schema's pattern.
    let (name, major) = registry_parse_use(&node.uses)?;
    let Some(plugin) = registry.get(name, major) else {
        let majors = registry.majors(name);
        let (code, message) = if majors.is_empty() {
            let names: BTreeSet<String> =
                registry.iter().map(|p| p.manifest().name.clone()).collect();
            (
                "unknown-plugin",
                format!("unknown plugin \"{name}\"{}", suggest(name, names.iter())),
            )
        } else {
            (
                "unknown-plugin-version",
                format!(
                    "plugin \"{name}\" has no major version {major} (available: {})",
                    majors
                        .iter()
                        .map(|m| format!("{name}@{m}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        };
        problems.push(Problem::new(format!("{base}/use"), code, message));
        return None;
    };
    for error in plugin.config_schema().iter_errors(&node.config) {
        problems.push(Problem::new(
            format!("{base}/with{}", error.instance_path()),
            "config-schema",
            shorten(error.to_string()),
        ));
    }
    if plugin.manifest().name == "subflow"
        && let (Some(resolver), Some(child)) =
            (resolver, node.config.get("flow").and_then(Value::as_str))
    {
        match resolver(child) {
            None => problems.push(Problem::new(
                format!("{base}/with/flow"),
                "unknown-flow",
                format!("no flow named \"{child}\""),
            )),
            Some(returns) => {
                let wanted = node
                    .config
                    .get("outcomes")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for (i, outcome) in wanted.iter().enumerate() {
                    let outcome = outcome.as_str().unwrap_or_default();
                    if !returns.iter().any(|r| r == outcome) {
                        problems.push(Problem::new(
                            format!("{base}/with/outcomes/{i}"),
                            "unknown-return",
                            format!(
                                "flow \"{child}\" never returns \"{outcome}\" (it returns: {})",
                                list_or_none(&returns)
                            ),
                        ));
                    }
                }
            }
        }
    }
    let outcomes = plugin
        .manifest()
        .outcomes_for(&node.config)
        .into_iter()
        .collect();
    Some((plugin.manifest().waits_for_caller, outcomes))
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// ", did you mean \"x\"?" for a close match (edit distance ≤ 2).
pub(super) fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a String>) -> String {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| format!(", did you mean \"{c}\"?"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// Validates and binds a flow to its plugins.
///
/// # Errors
/// Every problem found, when there is any.
pub fn compile(
    source: &str,
    registry: &PluginRegistry,
    resolver: Option<FlowResolver<'_>>,
) -> Result<CompiledFlow, Vec<Problem>> {
    let (flow, problems) = validate_source(source, registry, resolver);
    let flow = match flow {
        Some(flow) if problems.is_empty() => flow,
        _ => return Err(problems),
    };
    let mut plugins = BTreeMap::new();
    for (id, node) in &flow.nodes {
        let (name, major) = registry_parse_use(&node.uses).expect("validated");
        plugins.insert(
            id.clone(),
            Arc::clone(registry.get(name, major).expect("validated")),
        );
    }
    let canonical = serde_json::to_vec(&flow).unwrap_or_default();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&canonical)));
    Ok(CompiledFlow {
        flow,
        digest,
        plugins,
    })
}
