//! `llm-agent@1`: a spoken conversation with a language model. Each caller
//! utterance becomes a chat turn; the model answers in text (said to the
//! caller) or with tool calls: `end_call` takes `ended`, `transfer` takes
//! `transfer`, `set_var` sets a call variable and asks the model again. The
//! caller going quiet takes `timeout`; more than `max_turns` utterances take
//! `max_turns`.
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let mut node = Harness::new(switchyard_plugin_llm_agent::step).config(serde_json::json!({
//!     "system": "You are Acme's receptionist.",
//!     "greeting": "Hi, how can I help?",
//! }));
//! node.enter();
//! let out = node.send(Event::Speech { text: "What are your hours?".into(), confidence: None });
//! assert!(matches!(&out.actions[0], Action::Llm(request) if request.messages.len() == 3));
//! let out = node.send(Event::LlmReply { text: "Nine to five.".into(), tool_calls: vec![], error: None });
//! assert_eq!(out.actions[0], Action::Say { text: "Nine to five.".into(), barge_in: true });
//! assert_eq!(node.send(Event::Timeout).exit.as_deref(), Some("timeout"));
//! ```

use serde_json::{Value, json};
use switchyard_sdk::prelude::*;

/// Tools the plugin knows, in the order they are offered to the model.
const TOOLS: [&str; 3] = ["end_call", "transfer", "set_var"];

/// Model rounds allowed for one caller turn. Each `set_var`-only reply costs
/// a round; without a cap a model that keeps calling tools would loop forever.
const MAX_TOOL_ROUNDS: u64 = 8;

/// The node's config with defaults applied.
struct Config {
    system: String,
    greeting: Option<String>,
    tools: Vec<&'static str>,
    allowed_vars: Vec<String>,
    max_turns: u64,
    listen_timeout_ms: u64,
}

impl Config {
    fn from(config: &Value) -> Self {
        let strings = |key: &str| -> Option<Vec<String>> {
            let list = config[key].as_array()?;
            Some(
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            )
        };
        let tools = match strings("tools") {
            Some(wanted) => TOOLS
                .into_iter()
                .filter(|t| wanted.iter().any(|w| w == t))
                .collect(),
            None => TOOLS.to_vec(),
        };
        Config {
            system: config["system"].as_str().unwrap_or_default().to_owned(),
            greeting: config["greeting"]
                .as_str()
                .filter(|g| !g.trim().is_empty())
                .map(str::to_owned),
            tools,
            allowed_vars: strings("allowed_vars").unwrap_or_default(),
            max_turns: config["max_turns"].as_u64().unwrap_or(20),
            listen_timeout_ms: config["listen_timeout_ms"].as_u64().unwrap_or(8000),
        }
    }

    fn listen(&self) -> Action {
        Action::Listen {
            timeout_ms: Some(self.listen_timeout_ms),
        }
    }

    /// One model turn: the system prompt, then the conversation so far.
    fn llm(&self, history: &[ChatMessage]) -> Action {
        let mut messages = vec![message("system", &self.system)];
        messages.extend_from_slice(history);
        let tools = self.tools.iter().map(|name| self.tool_spec(name)).collect();
        Action::Llm(LlmRequest { messages, tools })
    }

    fn tool_spec(&self, name: &str) -> ToolSpec {
        let (description, parameters) = match name {
            "end_call" => (
                "End the call, for example when the caller says goodbye. Your reply text is said first.",
                json!({
                    "type": "object",
                    "properties": {"reason": {"type": "string", "description": "Why the call ends."}},
                    "additionalProperties": false,
                }),
            ),
            "transfer" => (
                "Transfer the caller to a human colleague. Your reply text is said first.",
                json!({
                    "type": "object",
                    "properties": {"reason": {"type": "string", "description": "What the caller needs, for the colleague."}},
                    "required": ["reason"],
                    "additionalProperties": false,
                }),
            ),
            _ => {
                // Listing the allowed names lets the model pick a valid one.
                let name_schema = if self.allowed_vars.is_empty() {
                    json!({"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "Variable name."})
                } else {
                    json!({"type": "string", "enum": self.allowed_vars, "description": "Variable name."})
                };
                (
                    "Remember a value from the conversation (such as the caller's name) for the rest of the call.",
                    json!({
                        "type": "object",
                        "properties": {
                            "name": name_schema,
                            "value": {"type": "string", "description": "The value to store."},
                        },
                        "required": ["name", "value"],
                        "additionalProperties": false,
                    }),
                )
            }
        };
        ToolSpec {
            name: name.to_owned(),
            description: description.to_owned(),
            parameters,
        }
    }

    /// Why `name` may not be set, or `None` when it may.
    fn refuse_var(&self, name: &str) -> Option<String> {
        if !is_var_name(name) {
            Some(format!("refused: {name:?} is not a valid variable name"))
        } else if !self.allowed_vars.is_empty() && !self.allowed_vars.iter().any(|v| v == name) {
            Some(format!(
                "refused: variable {name:?} is not allowed; allowed: {}",
                self.allowed_vars.join(", ")
            ))
        } else {
            None
        }
    }
}

/// The conversation so far (without the system prompt), the caller turns
/// taken, and the model rounds used on the current turn.
struct State {
    history: Vec<ChatMessage>,
    turns: u64,
    rounds: u64,
}

impl State {
    fn from(state: &Value) -> Self {
        State {
            history: serde_json::from_value(state["history"].clone()).unwrap_or_default(),
            turns: state["turns"].as_u64().unwrap_or(0),
            rounds: state["rounds"].as_u64().unwrap_or(0),
        }
    }

    fn to_json(&self) -> Value {
        json!({"history": self.history, "turns": self.turns, "rounds": self.rounds})
    }
}

/// The step function.
pub fn step(input: StepInput) -> StepOutput {
    let config = Config::from(&input.node.config);
    let mut state = State::from(&input.state);
    match input.event {
        Event::Enter => {
            let mut state = State {
                history: Vec::new(),
                turns: 0,
                rounds: 0,
            };
            let mut out = StepOutput::wait();
            if let Some(greeting) = &config.greeting {
                state.history.push(message("assistant", greeting));
                out = out.with_action(say(greeting));
            }
            out.with_action(config.listen()).with_state(state.to_json())
        }
        Event::Speech { text, .. } => {
            let text = text.trim();
            // A blank recognition is not a turn; keep listening.
            if text.is_empty() {
                return StepOutput::wait()
                    .with_action(config.listen())
                    .with_state(state.to_json());
            }
            state.turns += 1;
            if state.turns > config.max_turns {
                return StepOutput::exit("max_turns");
            }
            state.rounds = 1;
            state.history.push(message("user", text));
            StepOutput::wait()
                .with_action(config.llm(&state.history))
                .with_state(state.to_json())
        }
        Event::LlmReply {
            error: Some(error), ..
        } => {
            log(
                Level::Error,
                &format!("llm-agent: the model failed: {error}"),
            );
            StepOutput::exit("error")
        }
        Event::LlmReply {
            text, tool_calls, ..
        } if !tool_calls.is_empty() => tool_round(&config, state, text, tool_calls),
        Event::LlmReply { text, .. } => {
            state.history.push(message("assistant", &text));
            let mut out = StepOutput::wait();
            if !text.trim().is_empty() {
                out = out.with_action(say(&text));
            }
            out.with_action(config.listen()).with_state(state.to_json())
        }
        Event::Timeout => StepOutput::exit("timeout"),
        Event::Hangup => StepOutput::exit("ended"),
        _ => StepOutput::wait().with_state(input.state),
    }
}

/// Carries out the model's tool calls in order. `end_call` and `transfer`
/// take their outcome at once; after only `set_var` calls the results go
/// back to the model for its next reply.
fn tool_round(config: &Config, mut state: State, text: String, calls: Vec<ToolCall>) -> StepOutput {
    state.history.push(ChatMessage {
        role: "assistant".to_owned(),
        content: text.clone(),
        tool_calls: calls.clone(),
        tool_call_id: None,
    });
    let mut out = StepOutput::wait();
    for call in calls {
        let args = arguments(&call);
        let reason = args["reason"]
            .as_str()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let enabled = config.tools.contains(&call.name.as_str());
        let answer = match call.name.as_str() {
            "end_call" | "transfer" if enabled => {
                if !text.trim().is_empty() {
                    out = out.with_action(say(&text));
                }
                return if call.name == "end_call" {
                    let out = StepOutput {
                        exit: Some("ended".to_owned()),
                        ..out
                    };
                    match reason {
                        Some(reason) => out.with_var("llm_end_reason", reason),
                        None => out,
                    }
                } else {
                    StepOutput {
                        exit: Some("transfer".to_owned()),
                        ..out
                    }
                    .with_var("transfer_reason", reason.unwrap_or_default())
                };
            }
            "set_var" if enabled => {
                let name = args["name"].as_str().unwrap_or_default();
                match (config.refuse_var(name), &args["value"]) {
                    (Some(refusal), _) => refusal,
                    (None, Value::Null) => "refused: `value` is missing".to_owned(),
                    (None, value) => {
                        out = out.with_var(name, value.clone());
                        "ok".to_owned()
                    }
                }
            }
            other => format!("error: there is no tool {other:?}"),
        };
        state.history.push(ChatMessage {
            role: "tool".to_owned(),
            content: answer,
            tool_calls: Vec::new(),
            tool_call_id: Some(call.id),
        });
    }
    if state.rounds >= MAX_TOOL_ROUNDS {
        log(
            Level::Error,
            &format!("llm-agent: the model made {MAX_TOOL_ROUNDS} tool rounds without answering"),
        );
        return StepOutput {
            exit: Some("error".to_owned()),
            ..out
        };
    }
    state.rounds += 1;
    out.with_action(config.llm(&state.history))
        .with_state(state.to_json())
}

/// A tool call's arguments as an object. OpenAI-style APIs send them as a
/// JSON string, so a string is parsed; anything unparsable is no arguments.
fn arguments(call: &ToolCall) -> Value {
    match &call.arguments {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn message(role: &str, content: &str) -> ChatMessage {
    ChatMessage {
        role: role.to_owned(),
        content: content.to_owned(),
        tool_calls: Vec::new(),
        tool_call_id: None,
    }
}

fn say(text: &str) -> Action {
    Action::Say {
        text: text.to_owned(),
        barge_in: true,
    }
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::{
        guest::take_native_log,
        harness::{Harness, speech},
    };

    fn agent(extra: Value) -> Harness {
        let mut config = json!({"system": "Be brief."});
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Harness::new(step).config(config)
    }

    fn reply(text: &str) -> Event {
        Event::LlmReply {
            text: text.into(),
            tool_calls: vec![],
            error: None,
        }
    }

    fn tools(text: &str, calls: &[(&str, &str, Value)]) -> Event {
        let tool_calls = calls
            .iter()
            .map(|(id, name, arguments)| ToolCall {
                id: (*id).into(),
                name: (*name).into(),
                arguments: arguments.clone(),
            })
            .collect();
        Event::LlmReply {
            text: text.into(),
            tool_calls,
            error: None,
        }
    }

    fn request(out: &StepOutput) -> &LlmRequest {
        match out.actions.last() {
            Some(Action::Llm(request)) => request,
            other => panic!("expected an llm action, got {other:?}"),
        }
    }

    #[test]
    fn enter_greets_records_the_greeting_and_listens() {
        let mut node = agent(json!({"greeting": "Hello!", "listen_timeout_ms": 3000}));
        let out = node.enter();
        assert_eq!(
            out.actions,
            vec![
                say("Hello!"),
                Action::Listen {
                    timeout_ms: Some(3000)
                }
            ]
        );
        assert_eq!(out.exit, None);
        let out = node.send(speech("Hi"));
        let messages = &request(&out).messages;
        assert_eq!(messages[0], message("system", "Be brief."));
        assert_eq!(messages[1], message("assistant", "Hello!"));
        assert_eq!(messages[2], message("user", "Hi"));
    }

    #[test]
    fn without_a_greeting_it_just_listens() {
        let out = agent(json!({})).enter();
        assert_eq!(
            out.actions,
            vec![Action::Listen {
                timeout_ms: Some(8000)
            }]
        );
    }

    #[test]
    fn offers_the_enabled_tools_with_schemas() {
        let mut node = agent(json!({}));
        node.enter();
        let names: Vec<_> = request(&node.send(speech("hi")))
            .tools
            .iter()
            .map(|t| t.name.clone())
            .collect();
        assert_eq!(names, ["end_call", "transfer", "set_var"]);

        let mut node = agent(json!({"tools": ["set_var", "bogus"], "allowed_vars": ["name"]}));
        node.enter();
        let out = node.send(speech("hi"));
        let tools = &request(&out).tools;
        assert_eq!(tools.len(), 1);
        assert_eq!(
            tools[0].parameters["properties"]["name"]["enum"],
            json!(["name"])
        );

        let mut node = agent(json!({"tools": []}));
        node.enter();
        assert!(request(&node.send(speech("hi"))).tools.is_empty());
    }

    #[test]
    fn a_text_reply_is_said_and_the_agent_listens_again() {
        let mut node = agent(json!({}));
        node.enter();
        node.send(speech("Hours?"));
        let out = node.send(reply("Nine to five."));
        assert_eq!(
            out.actions,
            vec![
                say("Nine to five."),
                Action::Listen {
                    timeout_ms: Some(8000)
                }
            ]
        );
        assert_eq!(out.exit, None);
        let out = node.send(speech("Thanks"));
        let roles: Vec<_> = request(&out)
            .messages
            .iter()
            .map(|m| m.role.as_str())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
    }

    #[test]
    fn end_call_says_the_reply_and_ends() {
        let mut node = agent(json!({}));
        node.enter();
        node.send(speech("bye"));
        let out = node.send(tools(
            "Goodbye!",
            &[("c1", "end_call", json!({"reason": "caller done"}))],
        ));
        assert_eq!(out.actions, vec![say("Goodbye!")]);
        assert_eq!(out.exit.as_deref(), Some("ended"));
        assert_eq!(node.vars()["llm_end_reason"], "caller done");
    }

    #[test]
    fn end_call_without_text_or_reason_ends_quietly() {
        let mut node = agent(json!({}));
        node.enter();
        node.send(speech("bye"));
        let out = node.send(tools("", &[("c1", "end_call", json!({}))]));
        assert!(out.actions.is_empty());
        assert_eq!(out.exit.as_deref(), Some("ended"));
        assert_eq!(node.vars().get("llm_end_reason"), None);
    }

    #[test]
    fn transfer_records_the_reason() {
        let mut node = agent(json!({}));
        node.enter();
        node.send(speech("I want a human"));
        // Arguments as a JSON string, the way OpenAI-style APIs send them.
        let out = node.send(tools(
            "Connecting you.",
            &[("c1", "transfer", json!("{\"reason\": \"billing\"}"))],
        ));
        assert_eq!(out.actions, vec![say("Connecting you.")]);
        assert_eq!(out.exit.as_deref(), Some("transfer"));
        assert_eq!(node.vars()["transfer_reason"], "billing");
    }

    #[test]
    fn set_var_sets_the_var_and_asks_the_model_again() {
        let mut node = agent(json!({}));
        node.enter();
        node.send(speech("I'm Ada"));
        let out = node.send(tools(
            "",
            &[(
                "c1",
                "set_var",
                json!({"name": "caller_name", "value": "Ada"}),
            )],
        ));
        assert_eq!(out.exit, None);
        assert_eq!(node.vars()["caller_name"], "Ada");
        let messages = &request(&out).messages;
        assert_eq!(messages.len(), 4);
        assert_eq!(messages[2].tool_calls[0].name, "set_var");
        assert_eq!(
            (messages[3].role.as_str(), messages[3].content.as_str()),
            ("tool", "ok")
        );
        assert_eq!(messages[3].tool_call_id.as_deref(), Some("c1"));
        let out = node.send(reply("Nice to meet you, Ada."));
        assert_eq!(out.actions[0], say("Nice to meet you, Ada."));
    }

    #[test]
    fn set_var_refuses_names_not_allowed() {
        let mut node = agent(json!({"allowed_vars": ["caller_name"]}));
        node.enter();
        node.send(speech("hi"));
        let out = node.send(tools(
            "",
            &[
                ("c1", "set_var", json!({"name": "is_admin", "value": "yes"})),
                ("c2", "set_var", json!({"name": "caller_name"})),
                (
                    "c3",
                    "set_var",
                    json!({"name": "caller_name", "value": "Ada"}),
                ),
            ],
        ));
        let messages = &request(&out).messages;
        assert!(
            messages[3]
                .content
                .contains("\"is_admin\" is not allowed; allowed: caller_name")
        );
        assert!(messages[4].content.contains("`value` is missing"));
        assert_eq!(messages[5].content, "ok");
        assert_eq!(node.vars().get("is_admin"), None);
        assert_eq!(node.vars()["caller_name"], "Ada");
    }

    #[test]
    fn set_var_refuses_invalid_names_when_any_name_is_allowed() {
        let mut node = agent(json!({}));
        node.enter();
        node.send(speech("hi"));
        let out = node.send(tools(
            "",
            &[("c1", "set_var", json!({"name": "a.b", "value": "x"}))],
        ));
        assert!(
            request(&out).messages[3]
                .content
                .contains("not a valid variable name")
        );
        assert_eq!(out.vars, None);
    }

    #[test]
    fn disabled_and_unknown_tools_are_answered_not_run() {
        let mut node = agent(json!({"tools": ["set_var"]}));
        node.enter();
        node.send(speech("bye"));
        let out = node.send(tools(
            "Bye",
            &[("c1", "end_call", json!({})), ("c2", "launch", json!({}))],
        ));
        assert_eq!(out.exit, None);
        let messages = &request(&out).messages;
        assert_eq!(messages[3].content, "error: there is no tool \"end_call\"");
        assert_eq!(messages[4].content, "error: there is no tool \"launch\"");
    }

    #[test]
    fn set_var_then_end_call_in_one_reply_keeps_the_var() {
        let mut node = agent(json!({}));
        node.enter();
        node.send(speech("I'm Ada, bye"));
        let out = node.send(tools(
            "Bye Ada",
            &[
                ("c1", "set_var", json!({"name": "n", "value": "Ada"})),
                ("c2", "end_call", json!({})),
            ],
        ));
        assert_eq!(out.exit.as_deref(), Some("ended"));
        assert_eq!(node.vars()["n"], "Ada");
    }

    #[test]
    fn endless_tool_rounds_are_an_error() {
        let mut node = agent(json!({}));
        node.enter();
        node.send(speech("hi"));
        let call = [("c", "set_var", json!({"name": "n", "value": "1"}))];
        for _ in 1..MAX_TOOL_ROUNDS {
            assert_eq!(node.send(tools("", &call)).exit, None);
        }
        assert_eq!(node.send(tools("", &call)).exit.as_deref(), Some("error"));
        // A new caller turn gets a fresh budget.
        let mut node = agent(json!({}));
        node.enter();
        node.send(speech("hi"));
        node.send(tools("", &call));
        node.send(reply("ok"));
        node.send(speech("again"));
        assert_eq!(node.send(tools("", &call)).exit, None);
    }

    #[test]
    fn more_than_max_turns_utterances_take_max_turns() {
        let mut node = agent(json!({"max_turns": 2}));
        node.enter();
        for said in ["one", "two"] {
            assert_eq!(node.send(speech(said)).exit, None);
            node.send(reply("ok"));
        }
        assert_eq!(
            node.send(speech("three")).exit.as_deref(),
            Some("max_turns")
        );
    }

    #[test]
    fn blank_speech_is_not_a_turn() {
        let mut node = agent(json!({"max_turns": 1}));
        node.enter();
        let out = node.send(speech("  "));
        assert_eq!(
            out.actions,
            vec![Action::Listen {
                timeout_ms: Some(8000)
            }]
        );
        assert_eq!(node.send(speech("real")).exit, None);
    }

    #[test]
    fn a_model_error_is_an_error() {
        let mut node = agent(json!({}));
        node.enter();
        node.send(speech("hi"));
        let out = node.send(Event::LlmReply {
            text: String::new(),
            tool_calls: vec![],
            error: Some("502".into()),
        });
        assert_eq!(out.exit.as_deref(), Some("error"));
        assert!(take_native_log()[0].1.contains("502"));
    }

    #[test]
    fn silence_times_out_and_hang_up_ends() {
        let mut node = agent(json!({}));
        node.enter();
        assert_eq!(node.send(Event::Timeout).exit.as_deref(), Some("timeout"));
        node.enter();
        assert_eq!(node.send(Event::Hangup).exit.as_deref(), Some("ended"));
    }

    #[test]
    fn other_events_keep_the_conversation() {
        let mut node = agent(json!({"greeting": "Hi"}));
        let entered = node.enter();
        let out = node.send(Event::PromptDone);
        assert_eq!(out, StepOutput::wait().with_state(entered.state));
    }
}
