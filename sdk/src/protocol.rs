//! The step contract: what a plugin receives ([`StepInput`]) and returns
//! ([`StepOutput`]), and the vocabulary of [`Action`]s and [`Event`]s.
//!
//! Every type here serialises to the JSON documented in `sdk/ABI.md`; the
//! host and every guest (Rust, Rhai, WAT, C, ...) agree on that JSON, not on
//! Rust layouts.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The version of the step contract and of the WebAssembly ABI.
pub const ABI_VERSION: u32 = 1;

/// Flow and call variables: a JSON object.
pub type Vars = Map<String, Value>;

/// One step's input: the node, the call, the plugin's own state and the event
/// that caused the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInput {
    /// Always [`ABI_VERSION`] for this crate.
    pub abi: u32,
    pub node: NodeInfo,
    pub call: CallInfo,
    /// What the plugin returned as `state` in its previous step on this node
    /// visit; `null` on `enter`.
    #[serde(default)]
    pub state: Value,
    pub event: Event,
}

/// The node being stepped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: String,
    /// The node's `with` block, `{{var}}` already interpolated by the runtime.
    #[serde(default)]
    pub config: Value,
}

/// Facts about the call. Time and randomness come only from here: plugins
/// have no clock and no entropy of their own, which keeps replay exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    pub id: String,
    pub locale: String,
    /// Jurisdiction codes that apply to the call, e.g. `["US-CA"]`.
    #[serde(default)]
    pub jurisdiction: Vec<String>,
    #[serde(default)]
    pub vars: Vars,
    /// Milliseconds since the Unix epoch, virtual in tests and simulations.
    pub now_ms: i64,
    /// A per-step random seed derived from the call id and step number.
    pub seed: u64,
}

/// One step's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepOutput {
    /// Handed back as `state` on the next step of this node visit.
    #[serde(default)]
    pub state: Value,
    /// Effects for the runtime to carry out, in order.
    #[serde(default)]
    pub actions: Vec<Action>,
    /// The outcome taken; `None` keeps the call on this node, waiting for the
    /// next event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<String>,
    /// Variables to merge into the call's vars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vars: Option<Vars>,
}

impl StepOutput {
    /// An output that takes `outcome` at once.
    pub fn exit(outcome: impl Into<String>) -> Self {
        StepOutput {
            exit: Some(outcome.into()),
            ..Default::default()
        }
    }

    /// An output that stays on the node and waits for the next event.
    pub fn wait() -> Self {
        StepOutput::default()
    }

    /// Appends an action.
    pub fn with_action(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }

    /// Sets the state handed back on the next step.
    pub fn with_state(mut self, state: Value) -> Self {
        self.state = state;
        self
    }

    /// Sets one call variable.
    pub fn with_var(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.vars
            .get_or_insert_with(Map::new)
            .insert(name.into(), value.into());
        self
    }
}

/// What a plugin asks the runtime to do. Each passes the compliance guard
/// before it has any effect, and a plugin may only emit the kinds its
/// manifest lists under `actions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Speak text to the caller.
    Say {
        text: String,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        barge_in: bool,
    },
    /// Play an audio resource (a name or URL the runtime resolves).
    Play {
        url: String,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        barge_in: bool,
    },
    /// Wait for digits and/or speech; the runtime answers with `digits`,
    /// `speech` or `timeout`.
    Gather(Gather),
    /// Wait for speech only (free conversation); answered with `speech` or `timeout`.
    Listen {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Start or stop recording the call.
    Record { op: RecordOp },
    /// Ask the runtime to speak a compliance disclosure from the enabled templates.
    Disclose { kind: DisclosureKind },
    /// Open a sealed secure-capture window (card entry); answered with `secure_result`.
    SecureCapture {
        #[serde(default)]
        fields: Vec<String>,
    },
    /// One chat-completion turn; answered with `llm_reply`.
    Llm(LlmRequest),
    /// A request to a tenant-declared endpoint, by name; answered with `http_result`.
    Http(HttpRequest),
    /// Hand the call to someone else; answered with `transfer_result`.
    Transfer { to: String },
    /// End the call.
    Hangup {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Merge variables into the call's vars.
    SetVars { vars: Vars },
    /// Run another flow, by name, to its return; answered with `subflow_result`.
    Subflow { flow: String },
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

impl Action {
    /// The action's `type` tag, as in the manifest's `actions` list.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Say { .. } => "say",
            Action::Play { .. } => "play",
            Action::Gather(_) => "gather",
            Action::Listen { .. } => "listen",
            Action::Record { .. } => "record",
            Action::Disclose { .. } => "disclose",
            Action::SecureCapture { .. } => "secure_capture",
            Action::Llm(_) => "llm",
            Action::Http(_) => "http",
            Action::Transfer { .. } => "transfer",
            Action::Hangup { .. } => "hangup",
            Action::SetVars { .. } => "set_vars",
            Action::Subflow { .. } => "subflow",
        }
    }
}

/// Parameters of a [`Action::Gather`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gather {
    /// Accept DTMF digits.
    #[serde(default = "yes")]
    pub digits: bool,
    /// Accept speech.
    #[serde(default)]
    pub speech: bool,
    /// Milliseconds to wait for input before a `timeout` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Words the speech recogniser should expect (menu keywords).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

/// Recording control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordOp {
    Start,
    Stop,
}

/// Which disclosure a [`Action::Disclose`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisclosureKind {
    /// That the call is, or may be, recorded (and how to consent).
    Recording,
    /// That the caller is talking to an AI.
    Ai,
    /// A privacy notice: who controls the data, for what, where to read more.
    Notice,
}

/// A chat-completion request, in the shape of OpenAI-compatible APIs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmRequest {
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    #[serde(default)]
    pub content: String,
    /// For `assistant` messages that called tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For `tool` messages: the call answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
}

/// A request to a tenant-declared endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// The endpoint's name; the tenant binds names to URLs per environment.
    pub endpoint: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub body: Value,
}

fn default_method() -> String {
    "POST".to_owned()
}

/// What the runtime tells a plugin: why this step runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The call arrived at this node.
    Enter,
    /// The caller pressed keys (one or more digits, `*`, `#`).
    Digits { digits: String },
    /// The caller said something.
    Speech {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        confidence: Option<f32>,
    },
    /// The caller was silent for `ms` milliseconds (end of utterance).
    Silence { ms: u64 },
    /// A gather or listen ran out of time.
    Timeout,
    /// Everything queued before has finished playing.
    PromptDone,
    /// The model answered an `llm` action.
    LlmReply {
        #[serde(default)]
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The endpoint answered an `http` action (`status` 0 when unreachable).
    HttpResult {
        status: u16,
        #[serde(default)]
        body: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The sealed result of a secure-capture window.
    SecureResult {
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last4: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        brand: Option<String>,
    },
    /// The result of a `transfer` action.
    TransferResult {
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A sub-flow returned with this outcome.
    SubflowResult { outcome: String },
    /// The caller hung up.
    Hangup,
}

impl Event {
    /// The event's `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Enter => "enter",
            Event::Digits { .. } => "digits",
            Event::Speech { .. } => "speech",
            Event::Silence { .. } => "silence",
            Event::Timeout => "timeout",
            Event::PromptDone => "prompt_done",
            Event::LlmReply { .. } => "llm_reply",
            Event::HttpResult { .. } => "http_result",
            Event::SecureResult { .. } => "secure_result",
            Event::TransferResult { .. } => "transfer_result",
            Event::SubflowResult { .. } => "subflow_result",
            Event::Hangup => "hangup",
        }
    }
}
