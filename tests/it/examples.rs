//! Every example flow's conversation tests pass, together take every edge
//! of every example flow, and each call replays to the same actions.

use std::collections::BTreeSet;

use switchyard_runtime::convo;
use switchyard_runtime::exec::{Entry, ReplayReport, replay};
use switchyard_runtime::flow::Flow;

use crate::support::{bundled, repo};

fn convo_files() -> Vec<std::path::PathBuf> {
    convo_files_in("flows/examples/tests")
}

fn convo_files_in(dir: &str) -> Vec<std::path::PathBuf> {
    let dir = repo().join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "convo"))
        .collect();
    files.sort();
    files
}

/// Runs one conversation test, which must pass, and replays its call, which
/// must reproduce the same actions.
fn pass_and_replay(
    registry: &switchyard_runtime::host::PluginRegistry,
    file: &std::path::Path,
) -> (convo::ConvoReport, ReplayReport) {
    let report = convo::run_file(registry, file);
    assert!(
        report.passed(),
        "{}\n{}",
        report.render(),
        report.transcript.join("\n")
    );
    let flows = report.flows.clone().expect("a passing test has flows");
    let replayed = replay(&report.log, flows).unwrap();
    assert!(
        replayed.matches(),
        "{}: replay differs: {:?}",
        file.display(),
        replayed.first_difference
    );
    (report, replayed)
}

#[test]
fn example_conversations_pass_cover_every_edge_and_replay() {
    let registry = bundled();
    let files = convo_files();
    assert!(
        files.len() >= 10,
        "expected at least 10 example conversations, found {}",
        files.len()
    );
    // (flow, node, outcome) of every edge taken.
    let mut taken: BTreeSet<(String, String, String)> = BTreeSet::new();
    for file in &files {
        let (report, replayed) = pass_and_replay(&registry, file);
        assert!(
            replayed.recorded > 0,
            "{}: no actions recorded",
            file.display()
        );

        for entry in report.log.entries() {
            if let Entry::Step {
                flow,
                node,
                exit: Some(exit),
                ..
            } = &entry.entry
            {
                taken.insert((flow.clone(), node.clone(), exit.clone()));
            }
        }
    }
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(repo().join("flows/examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let flow: Flow = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (node, spec) in &flow.nodes {
            for (outcome, target) in &spec.on {
                if !taken.contains(&(flow.name.clone(), node.clone(), outcome.clone())) {
                    missing.push(format!("{}: {node} --{outcome}--> {target}", flow.name));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "edges no conversation test takes:\n{}",
        missing.join("\n")
    );
}

#[test]
fn compliance_conversations_pass_replay_and_keep_card_keys_out_of_the_log() {
    let registry = bundled();
    let files = convo_files_in("flows/compliance/tests");
    assert!(files.len() >= 3, "found {}", files.len());
    for file in &files {
        let (report, _) = pass_and_replay(&registry, file);
        let log = report.log.to_jsonl();
        assert!(!log.contains("4111111111111111"), "{}", file.display());
    }
}
