//! Publish-time compliance proofs: the first of the three times a
//! compliance template is enforced (see the brief's compliance model).
//!
//! A flow lists template ids in `compliance`. Each template's `ordering`
//! rules say that one step must come before another on every path through
//! a call: `recording-consent` before `record`, `ai-disclosure` before
//! `llm`. [`prove`] checks every rule on the graph and reports each node
//! that breaks one, with the shortest path from the entry that reaches it
//! (breadth-first search over node × "has the first step been passed?").
//!
//! What a node *does* comes from its plugin's manifest:
//! - a role step (`notice`, `recording-disclosure`, `recording-consent`,
//!   `ai-disclosure`, `caller-identification`, `secure-capture`) when the
//!   plugin claims that role **and is trusted**; a role claimed by an
//!   untrusted plugin counts for nothing (and is reported as
//!   `untrusted-role`);
//! - `record` when the manifest's `actions` has `record` and the node's
//!   config is not `{"op": "stop"}`;
//! - `llm` when the manifest's `actions` has `llm`.
//!
//! A node is *passed* when the call leaves it by any outcome but `error`,
//! except that a `recording-consent` node is passed only by `granted`, or
//! also by `timeout` when every listed template that orders
//! recording-consent accepts staying on the line as consent. A node
//! without an `error` edge fails over to the flow's `on_error` node, so
//! that edge is walked too.
//!
//! Sub-flows: validation knows a sub-flow's name and returns, not its
//! graph, so a `subflow` node is taken to do nothing and to pass nothing. A
//! consent given inside a sub-flow therefore does not count in the parent
//! (the proof errs on the side of reporting), while what a sub-flow itself
//! does (record, llm) is proved when the sub-flow lists the templates too.
//!
//! When a listed template has a `secure_capture` section (PCI DSS), two
//! more rules hold: a plugin that can open a secure-capture window must be
//! trusted, claim the `secure-capture` role and declare none of `llm`,
//! `record`, `http`, `transfer` (`secure-capture-sink`); and no path
//! reaches a secure-capture node while a recording started on it is still
//! running (`record-across-secure-capture`).
//!
//! Finally every listed id must name a known template (`unknown-template`),
//! and the `{{var}}`s in the wording of the disclosures the flow's nodes
//! speak must be defined in the flow's `vars` (`disclosure-var-missing`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use super::validate::{segment, suggest};
use super::{Flow, Node, Problem, Target, lookup_var};
use crate::host::Plugin;
use crate::policy::template::{ConsentMethod, DisclosureKind, Step, Template};

/// Every step an ordering rule can name.
const STEPS: [Step; 8] = [
    Step::Notice,
    Step::RecordingDisclosure,
    Step::RecordingConsent,
    Step::AiDisclosure,
    Step::CallerIdentification,
    Step::SecureCapture,
    Step::Record,
    Step::Llm,
];

/// Actions a plugin that opens secure-capture windows must not declare:
/// each could carry the sealed result somewhere it must never go.
const SECURE_CAPTURE_FORBIDDEN: [&str; 4] = ["llm", "record", "http", "transfer"];

/// A step's name as templates write it (`recording-consent`).
pub fn step_name(step: Step) -> &'static str {
    match step {
        Step::Notice => "notice",
        Step::RecordingDisclosure => "recording-disclosure",
        Step::RecordingConsent => "recording-consent",
        Step::AiDisclosure => "ai-disclosure",
        Step::CallerIdentification => "caller-identification",
        Step::SecureCapture => "secure-capture",
        Step::Record => "record",
        Step::Llm => "llm",
    }
}

/// The step a manifest role stands for, if it is one of the role steps.
fn role_step(role: &str) -> Option<Step> {
    STEPS
        .into_iter()
        .filter(|s| !matches!(s, Step::Record | Step::Llm))
        .find(|s| step_name(*s) == role)
}

/// The disclosure a node claiming `role` speaks.
fn role_disclosure(role: &str) -> Option<DisclosureKind> {
    match role {
        "notice" => Some(DisclosureKind::Notice),
        "recording-disclosure" => Some(DisclosureKind::Recording),
        "ai-disclosure" => Some(DisclosureKind::Ai),
        "secure-capture" => Some(DisclosureKind::SecureCapture),
        _ => None,
    }
}

fn bit(step: Step) -> u8 {
    1 << (step as u8)
}

/// What one node does, as far as the proofs are concerned.
#[derive(Debug, Clone, Copy, Default)]
struct Facts {
    /// Steps done, one bit per [`Step`].
    does: u8,
    /// Starts (or may start) a recording.
    record_start: bool,
    /// A record node with `op: stop`.
    record_stop: bool,
    /// Opens a secure-capture window (emits `secure_capture` or holds the role).
    secure_capture: bool,
    /// A `subflow` node, whose inside the proof does not see.
    subflow: bool,
}

impl Facts {
    fn of(node: &Node, plugin: &Plugin) -> Facts {
        let manifest = plugin.manifest();
        let declares = |action: &str| manifest.actions.iter().any(|a| a == action);
        let mut does = 0;
        if plugin.trusted() {
            for step in manifest.roles.iter().filter_map(|r| role_step(r)) {
                does |= bit(step);
            }
        }
        let stop = node.config.get("op").and_then(Value::as_str) == Some("stop");
        let record_start = declares("record") && !stop;
        if record_start {
            does |= bit(Step::Record);
        }
        if declares("llm") {
            does |= bit(Step::Llm);
        }
        Facts {
            does,
            record_start,
            record_stop: declares("record") && stop,
            secure_capture: declares("secure_capture") || does & bit(Step::SecureCapture) != 0,
            subflow: manifest.name == "subflow",
        }
    }

