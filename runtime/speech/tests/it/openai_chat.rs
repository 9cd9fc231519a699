//! The chat-completions client against a local server streaming real
//! server-sent events, cut into TCP writes at awkward places.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use serde_json::json;
use switchyard_sdk::protocol::{ChatMessage, LlmRequest, ToolCall, ToolSpec};
use switchyard_speech::llm::{OpenAiChat, OpenAiChatSettings};
use switchyard_speech::sentences::SentenceSplitter;
use switchyard_speech::{ApiKey, Llm, LlmDelta, LlmStream, SpeechError};
use tokio::sync::{Notify, mpsc};

use crate::support::{Log, record, serve};

/// One step of a scripted response body.
#[derive(Clone)]
enum Step {
    /// Write these bytes (one TCP write: each is flushed before the next
    /// step begins).
    Write(&'static str),
    /// Wait until the test says go on.
    WaitForTest,
    /// Stall for this long.
    Sleep(Duration),
}

/// A chat server answering every request with `status` and a body written
/// step by step.
async fn chat_server(status: StatusCode, script: Vec<Step>) -> (String, Log, Arc<Notify>) {
    let log = Log::default();
    let go_on = Arc::new(Notify::new());
    let (handler_log, handler_go_on) = (log.clone(), go_on.clone());
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |request: axum::extract::Request| {
            let (log, go_on, script) = (handler_log.clone(), handler_go_on.clone(), script.clone());
            async move {
                record(&log, request).await;
                let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
                tokio::spawn(async move {
                    for step in script {
                        match step {
                            Step::Write(bytes) => {
                                if tx
                                    .send(Ok(Bytes::from_static(bytes.as_bytes())))
                                    .await
                                    .is_err()
                                {
                                    return;
                                }
                                // Let hyper put it on the wire before the next
                                // piece, so each is its own write.
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            Step::WaitForTest => go_on.notified().await,
                            Step::Sleep(pause) => tokio::time::sleep(pause).await,
                        }
                    }
                });
                let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async {
                    rx.recv().await.map(|item| (item, rx))
                }));
                Response::builder()
                    .status(status)
                    .header(header::CONTENT_TYPE, "text/event-stream")
                    .body(body)
                    .unwrap()
            }
        }),
    );
    (serve(app).await, log, go_on)
}

fn chat(base: &str) -> OpenAiChat {
    OpenAiChat::new(
        OpenAiChatSettings {
            base_url: format!("{base}/v1"),
            model: "llama3.1".into(),
            first_byte_timeout_ms: 2_000,
            idle_timeout_ms: 2_000,
            ..OpenAiChatSettings::default()
        },
        Some(ApiKey::new("sk-chat-key")),
    )
    .unwrap()
}

fn request() -> LlmRequest {
    LlmRequest {
        messages: vec![
            ChatMessage {
                role: "system".into(),
                content: "You are a receptionist.".into(),
                tool_calls: vec![],
                tool_call_id: None,
            },
            ChatMessage {
                role: "user".into(),
                content: "What is my balance?".into(),
                tool_calls: vec![],
                tool_call_id: None,
            },
            ChatMessage {
                role: "assistant".into(),
                content: String::new(),
                tool_calls: vec![ToolCall {
                    id: "call_prev".into(),
                    name: "verify_caller".into(),
                    arguments: json!({"pin": "1234"}),
                }],
                tool_call_id: None,
            },
            ChatMessage {
                role: "tool".into(),
                content: "{\"verified\":true}".into(),
                tool_calls: vec![],
                tool_call_id: Some("call_prev".into()),
            },
        ],
        tools: vec![ToolSpec {
            name: "lookup_account".into(),
            description: "Look up an account by number".into(),
            parameters: json!({"type": "object", "properties": {"account": {"type": "string"}}, "required": ["account"]}),
        }],
    }
}

async fn next(stream: &mut LlmStream) -> Option<Result<LlmDelta, SpeechError>> {
    tokio::time::timeout(Duration::from_secs(5), stream.recv())
        .await
        .expect("the adapter forwarded in time")
}

