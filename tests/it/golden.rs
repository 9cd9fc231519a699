//! Golden validation tests: each `flows/invalid/NAME.json` sits beside
//! `NAME.expected.json`, the problems `switchyard validate --format json`
//! reports for it. Run with `BLESS=1` to rewrite the expectations after an
//! intended change, and review the diff.
//!
//! Besides the bundled plugins, the golden files may use the tenant plugins
//! in `flows/invalid/plugins/`, loaded as untrusted (as `switchyard validate
//! --plugins flows/invalid/plugins` would). Every flow in `flows/compliance/`
//! lists compliance templates and must prove clean.

use std::collections::BTreeSet;

use switchyard_runtime::flow::{DirFlowSource, returns_of, validate_source};
use switchyard_runtime::host::PluginRegistry;

use crate::support::{bundled, host, repo};

/// Valid flows that golden files use as sub-flows.
const HELPERS: &[&str] = &["consent-block.json"];

/// The bundled plugins and, untrusted, the tenant plugins in `flows/invalid/plugins/`.
fn golden_registry() -> PluginRegistry {
    let mut registry = bundled();
    let dir = repo().join("flows/invalid/plugins");
    let mut packages: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    packages.sort();
    for package in packages {
        let plugin = host()
            .load_dir(&package, false)
            .unwrap_or_else(|e| panic!("{}: {e}", package.display()));
        registry.insert(plugin);
    }
    registry
}

#[test]
fn invalid_flows_report_exactly_the_expected_problems() {
    let registry = golden_registry();
    let dir = repo().join("flows/invalid");
    let siblings = DirFlowSource { dir: dir.clone() };
    let resolver = |name: &str| returns_of(&siblings, name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p.to_string_lossy().ends_with(".expected.json")
        })
        .filter(|p| !HELPERS.iter().any(|h| p.ends_with(h)))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected at least 10 golden files, found {}",
        files.len()
    );
    let mut codes = BTreeSet::new();
    let mut mismatches = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let (_, problems) = validate_source(&text, &registry, Some(&resolver));
        assert!(!problems.is_empty(), "{} should be invalid", file.display());
        codes.extend(problems.iter().map(|p| p.code.clone()));
        let actual = serde_json::to_string_pretty(&problems).unwrap() + "\n";
        let expected_path = file.with_extension("expected.json");
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!(
                "{}:\n--- expected\n{expected}\n+++ actual\n{actual}",
                file.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    for code in [
        "json-syntax",
        "flow-schema",
        "entry-missing",
        "unknown-node",
        "unknown-plugin",
        "unknown-plugin-version",
        "config-schema",
        "undeclared-outcome",
        "missing-outcome",
        "unreachable",
        "loop-without-wait",
        "unknown-flow",
        "unknown-return",
        "compliance-order",
        "untrusted-role",
        "secure-capture-sink",
        "record-across-secure-capture",
        "unknown-template",
        "disclosure-var-missing",
    ] {
        assert!(codes.contains(code), "no golden file covers `{code}`");
    }
}

#[test]
fn every_example_and_benchmark_flow_is_valid() {
    let registry = bundled();
    let mut checked = 0;
    for folder in ["flows/examples", "flows/bench"] {
        let dir = repo().join(folder);
        let siblings = DirFlowSource { dir: dir.clone() };
        let resolver = |name: &str| returns_of(&siblings, name);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let (_, problems) = validate_source(
                    &std::fs::read_to_string(&path).unwrap(),
                    &registry,
                    Some(&resolver),
                );
                assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 9, "found {checked} flows");
}

#[test]
fn every_compliance_flow_proves_clean() {
    let registry = bundled();
    let dir = repo().join("flows/compliance");
    let siblings = DirFlowSource { dir: dir.clone() };
    let resolver = |name: &str| returns_of(&siblings, name);
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let (flow, problems) = validate_source(&text, &registry, Some(&resolver));
            assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
            let flow = flow.unwrap();
            assert!(
                !flow.compliance.is_empty(),
                "{} lists no compliance templates, so it proves nothing",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "expected at least 3 compliance flows, found {checked}"
    );
}
