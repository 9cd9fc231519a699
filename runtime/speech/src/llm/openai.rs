//! OpenAI-compatible chat completions, streamed.
//!
//! Wire format: `POST {base_url}/chat/completions` with `Authorization:
//! Bearer <key>` and `{"model", "messages", "tools", "stream": true}`. The
//! answer is server-sent events, one `data: {chunk}` per event and
//! `data: [DONE]` at the end. Each chunk's `choices[0].delta` holds more
//! `content`, or fragments of tool calls:
//! `tool_calls: [{"index", "id", "function": {"name", "arguments"}}]`,
//! where the first fragment of a call brings its id and name and the
//! following ones pieces of its JSON arguments, all keyed by `index`.
//! `finish_reason` on the choice closes the turn.
//!
//! Text is forwarded as it comes (the voice driver starts speaking the
//! first sentence while the rest is generated); tool calls are forwarded
//! whole, once the turn finishes and their arguments parse.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchyard_sdk::protocol::{ChatMessage, LlmRequest, ToolCall};
use tokio::sync::mpsc;

use super::sse::SseParser;
use crate::http;
use crate::ports::{BoxFuture, Llm, LlmDelta, LlmStream, SpeechError};
use crate::secret::ApiKey;

const PROVIDER: &str = "openai-chat";

/// Where and how to reach an OpenAI-compatible chat endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiChatSettings {
    /// The API root including its version: `https://api.openai.com/v1`,
    /// `http://127.0.0.1:11434/v1` (Ollama), `http://127.0.0.1:8000/v1`
    /// (vLLM), `http://127.0.0.1:8080/v1` (llama.cpp server).
    pub base_url: String,
    /// The model name the server knows.
    pub model: String,
    /// The environment variable holding the API key; `None` for local
    /// servers that take none.
    pub api_key_env: Option<String>,
    /// Sampling temperature; `None` leaves the server's default.
    pub temperature: Option<f32>,
    /// A cap on reply tokens; `None` leaves the server's default.
    pub max_tokens: Option<u32>,
    /// How long to wait for the response to start (status and headers).
    pub first_byte_timeout_ms: u64,
    /// How long the stream may go quiet between chunks.
    pub idle_timeout_ms: u64,
}

impl Default for OpenAiChatSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4o-mini".into(),
            api_key_env: Some("OPENAI_API_KEY".into()),
            temperature: None,
            max_tokens: None,
            first_byte_timeout_ms: 30_000,
            idle_timeout_ms: 30_000,
        }
    }
}

/// An OpenAI-compatible chat model as an [`Llm`].
#[derive(Debug, Clone)]
pub struct OpenAiChat {
    settings: OpenAiChatSettings,
    api_key: Option<ApiKey>,
    client: reqwest::Client,
}

impl OpenAiChat {
    /// An adapter for `settings`, sending `api_key` (if any) as a bearer
    /// token.
    ///
    /// # Errors
    /// [`SpeechError::Provider`] if the HTTP client cannot be built.
    pub fn new(settings: OpenAiChatSettings, api_key: Option<ApiKey>) -> Result<Self, SpeechError> {
        Ok(Self {
            client: http::client(PROVIDER)?,
            settings,
            api_key,
        })
    }

    /// The JSON body for `request`.
    fn body(&self, request: &LlmRequest) -> Value {
        let mut body = json!({
            "model": self.settings.model,
            "messages": request.messages.iter().map(message_json).collect::<Vec<_>>(),
            "stream": true,
        });
        if !request.tools.is_empty() {
            body["tools"] = request
                .tools
                .iter()
                .map(|tool| {
                    json!({
                        "type": "function",
                        "function": {
                            "name": tool.name,
                            "description": tool.description,
                            "parameters": tool.parameters,
                        },
                    })
                })
                .collect();
        }
        if let Some(temperature) = self.settings.temperature {
            body["temperature"] = json!(temperature);
        }
        if let Some(max_tokens) = self.settings.max_tokens {
            body["max_tokens"] = json!(max_tokens);
        }
        body
    }

    async fn start(&self, request: &LlmRequest) -> Result<LlmStream, SpeechError> {
        let first_byte = Duration::from_millis(self.settings.first_byte_timeout_ms);
        let idle = Duration::from_millis(self.settings.idle_timeout_ms);
        let mut builder = self
            .client
            .post(http::endpoint(&self.settings.base_url, "chat/completions"))
            .header("Accept", "text/event-stream")
            .json(&self.body(request));
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key.expose());
        }
        // Not reqwest's own timeout: that one covers the whole body, and a
        // long reply streaming steadily must not be cut off.
        let response = tokio::time::timeout(first_byte, builder.send())
            .await
            .map_err(|_| SpeechError::Timeout {
                provider: PROVIDER,
                after: first_byte,
            })?
            .map_err(|e| http::transport_error(PROVIDER, &e, first_byte))?;
        if !response.status().is_success() {
            return Err(http::status_error(PROVIDER, response, self.api_key.as_ref()).await);
        }
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(read_stream(response, tx, idle));
        Ok(rx)
    }
}