/// The SSE of a reply that says a sentence and a half, then calls
/// `lookup_account` with arguments split over three chunks, the chunks cut
/// across TCP writes mid-line and mid-JSON.
fn tool_call_script() -> Vec<Step> {
    vec![
        Step::Write(
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        ),
        Step::Write(
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Let me check",
        ),
        Step::Write(" that.\"},\"finish_reason\":null}]}\n\n"),
        Step::WaitForTest,
        Step::Write(
            ": keep-alive comment\n\ndata: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" One moment\"},\"finish_reason\":null}]}\n",
        ),
        Step::Write(
            "\ndata: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_abc\",\"type\":\"function\",\"function\":{\"name\":\"lookup_account\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\nda",
        ),
        Step::Write(
            "ta: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"acc\"}}]},\"finish_reason\":null}]}\n\n",
        ),
        Step::Write(
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ount\\\": \\\"42-",
        ),
        Step::Write("7\\\"}\"}}]},\"finish_reason\":null}]}\n\n"),
        Step::Write(
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        ),
        Step::Write("data: [DONE]\n\n"),
    ]
}

#[tokio::test]
async fn text_streams_as_it_comes_and_a_split_tool_call_arrives_whole() {
    let (base, log, go_on) = chat_server(StatusCode::OK, tool_call_script()).await;
    let mut stream = chat(&base).stream(&request()).await.unwrap();

    // The server holds the rest of its reply until the test has seen this:
    // text is forwarded as it comes, not when the reply is done.
    assert_eq!(
        next(&mut stream).await.unwrap().unwrap(),
        LlmDelta::Text("Let me check that.".into())
    );
    go_on.notify_one();

    assert_eq!(
        next(&mut stream).await.unwrap().unwrap(),
        LlmDelta::Text(" One moment".into())
    );
    assert_eq!(
        next(&mut stream).await.unwrap().unwrap(),
        LlmDelta::ToolCall(ToolCall {
            id: "call_abc".into(),
            name: "lookup_account".into(),
            arguments: json!({"account": "42-7"}),
        })
    );
    assert!(
        next(&mut stream).await.is_none(),
        "the stream ends after [DONE]"
    );

    let received = log.lock().unwrap()[0].clone();
    assert_eq!(received.uri.path(), "/v1/chat/completions");
    assert_eq!(received.header("authorization"), "Bearer sk-chat-key");
    assert_eq!(received.header("accept"), "text/event-stream");
    let body = received.json();
    assert_eq!(body["model"], "llama3.1");
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are a receptionist."},
            {"role": "user", "content": "What is my balance?"},
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_prev", "type": "function",
                "function": {"name": "verify_caller", "arguments": "{\"pin\":\"1234\"}"}}]},
            {"role": "tool", "content": "{\"verified\":true}", "tool_call_id": "call_prev"},
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {
            "name": "lookup_account",
            "description": "Look up an account by number",
            "parameters": {"type": "object", "properties": {"account": {"type": "string"}}, "required": ["account"]}}}])
    );
}

#[tokio::test]
async fn parallel_tool_calls_are_assembled_by_index() {
    let script = vec![
        Step::Write(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\"}},{\"index\":1,\"id\":\"call_2\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]}}]}\n\n",
        ),
        Step::Write(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}}]}\n\n",
        ),
        Step::Write(
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n",
        ),
    ];
    let (base, _, _) = chat_server(StatusCode::OK, script).await;
    let mut stream = chat(&base).stream(&request()).await.unwrap();
    let mut calls = Vec::new();
    while let Some(delta) = next(&mut stream).await {
        match delta.unwrap() {
            LlmDelta::ToolCall(call) => calls.push((call.id, call.name, call.arguments)),
            LlmDelta::Text(text) => panic!("unexpected text {text:?}"),
        }
    }
    assert_eq!(
        calls,
        [
            (
                "call_1".to_owned(),
                "get_weather".to_owned(),
                json!({"city": "Paris"})
            ),
            ("call_2".to_owned(), "get_time".to_owned(), json!({})),
        ]
    );
}

#[tokio::test]
async fn a_reply_streams_into_sentences_for_speech() {
    let script = vec![
        Step::Write("data: {\"choices\":[{\"delta\":{\"content\":\"Your balance is $3\"}}]}\n\n"),
        Step::Write("data: {\"choices\":[{\"delta\":{\"content\":\".50. Dr. Lee\"}}]}\n\n"),
        Step::Write(
            "data: {\"choices\":[{\"delta\":{\"content\":\" can see you at 4 p.m. tomorrow! Anything else\"}}]}\n\n",
        ),
        Step::Write(
            "data: {\"choices\":[{\"delta\":{\"content\":\"?\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
        ),
    ];
    let (base, _, _) = chat_server(StatusCode::OK, script).await;
    let mut stream = chat(&base).stream(&request()).await.unwrap();
    let mut splitter = SentenceSplitter::new();
    let mut sentences = Vec::new();
    while let Some(delta) = next(&mut stream).await {
        if let LlmDelta::Text(text) = delta.unwrap() {
            sentences.extend(splitter.push(&text));
        }
    }
    sentences.extend(splitter.finish());
    assert_eq!(
        sentences,
        [
            "Your balance is $3.50.",
            "Dr. Lee can see you at 4 p.m. tomorrow!",
            "Anything else?"
        ]
    );
}