    fn does(&self, step: Step) -> bool {
        self.does & bit(step) != 0
    }
}

/// The flow's nodes by position (sorted by id) and their outgoing edges,
/// with the `error` fallback to `on_error` made explicit.
struct Graph<'a> {
    ids: Vec<&'a str>,
    /// Per node: (outcome, target) sorted by outcome.
    edges: Vec<Vec<(&'a str, u32)>>,
}

impl<'a> Graph<'a> {
    fn build(flow: &'a Flow) -> Graph<'a> {
        let ids: Vec<&str> = flow.nodes.keys().map(String::as_str).collect();
        let find = |id: &str| ids.binary_search(&id).ok().map(|i| i as u32);
        let on_error = flow.on_error.as_deref().and_then(find);
        let edges = flow
            .nodes
            .values()
            .map(|node| {
                let mut out: Vec<(&str, u32)> = node
                    .on
                    .iter()
                    .filter_map(|(outcome, target)| match Target::parse(target) {
                        Target::Node(to) => find(to).map(|to| (outcome.as_str(), to)),
                        Target::Return(_) => None,
                    })
                    .collect();
                if !node.on.contains_key("error")
                    && let Some(fallback) = on_error
                {
                    out.push(("error", fallback));
                    out.sort_by(|a, b| a.0.cmp(b.0));
                }
                out
            })
            .collect();
        Graph { ids, edges }
    }

    fn index(&self, id: &str) -> Option<u32> {
        self.ids.binary_search(&id).ok().map(|i| i as u32)
    }
}

/// A path from the entry: nodes, and the outcome taken after each but the last.
struct Trace<'a> {
    nodes: Vec<u32>,
    outcomes: Vec<&'a str>,
}

impl Trace<'_> {
    fn ids(&self, g: &Graph<'_>) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| g.ids[*n as usize].to_owned())
            .collect()
    }

    /// `welcome -[done]-> menu -[1]-> agent`.
    fn render(&self, g: &Graph<'_>) -> String {
        let mut out = String::from(g.ids[self.nodes[0] as usize]);
        for (outcome, node) in self.outcomes.iter().zip(&self.nodes[1..]) {
            out.push_str(&format!(" -[{outcome}]-> {}", g.ids[*node as usize]));
        }
        out
    }
}

/// Breadth-first search over (node, flag) from (entry, false). `next` gives
/// the flag after leaving a node by an outcome; `bad` says whether being at
/// a node with a flag breaks the rule. Returns each node that is bad in some
/// reachable state with a shortest path to it, in order of path length.
fn search<'a>(
    g: &Graph<'a>,
    entry: u32,
    next: impl Fn(u32, &str, bool) -> bool,
    bad: impl Fn(u32, bool) -> bool,
) -> Vec<(u32, Trace<'a>)> {
    const NONE: u32 = u32::MAX;
    let state = |node: u32, flag: bool| (node as usize) * 2 + usize::from(flag);
    let n = g.ids.len();
    let mut parent = vec![NONE; n * 2];
    let mut via: Vec<&str> = vec![""; n * 2];
    let mut seen = vec![false; n * 2];
    let mut reported = vec![false; n];
    let mut found = Vec::new();
    let mut queue = VecDeque::from([(entry, false)]);
    seen[state(entry, false)] = true;
    while let Some((node, flag)) = queue.pop_front() {
        if !reported[node as usize] && bad(node, flag) {
            reported[node as usize] = true;
            let mut nodes = vec![node];
            let mut outcomes = vec![];
            let mut at = state(node, flag);
            while parent[at] != NONE {
                outcomes.push(via[at]);
                at = parent[at] as usize;
                nodes.push((at / 2) as u32);
            }
            nodes.reverse();
            outcomes.reverse();
            found.push((node, Trace { nodes, outcomes }));
        }
        for &(outcome, to) in &g.edges[node as usize] {
            let to_flag = next(node, outcome, flag);
            let s = state(to, to_flag);
            if !seen[s] {
                seen[s] = true;
                parent[s] = state(node, flag) as u32;
                via[s] = outcome;
                queue.push_back((to, to_flag));
            }
        }
    }
    found
}

/// `a, b and c`.
fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    joined(items, "and")
}

/// `a, b or c`.
fn or_list<S: AsRef<str>>(items: &[S]) -> String {
    joined(items, "or")
}

fn joined<S: AsRef<str>>(items: &[S], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [rest @ .., last] => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} {word} {}", rest.join(", "), last.as_ref())
        }
    }
}

