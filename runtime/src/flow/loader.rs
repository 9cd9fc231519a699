//! Loading a flow with the sub-flows it uses, by name, from a
//! [`FlowSource`]: files beside each other on disk for the CLI and
//! conversation tests, stored versions for the API.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::{CompiledFlow, Problem, compile};
use crate::exec::FlowSet;
use crate::host::PluginRegistry;

/// Where flow documents come from, by flow name.
pub trait FlowSource {
    /// The document of the flow called `name`, if there is one.
    fn source(&self, name: &str) -> Option<String>;
}

/// Flows stored as `NAME.json` files in one directory.
#[derive(Debug, Clone)]
pub struct DirFlowSource {
    pub dir: PathBuf,
}

impl FlowSource for DirFlowSource {
    fn source(&self, name: &str) -> Option<String> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid
            .then(|| std::fs::read_to_string(self.dir.join(format!("{name}.json"))).ok())
            .flatten()
    }
}

/// Problems of one flow in a set.
#[derive(Debug, Clone)]
pub struct FlowProblems {
    /// The flow's name, or `(root)` for the document given directly.
    pub flow: String,
    pub problems: Vec<Problem>,
}

/// The outcomes a flow in `source` returns with, for sub-flow validation.
pub fn returns_of(source: &dyn FlowSource, name: &str) -> Option<Vec<String>> {
    let text = source.source(name)?;
    let value: Value = serde_json::from_str(&text).ok()?;
    Some(
        value
            .get("returns")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// Compiles a root document and every sub-flow it names.
///
/// # Errors
/// The problems of each flow that failed to compile.
pub fn load_flow_set(
    root: &str,
    source: &dyn FlowSource,
    registry: &PluginRegistry,
) -> Result<FlowSet, Vec<FlowProblems>> {
    let resolver = |name: &str| returns_of(source, name);
    let mut failures = Vec::new();
    let root = match compile(root, registry, Some(&resolver)) {
        Ok(flow) => Arc::new(flow),
        Err(problems) => {
            return Err(vec![FlowProblems {
                flow: "(root)".into(),
                problems,
            }]);
        }
    };
    let mut done: BTreeMap<String, Arc<CompiledFlow>> = BTreeMap::new();
    let mut todo: Vec<String> = subflows_of(&root).into_iter().collect();
    let mut seen: BTreeSet<String> = BTreeSet::from([root.flow.name.clone()]);
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(text) = source.source(&name) else {
            continue;
        };
        match compile(&text, registry, Some(&resolver)) {
            Ok(flow) => {
                todo.extend(subflows_of(&flow));
                done.insert(name, Arc::new(flow));
            }
            Err(problems) => failures.push(FlowProblems {
                flow: name,
                problems,
            }),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    Ok(FlowSet::new(root, done.into_values()))
}

fn subflows_of(flow: &CompiledFlow) -> BTreeSet<String> {
    flow.flow
        .nodes
        .iter()
        .filter(|(id, _)| {
            flow.plugin(id)
                .is_some_and(|p| p.manifest().name == "subflow")
        })
        .filter_map(|(_, node)| {
            node.config
                .get("flow")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}
