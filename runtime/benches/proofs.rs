//! Publish-time compliance proofs on a generated 1,000-node flow that lists
//! us-all-party-consent, us-ai-voice, eu-gdpr-ai-act and pci-dss-phone:
//! a privacy notice and recording consent near the start, then a chain of
//! menus whose two options branch and rejoin, a recording started and
//! stopped deep in it, card capture, the AI disclosure and an LLM agent at
//! the end. Every node fails over to `on_error`, so each node has an extra
//! edge to walk.
//!
//! `prove/clean` proves the flow (nothing to report), `prove/violation` the
//! same flow with recording reachable after a declined consent (one
//! counterexample to rebuild), and `validate` runs all of validation
//! (schema, every node's config, graph checks and the proofs).
//! The target is 20 ms per proof.
//!
//! Run: `cargo bench -p switchyard-runtime --bench proofs`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use switchyard_runtime::flow::{Flow, prove, validate};
use switchyard_runtime::host::{HostConfig, Plugin, PluginHost, PluginRegistry};
use switchyard_runtime::policy::template::{Template, bundled_templates};

/// Nodes in the generated flow.
const NODES: usize = 1_000;

/// The flow; with `leak`, a declined consent still reaches the recording.
fn generate(leak: bool) -> Flow {
    let mut nodes = serde_json::Map::new();
    let mut add = |id: &str, node: Value| {
        nodes.insert(id.to_owned(), node);
    };
    let say = |text: &str, next: &str| json!({"use": "say@1", "with": {"text": text}, "on": {"done": next}});
    add(
        "welcome",
        say("Thanks for calling {{business_name}}.", "notice"),
    );
    add(
        "notice",
        json!({"use": "notice@1", "on": {"done": "consent"}}),
    );
    let refused = if leak { "m0" } else { "no-recording" };
    add(
        "consent",
        json!({"use": "recording-consent@1",
               "on": {"granted": "m0", "declined": refused, "timeout": refused}}),
    );
    add(
        "no-recording",
        say("Then we cannot help on this line.", "bye"),
    );
    add("sorry", say("Sorry, something went wrong.", "bye"));
    add("bye", json!({"use": "hangup@1"}));
    let fixed = 6 + 5; // the nodes above and below the chain
    let blocks = (NODES - fixed) / 3;
    let pad = NODES - fixed - blocks * 3;
    let menu = |i: usize| format!("m{i}");
    for i in 0..blocks {
        let next = if i + 1 == blocks {
            "pad0".to_owned()
        } else if i == blocks / 2 {
            "rec".to_owned()
        } else if i == blocks / 2 + blocks / 4 {
            "stop".to_owned()
        } else {
            menu(i + 1)
        };
        add(
            &menu(i),
            json!({"use": "menu@1",
                   "with": {"prompt": "Press 1 or 2.", "options": ["1", "2"]},
                   "on": {"1": format!("a{i}"), "2": format!("b{i}"),
                          "timeout": menu(i), "invalid": menu(i)}}),
        );
        add(&format!("a{i}"), say("One.", &next));
        add(&format!("b{i}"), say("Two.", &next));
    }
    add(
        "rec",
        json!({"use": "record@1", "with": {"op": "start"}, "on": {"done": menu(blocks / 2 + 1)}}),
    );
    add(
        "stop",
        json!({"use": "record@1", "with": {"op": "stop"},
               "on": {"done": menu(blocks / 2 + blocks / 4 + 1)}}),
    );
    for j in 0..pad.max(1) {
        let next = if j + 1 >= pad {
            "pay".to_owned()
        } else {
            format!("pad{}", j + 1)
        };
        add(&format!("pad{j}"), say("Almost there.", &next));
    }
    add(
        "pay",
        json!({"use": "secure-capture@1", "on": {"captured": "disclose", "failed": "disclose"}}),
    );
    add(
        "disclose",
        json!({"use": "ai-disclosure@1", "on": {"done": "agent"}}),
    );
    add(
        "agent",
        json!({"use": "llm-agent@1", "with": {"system": "You are a helpful receptionist."},
               "on": {"ended": "bye", "transfer": "bye", "timeout": "bye", "max_turns": "bye"}}),
    );
    let flow: Flow = serde_json::from_value(json!({
        "flow": "switchyard/v1",
        "name": "proof-bench",
        "compliance": ["us-all-party-consent", "us-ai-voice", "eu-gdpr-ai-act", "pci-dss-phone"],
        "entry": "welcome",
        "on_error": "sorry",
        "vars": {"business_name": "Acme", "callback_number": "+1 415 555 0100",
                 "purpose": "answering your call", "privacy_url": "acme.example/privacy"},
        "nodes": nodes,
    }))
    .expect("the generated flow parses");
    assert!(
        flow.nodes.len().abs_diff(NODES) <= 1,
        "{} nodes",
        flow.nodes.len()
    );
    flow
}

fn plugins_of(flow: &Flow, registry: &PluginRegistry) -> BTreeMap<String, Arc<Plugin>> {
    flow.nodes
        .iter()
        .map(|(id, node)| {
            let (name, major) = node.uses.split_once('@').expect("name@major");
            let plugin = registry
                .get(name, major.parse().expect("major"))
                .unwrap_or_else(|| panic!("bundled plugin {}", node.uses));
            (id.clone(), Arc::clone(plugin))
        })
        .collect()
}

fn proofs(c: &mut Criterion) {
    let host = PluginHost::new(HostConfig::default()).expect("host");
    let registry = host.bundled_registry().expect("bundled plugins");
    let catalog: Vec<&Template> = bundled_templates().iter().collect();
    let clean = generate(false);
    let leaky = generate(true);
    let clean_plugins = plugins_of(&clean, &registry);
    let leaky_plugins = plugins_of(&leaky, &registry);
    let problems = validate(&clean, &registry, None);
    assert!(problems.is_empty(), "{problems:#?}");
    let problems = prove(&leaky, &leaky_plugins, &catalog);
    assert!(
        !problems.is_empty() && problems.iter().all(|p| p.code == "compliance-order"),
        "{problems:#?}"
    );

    let mut group = c.benchmark_group("proofs-1000-nodes");
    group.bench_function("prove/clean", |b| {
        b.iter(|| black_box(prove(black_box(&clean), &clean_plugins, &catalog)))
    });
    group.bench_function("prove/violation", |b| {
        b.iter(|| black_box(prove(black_box(&leaky), &leaky_plugins, &catalog)))
    });
    group.bench_function("validate", |b| {
        b.iter(|| black_box(validate(black_box(&clean), &registry, None)))
    });
    group.finish();
}

criterion_group!(benches, proofs);
criterion_main!(benches);