impl Llm for OpenAiChat {
    fn stream<'a>(
        &'a self,
        request: &'a LlmRequest,
    ) -> BoxFuture<'a, Result<LlmStream, SpeechError>> {
        Box::pin(self.start(request))
    }
}

/// One message in the wire format: assistant tool calls carry their
/// arguments as a JSON *string*, tool results name the call they answer.
fn message_json(message: &ChatMessage) -> Value {
    let mut value = json!({ "role": message.role, "content": message.content });
    if !message.tool_calls.is_empty() {
        if message.content.is_empty() {
            value["content"] = Value::Null;
        }
        value["tool_calls"] = message
            .tool_calls
            .iter()
            .map(|call| {
                json!({
                    "id": call.id,
                    "type": "function",
                    "function": { "name": call.name, "arguments": call.arguments.to_string() },
                })
            })
            .collect();
    }
    if let Some(id) = &message.tool_call_id {
        value["tool_call_id"] = json!(id);
    }
    value
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallFragment>>,
}

#[derive(Deserialize)]
struct ToolCallFragment {
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionFragment>,
}

#[derive(Deserialize)]
struct FunctionFragment {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// Tool calls being put together from their fragments, by `index`.
#[derive(Debug, Default)]
struct ToolCalls {
    partial: BTreeMap<usize, PartialCall>,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

impl ToolCalls {
    fn push(&mut self, position: usize, fragment: ToolCallFragment) {
        // A server that leaves out `index` (some older ones did) sends each
        // call whole, so its place in the list identifies it.
        let call = self
            .partial
            .entry(fragment.index.unwrap_or(position))
            .or_default();
        if let Some(id) = fragment.id.filter(|id| !id.is_empty())
            && call.id.is_empty()
        {
            call.id = id;
        }
        if let Some(function) = fragment.function {
            if let Some(name) = function.name.filter(|n| !n.is_empty()) {
                // OpenAI sends the name once; some servers repeat it whole
                // on every fragment, and a few stream it in pieces.
                if call.name.is_empty() {
                    call.name = name;
                } else if call.name != name {
                    call.name.push_str(&name);
                }
            }
            if let Some(arguments) = function.arguments {
                call.arguments.push_str(&arguments);
            }
        }
    }

    /// The calls so far, complete, in index order.
    ///
    /// # Errors
    /// [`SpeechError::Protocol`] for a call without a name or whose
    /// arguments are not JSON.
    fn take(&mut self) -> Result<Vec<ToolCall>, SpeechError> {
        std::mem::take(&mut self.partial)
            .into_iter()
            .map(|(index, call)| {
                if call.name.is_empty() {
                    return Err(SpeechError::Protocol {
                        provider: PROVIDER,
                        message: format!("tool call {index} has no function name"),
                    });
                }
                let arguments = if call.arguments.trim().is_empty() {
                    // A tool without parameters may get no arguments at all.
                    json!({})
                } else {
                    serde_json::from_str(&call.arguments).map_err(|e| SpeechError::Protocol {
                        provider: PROVIDER,
                        message: format!(
                            "the arguments of tool call `{}` are not JSON: {e}",
                            call.name
                        ),
                    })?
                };
                Ok(ToolCall {
                    id: if call.id.is_empty() {
                        format!("call_{index}")
                    } else {
                        call.id
                    },
                    name: call.name,
                    arguments,
                })
            })
            .collect()
    }
}

/// What the stream reader does after one event.
enum Step {
    Continue,
    Done,
}

/// The state of one streamed reply.
#[derive(Default)]
struct Reply {
    tool_calls: ToolCalls,
    finished: bool,
}

impl Reply {
    /// Handles one event's data, sending what it completes.
    async fn event(
        &mut self,
        data: &str,
        tx: &mpsc::Sender<Result<LlmDelta, SpeechError>>,
    ) -> Result<Step, SpeechError> {
        if data.trim() == "[DONE]" {
            self.flush(tx).await?;
            return Ok(Step::Done);
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| SpeechError::Protocol {
            provider: PROVIDER,
            message: format!("unreadable stream chunk: {e}"),
        })?;
        if let Some(error) = chunk.error {
            let message = http::provider_message(&json!({ "error": error }).to_string())
                .unwrap_or_else(|| error.to_string());
            return Err(SpeechError::Provider {
                provider: PROVIDER,
                message,
            });
        }
        // Only the first choice is asked for (no `n`), so only it is read.
        let Some(choice) = chunk.choices.into_iter().next() else {
            return Ok(Step::Continue);
        };
        let delta = choice.delta.unwrap_or_default();
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            send(tx, Ok(LlmDelta::Text(text))).await?;
        }
        for (position, fragment) in delta.tool_calls.into_iter().flatten().enumerate() {
            self.tool_calls.push(position, fragment);
        }
        if choice.finish_reason.is_some() {
            self.finished = true;
            self.flush(tx).await?;
        }
        Ok(Step::Continue)
    }

