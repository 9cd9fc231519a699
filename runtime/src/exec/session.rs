//! One call's state machine.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_sdk::protocol::{
    ABI_VERSION, Action, CallInfo, Event, NodeInfo, StepInput, ToolCall, Vars,
};

use super::log::{CallSetup, Entry, EventLog};
use crate::flow::{Budget, CompiledFlow, Target, interpolate};
use crate::host::{StepError, StepErrorCode};
use crate::policy::evidence::{EvidenceHeader, EvidenceLog};
use crate::policy::guard::{CallPolicy, Guard, NodeClaims};
use crate::policy::secure_capture::CardToken;

/// What the runtime says when a node fails and nothing catches the error.
const APOLOGY: &str = "Sorry, something went wrong. Goodbye.";

/// Something that happens to a call from outside the flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Input {
    /// The caller pressed keys.
    Digits { digits: String },
    /// The caller said something (already transcribed).
    Speech { text: String },
    /// The caller hung up.
    Hangup,
    /// An audio channel finished playing every prompt queued so far. A
    /// waiting `gather` or `listen` counts its no-input time from here, so
    /// a long prompt does not eat the caller's time to answer. (The text
    /// channel never sends it: its prompts take no time.)
    PromptsPlayed,
    /// Time passed: the clock now reads `now_ms`. Timers due fire in order.
    Clock { now_ms: i64 },
    /// The model answered the pending `llm` action.
    LlmReply {
        #[serde(default)]
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The endpoint answered the pending `http` action.
    HttpResult {
        status: u16,
        #[serde(default)]
        body: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The pending `transfer` finished.
    TransferResult {
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The pending secure capture finished (sealed: no digits here).
    SecureResult {
        ok: bool,
        /// How many tries the caller needed (for the evidence).
        #[serde(default)]
        attempts: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last4: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        brand: Option<String>,
    },
}

impl Input {
    /// The sealed end of a secure-capture window: the processor's token
    /// (`None` when the capture or the tokenization failed).
    pub fn secure_result(attempts: u32, token: Option<CardToken>) -> Self {
        match token {
            Some(token) => Input::SecureResult {
                ok: true,
                attempts,
                token: Some(token.token),
                last4: Some(token.last4),
                brand: Some(token.brand),
            },
            None => Input::SecureResult {
                ok: false,
                attempts,
                token: None,
                last4: None,
                brand: None,
            },
        }
    }
}

/// The flows a call may run: its own and the sub-flows it uses, by name.
#[derive(Debug, Clone)]
pub struct FlowSet {
    root: String,
    flows: HashMap<String, Arc<CompiledFlow>>,
}

impl FlowSet {
    /// A set with just one flow, which is also the root.
    pub fn single(flow: CompiledFlow) -> Self {
        let root = flow.flow.name.clone();
        FlowSet {
            root: root.clone(),
            flows: HashMap::from([(root, Arc::new(flow))]),
        }
    }

    /// A set whose root is `root`, with sub-flows.
    pub fn new(
        root: Arc<CompiledFlow>,
        others: impl IntoIterator<Item = Arc<CompiledFlow>>,
    ) -> Self {
        let mut flows: HashMap<_, _> = others
            .into_iter()
            .map(|f| (f.flow.name.clone(), f))
            .collect();
        let name = root.flow.name.clone();
        flows.insert(name.clone(), root);
        FlowSet { root: name, flows }
    }

    /// The root flow.
    pub fn root(&self) -> &Arc<CompiledFlow> {
        &self.flows[&self.root]
    }

    /// A flow by name.
    pub fn get(&self, name: &str) -> Option<&Arc<CompiledFlow>> {
        self.flows.get(name)
    }

    /// Compiles now the modules of every plugin the set's flows use that
    /// were loaded lazily, so that no step of a call pays for it: a step
    /// sees the call's time as it was when the step began, and a cold
    /// compile (seconds in a debug build) would leave the timers a
    /// waiting node arms that far in the past. A module that does not
    /// compile is left to fail its node's step, as ever.
    pub fn prepare_plugins(&self) {
        for flow in self.flows.values() {
            for plugin in flow.plugins.values() {
                let _ = plugin.prepare();
            }
        }
    }
}

/// What the current node waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// Caller input (or nothing in particular: input is still delivered).
    Caller,
    Llm,
    Http,
    Transfer,
    SecureCapture,
}

struct Frame {
    flow: Arc<CompiledFlow>,
    node: String,
    state: Value,
}

/// What to do next inside the run loop.
enum Work {
    Enter(String),
    Event(Event),
    Outcome(String),
}

/// One call: the flow stack, variables, the clock, timers, budgets and
/// the event log.
pub struct CallSession {
    flows: Arc<FlowSet>,
    setup: CallSetup,
    budget: Budget,
    stack: Vec<Frame>,
    vars: Vars,
    now_ms: i64,
    timer: Option<i64>,
    /// The no-input time of the armed timer, to re-arm it from
    /// [`Input::PromptsPlayed`].
    timer_span_ms: Option<i64>,
    waiting: Waiting,
    visits: u32,
    steps: u32,
    hanging_up: bool,
    ended: Option<String>,
    flow_source: Option<String>,
    log: EventLog,
    out: Vec<Action>,
    /// Every action passes it; it keeps consent state and evidence.
    guard: Guard,
    /// The kind of the event the last step handled (how an outcome came about).
    last_event: &'static str,
    /// The fields the open secure-capture window asks for.
    capture_fields: Vec<String>,
}

impl std::fmt::Debug for CallSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallSession")
            .field("id", &self.setup.id)
            .field("node", &self.current_node())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl CallSetup {
    /// A call for tests: no numbers, the flow's locale, no templates beyond
    /// the flow's own, starting at `start_ms`.
    pub fn test(id: &str, start_ms: i64) -> Self {
        CallSetup {
            id: id.to_owned(),
            from: String::new(),
            to: String::new(),
            locale: String::new(),
            jurisdiction: Vec::new(),
            templates: Vec::new(),
            vars: Vars::new(),
            start_ms,
        }
    }
}

impl CallSession {
    /// A call on the root flow of `flows`, not started yet.
    pub fn new(flows: Arc<FlowSet>, setup: CallSetup) -> Self {
        let root = flows.root().clone();
        let mut vars = root.flow.vars.clone();
        vars.insert("caller_number".into(), Value::String(setup.from.clone()));
        vars.insert("called_number".into(), Value::String(setup.to.clone()));
        vars.extend(setup.vars.clone());
        let mut enabled = root.flow.compliance.clone();
        for id in &setup.templates {
            if !enabled.contains(id) {
                enabled.push(id.clone());
            }
        }
        let locale = if setup.locale.is_empty() {
            root.flow.locale.clone()
        } else {
            setup.locale.clone()
        };
        let policy = CallPolicy::new(&enabled, &setup.from, &setup.to, &locale);
        let guard = Guard::with_header(
            Arc::new(policy),
            EvidenceHeader::new(
                setup.id.clone(),
                root.flow.name.clone(),
                root.digest.clone(),
                setup.start_ms,
            ),
            setup.start_ms,
        );
        CallSession {
            budget: root.flow.budget,
            now_ms: setup.start_ms,
            stack: vec![Frame {
                node: root.flow.entry.clone(),
                flow: root,
                state: Value::Null,
            }],
            flows,
            setup,
            vars,
            timer: None,
            timer_span_ms: None,
            waiting: Waiting::Caller,
            visits: 0,
            steps: 0,
            hanging_up: false,
            ended: None,
            flow_source: None,
            log: EventLog::default(),
            out: Vec::new(),
            guard,
            last_event: "enter",
            capture_fields: Vec::new(),
        }
    }

    /// Starts the call at the root flow's entry.
    pub fn start(&mut self) -> Vec<Action> {
        let root = self.flows.root().clone();
        let mut plugins = BTreeMap::new();
        for flow in self.flows.flows.values() {
            for plugin in flow.plugins.values() {
                plugins.insert(
                    format!("{}@{}", plugin.manifest().name, plugin.manifest().version),
                    plugin.digest().to_owned(),
                );
            }
        }
        self.log.push(
            self.now_ms,
            Entry::Started {
                call: self.setup.clone(),
                flow: root.flow.name.clone(),
                flow_digest: root.digest.clone(),
                flow_source: self.flow_source.clone(),
                plugins,
            },
        );
        let entry = root.flow.entry.clone();
        self.run(Work::Enter(entry));
        std::mem::take(&mut self.out)
    }

    /// Delivers one input and returns the actions it caused.
    pub fn deliver(&mut self, input: Input) -> Vec<Action> {
        if self.waiting == Waiting::SecureCapture
            && matches!(input, Input::Digits { .. } | Input::Speech { .. })
        {
            // Sealed: the channel's collector takes card keys; anything that
            // reaches the session in the window is neither used nor logged.
            // Speech still reaches the guard, which keeps no text: "stop
            // recording" said here must keep the recording from resuming.
            let reason = "caller input during secure capture (sealed, not logged)".to_owned();
            self.log.push(self.now_ms, Entry::Ignored { reason });
            if let Input::Speech { text } = &input {
                let first = self.guard.caller_speech(self.now_ms, text);
                self.execute_all("(guard)", first);
            }
            return std::mem::take(&mut self.out);
        }
        self.log.push(
            self.now_ms,
            Entry::Input {
                input: input.clone(),
            },
        );
        if self.ended.is_some() {
            return Vec::new();
        }
        match input {
            Input::Clock { now_ms } => self.advance(now_ms),
            Input::PromptsPlayed => {
                if self.waiting == Waiting::Caller
                    && let (Some(_), Some(span)) = (self.timer, self.timer_span_ms)
                {
                    self.timer = Some(self.now_ms + span);
                }
            }
            Input::Digits { digits } => {
                let (first, digits) = self.guard.caller_digits(self.now_ms, &digits);
                self.execute_all("(guard)", first);
                if !digits.is_empty() {
                    self.caller_event(Event::Digits { digits });
                }
            }
            Input::Speech { text } => {
                // The guard answers "are you a robot?" and honours "stop
                // recording" before any plugin (or model) sees the turn.
                let first = self.guard.caller_speech(self.now_ms, &text);
                self.execute_all("(guard)", first);
                self.caller_event(Event::Speech {
                    text,
                    confidence: None,
                });
            }
            Input::Hangup => {
                self.hanging_up = true;
                self.timer = None;
                self.run(Work::Event(Event::Hangup));
                self.end("caller hung up");
            }
            Input::LlmReply {
                text,
                tool_calls,
                error,
            } => {
                let text = self.guard.llm_reply(self.now_ms, text);
                self.answer(
                    Waiting::Llm,
                    Event::LlmReply {
                        text,
                        tool_calls,
                        error,
                    },
                )
            }
            Input::HttpResult {
                status,
                body,
                error,
            } => self.answer(
                Waiting::Http,
                Event::HttpResult {
                    status,
                    body,
                    error,
                },
            ),
            Input::TransferResult { ok, reason } => {
                self.answer(Waiting::Transfer, Event::TransferResult { ok, reason })
            }
            Input::SecureResult {
                ok,
                attempts,
                token,
                last4,
                brand,
            } => {
                if self.waiting == Waiting::SecureCapture {
                    let node = self.current_node().unwrap_or_default().to_owned();
                    let resumed = self.guard.secure_result(
                        self.now_ms,
                        ok,
                        attempts,
                        last4.clone(),
                        brand.clone(),
                    );
                    self.execute_all(&node, resumed);
                }
                self.answer(
                    Waiting::SecureCapture,
                    Event::SecureResult {
                        ok,
                        token,
                        last4,
                        brand,
                    },
                )
            }
        }
        std::mem::take(&mut self.out)
    }

    /// When the next timer fires, if one is armed.
    pub fn next_deadline(&self) -> Option<i64> {
        if self.ended.is_some() {
            None
        } else {
            self.timer
        }
    }

    /// Why the call ended, once it has.
    pub fn ended(&self) -> Option<&str> {
        self.ended.as_deref()
    }

    /// The node the call is on (of the innermost flow).
    pub fn current_node(&self) -> Option<&str> {
        self.stack.last().map(|f| f.node.as_str())
    }

    /// The call's variables.
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// The card fields the open secure-capture window asks for, while one
    /// is open; the channel's collector asks for them.
    pub fn capture_fields(&self) -> Option<&[String]> {
        (self.awaiting() == Some("secure_capture")).then_some(self.capture_fields.as_slice())
    }

    /// The call's locale.
    pub fn locale(&self) -> &str {
        self.guard.policy().locale()
    }

    /// The virtual clock.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The event log so far.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// The compliance evidence so far (seal it with
    /// [`EvidenceLog::seal`](crate::policy::evidence::EvidenceLog::seal)
    /// once the call has ended).
    pub fn evidence(&self) -> &EvidenceLog {
        self.guard.evidence()
    }

    /// Records where the flow came from (a file path or a stored version)
    /// in the log's first entry, so `switchyard replay` can find it.
    pub fn with_flow_source(mut self, source: impl Into<String>) -> Self {
        self.flow_source = Some(source.into());
        self
    }

    /// Whether the current node waits for an answer from a provider (LLM,
    /// HTTP endpoint, transfer, secure capture) rather than the caller.
    pub fn awaiting(&self) -> Option<&'static str> {
        if self.ended.is_some() {
            return None;
        }
        match self.waiting {
            Waiting::Caller => None,
            Waiting::Llm => Some("llm"),
            Waiting::Http => Some("http"),
            Waiting::Transfer => Some("transfer"),
            Waiting::SecureCapture => Some("secure_capture"),
        }
    }

    fn caller_event(&mut self, event: Event) {
        if self.waiting != Waiting::Caller {
            let reason = format!(
                "{} while waiting for {}",
                event.kind(),
                self.awaiting().unwrap_or("nothing")
            );
            self.log.push(self.now_ms, Entry::Ignored { reason });
            return;
        }
        self.timer = None;
        self.run(Work::Event(event));
    }

    fn answer(&mut self, expected: Waiting, event: Event) {
        if self.waiting != expected {
            let reason = format!("{} while not waiting for it", event.kind());
            self.log.push(self.now_ms, Entry::Ignored { reason });
            return;
        }
        self.waiting = Waiting::Caller;
        self.run(Work::Event(event));
    }

    fn advance(&mut self, to_ms: i64) {
        while let Some(due) = self.timer.filter(|due| *due <= to_ms) {
            self.now_ms = self.now_ms.max(due);
            self.timer = None;
            let node = self.current_node().unwrap_or_default().to_owned();
            self.log.push(self.now_ms, Entry::Timer { node });
            self.run(Work::Event(Event::Timeout));
            if self.ended.is_some() {
                return;
            }
        }
        self.now_ms = self.now_ms.max(to_ms);
        let elapsed = self.now_ms - self.setup.start_ms;
        if elapsed > self.budget.max_duration_ms as i64 {
            let reason = format!(
                "duration budget exceeded: call ran {elapsed} ms, limit {} ms",
                self.budget.max_duration_ms
            );
            self.end_with_apology(&reason);
        }
    }

    fn run(&mut self, first: Work) {
        let mut next = Some(first);
        while let Some(work) = next.take() {
            if self.ended.is_some() {
                return;
            }
            next = match work {
                Work::Enter(node) => self.enter(node),
                Work::Event(event) => self.step(event),
                Work::Outcome(outcome) if self.hanging_up => {
                    let _ = outcome;
                    None
                }
                Work::Outcome(outcome) => self.take_outcome(outcome),
            };
        }
    }

    fn enter(&mut self, node: String) -> Option<Work> {
        self.visits += 1;
        if self.visits > self.budget.max_node_visits {
            let reason = format!(
                "node-visit budget exceeded: {} visits, limit {}",
                self.visits, self.budget.max_node_visits
            );
            self.end_with_apology(&reason);
            return None;
        }
        let frame = self.stack.last_mut().expect("a call always has a frame");
        frame.node = node.clone();
        frame.state = Value::Null;
        self.timer = None;
        self.waiting = Waiting::Caller;
        let flow = frame.flow.flow.name.clone();
        self.log.push(self.now_ms, Entry::Enter { flow, node });
        Some(Work::Event(Event::Enter))
    }

    fn step(&mut self, event: Event) -> Option<Work> {
        self.steps += 1;
        if self.steps > self.budget.max_steps {
            let reason = format!(
                "step budget exceeded: {} steps, limit {}",
                self.steps, self.budget.max_steps
            );
            self.end_with_apology(&reason);
            return None;
        }
        let frame = self.stack.last().expect("a call always has a frame");
        let flow = frame.flow.clone();
        let node_id = frame.node.clone();
        let node = &flow.flow.nodes[&node_id];
        let plugin = flow
            .plugin(&node_id)
            .expect("compiled flows bind every node")
            .clone();
        let config = interpolate(&node.config, &self.vars);
        let event_kind = event.kind();
        self.last_event = event_kind;
        let input = StepInput {
            abi: ABI_VERSION,
            node: NodeInfo {
                id: node_id.clone(),
                config,
            },
            call: CallInfo {
                id: self.setup.id.clone(),
                locale: self.guard.policy().locale().to_owned(),
                jurisdiction: self.setup.jurisdiction.clone(),
                vars: if plugin.manifest().reads_vars {
                    self.vars.clone()
                } else {
                    Vars::new()
                },
                now_ms: self.now_ms,
                seed: seed(&self.setup.id, self.steps),
            },
            state: std::mem::take(&mut self.stack.last_mut().expect("frame").state),
            event,
        };
        let result = plugin.step(&input);
        let output = result.output.and_then(|output| match &output.exit {
            Some(exit)
                if !plugin
                    .manifest()
                    .outcomes_for(&input.node.config)
                    .contains(exit) =>
            {
                Err(StepError::new(
                    StepErrorCode::UndeclaredOutcome,
                    format!(
                        "took outcome \"{exit}\", which {} does not declare",
                        node.uses
                    ),
                ))
            }
            _ => Ok(output),
        });
        self.log.push(
            self.now_ms,
            Entry::Step {
                flow: flow.flow.name.clone(),
                node: node_id.clone(),
                event: event_kind.to_owned(),
                exit: output.as_ref().ok().and_then(|o| o.exit.clone()),
                logs: result.logs,
            },
        );
        let output = match output {
            Ok(output) => output,
            Err(error) => {
                self.log.push(
                    self.now_ms,
                    Entry::PluginError {
                        node: node_id,
                        error,
                    },
                );
                return Some(Work::Outcome("error".into()));
            }
        };
        self.stack.last_mut().expect("frame").state = output.state;
        if let Some(vars) = output.vars {
            self.set_vars(vars);
        }
        let mut subflow = None;
        let claims = NodeClaims::of(&plugin);
        for action in output.actions {
            // The guard decides what each action becomes: itself, nothing
            // (refused) or the runtime's own wording.
            let vars = &self.vars;
            for action in self
                .guard
                .check(self.now_ms, &node_id, &claims, action, vars)
            {
                if let Some(child) = self.apply(&node_id, action) {
                    subflow = Some(child);
                }
                if self.ended.is_some() {
                    return None;
                }
            }
        }
        match (output.exit, subflow) {
            (Some(exit), _) => Some(Work::Outcome(exit)),
            (None, Some(child)) => self.call_subflow(&node_id, &child),
            (None, None) => None,
        }
    }

    /// Carries out actions the runtime itself decided on (the guard's).
    fn execute_all(&mut self, node: &str, actions: Vec<Action>) {
        for action in actions {
            self.apply(node, action);
            if self.ended.is_some() {
                return;
            }
        }
    }

    fn set_vars(&mut self, vars: Vars) {
        self.log
            .push(self.now_ms, Entry::Vars { vars: vars.clone() });
        self.vars.extend(vars);
    }

    /// Carries out one action. Returns a sub-flow name to enter, if any.
    fn apply(&mut self, node: &str, action: Action) -> Option<String> {
        self.log.push(
            self.now_ms,
            Entry::Action {
                node: node.to_owned(),
                action: action.clone(),
            },
        );
        let mut subflow = None;
        match &action {
            Action::Gather(gather) => {
                self.waiting = Waiting::Caller;
                self.timer_span_ms = gather.timeout_ms.map(|t| t as i64);
                self.timer = self.timer_span_ms.map(|t| self.now_ms + t);
            }
            Action::Listen { timeout_ms } => {
                self.waiting = Waiting::Caller;
                self.timer_span_ms = timeout_ms.map(|t| t as i64);
                self.timer = self.timer_span_ms.map(|t| self.now_ms + t);
            }
            Action::Llm(_) => self.waiting = Waiting::Llm,
            Action::Http(_) => self.waiting = Waiting::Http,
            Action::Transfer { .. } => self.waiting = Waiting::Transfer,
            Action::SecureCapture { fields } => {
                self.waiting = Waiting::SecureCapture;
                self.capture_fields = fields.clone();
            }
            Action::SetVars { vars } => {
                let vars = vars.clone();
                self.vars.extend(vars);
            }
            Action::Subflow { flow } => subflow = Some(flow.clone()),
            Action::Hangup { reason } => {
                let reason = reason
                    .clone()
                    .unwrap_or_else(|| format!("flow hung up at node \"{node}\""));
                self.out.push(action);
                self.end(&reason);
                return None;
            }
            Action::Say { .. }
            | Action::Play { .. }
            | Action::Record { .. }
            | Action::Disclose { .. } => {}
        }
        self.out.push(action);
        subflow
    }

    fn call_subflow(&mut self, node: &str, child: &str) -> Option<Work> {
        let Some(flow) = self.flows.get(child).cloned() else {
            let error = StepError::new(
                StepErrorCode::BadOutput,
                format!("no flow named \"{child}\" is available to this call"),
            );
            self.log.push(
                self.now_ms,
                Entry::PluginError {
                    node: node.to_owned(),
                    error,
                },
            );
            return Some(Work::Outcome("error".into()));
        };
        if self.stack.len() >= 8 {
            let error = StepError::new(
                StepErrorCode::StackOverflow,
                "sub-flows nested more than 8 deep",
            );
            self.log.push(
                self.now_ms,
                Entry::PluginError {
                    node: node.to_owned(),
                    error,
                },
            );
            return Some(Work::Outcome("error".into()));
        }
        let entry = flow.flow.entry.clone();
        for (name, value) in &flow.flow.vars {
            self.vars
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        self.stack.push(Frame {
            flow,
            node: entry.clone(),
            state: Value::Null,
        });
        Some(Work::Enter(entry))
    }

    fn take_outcome(&mut self, outcome: String) -> Option<Work> {
        let frame = self.stack.last().expect("frame");
        let flow = frame.flow.clone();
        let node_id = frame.node.clone();
        let node = &flow.flow.nodes[&node_id];
        if let Some(plugin) = flow.plugin(&node_id) {
            let claims = NodeClaims::of(plugin);
            let follow_up =
                self.guard
                    .outcome(self.now_ms, &node_id, &claims, &outcome, self.last_event);
            self.execute_all(&node_id, follow_up);
            if self.ended.is_some() {
                return None;
            }
        }
        match node.on.get(&outcome).map(|t| Target::parse(t)) {
            Some(Target::Node(next)) => Some(Work::Enter(next.to_owned())),
            Some(Target::Return(result)) => {
                let result = result.to_owned();
                self.stack.pop();
                if self.stack.is_empty() {
                    self.end(&format!("flow returned \"{result}\""));
                    return None;
                }
                Some(Work::Event(Event::SubflowResult { outcome: result }))
            }
            None if outcome == "error" => match &flow.flow.on_error {
                Some(fallback) if *fallback != node_id => {
                    self.log.push(
                        self.now_ms,
                        Entry::Fallback {
                            node: node_id,
                            to: Some(fallback.clone()),
                        },
                    );
                    Some(Work::Enter(fallback.clone()))
                }
                _ => {
                    self.log.push(
                        self.now_ms,
                        Entry::Fallback {
                            node: node_id.clone(),
                            to: None,
                        },
                    );
                    self.end_with_apology(&format!(
                        "node \"{node_id}\" failed and nothing catches its error"
                    ));
                    None
                }
            },
            None => {
                let error = StepError::new(
                    StepErrorCode::UndeclaredOutcome,
                    format!("outcome \"{outcome}\" has no edge"),
                );
                self.log.push(
                    self.now_ms,
                    Entry::PluginError {
                        node: node_id,
                        error,
                    },
                );
                Some(Work::Outcome("error".into()))
            }
        }
    }

    fn end_with_apology(&mut self, reason: &str) {
        for action in [
            Action::Say {
                text: APOLOGY.to_owned(),
                barge_in: false,
            },
            Action::Hangup {
                reason: Some(reason.to_owned()),
            },
        ] {
            self.log.push(
                self.now_ms,
                Entry::Action {
                    node: "(runtime)".into(),
                    action: action.clone(),
                },
            );
            self.out.push(action);
        }
        self.end(reason);
    }

    fn end(&mut self, reason: &str) {
        if self.ended.is_none() {
            self.ended = Some(reason.to_owned());
            self.timer = None;
            self.guard.end(self.now_ms, reason);
            self.log.push(
                self.now_ms,
                Entry::Ended {
                    reason: reason.to_owned(),
                },
            );
        }
    }
}

/// A per-step seed from the call id and step number (splitmix64), so that
/// replay hands plugins the same "randomness".
fn seed(call_id: &str, step: u32) -> u64 {
    let mut x = call_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    x = x
        .wrapping_add(step as u64)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
