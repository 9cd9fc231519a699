//! The `switchyard` command line (clap). Commands that need no API server:
//! `validate`, `test`, `call`, `replay`, `plugin check`, `redact`,
//! `evidence` (in [`crate::evidence_cli`]), `outbound check` (in
//! [`crate::outbound_cli`]).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use switchyard_runtime::convo::{self, describe, parse_http, parse_llm};
use switchyard_runtime::exec::{CallSession, CallSetup, EventLog, FlowSet, Input, replay};
use switchyard_runtime::flow::{
    DirFlowSource, FlowSource, load_flow_set, returns_of, validate_source,
};
use switchyard_runtime::host::{HostConfig, PluginHost, PluginRegistry, check_package_dir};
use switchyard_runtime::policy::evidence::EvidenceItem;
use switchyard_runtime::policy::secure_capture::{
    CaptureField, CollectStep, LocalVault, PaymentTokenizer, SecureCollector, finish,
};
use switchyard_sdk::protocol::Action;

use crate::bundled_flows::{self, WithBundled};
use crate::evidence_cli::{self, EvidenceCommand};
use crate::outbound_cli::{self, OutboundCommand};
use crate::tokenizer::{HttpsTokenizer, TokenizerOptions, read_secret_file};

/// Switchyard: sandboxed, compliant call flows.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about)]
pub struct Cli {
    /// Extra plugin packages: a directory of package directories (each with manifest.json).
    #[arg(long, global = true, value_name = "DIR")]
    plugins: Vec<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check flows and report every problem with its JSON pointer; exit 1 if any.
    Validate {
        #[arg(required = true)]
        flows: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run conversation tests (*.convo files, or directories holding them).
    Test {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write each call's event log to DIR/<test>.jsonl (for `replay`).
        #[arg(long, value_name = "DIR")]
        log_dir: Option<PathBuf>,
    },
    /// Hold a call with a flow in the terminal (a file, or a bundled flow by name).
    Call {
        flow: String,
        #[command(flatten)]
        options: CallOptions,
    },
    /// Re-run a call's event log and check that the same actions come out.
    Replay {
        log: PathBuf,
        /// The flow file; defaults to the one recorded in the log.
        #[arg(long)]
        flow: Option<PathBuf>,
    },
    /// Plugin package tools.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Redact PII from standard input (each line a turn) and write it out.
    Redact {
        /// Comma-separated classes: card, ssn, aadhaar, pan, iban, email, phone (default: all).
        #[arg(long, value_name = "LIST")]
        classes: Option<String>,
        /// `text`: the redacted text; `json`: {"text", "spans", "counts"}.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// What to do with each identifier: token ([CARD]), mask (****) or drop.
        #[arg(long, default_value = "token", value_name = "ACTION")]
        action: String,
        /// Card masks keep the last four digits.
        #[arg(long)]
        keep_last4: bool,
    },
    /// Compliance evidence records: verify, show, make a sealing key.
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Run the Studio API with the runtime (the main job).
    Serve(crate::serve::ServeOptions),
    /// The master key that wraps every tenant's data keys.
    MasterKey {
        #[command(subcommand)]
        command: crate::serve_cli::MasterKeyCommand,
    },
    /// Outbound calls: check calling hours and the do-not-call list.
    Outbound {
        #[command(subcommand)]
        command: OutboundCommand,
    },
    /// A tenant's flows as files: push a directory to the Studio API, or pull it.
    Flow {
        #[command(subcommand)]
        command: crate::flows_cli::FlowCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Check a plugin package: manifest, schema, ABI, imports and exports.
    Check {
        path: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Install a checked package for every tenant, trusted (it may claim
    /// compliance roles), into a server's data directory or PostgreSQL.
    Install {
        path: PathBuf,
        /// Data directory of the server (its SQLite database).
        #[arg(long, default_value = "./switchyard-data")]
        data_dir: PathBuf,
        /// PostgreSQL instead of the SQLite file in the data directory.
        #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
        database_url: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Parses the arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    // Evidence needs no plugins: skip loading them.
    if let Command::Evidence { command } = cli.command {
        return evidence_cli::run(command);
    }
    if let Command::Outbound { command } = cli.command {
        return outbound_cli::run(command);
    }
    if let Command::Flow { command } = cli.command {
        return crate::flows_cli::run(command);
    }
    if let Command::Serve(options) = cli.command {
        return crate::serve::run(options)
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| format!("{e:#}"));
    }
    if let Command::MasterKey { command } = cli.command {
        return crate::serve_cli::master_key(command);
    }
    let host = PluginHost::new(HostConfig {
        module_cache_dir: module_cache_dir(),
        ..HostConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let registry = registry(&host, &cli.plugins)?;
    match cli.command {
        Command::Validate { flows, format } => Ok(validate(&registry, &flows, format)),
        Command::Test { paths, log_dir } => test(&registry, &paths, log_dir.as_deref()),
        Command::Call { flow, options } => call(&registry, &flow, options),
        Command::Replay { log, flow } => replay_log(&registry, &log, flow.as_deref()),
        Command::Plugin {
            command: PluginCommand::Check { path, format },
        } => Ok(plugin_check(&host, &path, format)),
        Command::Plugin {
            command:
                PluginCommand::Install {
                    path,
                    data_dir,
                    database_url,
                },
        } => crate::tenant_plugins::install_command(&host, &path, data_dir, database_url),
        Command::Redact {
            classes,
            format,
            action,
            keep_last4,
        } => redact(classes.as_deref(), format, &action, keep_last4),
        Command::Evidence { .. } => unreachable!("handled before the plugins load"),
        Command::Outbound { .. }
        | Command::Serve(_)
        | Command::MasterKey { .. }
        | Command::Flow { .. } => {
            unreachable!("handled before the plugins load")
        }
    }
}

/// `$SWITCHYARD_CACHE_DIR`, else `$XDG_CACHE_HOME/switchyard/modules`,
/// else `~/.cache/switchyard/modules`: compiled plugins survive between runs.
fn module_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SWITCHYARD_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("switchyard/modules"))
}

fn registry(host: &PluginHost, extra: &[PathBuf]) -> Result<PluginRegistry, String> {
    let mut registry = host
        .bundled_registry()
        .map_err(|e| format!("bundled plugins: {e}"))?;
    for dir in extra {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut packages: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("manifest.json").is_file())
            .collect();
        if dir.join("manifest.json").is_file() {
            packages.push(dir.clone());
        }
        packages.sort();
        for package in packages {
            let plugin = host
                .load_dir(&package, false)
                .map_err(|e| format!("{}: {e}", package.display()))?;
            registry.insert(plugin);
        }
    }
    Ok(registry)
}

fn flow_dir(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn validate(registry: &PluginRegistry, files: &[PathBuf], format: Format) -> ExitCode {
    let mut any = false;
    let mut reports = Vec::new();
    for file in files {
        let problems = match std::fs::read_to_string(file) {
            Err(e) => vec![json!({"pointer": "", "code": "unreadable", "message": e.to_string()})],
            Ok(text) => {
                let siblings = WithBundled(DirFlowSource {
                    dir: flow_dir(file),
                });
                let resolver = |name: &str| returns_of(&siblings, name);
                let (_, problems) = validate_source(&text, registry, Some(&resolver));
                problems
                    .iter()
                    .map(|p| serde_json::to_value(p).unwrap_or_default())
                    .collect()
            }
        };
        any |= !problems.is_empty();
        if format == Format::Text {
            if problems.is_empty() {
                println!("{}: ok", file.display());
            } else {
                println!(
                    "{}: {} problem{}",
                    file.display(),
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
                for p in &problems {
                    let pointer = p["pointer"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .unwrap_or("/");
                    print!(
                        "  {pointer}: {} [{}]",
                        p["message"].as_str().unwrap_or_default(),
                        p["code"].as_str().unwrap_or_default()
                    );
                    if let Some(path) = p["path"].as_array() {
                        let names: Vec<&str> = path.iter().filter_map(|v| v.as_str()).collect();
                        print!(" path: {}", names.join(" → "));
                    }
                    println!();
                }
            }
        }
        reports.push(json!({"file": file.display().to_string(), "problems": problems}));
    }
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
    }
    if any {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn convo_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() || entry.extension().is_some_and(|e| e == "convo") {
                convo_files(&entry, out)?;
            }
        }
        Ok(())
    } else if path.exists() {
        out.push(path.to_path_buf());
        Ok(())
    } else {
        Err(format!("{}: no such file or directory", path.display()))
    }
}

fn test(
    registry: &PluginRegistry,
    paths: &[PathBuf],
    log_dir: Option<&Path>,
) -> Result<ExitCode, String> {
    let mut files = Vec::new();
    for path in paths {
        convo_files(path, &mut files)?;
    }
    if files.is_empty() {
        return Err("no *.convo files found".into());
    }
    if let Some(dir) = log_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let report = convo::run_file(registry, file);
        print!("{}", report.render());
        if report.passed() {
            println!();
            passed += 1;
        } else {
            for line in &report.transcript {
                println!("    | {line}");
            }
            failed += 1;
        }
        if let Some(dir) = log_dir {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let path = dir.join(format!("{name}.jsonl"));
            std::fs::write(&path, report.log.to_jsonl())
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Loads a flow file (or bundled flow by name) with its sub-flows.
fn load_flows(registry: &PluginRegistry, flow: &str) -> Result<(FlowSet, String), String> {
    let path = Path::new(flow);
    let (text, source): (String, Box<dyn FlowSource>) = if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{flow}: {e}"))?;
        (
            text,
            Box::new(WithBundled(DirFlowSource {
                dir: flow_dir(path),
            })),
        )
    } else if let Some(text) = bundled_flows::get(flow) {
        (text.to_owned(), Box::new(bundled_flows::BundledFlows))
    } else {
        let names: Vec<&str> = bundled_flows::BUNDLED_FLOWS
            .iter()
            .map(|(n, _)| *n)
            .collect();
        return Err(format!(
            "{flow}: no such file, and no bundled flow by that name (bundled: {})",
            names.join(", ")
        ));
    };
    let flows = load_flow_set(&text, source.as_ref(), registry).map_err(|failures| {
        let mut message = format!("{flow} is invalid:");
        for failure in failures {
            for problem in failure.problems {
                message.push_str(&format!("\n  {}: {problem}", failure.flow));
            }
        }
        message
    })?;
    Ok((flows, flow.to_owned()))
}

/// How `switchyard call` sets up the call and what it keeps afterwards.
#[derive(Debug, clap::Args)]
struct CallOptions {
    /// The caller's number.
    #[arg(long, default_value = "+15555550100")]
    from: String,
    /// The called number.
    #[arg(long, default_value = "+15555550199")]
    to: String,
    /// Pretend the call starts at this RFC 3339 time (the clock still runs).
    #[arg(long)]
    at: Option<String>,
    /// Write the call's event log here when it ends.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// The caller's locale (default: the flow's).
    #[arg(long)]
    locale: Option<String>,
    /// Compliance templates enabled on top of the flow's own (comma list).
    #[arg(long, value_delimiter = ',')]
    templates: Vec<String>,
    /// Write the call's signed compliance evidence here when it ends.
    #[arg(long, value_name = "FILE")]
    evidence: Option<PathBuf>,
    /// The signing key for `--evidence` (created with its `.pub` beside it
    /// if missing).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "switchyard-data/evidence.key"
    )]
    evidence_key: PathBuf,
    /// Send captured cards to this payment processor (an HTTPS request
    /// signed with the shared secret) instead of the in-memory vault.
    #[arg(long, value_name = "URL", requires = "tokenizer_secret_file")]
    tokenizer_url: Option<String>,
    /// The processor's shared signing secret: the file's first line.
    #[arg(long, value_name = "FILE", requires = "tokenizer_url")]
    tokenizer_secret_file: Option<PathBuf>,
    /// Trust this PEM CA certificate for the processor instead of the public roots.
    #[arg(long, value_name = "FILE", requires = "tokenizer_url")]
    tokenizer_ca: Option<PathBuf>,
}

/// The tokenizer for `switchyard call`: the processor at `--tokenizer-url`
/// when given, else the in-memory vault.
fn call_tokenizer(
    url: Option<String>,
    secret_file: Option<&Path>,
    ca: Option<&Path>,
) -> Result<Box<dyn PaymentTokenizer>, String> {
    let Some(url) = url else {
        return Ok(Box::new(LocalVault::new()));
    };
    let secret_file = secret_file.ok_or("--tokenizer-url needs --tokenizer-secret-file")?;
    let mut options = TokenizerOptions::new(url, Vec::new());
    options.secret = read_secret_file(secret_file)?;
    if let Some(ca) = ca {
        options.ca_pem =
            Some(std::fs::read(ca).map_err(|e| format!("--tokenizer-ca {}: {e}", ca.display()))?);
    }
    Ok(Box::new(HttpsTokenizer::new(options)?))
}

fn call(registry: &PluginRegistry, flow: &str, options: CallOptions) -> Result<ExitCode, String> {
    let CallOptions {
        from,
        to,
        at,
        log: log_path,
        locale,
        templates,
        evidence,
        evidence_key,
        tokenizer_url,
        tokenizer_secret_file,
        tokenizer_ca,
    } = options;
    // Load the key first: a bad key path should fail before the call, not
    // after the caller has talked for five minutes.
    let signer = match &evidence {
        Some(_) => Some(evidence_cli::load_or_create_key(&evidence_key)?),
        None => None,
    };
    // Likewise the processor's secret, CA and URL.
    let tokenizer = call_tokenizer(
        tokenizer_url,
        tokenizer_secret_file.as_deref(),
        tokenizer_ca.as_deref(),
    )?;
    let (flows, source) = load_flows(registry, flow)?;
    let real_start = Instant::now();
    let start_ms = match at {
        Some(at) => chrono::DateTime::parse_from_rfc3339(&at)
            .map_err(|e| format!("--at {at}: {e}"))?
            .timestamp_millis(),
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default(),
    };
    // `/silence N` moves the call's clock ahead of the wall clock; `skew`
    // keeps later readings consistent with it.
    let skew = std::cell::Cell::new(0_i64);
    let now = || start_ms + real_start.elapsed().as_millis() as i64 + skew.get();
    let setup = CallSetup {
        from,
        to,
        locale: locale.unwrap_or_default(),
        templates,
        ..CallSetup::test(&format!("cli-{start_ms}"), start_ms)
    };
    let mut session = CallSession::new(Arc::new(flows), setup).with_flow_source(source);
    eprintln!(
        "Calling {flow}. Type keys (1, 42#), words to speak, /silence 5, /hangup. Ctrl-D hangs up."
    );
    let lines = stdin_lines();
    show(&session.start());
    let mut noted = 0;
    note_guard(&session, &mut noted);
    while session.ended().is_none() {
        if let Some(kind) = session.awaiting() {
            let answer = match kind {
                "transfer" => Input::TransferResult {
                    ok: true,
                    reason: None,
                },
                "llm" => prompt_answer(
                    &lines,
                    "model reply (text, or `tool NAME {json} text`)",
                    parse_llm,
                )?,
                "http" => prompt_answer(
                    &lines,
                    "endpoint answer (`200 {json}` or `error MSG`)",
                    parse_http,
                )?,
                "secure_capture" => secure_capture(&lines, &session, tokenizer.as_ref()),
                other => {
                    return Err(format!(
                        "the {other} channel is not available in the terminal"
                    ));
                }
            };
            session.deliver(Input::Clock { now_ms: now() });
            show(&session.deliver(answer));
            note_guard(&session, &mut noted);
            continue;
        }
        let wait = session
            .next_deadline()
            .map(|d| Duration::from_millis((d - now()).max(0) as u64));
        let line = match wait {
            Some(wait) => lines.recv_timeout(wait),
            None => lines.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let input = match line {
            Err(RecvTimeoutError::Timeout) => Input::Clock {
                now_ms: session.next_deadline().unwrap_or_else(now),
            },
            Err(RecvTimeoutError::Disconnected) => Input::Hangup,
            Ok(line) => match terminal_input(&line, session.now_ms()) {
                Some(input) => input,
                None => continue,
            },
        };
        match input {
            Input::Clock { now_ms } => skew.set(skew.get() + (now_ms - now()).max(0)),
            _ => {
                session.deliver(Input::Clock { now_ms: now() });
            }
        }
        show(&session.deliver(input));
        note_guard(&session, &mut noted);
    }
    eprintln!("(call ended: {})", session.ended().unwrap_or_default());
    if let Some(path) = &log_path {
        std::fs::write(path, session.log().to_jsonl())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("(event log written to {})", path.display());
    }
    if let (Some(path), Some(signer)) = (&evidence, &signer) {
        let record = session.evidence().seal(signer);
        std::fs::write(path, record.to_json_pretty())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!(
            "(compliance evidence written to {}, signed by key {})",
            path.display(),
            signer.key_id()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A secure-capture window in the terminal: the runtime's collector asks for
/// the card, the tokenizer (the local vault or the tenant's processor)
/// tokenizes it, and the call gets only the token.
fn secure_capture(
    lines: &mpsc::Receiver<String>,
    session: &CallSession,
    tokenizer: &dyn PaymentTokenizer,
) -> Input {
    let fields = CaptureField::from_names(session.capture_fields().unwrap_or_default());
    let (mut collector, prompt) = SecureCollector::new(&fields, session.now_ms(), session.locale());
    println!("agent: {prompt}");
    let mut step = CollectStep::Wait;
    loop {
        match step {
            CollectStep::Done(result) => {
                // The port promises errors without the card's digits.
                let token = finish(result, tokenizer)
                    .inspect_err(|e| eprintln!("(card not tokenized: {e})"))
                    .ok();
                return Input::secure_result(collector.attempts(), token);
            }
            CollectStep::Prompt(prompt) => println!("agent: {prompt}"),
            CollectStep::Wait => {}
        }
        std::io::stdout().flush().ok();
        step = match lines.recv_timeout(Duration::from_secs(15)) {
            Ok(keys) => collector.keys(keys.trim()),
            Err(RecvTimeoutError::Timeout) => collector.timeout(),
            Err(RecvTimeoutError::Disconnected) => CollectStep::Done(Err(
                switchyard_runtime::policy::secure_capture::CaptureFailure::NoInput,
            )),
        };
    }
}

fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn prompt_answer(
    lines: &mpsc::Receiver<String>,
    what: &str,
    parse: fn(&str) -> Result<Input, String>,
) -> Result<Input, String> {
    loop {
        eprint!("{what}> ");
        std::io::stderr().flush().ok();
        let line = lines
            .recv()
            .map_err(|_| "standard input closed".to_owned())?;
        match parse(line.trim()) {
            Ok(input) => return Ok(input),
            Err(e) => eprintln!("{e}"),
        }
    }
}

/// Reads one terminal line as caller input.
fn terminal_input(line: &str, now_ms: i64) -> Option<Input> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    if line == "/hangup" {
        return Some(Input::Hangup);
    }
    if let Some(seconds) = line.strip_prefix("/silence") {
        let seconds: f64 = seconds.trim().trim_end_matches('s').parse().unwrap_or(5.0);
        return Some(Input::Clock {
            now_ms: now_ms + (seconds * 1000.0) as i64,
        });
    }
    if line
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#'))
    {
        return Some(Input::Digits {
            digits: line.to_owned(),
        });
    }
    Some(Input::Speech {
        text: line.to_owned(),
    })
}

/// Tells the person at the terminal what the compliance guard refused or
/// did on its own since the last look, so a flow that "does nothing" explains
/// itself ("record refused: the caller has not consented to recording").
fn note_guard(session: &CallSession, seen: &mut usize) {
    for item in session.evidence().items().skip(*seen) {
        match item {
            EvidenceItem::Refused {
                node,
                action,
                reason,
            } => eprintln!("(guard: {action} at node \"{node}\" refused: {reason})"),
            EvidenceItem::OptOut { via, matched, .. } => {
                eprintln!("(guard: the caller opted out of recording by {via}: \"{matched}\")")
            }
            EvidenceItem::HumanClaimReplaced { .. } => {
                eprintln!(
                    "(guard: the model claimed to be human; the truthful answer was said instead)"
                )
            }
            _ => {}
        }
    }
    *seen = session.evidence().items().len();
}

fn show(actions: &[Action]) {
    for action in actions {
        match action {
            Action::Say { text, .. } => println!("agent: {}", convo::fold(text)),
            Action::Gather(_)
            | Action::Listen { .. }
            | Action::Llm(_)
            | Action::Subflow { .. }
            | Action::SetVars { .. } => {}
            other => println!("[{}]", describe(other)),
        }
    }
    std::io::stdout().flush().ok();
}

fn replay_log(
    registry: &PluginRegistry,
    log_path: &Path,
    flow: Option<&Path>,
) -> Result<ExitCode, String> {
    let text =
        std::fs::read_to_string(log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log = EventLog::from_jsonl(&text).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let flow = match flow {
        Some(flow) => flow.display().to_string(),
        None => log
            .entries()
            .first()
            .and_then(|e| match &e.entry {
                switchyard_runtime::exec::Entry::Started {
                    flow_source: Some(source),
                    ..
                } => Some(source.clone()),
                _ => None,
            })
            .ok_or("the log does not say which flow it ran; pass --flow FILE")?,
    };
    let (flows, _) = load_flows(registry, &flow)?;
    let report = replay(&log, Arc::new(flows))?;
    for mismatch in &report.version_mismatches {
        println!("version mismatch: {mismatch}");
    }
    match &report.first_difference {
        None if report.matches() => {
            println!(
                "replayed {} actions of {}: all match",
                report.replayed,
                log_path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        None => Ok(ExitCode::from(1)),
        Some((index, recorded, replayed)) => {
            let show = |a: &Option<(String, Action)>| {
                a.as_ref()
                    .map(|(node, action)| format!("{node}: {}", describe(action)))
                    .unwrap_or_else(|| "(nothing)".into())
            };
            println!("action {index} differs");
            println!("- recorded: {}", show(recorded));
            println!("+ replayed: {}", show(replayed));
            Ok(ExitCode::from(1))
        }
    }
}

fn plugin_check(host: &PluginHost, path: &Path, format: Format) -> ExitCode {
    let dir = if path.is_file() {
        flow_dir(path)
    } else {
        path.to_path_buf()
    };
    let report = check_package_dir(host, &dir);
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        let name = report
            .plugin
            .clone()
            .unwrap_or_else(|| dir.display().to_string());
        if report.ok() {
            println!("ok: {name} {}", report.digest.clone().unwrap_or_default());
        } else {
            println!(
                "{name}: {} problem{}",
                report.problems.len(),
                if report.problems.len() == 1 { "" } else { "s" }
            );
        }
        for problem in &report.problems {
            println!("  error: {problem}");
        }
        for warning in &report.warnings {
            println!("  warning: {warning}");
        }
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `switchyard redact`: stdin to stdout, each line a turn of one
/// conversation (so a number split across lines is still found). Spans are
/// byte offsets in the whole input.
fn redact(
    classes: Option<&str>,
    format: Format,
    action: &str,
    keep_last4: bool,
) -> Result<ExitCode, String> {
    use std::io::Read;
    use switchyard_runtime::policy::redact::{Action, RedactionConfig, Redactor, Span};

    let action = match action {
        "token" => Action::Token,
        "mask" => Action::Mask,
        "drop" => Action::Drop,
        other => {
            return Err(format!(
                "unknown action {other:?} (known: token, mask, drop)"
            ));
        }
    };
    let config = match classes {
        Some(list) => RedactionConfig::from_class_list(list, action).map_err(|e| e.to_string())?,
        None => RedactionConfig::all(action),
    }
    .keep_last4(keep_last4);
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("standard input: {e}"))?;
    let turns: Vec<&str> = input.split('\n').collect();
    let redacted = Redactor::new(config).redact_conversation(&turns);
    let mut text = String::with_capacity(input.len());
    let mut spans: Vec<Span> = Vec::new();
    let mut offset = 0;
    for (k, (turn, out)) in turns.iter().zip(&redacted).enumerate() {
        if k > 0 {
            text.push('\n');
        }
        text.push_str(&out.text);
        spans.extend(out.spans.iter().map(|s| Span {
            start: s.start + offset,
            end: s.end + offset,
            ..s.clone()
        }));
        offset += turn.len() + 1;
    }
    let mut stdout = std::io::stdout().lock();
    let written = if format == Format::Json {
        let mut counts = serde_json::Map::new();
        for span in &spans {
            let n = counts
                .get(span.class.name())
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            counts.insert(span.class.name().to_owned(), json!(n + 1));
        }
        let report = json!({"text": text, "spans": spans, "counts": counts});
        writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        )
    } else {
        write!(stdout, "{text}")
    };
    written.map_err(|e| format!("standard output: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
