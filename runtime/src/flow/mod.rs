//! The flow model: the `switchyard/v1` document ([`Flow`]), `{{var}}`
//! interpolation, validation that reports every problem at once
//! ([`validate`]) with the compliance proofs ([`prove`]), and the
//! compiled, executable form ([`CompiledFlow`]).

mod document;
mod graph;
mod interpolate;
mod loader;
mod proofs;
mod validate;

pub use document::{Budget, Flow, Node, Target};
pub use graph::FlowGraph;
pub use interpolate::{interpolate, lookup_var};
pub use loader::{DirFlowSource, FlowProblems, FlowSource, load_flow_set, returns_of};
pub use proofs::{prove, step_name};
pub(crate) use validate::shorten;
pub use validate::{FlowResolver, Problem, compile, validate, validate_source};

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::host::Plugin;

/// A validated flow bound to loaded plugins, ready to run.
#[derive(Debug)]
pub struct CompiledFlow {
    pub flow: Flow,
    /// `sha256:<hex>` of the document as parsed (canonical JSON).
    pub digest: String,
    pub plugins: BTreeMap<String, Arc<Plugin>>,
}

impl CompiledFlow {
    /// The plugin running `node`.
    pub fn plugin(&self, node: &str) -> Option<&Arc<Plugin>> {
        self.plugins.get(node)
    }
}