#[tokio::test]
async fn invalid_tool_arguments_end_the_stream_with_an_error_not_a_panic() {
    let script = vec![
        Step::Write(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"transfer\",\"arguments\":\"{\\\"to\\\": sales\"}}]}}]}\n\n",
        ),
        Step::Write(
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n",
        ),
    ];
    let (base, _, _) = chat_server(StatusCode::OK, script).await;
    let mut stream = chat(&base).stream(&request()).await.unwrap();
    let error = next(&mut stream).await.unwrap().unwrap_err();
    assert!(matches!(error, SpeechError::Protocol { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("the arguments of tool call `transfer` are not JSON"),
        "{error}"
    );
    assert!(next(&mut stream).await.is_none());
}

#[tokio::test]
async fn an_error_status_carries_the_providers_message_without_the_key() {
    let script = vec![Step::Write(
        "{\"error\":{\"message\":\"Rate limit reached for sk-chat-key on requests per min.\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}",
    )];
    let (base, _, _) = chat_server(StatusCode::TOO_MANY_REQUESTS, script).await;
    let error = chat(&base).stream(&request()).await.unwrap_err();
    assert!(
        matches!(error, SpeechError::Http { status: 429, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "openai-chat answered HTTP 429: Rate limit reached for *** on requests per min."
    );
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_it_with_the_providers_message() {
    let script = vec![
        Step::Write("data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"),
        Step::Write(
            "data: {\"error\":{\"message\":\"the model crashed\",\"type\":\"server_error\"}}\n\n",
        ),
    ];
    let (base, _, _) = chat_server(StatusCode::OK, script).await;
    let mut stream = chat(&base).stream(&request()).await.unwrap();
    assert_eq!(
        next(&mut stream).await.unwrap().unwrap(),
        LlmDelta::Text("Hel".into())
    );
    let error = next(&mut stream).await.unwrap().unwrap_err();
    assert_eq!(error.to_string(), "openai-chat: the model crashed");
    assert!(next(&mut stream).await.is_none());
}

#[tokio::test]
async fn a_stream_cut_off_before_the_reply_finished_is_an_error() {
    let script = vec![Step::Write(
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n",
    )];
    let (base, _, _) = chat_server(StatusCode::OK, script).await;
    let mut stream = chat(&base).stream(&request()).await.unwrap();
    assert_eq!(
        next(&mut stream).await.unwrap().unwrap(),
        LlmDelta::Text("Hello".into())
    );
    let error = next(&mut stream).await.unwrap().unwrap_err();
    assert!(
        error
            .to_string()
            .contains("ended before the reply was complete"),
        "{error}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_or_goes_quiet_times_out() {
    let never = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK
        }),
    );
    let base = serve(never).await;
    let quick = |base: &str| {
        OpenAiChat::new(
            OpenAiChatSettings {
                base_url: format!("{base}/v1"),
                api_key_env: None,
                first_byte_timeout_ms: 200,
                idle_timeout_ms: 200,
                ..OpenAiChatSettings::default()
            },
            None,
        )
        .unwrap()
    };
    let error = quick(&base).stream(&request()).await.unwrap_err();
    assert!(
        matches!(error, SpeechError::Timeout { after, .. } if after == Duration::from_millis(200)),
        "{error:?}"
    );

    let script = vec![
        Step::Write("data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"),
        Step::Sleep(Duration::from_secs(30)),
    ];
    let (base, _, _) = chat_server(StatusCode::OK, script).await;
    let mut stream = quick(&base).stream(&request()).await.unwrap();
    assert_eq!(
        next(&mut stream).await.unwrap().unwrap(),
        LlmDelta::Text("Hi".into())
    );
    let error = next(&mut stream).await.unwrap().unwrap_err();
    assert!(matches!(error, SpeechError::Timeout { .. }), "{error:?}");
}
