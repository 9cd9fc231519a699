//! Conversation tests (`*.convo`) on the text channel, with a virtual clock.
//!
//! One directive a line (see DESIGN.md, "Conversation tests"):
//!
//! | line | meaning |
//! |---|---|
//! | `# ...` | comment |
//! | `flow: FILE` | the flow under test, relative to the test file |
//! | `call: k=v ...` | `from`, `to`, `at` (RFC 3339), `locale`, `jurisdiction` (comma list), `templates` (compliance templates the tenant enabled, comma list), `id`; other keys become call vars |
//! | `agent: TEXT` | the agent's next utterance, whitespace folded |
//! | `agent~: REGEX` | the same, as a regular expression over the whole utterance |
//! | `caller: DIGITS` / `caller: silence 5s` / `caller: hangup` | keys, time passing, hang-up; in a secure-capture window keys go to the runtime's sealed card collector (the transcript shows `(card keys, sealed)`) |
//! | `caller says: TEXT` | an utterance |
//! | `llm: TEXT` / `llm: tool NAME {json} ... TEXT` / `llm: error MSG` | the model's next reply |
//! | `http: STATUS {json}` / `http: error MSG` | the endpoint's next answer |
//! | `transfer: ok` / `transfer: busy` | how the next transfer ends (default `ok`) |
//! | `expect: ACTION ARGS` | the next action of that kind, e.g. `record start`, `transfer sip:sales@acme`, `hangup` |
//! | `expect: var NAME=VALUE` | a call variable holds that value now |
//!
//! The agent's speech must be asserted in order: an utterance nobody
//! asserted before the caller's next move (or the end) fails the test.
//! Other actions may be asserted with `expect:` or left alone.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;
use switchyard_sdk::protocol::{Action, RecordOp, ToolCall};

use crate::exec::{CallSession, CallSetup, EventLog, FlowSet, Input};
use crate::flow::{FlowSource, load_flow_set, lookup_var};
use crate::host::PluginRegistry;
use crate::policy::evidence::EvidenceLog;
use crate::policy::secure_capture::{
    CaptureField, CollectStep, LocalVault, SecureCollector, finish,
};

/// When a test gives no `at=`: 2026-01-01T12:00:00Z.
pub const DEFAULT_START_MS: i64 = 1_767_268_800_000;

/// One parsed line.
#[derive(Debug, Clone)]
enum Directive {
    Flow(String),
    Call(Vec<(String, String)>),
    Agent(String),
    AgentRegex(Regex),
    Caller(Input),
    Silence(i64),
    Llm(Input),
    Http(Input),
    Transfer(Input),
    Expect(String),
    ExpectVar(String, String),
}

#[derive(Debug, Clone)]
struct Line {
    number: usize,
    text: String,
    directive: Directive,
}

/// Why a conversation test failed, at which line.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub line: usize,
    /// The test line, as written.
    pub text: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}

/// The result of one conversation test.
#[derive(Debug, Clone, Serialize)]
pub struct ConvoReport {
    pub file: String,
    pub failure: Option<Failure>,
    /// What was said and done, in order, for humans.
    pub transcript: Vec<String>,
    /// The call's event log (replayable).
    #[serde(skip)]
    pub log: EventLog,
    /// The flow set the test ran, for replay.
    #[serde(skip)]
    pub flows: Option<Arc<FlowSet>>,
    /// The call's compliance evidence (unsealed).
    #[serde(skip)]
    pub evidence: Option<EvidenceLog>,
}

impl ConvoReport {
    /// True when every line held.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// `PASS file` or a diff-like failure naming file and line.
    pub fn render(&self) -> String {
        match &self.failure {
            None => format!("PASS {}", self.file),
            Some(f) => {
                let mut out = format!(
                    "FAIL {}:{}: {}\n  {}\n",
                    self.file, f.line, f.message, f.text
                );
                if let Some(expected) = &f.expected {
                    out.push_str(&format!("- expected: {expected}\n"));
                }
                if let Some(actual) = &f.actual {
                    out.push_str(&format!("+ actual:   {actual}\n"));
                }
                out
            }
        }
    }
}

