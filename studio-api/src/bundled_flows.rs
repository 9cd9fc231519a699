//! Example flows compiled into the binary, so `switchyard call receptionist`
//! works from a fresh clone without a path.

use switchyard_runtime::flow::FlowSource;

/// `(name, document)` of every bundled flow.
pub const BUNDLED_FLOWS: &[(&str, &str)] = &[
    (
        "receptionist",
        include_str!("../../flows/examples/receptionist.json"),
    ),
    (
        "missed-call",
        include_str!("../../flows/examples/missed-call.json"),
    ),
    (
        "appointments",
        include_str!("../../flows/examples/appointments.json"),
    ),
    (
        "voicemail-box",
        include_str!("../../flows/examples/voicemail-box.json"),
    ),
];

/// The document of a bundled flow.
pub fn get(name: &str) -> Option<&'static str> {
    BUNDLED_FLOWS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, doc)| *doc)
}

/// Bundled flows as a [`FlowSource`], for sub-flow lookups.
#[derive(Debug, Clone, Copy, Default)]
pub struct BundledFlows;

impl FlowSource for BundledFlows {
    fn source(&self, name: &str) -> Option<String> {
        get(name).map(str::to_owned)
    }
}

/// Looks in `first`, then in the bundled flows.
#[derive(Debug)]
pub struct WithBundled<S>(pub S);

impl<S: FlowSource> FlowSource for WithBundled<S> {
    fn source(&self, name: &str) -> Option<String> {
        self.0.source(name).or_else(|| BundledFlows.source(name))
    }
}