/// `us-ai-voice: rule; eu-gdpr-ai-act: rule`.
fn cite(citations: &[(&str, &str)]) -> String {
    citations
        .iter()
        .map(|(id, rule)| format!("{id}: {rule}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A note when a counterexample path runs through sub-flow nodes, whose
/// inside the proof does not see.
fn subflow_note(g: &Graph<'_>, facts: &[Facts], trace: &Trace<'_>) -> String {
    let inner: Vec<String> = trace.nodes[..trace.nodes.len() - 1]
        .iter()
        .filter(|n| facts[**n as usize].subflow)
        .map(|n| format!("\"{}\"", g.ids[*n as usize]))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if inner.is_empty() {
        String::new()
    } else {
        format!(
            " (what happens inside sub-flow node{} {} is not counted)",
            if inner.len() == 1 { "" } else { "s" },
            inner.join(", ")
        )
    }
}

fn path_text(g: &Graph<'_>, trace: &Trace<'_>) -> String {
    if trace.nodes.len() == 1 {
        "it is the entry node".to_owned()
    } else {
        trace.render(g)
    }
}

/// Proves the compliance rules of the templates `flow` lists, taking the
/// templates from `catalog` (the bundled ones, or a tenant's). `plugins`
/// maps node ids to their plugins; nodes missing from it (unknown plugins)
/// and a missing entry node make the graph proofs stand down, because
/// validation already reports those and a proof over an unknown node would
/// only guess. Returns no problems when the flow lists no templates.
pub fn prove(
    flow: &Flow,
    plugins: &BTreeMap<String, Arc<Plugin>>,
    catalog: &[&Template],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if flow.compliance.is_empty() {
        return problems;
    }
    let mut templates: Vec<&Template> = Vec::new();
    for (i, id) in flow.compliance.iter().enumerate() {
        match catalog.iter().find(|t| t.id == *id) {
            Some(t) => templates.push(t),
            None => {
                let ids: Vec<String> = catalog.iter().map(|t| t.id.clone()).collect();
                let hint = match suggest(id, ids.iter()) {
                    s if s.is_empty() => format!(" (known: {})", ids.join(", ")),
                    s => s,
                };
                problems.push(Problem::new(
                    format!("/compliance/{i}"),
                    "unknown-template",
                    format!("unknown compliance template \"{id}\"{hint}"),
                ));
            }
        }
    }
    check_roles(flow, plugins, &mut problems);
    if templates.is_empty() {
        return problems;
    }

    let graph = Graph::build(flow);
    let facts: Vec<Option<Facts>> = flow
        .nodes
        .iter()
        .map(|(id, node)| plugins.get(id).map(|p| Facts::of(node, p)))
        .collect();

    check_disclosure_vars(flow, plugins, &templates, &mut problems);
    let pci: Vec<(&str, &str)> = templates
        .iter()
        .filter_map(|t| Some((t.id.as_str(), t.secure_capture.as_ref()?.rule.as_str())))
        .collect();
    if !pci.is_empty() {
        check_secure_capture_sinks(flow, plugins, &pci, &mut problems);
    }

    let entry = graph.index(&flow.entry);
    let facts: Option<Vec<Facts>> = facts.into_iter().collect();
    let (Some(entry), Some(facts)) = (entry, facts) else {
        return problems;
    };
    prove_ordering(&graph, entry, &facts, &templates, &mut problems);
    if !pci.is_empty() {
        prove_no_recording_at_capture(&graph, entry, &facts, &pci, &mut problems);
    }
    problems
}

/// `untrusted-role`: roles claimed by untrusted plugins count for nothing.
fn check_roles(flow: &Flow, plugins: &BTreeMap<String, Arc<Plugin>>, problems: &mut Vec<Problem>) {
    for (id, node) in &flow.nodes {
        let Some(plugin) = plugins.get(id) else {
            continue;
        };
        let roles = &plugin.manifest().roles;
        if plugin.trusted() || roles.is_empty() {
            continue;
        }
        problems.push(Problem::new(
            format!("/nodes/{}/use", segment(id)),
            "untrusted-role",
            format!(
                "{} claims the compliance role{} {}, but it is not a trusted (bundled or operator-installed) plugin, so the compliance proofs ignore {}",
                node.uses,
                if roles.len() == 1 { "" } else { "s" },
                roles.join(", "),
                if roles.len() == 1 { "it" } else { "them" },
            ),
        ));
    }
}

/// The `{{var}}` names in a text.
fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            break;
        };
        out.push(after[..close].trim());
        rest = &after[close + 2..];
    }
    out
}

/// `disclosure-var-missing`: the wording of a disclosure that some node
/// speaks uses a variable the flow does not define.
fn check_disclosure_vars(
    flow: &Flow,
    plugins: &BTreeMap<String, Arc<Plugin>>,
    templates: &[&Template],
    problems: &mut Vec<Problem>,
) {
    let spoken: BTreeSet<DisclosureKind> = plugins
        .iter()
        .filter(|(id, _)| flow.nodes.contains_key(*id))
        .flat_map(|(_, p)| p.manifest().roles.iter().filter_map(|r| role_disclosure(r)))
        .collect();
    // variable -> "the notice disclosure of eu-gdpr-ai-act", ...
    let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for template in templates {
        for (kind, disclosure) in template.disclosures.iter() {
            if !spoken.contains(&kind) {
                continue;
            }
            let used: BTreeSet<&str> = disclosure
                .text
                .values()
                .flat_map(|text| placeholders(text))
                .collect();
            for var in used {
                let defined = match lookup_var(&flow.vars, var) {
                    None | Some(Value::Null) => false,
                    Some(Value::String(s)) => !s.trim().is_empty(),
                    Some(_) => true,
                };
                if !defined {
                    let name = kind.key().replace('_', "-");
                    missing
                        .entry(var)
                        .or_default()
                        .push(format!("the {name} disclosure of {}", template.id));
                }
            }
        }
    }
    for (var, uses) in missing {
        problems.push(Problem::new(
            "/vars",
            "disclosure-var-missing",
            format!(
                "\"{var}\" is not set in the flow's vars, but the wording of {} uses {{{{{var}}}}}; set it, or callers hear the disclosure with a gap",
                uses.join(", ")
            ),
        ));
    }
}