/// Parses a whole script; every malformed line is reported.
fn parse(script: &str) -> Result<Vec<Line>, Vec<Failure>> {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in script.lines().enumerate() {
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        match parse_line(text) {
            Ok(directive) => lines.push(Line {
                number: i + 1,
                text: text.to_owned(),
                directive,
            }),
            Err(message) => errors.push(Failure {
                line: i + 1,
                text: text.to_owned(),
                message,
                expected: None,
                actual: None,
            }),
        }
    }
    if errors.is_empty() {
        Ok(lines)
    } else {
        Err(errors)
    }
}

fn parse_line(text: &str) -> Result<Directive, String> {
    let (key, rest) = text
        .split_once(':')
        .ok_or_else(|| "expected `keyword: ...` (flow, call, agent, caller, caller says, llm, http, transfer, expect)".to_owned())?;
    let rest = rest.trim();
    Ok(match key.trim() {
        "flow" => Directive::Flow(rest.to_owned()),
        "call" => Directive::Call(
            rest.split_whitespace()
                .map(|kv| {
                    kv.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .ok_or(format!("`{kv}` is not key=value"))
                })
                .collect::<Result<_, _>>()?,
        ),
        "agent" => Directive::Agent(fold(rest)),
        "agent~" => Directive::AgentRegex(
            Regex::new(&format!("^(?:{rest})$"))
                .map_err(|e| format!("bad regular expression: {e}"))?,
        ),
        "caller" => parse_caller(rest)?,
        "caller says" => Directive::Caller(Input::Speech {
            text: rest.to_owned(),
        }),
        "llm" => Directive::Llm(parse_llm(rest)?),
        "http" => Directive::Http(parse_http(rest)?),
        "transfer" => Directive::Transfer(match rest {
            "ok" => Input::TransferResult {
                ok: true,
                reason: None,
            },
            other => Input::TransferResult {
                ok: false,
                reason: Some(other.to_owned()),
            },
        }),
        "expect" => match rest.strip_prefix("var ") {
            Some(assignment) => {
                let (name, value) = assignment
                    .split_once('=')
                    .ok_or("expected `expect: var NAME=VALUE`")?;
                Directive::ExpectVar(name.trim().to_owned(), value.trim().to_owned())
            }
            None if rest.is_empty() => {
                return Err("`expect:` needs an action, e.g. `expect: hangup`".into());
            }
            None => Directive::Expect(fold(rest)),
        },
        other => return Err(format!("unknown keyword `{other}`")),
    })
}

fn parse_caller(rest: &str) -> Result<Directive, String> {
    if rest == "hangup" {
        return Ok(Directive::Caller(Input::Hangup));
    }
    if let Some(duration) = rest.strip_prefix("silence") {
        return parse_duration(duration.trim()).map(Directive::Silence);
    }
    if !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
    {
        return Ok(Directive::Caller(Input::Digits {
            digits: rest.to_owned(),
        }));
    }
    Err(format!(
        "`{rest}` is not keys (0-9 * # A-D), `silence Ns` or `hangup`; use `caller says:` for speech"
    ))
}

/// `5s`, `500ms`, `2m`.
fn parse_duration(text: &str) -> Result<i64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 5s or 500ms"))?;
    let scale = match unit.trim() {
        "ms" => 1.0,
        "s" | "" => 1000.0,
        "m" | "min" => 60_000.0,
        other => return Err(format!("unknown duration unit `{other}` (ms, s, m)")),
    };
    Ok((number * scale) as i64)
}

