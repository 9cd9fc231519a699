//! The README's Studio API session, run by `scripts/readme-session.sh`
//! exactly as written against the built binary: every request answers the
//! status it should and what the README shows (keys, ids, times, ports, the
//! data directory and digests aside, which differ between runs or builds).

use regex::Regex;

/// One `$ ` command and what followed it.
#[derive(Debug, PartialEq)]
struct Step {
    command: String,
    output: Vec<String>,
    statuses: Vec<u16>,
}

/// Splits a transcript into steps; `#> HTTP CODE` lines are statuses.
fn steps(text: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for line in text.lines() {
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                command: command.to_owned(),
                output: Vec::new(),
                statuses: Vec::new(),
            });
        } else if let Some(step) = steps.last_mut() {
            match line.strip_prefix("#> HTTP ") {
                Some(code) => step.statuses.push(code.parse().unwrap()),
                None => step.output.push(line.to_owned()),
            }
        }
    }
    steps
}

/// The session in README.md's "## Studio API" section.
fn readme_session(readme: &str) -> &str {
    let section = &readme[readme.find("\n## Studio API\n").expect("the section")..];
    let start = section.find("\n```sh\n").expect("a sh block") + "\n```sh\n".len();
    let end = start + section[start..].find("\n```\n").expect("the block's end");
    &section[start..end]
}

/// What differs between runs, replaced by a placeholder.
fn masked(line: &str) -> String {
    let rules = [
        (r"sy_[0-9a-f]{8}_[A-Za-z0-9_-]+", "sy_<key>"),
        (r"\b(call|key|req)_[0-9a-f]{20,}", "${1}_<id>"),
        (r"sha256:[0-9a-f]{64}", "sha256:<digest>"),
        (r"\b1[0-9]{12}\b", "<ms>"),
        (r"127\.0\.0\.1:[0-9]+", "127.0.0.1:<port>"),
        (r"^data: .* \(SQLite\)$", "data: <dir> (SQLite)"),
    ];
    let mut line = line.to_owned();
    for (pattern, with) in rules {
        line = Regex::new(pattern)
            .unwrap()
            .replace_all(&line, with)
            .into_owned();
    }
    line
}

#[test]
fn the_readme_session_runs_as_written() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let out = std::process::Command::new("bash")
        .arg(repo.join("scripts/readme-session.sh"))
        .arg(env!("CARGO_BIN_EXE_switchyard"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ran = steps(&stdout);
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let written = steps(readme_session(&readme));

    let commands =
        |steps: &[Step]| -> Vec<String> { steps.iter().map(|s| s.command.clone()).collect() };
    assert_eq!(commands(&ran), commands(&written), "every command ran");
    // What each request must answer: the draft is created, validated with
    // its problems, fixed, published, simulated, routed, called.
    let statuses: Vec<(String, Vec<u16>)> = ran
        .iter()
        .filter(|s| !s.statuses.is_empty())
        .map(|s| {
            (
                s.command
                    .split_whitespace()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" "),
                s.statuses.clone(),
            )
        })
        .collect();
    let expected = [201, 200, 200, 201, 200, 201, 201, 200, 200];
    assert_eq!(
        statuses.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
        expected.map(|s| vec![s]),
        "{statuses:#?}"
    );
    for (ran, written) in ran.iter().zip(&written) {
        let ran_output: Vec<String> = ran.output.iter().map(|l| masked(l)).collect();
        let written_output: Vec<String> = written.output.iter().map(|l| masked(l)).collect();
        assert_eq!(
            ran_output, written_output,
            "`$ {}` answered differently from the README",
            written.command
        );
    }
    // The masks hide values, never whole answers.
    assert!(written.iter().filter(|s| !s.output.is_empty()).count() >= 10);
}