/// `secure-capture-sink`: what may open a sealed card-capture window.
fn check_secure_capture_sinks(
    flow: &Flow,
    plugins: &BTreeMap<String, Arc<Plugin>>,
    pci: &[(&str, &str)],
    problems: &mut Vec<Problem>,
) {
    for (id, node) in &flow.nodes {
        let Some(plugin) = plugins.get(id) else {
            continue;
        };
        let manifest = plugin.manifest();
        if !manifest.actions.iter().any(|a| a == "secure_capture") {
            continue;
        }
        let mut wrong = Vec::new();
        if !plugin.trusted() {
            wrong.push("is not a trusted plugin".to_owned());
        }
        if !manifest.roles.iter().any(|r| r == "secure-capture") {
            wrong.push("does not claim the secure-capture role".to_owned());
        }
        let forbidden: Vec<&str> = manifest
            .actions
            .iter()
            .map(String::as_str)
            .filter(|a| SECURE_CAPTURE_FORBIDDEN.contains(a))
            .collect();
        if !forbidden.is_empty() {
            wrong.push(format!("may also emit {}", forbidden.join(", ")));
        }
        if wrong.is_empty() {
            continue;
        }
        problems.push(Problem::new(
            format!("/nodes/{}/use", segment(id)),
            "secure-capture-sink",
            format!(
                "{} opens secure-capture windows but {}; the sealed result may flow only into the actions its manifest allows ({}), so those must not include {} ({})",
                node.uses,
                and_list(&wrong),
                manifest.actions.join(", "),
                or_list(&SECURE_CAPTURE_FORBIDDEN),
                cite(pci),
            ),
        ));
    }
}

/// `compliance-order`: for every ordering rule, no path from the entry
/// reaches a node doing `then` before passing a node doing `first`.
fn prove_ordering(
    g: &Graph<'_>,
    entry: u32,
    facts: &[Facts],
    templates: &[&Template],
    problems: &mut Vec<Problem>,
) {
    // Rules with the same two steps are proved once and cited together.
    let mut rules: BTreeMap<(Step, Step), Vec<(&str, &str)>> = BTreeMap::new();
    for t in templates {
        for rule in &t.ordering {
            let citations = rules.entry((rule.first, rule.then)).or_default();
            let citation = (t.id.as_str(), rule.rule.as_str());
            if !citations.contains(&citation) {
                citations.push(citation);
            }
        }
    }
    // Staying on the line grants recording consent only if every template
    // that orders recording-consent accepts it.
    let ordering_consent: Vec<&&Template> = templates
        .iter()
        .filter(|t| {
            t.ordering
                .iter()
                .any(|r| r.first == Step::RecordingConsent || r.then == Step::RecordingConsent)
        })
        .collect();
    let stay_on_line = !ordering_consent.is_empty()
        && ordering_consent.iter().all(|t| {
            t.recording
                .consent_methods
                .contains(&ConsentMethod::StayOnLine)
        });

    for ((first, then), citations) in &rules {
        let (first, then) = (*first, *then);
        if first == then || !facts.iter().any(|f| f.does(then)) {
            continue;
        }
        let passes = |node: u32, outcome: &str| {
            facts[node as usize].does(first)
                && outcome != "error"
                && (first != Step::RecordingConsent
                    || outcome == "granted"
                    || (stay_on_line && outcome == "timeout"))
        };
        let found = search(
            g,
            entry,
            |node, outcome, passed| passed || passes(node, outcome),
            |node, passed| !passed && facts[node as usize].does(then),
        );
        let before = if first == Step::RecordingConsent {
            "recording-consent is granted".to_owned()
        } else {
            step_name(first).to_owned()
        };
        for (node, trace) in found {
            let id = g.ids[node as usize];
            let mut problem = Problem::new(
                format!("/nodes/{}", segment(id)),
                "compliance-order",
                format!(
                    "{} node \"{id}\" is reachable before {before} ({}): {}{}",
                    step_name(then),
                    cite(citations),
                    path_text(g, &trace),
                    subflow_note(g, facts, &trace),
                ),
            );
            problem.path = Some(trace.ids(g));
            problems.push(problem);
        }
    }
}