/// Parses the text of an `llm:` line into the model's reply.
///
/// # Errors
/// When a tool call has no JSON arguments.
pub fn parse_llm(rest: &str) -> Result<Input, String> {
    if let Some(message) = rest.strip_prefix("error") {
        return Ok(Input::LlmReply {
            text: String::new(),
            tool_calls: vec![],
            error: Some(message.trim().to_owned()),
        });
    }
    let mut tool_calls = Vec::new();
    let mut text = rest;
    while let Some(after) = text.strip_prefix("tool ") {
        let after = after.trim_start();
        let name_end = after.find(char::is_whitespace).unwrap_or(after.len());
        let (name, json) = after.split_at(name_end);
        let mut stream = serde_json::Deserializer::from_str(json).into_iter::<Value>();
        let arguments = match stream.next() {
            Some(Ok(value)) => value,
            _ => {
                return Err(format!(
                    "tool `{name}` needs JSON arguments, e.g. `llm: tool {name} {{}}`"
                ));
            }
        };
        text = json[stream.byte_offset()..].trim_start();
        tool_calls.push(ToolCall {
            id: String::new(),
            name: name.to_owned(),
            arguments,
        });
    }
    Ok(Input::LlmReply {
        text: text.to_owned(),
        tool_calls,
        error: None,
    })
}

/// Parses the text of an `http:` line into the endpoint's answer.
///
/// # Errors
/// When the status or body is malformed.
pub fn parse_http(rest: &str) -> Result<Input, String> {
    if let Some(message) = rest.strip_prefix("error") {
        return Ok(Input::HttpResult {
            status: 0,
            body: Value::Null,
            error: Some(message.trim().to_owned()),
        });
    }
    let (status, body) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let status: u16 = status
        .parse()
        .map_err(|_| format!("`{status}` is not an HTTP status"))?;
    let body = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body.trim()).map_err(|e| format!("response body is not JSON: {e}"))?
    };
    Ok(Input::HttpResult {
        status,
        body,
        error: None,
    })
}