    async fn flush(
        &mut self,
        tx: &mpsc::Sender<Result<LlmDelta, SpeechError>>,
    ) -> Result<(), SpeechError> {
        for call in self.tool_calls.take()? {
            send(tx, Ok(LlmDelta::ToolCall(call))).await?;
        }
        Ok(())
    }
}

/// The receiver went away: nobody wants the rest of the reply.
struct Abandoned;

impl From<Abandoned> for SpeechError {
    fn from(_: Abandoned) -> Self {
        SpeechError::Provider {
            provider: PROVIDER,
            message: "the reply was abandoned".into(),
        }
    }
}

async fn send(
    tx: &mpsc::Sender<Result<LlmDelta, SpeechError>>,
    item: Result<LlmDelta, SpeechError>,
) -> Result<(), Abandoned> {
    tx.send(item).await.map_err(|_| Abandoned)
}

/// Reads the event stream to its end, forwarding deltas; any failure is
/// sent as the last item. Returning drops the response, which closes the
/// connection if the reply was abandoned part-way.
async fn read_stream(
    response: reqwest::Response,
    tx: mpsc::Sender<Result<LlmDelta, SpeechError>>,
    idle: Duration,
) {
    if let Err(error) = forward(response, &tx, idle).await {
        let _ = tx.send(Err(error)).await;
    }
}

async fn forward(
    response: reqwest::Response,
    tx: &mpsc::Sender<Result<LlmDelta, SpeechError>>,
    idle: Duration,
) -> Result<(), SpeechError> {
    let mut body = response.bytes_stream();
    let mut parser = SseParser::default();
    let mut reply = Reply::default();
    loop {
        let next =
            tokio::time::timeout(idle, body.next())
                .await
                .map_err(|_| SpeechError::Timeout {
                    provider: PROVIDER,
                    after: idle,
                })?;
        let events = match next {
            Some(Ok(bytes)) => parser.push(&bytes),
            Some(Err(e)) => return Err(http::transport_error(PROVIDER, &e, idle)),
            None => {
                if let Some(data) = parser.finish()
                    && let Step::Done = reply.event(&data, tx).await?
                {
                    return Ok(());
                }
                if reply.finished {
                    return Ok(());
                }
                return Err(SpeechError::Protocol {
                    provider: PROVIDER,
                    message: "the stream ended before the reply was complete".into(),
                });
            }
        };
        for data in events {
            if let Step::Done = reply.event(&data, tx).await? {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::protocol::ToolSpec;

    fn fragment(json: &str) -> ToolCallFragment {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn fragments_assemble_into_calls_in_index_order() {
        let mut calls = ToolCalls::default();
        calls.push(
            0,
            fragment(r#"{"index":1,"id":"call_b","function":{"name":"hang_up","arguments":""}}"#),
        );
        calls.push(0, fragment(r#"{"index":0,"id":"call_a","type":"function","function":{"name":"lookup","arguments":"{\"acc"}}"#));
        calls.push(
            0,
            fragment(r#"{"index":0,"function":{"arguments":"ount\": \"42\"}"}}"#),
        );
        let calls = calls.take().unwrap();
        assert_eq!(calls[0].id, "call_a");
        assert_eq!(calls[0].arguments, json!({"account": "42"}));
        assert_eq!(calls[1].name, "hang_up");
        assert_eq!(calls[1].arguments, json!({}));
    }

    #[test]
    fn repeated_names_are_not_doubled_and_bad_arguments_are_an_error() {
        let mut calls = ToolCalls::default();
        calls.push(
            0,
            fragment(r#"{"index":0,"id":"c","function":{"name":"f","arguments":"{\"x\":"}}"#),
        );
        calls.push(
            0,
            fragment(r#"{"index":0,"function":{"name":"f","arguments":"oops}"}}"#),
        );
        let error = calls.take().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("the arguments of tool call `f` are not JSON"),
            "{error}"
        );
    }

    #[test]
    fn messages_use_the_wire_shapes_for_tool_calls_and_results() {
        let chat = OpenAiChat::new(OpenAiChatSettings::default(), None).unwrap();
        let request = LlmRequest {
            messages: vec![
                ChatMessage {
                    role: "assistant".into(),
                    content: String::new(),
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "lookup".into(),
                        arguments: json!({"account": "42"}),
                    }],
                    tool_call_id: None,
                },
                ChatMessage {
                    role: "tool".into(),
                    content: "{\"balance\":10}".into(),
                    tool_calls: vec![],
                    tool_call_id: Some("call_1".into()),
                },
            ],
            tools: vec![ToolSpec {
                name: "lookup".into(),
                description: "Find an account".into(),
                parameters: json!({"type": "object"}),
            }],
        };
        let body = chat.body(&request);
        assert_eq!(
            body["messages"],
            json!([
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "lookup", "arguments": "{\"account\":\"42\"}"}}]},
                {"role": "tool", "content": "{\"balance\":10}", "tool_call_id": "call_1"},
            ])
        );
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["stream"], true);
        assert!(body.get("temperature").is_none());
    }
}
