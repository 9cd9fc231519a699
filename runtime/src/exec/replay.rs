//! Deterministic replay: re-run a call's inputs through the same flow
//! version and plugin digests and check that the same actions come out.

use std::sync::Arc;

use serde::Serialize;
use switchyard_sdk::protocol::Action;

use super::{CallSession, Entry, EventLog, FlowSet};

/// An action as logged, with the node that emitted it.
pub type NodeAction = (String, Action);

/// The outcome of a replay.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Actions in the original log.
    pub recorded: usize,
    /// Actions the replay produced.
    pub replayed: usize,
    /// Differences in flow or plugin versions between the log and the replay.
    pub version_mismatches: Vec<String>,
    /// The first action that differs: index, recorded, replayed.
    pub first_difference: Option<(usize, Option<NodeAction>, Option<NodeAction>)>,
    /// The replayed call's log.
    #[serde(skip)]
    pub log: EventLog,
}

impl ReplayReport {
    /// True when versions match and every action was reproduced.
    pub fn matches(&self) -> bool {
        self.version_mismatches.is_empty() && self.first_difference.is_none()
    }
}

/// Replays `log` on `flows`.
///
/// # Errors
/// When the log has no `started` entry.
pub fn replay(log: &EventLog, flows: Arc<FlowSet>) -> Result<ReplayReport, String> {
    let Some(Entry::Started {
        call,
        flow_digest,
        plugins,
        ..
    }) = log.entries().first().map(|e| &e.entry)
    else {
        return Err("the log does not begin with a `started` entry".into());
    };
    let mut version_mismatches = Vec::new();
    if flows.root().digest != *flow_digest {
        version_mismatches.push(format!(
            "flow digest differs: log has {flow_digest}, replay uses {}",
            flows.root().digest
        ));
    }
    let mut session = CallSession::new(flows.clone(), call.clone());
    session.start();
    if let Some(Entry::Started { plugins: now, .. }) =
        session.log().entries().first().map(|e| &e.entry)
    {
        for (plugin, digest) in plugins {
            match now.get(plugin) {
                Some(d) if d == digest => {}
                Some(d) => {
                    version_mismatches.push(format!("{plugin}: log has {digest}, replay uses {d}"))
                }
                None => version_mismatches.push(format!("{plugin}: not used by the replayed flow")),
            }
        }
    }
    for input in log.inputs() {
        session.deliver(input);
    }
    let recorded = log.actions();
    let replayed = session.log().actions();
    let first_difference = (0..recorded.len().max(replayed.len()))
        .find(|&i| recorded.get(i) != replayed.get(i))
        .map(|i| (i, recorded.get(i).cloned(), replayed.get(i).cloned()));
    Ok(ReplayReport {
        recorded: recorded.len(),
        replayed: replayed.len(),
        version_mismatches,
        first_difference,
        log: session.log().clone(),
    })
}