/// Folds runs of whitespace into one space and trims.
pub fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How an action reads in `expect:` lines and transcripts.
pub fn describe(action: &Action) -> String {
    match action {
        Action::Say { text, .. } => format!("say {text}"),
        Action::Play { url, .. } => format!("play {url}"),
        Action::Gather(g) => format!(
            "gather{}{}",
            if g.digits { " digits" } else { "" },
            if g.speech { " speech" } else { "" }
        ),
        Action::Listen { .. } => "listen".into(),
        Action::Record {
            op: RecordOp::Start,
        } => "record start".into(),
        Action::Record { op: RecordOp::Stop } => "record stop".into(),
        Action::Disclose { kind } => format!(
            "disclose {}",
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
        Action::SecureCapture { .. } => "secure_capture".into(),
        Action::Llm(_) => "llm".into(),
        Action::Http(h) => format!("http {} {}", h.endpoint, h.method),
        Action::Transfer { to } => format!("transfer {to}"),
        Action::Hangup { .. } => "hangup".into(),
        Action::SetVars { vars } => {
            format!(
                "set_vars {}",
                vars.iter()
                    .map(|(k, v)| format!("{k}={}", render(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        Action::Subflow { flow } => format!("subflow {flow}"),
    }
}

fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether the action is only plumbing (waiting, model calls) that tests
/// never need to see.
fn is_internal(action: &Action) -> bool {
    matches!(
        action,
        Action::Gather(_)
            | Action::Listen { .. }
            | Action::Llm(_)
            | Action::Subflow { .. }
            | Action::SetVars { .. }
    )
}

/// Runs a conversation test given as text. `load` reads a file named in the
/// script (`flow:`), relative to the test; sub-flows are looked up as
/// `NAME.json` beside the flow file.
pub fn run_source(
    plugins: &PluginRegistry,
    script: &str,
    file: &str,
    load: &dyn Fn(&str) -> Result<String, String>,
) -> ConvoReport {
    let mut report = ConvoReport {
        file: file.to_owned(),
        failure: None,
        transcript: Vec::new(),
        log: EventLog::default(),
        flows: None,
        evidence: None,
    };
    let lines = match parse(script) {
        Ok(lines) => lines,
        Err(mut errors) => {
            report.failure = Some(errors.remove(0));
            return report;
        }
    };
    let fail = |line: &Line, message: String| Failure {
        line: line.number,
        text: line.text.clone(),
        message,
        expected: None,
        actual: None,
    };
    let Some(flow_line) = lines
        .iter()
        .find(|l| matches!(l.directive, Directive::Flow(_)))
    else {
        report.failure = Some(Failure {
            line: 1,
            text: String::new(),
            message: "no `flow:` line names the flow under test".into(),
            expected: None,
            actual: None,
        });
        return report;
    };
    let Directive::Flow(flow_file) = &flow_line.directive else {
        unreachable!("matched above")
    };
    let source = match load(flow_file) {
        Ok(source) => source,
        Err(e) => {
            report.failure = Some(fail(flow_line, format!("cannot read flow: {e}")));
            return report;
        }
    };
    let flow_dir = Path::new(flow_file)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let subflows = LoaderSource {
        dir: &flow_dir,
        load,
    };
    let flows = match load_flow_set(&source, &subflows, plugins) {
        Ok(flows) => Arc::new(flows),
        Err(problems) => {
            let detail = problems
                .iter()
                .flat_map(|p| {
                    p.problems
                        .iter()
                        .map(move |problem| format!("{}: {problem}", p.flow))
                })
                .collect::<Vec<_>>()
                .join("; ");
            report.failure = Some(fail(flow_line, format!("flow is invalid: {detail}")));
            return report;
        }
    };
    let mut setup = CallSetup::test(
        &format!("convo-{}", fold(file).replace(' ', "-")),
        DEFAULT_START_MS,
    );
    for line in &lines {
        if let Directive::Call(pairs) = &line.directive
            && let Err(message) = apply_call(&mut setup, pairs)
        {
            report.failure = Some(fail(line, message));
            return report;
        }
    }
    let flow_path = Path::new(file)
        .parent()
        .unwrap_or(Path::new(""))
        .join(flow_file);
    let session =
        CallSession::new(flows.clone(), setup).with_flow_source(flow_path.to_string_lossy());
    let mut runner = Runner::new(session);
    report.flows = Some(flows);
    let start = runner.session.start();
    runner.absorb(start);
    for line in &lines {
        if let Err(failure) = runner.run_line(line) {
            report.failure = Some(failure);
            break;
        }
    }
    if report.failure.is_none()
        && let Some(said) = runner.pending_say()
    {
        let last = lines.last().map(|l| l.number + 1).unwrap_or(1);
        report.failure = Some(Failure {
            line: last,
            text: "(end of test)".into(),
            message: "the agent said something the test does not assert".into(),
            expected: None,
            actual: Some(said),
        });
    }
    report.transcript = runner.transcript;
    report.log = runner.session.log().clone();
    report.evidence = Some(runner.session.evidence().clone());
    report
}

struct LoaderSource<'a> {
    dir: &'a Path,
    load: &'a dyn Fn(&str) -> Result<String, String>,
}

impl FlowSource for LoaderSource<'_> {
    fn source(&self, name: &str) -> Option<String> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return None;
        }
        let path = self.dir.join(format!("{name}.json"));
        (self.load)(&path.to_string_lossy()).ok()
    }
}

fn apply_call(setup: &mut CallSetup, pairs: &[(String, String)]) -> Result<(), String> {
    for (key, value) in pairs {
        match key.as_str() {
            "from" => setup.from = value.clone(),
            "to" => setup.to = value.clone(),
            "id" => setup.id = value.clone(),
            "locale" => setup.locale = value.clone(),
            "jurisdiction" => setup.jurisdiction = value.split(',').map(str::to_owned).collect(),
            "templates" => setup.templates = value.split(',').map(str::to_owned).collect(),
            "at" => setup.start_ms = chrono::DateTime::parse_from_rfc3339(value)
                .map_err(|e| {
                    format!(
                        "`at={value}` is not an RFC 3339 time like 2026-11-21T22:30:00-08:00: {e}"
                    )
                })?
                .timestamp_millis(),
            name => {
                setup
                    .vars
                    .insert(name.to_owned(), Value::String(value.clone()));
            }
        }
    }
    Ok(())
}

/// Drives a session line by line.
struct Runner {
    session: CallSession,
    /// What the agent did and the test has not yet consumed.
    outbox: VecDeque<Action>,
    transfer_answers: VecDeque<Input>,
    tool_ids: u32,
    transcript: Vec<String>,
    /// An open secure-capture window: card keys go here, not to the session.
    capture: Option<SecureCollector>,
    /// The payment processor of the text channel.
    vault: LocalVault,
}

impl Runner {
    fn new(session: CallSession) -> Self {
        Runner {
            session,
            outbox: VecDeque::new(),
            transfer_answers: VecDeque::new(),
            tool_ids: 0,
            transcript: Vec::new(),
            capture: None,
            vault: LocalVault::new(),
        }
    }

    fn absorb(&mut self, actions: Vec<Action>) {
        for action in actions {
            if let Action::SecureCapture { fields } = &action {
                let (collector, prompt) = SecureCollector::new(
                    &CaptureField::from_names(fields),
                    self.session.now_ms(),
                    self.session.locale(),
                );
                self.capture = Some(collector);
                self.transcript.push("[secure_capture]".into());
                self.outbox.push_back(action);
                self.say(prompt);
                continue;
            }
            match &action {
                Action::Say { text, .. } => self.transcript.push(format!("agent: {}", fold(text))),
                other if !is_internal(other) => {
                    self.transcript.push(format!("[{}]", describe(other)))
                }
                _ => {}
            }
            if !is_internal(&action) {
                self.outbox.push_back(action);
            }
        }
    }

    fn deliver(&mut self, input: Input) {
        let actions = self.session.deliver(input);
        self.absorb(actions);
    }

    /// The runtime's own words (the secure-capture prompts).
    fn say(&mut self, text: String) {
        self.transcript.push(format!("agent: {}", fold(&text)));
        self.outbox.push_back(Action::Say {
            text,
            barge_in: false,
        });
    }

    /// Hands a secure-capture step on: a prompt to say, or the sealed result
    /// (a token, never the digits) to the session.
    fn capture_step(&mut self, step: CollectStep) {
        let attempts = self.capture.as_ref().map_or(0, |c| c.attempts());
        let result = match step {
            CollectStep::Wait => return,
            CollectStep::Prompt(prompt) => return self.say(prompt),
            CollectStep::Done(result) => result,
        };
        self.capture = None;
        let token = finish(result, &self.vault).ok();
        self.deliver(Input::secure_result(attempts, token));
    }

    /// Removes and returns the next utterance, leaving other actions in place.
    fn take_say(&mut self) -> Option<String> {
        let i = self
            .outbox
            .iter()
            .position(|a| matches!(a, Action::Say { .. }))?;
        match self.outbox.remove(i) {
            Some(Action::Say { text, .. }) => Some(fold(&text)),
            _ => None,
        }
    }

    /// Removes the first action matching `expected` and everything before
    /// it. `Err` carries an utterance that comes first and was not asserted.
    fn take_expected(&mut self, expected: &str) -> Result<bool, String> {
        for (i, action) in self.outbox.iter().enumerate() {
            let described = fold(&describe(action));
            if matches!(action, Action::Say { .. }) && !expected.starts_with("say") {
                return Err(described);
            }
            if word_prefix(expected, &described) {
                self.outbox.drain(..=i);
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn pending_say(&self) -> Option<String> {
        self.outbox.iter().find_map(|a| match a {
            Action::Say { text, .. } => Some(fold(text)),
            _ => None,
        })
    }

    /// A transfer nobody scripted succeeds: most tests are about what
    /// happens before the human picks up.
    fn settle_transfer(&mut self) {
        while self.session.awaiting() == Some("transfer") {
            let answer = self
                .transfer_answers
                .pop_front()
                .unwrap_or(Input::TransferResult {
                    ok: true,
                    reason: None,
                });
            self.deliver(answer);
        }
    }

    fn waiting_failure(&self, line: &Line) -> Option<Failure> {
        let kind = self.session.awaiting()?;
        let hint = match kind {
            "llm" => "script the model's reply with an `llm:` line",
            "http" => "script the endpoint's answer with an `http:` line",
            _ => "script the answer",
        };
        Some(Failure {
            line: line.number,
            text: line.text.clone(),
            message: format!("the agent is waiting for a {kind} answer; {hint}"),
            expected: None,
            actual: None,
        })
    }

    fn run_line(&mut self, line: &Line) -> Result<(), Failure> {
        let failure = |message: String, expected: Option<String>, actual: Option<String>| Failure {
            line: line.number,
            text: line.text.clone(),
            message,
            expected,
            actual,
        };
        match &line.directive {
            Directive::Flow(_) | Directive::Call(_) => Ok(()),
            Directive::Transfer(answer) => {
                self.transfer_answers.push_back(answer.clone());
                self.settle_transfer();
                Ok(())
            }
            Directive::Llm(reply) => self.answer("llm", reply.clone(), line),
            Directive::Http(reply) => self.answer("http", reply.clone(), line),
            Directive::Agent(_) | Directive::AgentRegex(_) => {
                if !self.outbox.iter().any(|a| matches!(a, Action::Say { .. })) {
                    self.settle_transfer();
                }
                let Some(said) = self.take_say() else {
                    if let Some(waiting) = self.waiting_failure(line) {
                        return Err(waiting);
                    }
                    let state = match self.session.ended() {
                        Some(reason) => format!("(call ended: {reason})"),
                        None => "(nothing: the agent is waiting for the caller)".to_owned(),
                    };
                    return Err(failure(
                        "the agent said something else".into(),
                        Some(expected_text(&line.directive)),
                        Some(state),
                    ));
                };
                let ok = match &line.directive {
                    Directive::Agent(expected) => *expected == said,
                    Directive::AgentRegex(re) => re.is_match(&said),
                    _ => unreachable!("agent lines only"),
                };
                if ok {
                    Ok(())
                } else {
                    Err(failure(
                        "the agent said something else".into(),
                        Some(expected_text(&line.directive)),
                        Some(said),
                    ))
                }
            }
            Directive::Expect(expected) => {
                let mut found = self.take_expected(expected);
                if matches!(found, Ok(false)) && self.session.awaiting() == Some("transfer") {
                    self.settle_transfer();
                    found = self.take_expected(expected);
                }
                match found {
                    Ok(true) => Ok(()),
                    Err(said) => Err(failure(
                        format!("the agent said something before `{expected}`"),
                        Some(expected.clone()),
                        Some(said),
                    )),
                    Ok(false) => {
                        if let Some(waiting) = self.waiting_failure(line) {
                            return Err(waiting);
                        }
                        let seen: Vec<String> = self.outbox.iter().map(describe).collect();
                        Err(failure(
                            "no such action".into(),
                            Some(expected.clone()),
                            Some(if seen.is_empty() {
                                "(no further actions)".into()
                            } else {
                                seen.join("; ")
                            }),
                        ))
                    }
                }
            }
            Directive::ExpectVar(name, value) => {
                let actual = lookup_var(self.session.vars(), name).map(render);
                if actual.as_deref() == Some(value.as_str()) {
                    Ok(())
                } else {
                    Err(failure(
                        format!("variable `{name}` differs"),
                        Some(value.clone()),
                        Some(actual.unwrap_or_else(|| "(not set)".into())),
                    ))
                }
            }
            Directive::Caller(input) => {
                self.settle_transfer();
                if let Some(said) = self.pending_say() {
                    return Err(failure(
                        "the agent said something the test does not assert".into(),
                        None,
                        Some(said),
                    ));
                }
                if let (Some(collector), Input::Digits { digits }) = (&mut self.capture, input) {
                    // Sealed: the keys go to the runtime's collector and
                    // appear nowhere, not even in the transcript.
                    let step = collector.keys(digits);
                    self.outbox.clear();
                    self.transcript.push("caller: (card keys, sealed)".into());
                    self.capture_step(step);
                    return Ok(());
                }
                if let Some(waiting) = self.waiting_failure(line) {
                    return Err(waiting);
                }
                if self.session.ended().is_some() {
                    return Err(failure(
                        "the call has already ended".into(),
                        None,
                        self.session.ended().map(str::to_owned),
                    ));
                }
                self.outbox.clear();
                self.transcript.push(match input {
                    Input::Digits { digits } => format!("caller: {digits}"),
                    Input::Speech { text } => format!("caller says: {text}"),
                    Input::Hangup => "caller: hangup".into(),
                    _ => String::new(),
                });
                self.deliver(input.clone());
                Ok(())
            }
            Directive::Silence(ms) => {
                self.settle_transfer();
                if let Some(said) = self.pending_say() {
                    return Err(failure(
                        "the agent said something the test does not assert".into(),
                        None,
                        Some(said),
                    ));
                }
                self.outbox.clear();
                self.transcript
                    .push(format!("caller: silence {}s", *ms as f64 / 1000.0));
                let to = self.session.now_ms() + ms;
                self.deliver(Input::Clock { now_ms: to });
                if let Some(collector) = &mut self.capture {
                    let step = collector.timeout();
                    self.capture_step(step);
                }
                Ok(())
            }
        }
    }

    fn answer(&mut self, kind: &str, mut reply: Input, line: &Line) -> Result<(), Failure> {
        self.settle_transfer();
        if self.session.awaiting() != Some(kind) {
            return Err(Failure {
                line: line.number,
                text: line.text.clone(),
                message: format!("no {kind} request is pending here"),
                expected: None,
                actual: Some(match self.session.awaiting() {
                    Some(other) => format!("the agent waits for {other}"),
                    None => "the agent waits for the caller".into(),
                }),
            });
        }
        if let Input::LlmReply { tool_calls, .. } = &mut reply {
            for call in tool_calls {
                self.tool_ids += 1;
                call.id = format!("call_{}", self.tool_ids);
            }
        }
        self.transcript.push(format!(
            "{kind}: {}",
            line.text
                .split_once(':')
                .map(|(_, r)| r.trim())
                .unwrap_or_default()
        ));
        self.deliver(reply);
        Ok(())
    }
}

fn expected_text(directive: &Directive) -> String {
    match directive {
        Directive::Agent(text) => text.clone(),
        Directive::AgentRegex(re) => format!("/{}/", re.as_str()),
        _ => String::new(),
    }
}

/// Whether the words of `expected` start the words of `actual`.
fn word_prefix(expected: &str, actual: &str) -> bool {
    let actual: Vec<&str> = actual.split(' ').collect();
    let expected: Vec<&str> = expected.split(' ').collect();
    expected.len() <= actual.len() && expected.iter().zip(&actual).all(|(e, a)| e == a)
}

/// Runs the conversation test in a file.
pub fn run_file(plugins: &PluginRegistry, path: &Path) -> ConvoReport {
    let file = path.display().to_string();
    let script = match std::fs::read_to_string(path) {
        Ok(script) => script,
        Err(e) => {
            return ConvoReport {
                file,
                failure: Some(Failure {
                    line: 0,
                    text: String::new(),
                    message: format!("cannot read: {e}"),
                    expected: None,
                    actual: None,
                }),
                transcript: Vec::new(),
                log: EventLog::default(),
                flows: None,
                evidence: None,
            };
        }
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let load = |relative: &str| {
        std::fs::read_to_string(dir.join(relative)).map_err(|e| format!("{relative}: {e}"))
    };
    run_source(plugins, &script, &file, &load)
}