/// `record-across-secure-capture`: no path reaches a secure-capture node
/// while a recording is running. A node that may record opens one (even
/// when it fails: the recording may have started); a record node with
/// `op: stop` closes it when it succeeds.
fn prove_no_recording_at_capture(
    g: &Graph<'_>,
    entry: u32,
    facts: &[Facts],
    pci: &[(&str, &str)],
    problems: &mut Vec<Problem>,
) {
    if !facts.iter().any(|f| f.secure_capture) || !facts.iter().any(|f| f.record_start) {
        return;
    }
    let found = search(
        g,
        entry,
        |node, outcome, open| {
            let f = &facts[node as usize];
            if f.record_start {
                true
            } else if f.record_stop && outcome != "error" {
                false
            } else {
                open
            }
        },
        |node, open| open && facts[node as usize].secure_capture,
    );
    for (node, trace) in found {
        let id = g.ids[node as usize];
        let opener = trace
            .nodes
            .iter()
            .rev()
            .find(|n| facts[**n as usize].record_start)
            .map(|n| g.ids[*n as usize])
            .unwrap_or_default();
        let mut problem = Problem::new(
            format!("/nodes/{}", segment(id)),
            "record-across-secure-capture",
            format!(
                "secure-capture node \"{id}\" is reachable while the recording started by \"{opener}\" is still running ({}): {}; stop it first with a record node whose op is \"stop\"",
                cite(pci),
                trace.render(g),
            ),
        );
        problem.path = Some(trace.ids(g));
        problems.push(problem);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use serde_json::json;

    use super::*;
    use crate::host::{HostConfig, PluginHost, PluginPackage, PluginRegistry};
    use crate::policy::template::{bundled_template, bundled_templates};

    fn host() -> &'static PluginHost {
        static HOST: OnceLock<PluginHost> = OnceLock::new();
        HOST.get_or_init(|| PluginHost::new(HostConfig::default()).expect("host"))
    }

    /// An in-memory Rhai plugin with the given outcomes, actions and roles.
    fn plugin(
        name: &str,
        outcomes: &[&str],
        actions: &[&str],
        roles: &[&str],
        trusted: bool,
    ) -> Arc<Plugin> {
        let manifest = json!({
            "name": name, "version": "1.0.0", "kind": "rhai", "module": format!("{name}.rhai"),
            "outcomes": outcomes, "actions": actions, "roles": roles,
        });
        let script = b"fn step(input) { #{ actions: [], exit: \"done\" } }".to_vec();
        let package =
            PluginPackage::from_parts(manifest.to_string().as_bytes(), script).expect("package");
        host().load(&package, trusted).expect("plugin loads")
    }

    /// Stand-ins for the bundled plugins the proofs care about, plus an
    /// untrusted look-alike of each role plugin (`diy-*`).
    fn registry() -> &'static PluginRegistry {
        static REGISTRY: OnceLock<PluginRegistry> = OnceLock::new();
        REGISTRY.get_or_init(|| {
            let mut r = PluginRegistry::default();
            for p in [
                plugin("say", &["done"], &["say"], &[], true),
                plugin(
                    "menu",
                    &["1", "2", "timeout"],
                    &["say", "gather"],
                    &[],
                    true,
                ),
                plugin("record", &["done"], &["record"], &[], true),
                plugin(
                    "llm-agent",
                    &["ended"],
                    &["say", "listen", "llm"],
                    &[],
                    true,
                ),
                plugin("webhook", &["ok", "failed"], &["http"], &[], true),
                plugin("subflow", &["granted", "refused"], &["subflow"], &[], true),
                plugin("hangup", &[], &["hangup"], &[], true),
                plugin(
                    "recording-consent",
                    &["granted", "declined", "timeout"],
                    &["disclose", "gather"],
                    &["recording-disclosure", "recording-consent"],
                    true,
                ),
                plugin(
                    "ai-disclosure",
                    &["done"],
                    &["disclose"],
                    &["ai-disclosure", "caller-identification"],
                    true,
                ),
                plugin("notice", &["done"], &["disclose"], &["notice"], true),
                plugin(
                    "secure-capture",
                    &["captured", "failed"],
                    &["secure_capture"],
                    &["secure-capture"],
                    true,
                ),
                plugin(
                    "diy-ai-disclosure",
                    &["done"],
                    &["say"],
                    &["ai-disclosure", "caller-identification"],
                    false,
                ),
                plugin(
                    "diy-capture",
                    &["captured", "failed"],
                    &["secure_capture", "say", "http"],
                    &[],
                    false,
                ),
                plugin(
                    "leaky-capture",
                    &["captured", "failed"],
                    &["secure_capture", "llm"],
                    &["secure-capture"],
                    true,
                ),
            ] {
                r.insert(p);
            }
            r
        })
    }

    fn flow(value: Value) -> Flow {
        let mut value = value;
        value["flow"] = json!("switchyard/v1");
        value["name"] = json!("test");
        serde_json::from_value(value).expect("flow parses")
    }

    fn plugins_of(flow: &Flow) -> BTreeMap<String, Arc<Plugin>> {
        flow.nodes
            .iter()
            .map(|(id, node)| {
                let (name, major) = crate::host::registry_parse_use(&node.uses).unwrap();
                (id.clone(), registry().get(name, major).unwrap().clone())
            })
            .collect()
    }

    fn proofs(flow: &Flow) -> Vec<Problem> {
        let catalog: Vec<&Template> = bundled_templates().iter().collect();
        let mut problems = prove(flow, &plugins_of(flow), &catalog);
        problems.sort();
        problems
    }

    fn codes(problems: &[Problem]) -> Vec<(&str, &str)> {
        problems
            .iter()
            .map(|p| (p.code.as_str(), p.pointer.as_str()))
            .collect()
    }

    fn business_vars() -> Value {
        json!({"business_name": "Acme", "callback_number": "+1 415 555 0100",
               "purpose": "answering your call", "privacy_url": "acme.example/privacy"})
    }

    #[test]
    fn no_templates_no_proofs() {
        let f = flow(json!({"entry": "rec", "nodes": {
            "rec": {"use": "record@1", "with": {"op": "start"}, "on": {"done": "agent"}},
            "agent": {"use": "llm-agent@1", "on": {"ended": "bye"}},
            "bye": {"use": "hangup@1"}}}));
        assert!(proofs(&f).is_empty());
    }

    #[test]
    fn record_before_consent_has_the_shortest_counterexample() {
        let f = flow(
            json!({"compliance": ["us-all-party-consent"], "entry": "welcome", "nodes": {
            "welcome": {"use": "say@1", "on": {"done": "menu"}},
            "menu": {"use": "menu@1", "on": {"1": "consent", "2": "rec", "timeout": "menu"}},
            "consent": {"use": "recording-consent@1",
                        "on": {"granted": "rec", "declined": "bye", "timeout": "bye"}},
            "rec": {"use": "record@1", "with": {"op": "start"}, "on": {"done": "bye"}},
            "bye": {"use": "hangup@1"}}}),
        );
        let problems = proofs(&f);
        // Both rules of the template (disclosure and consent before record) fail on menu -[2]->.
        assert_eq!(
            codes(&problems),
            [
                ("compliance-order", "/nodes/rec"),
                ("compliance-order", "/nodes/rec")
            ]
        );
        for p in &problems {
            assert_eq!(
                p.path.as_deref().unwrap(),
                ["welcome", "menu", "rec"].map(String::from)
            );
            assert!(
                p.message.contains("welcome -[done]-> menu -[2]-> rec"),
                "{p}"
            );
            assert!(
                p.message
                    .contains("us-all-party-consent: Cal. Penal Code §632"),
                "{p}"
            );
        }
        assert!(
            problems.iter().any(|p| p.message.starts_with(
                "record node \"rec\" is reachable before recording-consent is granted"
            ))
        );
        assert!(problems.iter().any(|p| {
            p.message
                .starts_with("record node \"rec\" is reachable before recording-disclosure")
        }));
    }

    #[test]
    fn consent_counts_only_when_granted() {
        let f = flow(
            json!({"compliance": ["us-all-party-consent"], "entry": "consent", "nodes": {
            "consent": {"use": "recording-consent@1",
                        "on": {"granted": "rec", "declined": "rec", "timeout": "bye"}},
            "rec": {"use": "record@1", "with": {"op": "start"}, "on": {"done": "bye"}},
            "bye": {"use": "hangup@1"}}}),
        );
        let problems = proofs(&f);
        // Declining still passes the disclosure, but not the consent.
        assert_eq!(codes(&problems), [("compliance-order", "/nodes/rec")]);
        assert!(
            problems[0].message.contains("consent -[declined]-> rec"),
            "{}",
            problems[0]
        );

        let ok = flow(json!({"compliance": ["us-all-party-consent", "us-federal"],
                             "entry": "consent", "nodes": {
            "consent": {"use": "recording-consent@1",
                        "on": {"granted": "rec", "declined": "bye", "timeout": "bye"}},
            "rec": {"use": "record@1", "with": {"op": "start"}, "on": {"done": "stop"}},
            "stop": {"use": "record@1", "with": {"op": "stop"}, "on": {"done": "bye"}},
            "bye": {"use": "hangup@1"}}}));
        assert!(proofs(&ok).is_empty(), "{:#?}", proofs(&ok));
    }

    #[test]
    fn timeout_grants_consent_only_when_every_template_accepts_staying_on_the_line() {
        // A tenant template: like uk, but ordering recording-consent, with
        // staying on the line as consent.
        let mut stay = bundled_template("uk").unwrap().clone();
        stay.id = "stay".into();
        stay.ordering.push(crate::policy::template::OrderingRule {
            first: Step::RecordingConsent,
            then: Step::Record,
            rule: "stay rule".into(),
            note: None,
        });
        let f = |compliance: Value| {
            flow(
                json!({"compliance": compliance, "entry": "consent", "vars": business_vars(),
                        "nodes": {
                "consent": {"use": "recording-consent@1",
                            "on": {"granted": "notice", "declined": "bye", "timeout": "notice"}},
                "notice": {"use": "notice@1", "on": {"done": "rec"}},
                "rec": {"use": "record@1", "with": {"op": "start"}, "on": {"done": "bye"}},
                "bye": {"use": "hangup@1"}}}),
            )
        };
        let mut catalog: Vec<&Template> = bundled_templates().iter().collect();
        catalog.push(&stay);
        let one = f(json!(["stay"]));
        assert!(prove(&one, &plugins_of(&one), &catalog).is_empty());
        let two = f(json!(["stay", "us-all-party-consent"]));
        let problems = prove(&two, &plugins_of(&two), &catalog);
        assert_eq!(codes(&problems), [("compliance-order", "/nodes/rec")]);
        assert!(problems[0].message.contains("stay: stay rule"));
        assert!(
            problems[0]
                .message
                .contains("consent -[timeout]-> notice -[done]-> rec")
        );
    }

    #[test]
    fn llm_before_ai_disclosure_and_error_edges() {
        let f = flow(json!({"compliance": ["us-ai-voice"], "entry": "disclose",
                            "on_error": "agent", "vars": business_vars(), "nodes": {
            "disclose": {"use": "ai-disclosure@1", "on": {"done": "agent"}},
            "agent": {"use": "llm-agent@1", "on": {"ended": "bye"}},
            "bye": {"use": "hangup@1"}}}));
        // Failing out of the disclosure falls back to on_error: the agent, undisclosed.
        let problems = proofs(&f);
        assert_eq!(
            codes(&problems),
            [
                ("compliance-order", "/nodes/agent"),
                ("compliance-order", "/nodes/agent")
            ]
        );
        assert!(
            problems[0].message.contains("disclose -[error]-> agent"),
            "{}",
            problems[0]
        );
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("before ai-disclosure"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("before caller-identification"))
        );

        let entry = flow(
            json!({"compliance": ["us-ai-voice"], "entry": "agent", "nodes": {
            "agent": {"use": "llm-agent@1", "on": {"ended": "bye"}},
            "bye": {"use": "hangup@1"}}}),
        );
        let problems = proofs(&entry);
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0].message.ends_with(": it is the entry node"),
            "{}",
            problems[0]
        );
        assert_eq!(problems[0].path.as_deref().unwrap(), ["agent".to_owned()]);
    }

    #[test]
    fn untrusted_roles_count_for_nothing() {
        let f = flow(json!({"compliance": ["us-ai-voice"], "entry": "disclose",
                            "vars": business_vars(), "nodes": {
            "disclose": {"use": "diy-ai-disclosure@1", "on": {"done": "agent"}},
            "agent": {"use": "llm-agent@1", "on": {"ended": "bye"}},
            "bye": {"use": "hangup@1"}}}));
        let problems = proofs(&f);
        assert_eq!(
            codes(&problems),
            [
                ("compliance-order", "/nodes/agent"),
                ("compliance-order", "/nodes/agent"),
                ("untrusted-role", "/nodes/disclose/use"),
            ]
        );
        assert!(
            problems[2]
                .message
                .contains("ai-disclosure, caller-identification")
        );
        // Without templates, nobody asks.
        let mut plain = f.clone();
        plain.compliance.clear();
        assert!(proofs(&plain).is_empty());
    }

    #[test]
    fn subflow_nodes_pass_nothing() {
        let f = flow(
            json!({"compliance": ["us-all-party-consent"], "entry": "ask", "nodes": {
            "ask": {"use": "subflow@1", "with": {"flow": "consent-block"},
                    "on": {"granted": "rec", "refused": "bye"}},
            "rec": {"use": "record@1", "with": {"op": "start"}, "on": {"done": "bye"}},
            "bye": {"use": "hangup@1"}}}),
        );
        let problems = proofs(&f);
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0]
                .message
                .contains("(what happens inside sub-flow node \"ask\" is not counted)"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn unknown_templates_are_named_with_a_suggestion() {
        let f = flow(
            json!({"compliance": ["us-federal", "us-ai-voise"], "entry": "bye",
                            "nodes": {"bye": {"use": "hangup@1"}}}),
        );
        let problems = proofs(&f);
        assert_eq!(codes(&problems), [("unknown-template", "/compliance/1")]);
        assert_eq!(
            problems[0].message,
            "unknown compliance template \"us-ai-voise\", did you mean \"us-ai-voice\"?"
        );
        let f = flow(json!({"compliance": ["nowhere-at-all"], "entry": "bye",
                            "nodes": {"bye": {"use": "hangup@1"}}}));
        assert!(proofs(&f)[0].message.contains("(known: us-federal,"));
    }

    #[test]
    fn disclosure_vars_must_be_defined_for_spoken_disclosures() {
        let f = flow(
            json!({"compliance": ["us-ai-voice", "eu-gdpr-ai-act"], "entry": "notice",
                            "vars": {"business_name": "Acme", "purpose": ""}, "nodes": {
            "notice": {"use": "notice@1", "on": {"done": "disclose"}},
            "disclose": {"use": "ai-disclosure@1", "on": {"done": "agent"}},
            "agent": {"use": "llm-agent@1", "on": {"ended": "bye"}},
            "bye": {"use": "hangup@1"}}}),
        );
        let problems = proofs(&f);
        let vars: Vec<&Problem> = problems
            .iter()
            .filter(|p| p.code == "disclosure-var-missing")
            .collect();
        assert_eq!(vars.len(), 3, "{problems:#?}");
        assert!(vars.iter().all(|p| p.pointer == "/vars"));
        assert!(
            vars[0]
                .message
                .starts_with("\"callback_number\" is not set")
        );
        assert!(vars[0].message.contains("the ai disclosure of us-ai-voice"));
        assert!(vars[1].message.starts_with("\"privacy_url\""));
        assert!(
            vars[1]
                .message
                .contains("the notice disclosure of eu-gdpr-ai-act")
        );
        assert!(
            vars[2].message.starts_with("\"purpose\""),
            "empty counts as missing"
        );
        assert_eq!(problems.len(), 3, "the order is right: {problems:#?}");

        // No node speaks the notice: its variables do not matter.
        let f = flow(
            json!({"compliance": ["eu-gdpr-ai-act"], "entry": "bye", "vars": {},
                            "nodes": {"bye": {"use": "hangup@1"}}}),
        );
        assert!(proofs(&f).is_empty());
    }

    #[test]
    fn secure_capture_sinks_and_recording_across_capture() {
        let f = flow(
            json!({"compliance": ["pci-dss-phone"], "entry": "rec", "nodes": {
            "rec": {"use": "record@1", "with": {"op": "start"}, "on": {"done": "menu"}},
            "menu": {"use": "menu@1", "on": {"1": "pay", "2": "stop", "timeout": "menu"}},
            "stop": {"use": "record@1", "with": {"op": "stop"}, "on": {"done": "pay"}},
            "pay": {"use": "secure-capture@1", "on": {"captured": "diy", "failed": "leaky"}},
            "diy": {"use": "diy-capture@1", "on": {"captured": "bye", "failed": "bye"}},
            "leaky": {"use": "leaky-capture@1", "on": {"captured": "bye", "failed": "bye"}},
            "bye": {"use": "hangup@1"}}}),
        );
        let problems = proofs(&f);
        assert_eq!(
            codes(&problems),
            [
                ("record-across-secure-capture", "/nodes/diy"),
                ("secure-capture-sink", "/nodes/diy/use"),
                ("record-across-secure-capture", "/nodes/leaky"),
                ("secure-capture-sink", "/nodes/leaky/use"),
                ("record-across-secure-capture", "/nodes/pay"),
            ],
            "{problems:#?}"
        );
        let pay = &problems[4];
        assert_eq!(
            pay.path.as_deref().unwrap(),
            ["rec", "menu", "pay"].map(String::from)
        );
        assert!(pay.message.contains("started by \"rec\""), "{pay}");
        assert!(
            pay.message.contains("rec -[done]-> menu -[1]-> pay"),
            "{pay}"
        );
        let diy = &problems[1];
        assert!(
            diy.message.contains(
                "is not a trusted plugin, does not claim the secure-capture role and may also emit http"
            ),
            "{diy}"
        );
        assert!(diy.message.contains("(secure_capture, say, http)"), "{diy}");
        assert!(
            problems[3].message.contains("but may also emit llm;"),
            "{}",
            problems[3]
        );
        // The llm in leaky-capture comes after secure capture: pci's ordering holds.
        assert!(!problems.iter().any(|p| p.code == "compliance-order"));

        // Without a PCI template, none of this is asked.
        let mut other = f.clone();
        other.compliance = vec!["us-federal".into()];
        assert!(proofs(&other).is_empty(), "{:#?}", proofs(&other));
    }

    #[test]
    fn unknown_plugins_stop_the_walk_but_not_the_rest() {
        let f = flow(
            json!({"compliance": ["us-ai-voice", "nope"], "entry": "agent", "nodes": {
            "agent": {"use": "llm-agent@1", "on": {"ended": "bye"}},
            "bye": {"use": "hangup@1"}}}),
        );
        let mut plugins = plugins_of(&f);
        plugins.remove("bye");
        let catalog: Vec<&Template> = bundled_templates().iter().collect();
        let problems = prove(&f, &plugins, &catalog);
        assert_eq!(codes(&problems), [("unknown-template", "/compliance/1")]);
    }

    #[test]
    fn validate_reports_proofs_with_everything_else() {
        let f = flow(json!({"compliance": ["us-ai-voice"], "entry": "agent",
                            "vars": business_vars(), "nodes": {
            "agent": {"use": "llm-agent@1", "on": {"ended": "bye", "oops": "bye"}},
            "bye": {"use": "hangup@1"}}}));
        let problems = super::super::validate(&f, registry(), None);
        let codes: BTreeSet<&str> = problems.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(
            codes,
            BTreeSet::from(["compliance-order", "undeclared-outcome"]),
            "{problems:#?}"
        );
    }

    /// A chain of `n` menus, each branching to two says that rejoin.
    #[test]
    fn a_thousand_nodes_prove_quickly() {
        let mut nodes = serde_json::Map::new();
        let blocks = 330;
        nodes.insert(
            "consent".into(),
            json!({"use": "recording-consent@1",
            "on": {"granted": "m0", "declined": "m0", "timeout": "m0"}}),
        );
        for i in 0..blocks {
            let next = if i + 1 == blocks {
                "agent".to_owned()
            } else {
                format!("m{}", i + 1)
            };
            nodes.insert(
                format!("m{i}"),
                json!({"use": "menu@1",
                "on": {"1": format!("a{i}"), "2": format!("b{i}"), "timeout": format!("m{i}")}}),
            );
            nodes.insert(
                format!("a{i}"),
                json!({"use": "say@1", "on": {"done": next}}),
            );
            nodes.insert(
                format!("b{i}"),
                json!({"use": "say@1", "on": {"done": next}}),
            );
        }
        nodes.insert(
            "agent".into(),
            json!({"use": "llm-agent@1", "on": {"ended": "rec"}}),
        );
        nodes.insert(
            "rec".into(),
            json!({"use": "record@1", "with": {"op": "start"},
                                           "on": {"done": "bye"}}),
        );
        nodes.insert("bye".into(), json!({"use": "hangup@1"}));
        let f = flow(
            json!({"compliance": ["us-all-party-consent", "us-ai-voice"],
                            "entry": "consent", "nodes": nodes}),
        );
        let plugins = plugins_of(&f);
        let catalog: Vec<&Template> = bundled_templates().iter().collect();
        let start = std::time::Instant::now();
        let problems = prove(&f, &plugins, &catalog);
        let took = start.elapsed();
        // Consent declined reaches rec; the agent is never disclosed (two rules).
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(took < std::time::Duration::from_millis(200), "{took:?}");
    }
}
