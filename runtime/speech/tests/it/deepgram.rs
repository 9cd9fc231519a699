//! The Deepgram adapter against a local WebSocket server speaking
//! Deepgram's `/v1/listen` protocol.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use switchyard_speech::stt::{Deepgram, DeepgramSettings};
use switchyard_speech::{ApiKey, SpeechError, StreamingStt, Stt, Transcript};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// What the fake server saw.
#[derive(Debug, Default, Clone)]
struct Seen {
    uri: String,
    authorization: String,
    audio: Vec<u8>,
    binary_frames: usize,
    keepalives: usize,
    close_stream: bool,
    audio_after_close_stream: bool,
}

/// How the fake behaves.
#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    /// Results as Deepgram sends them: a final once 0.2 s of audio has come
    /// in (after an interim), the rest after `CloseStream`, then close.
    Transcribe,
    /// Refuse the handshake as Deepgram does a bad key.
    RejectKey,
    /// Close with an error code once audio arrives.
    FailMidStream,
}

fn results(transcript: &str, confidence: f64, is_final: bool) -> Message {
    Message::text(
        json!({
            "type": "Results", "channel_index": [0, 1], "duration": 0.5, "start": 0.0,
            "is_final": is_final, "speech_final": is_final, "from_finalize": false,
            "channel": {"alternatives": [{"transcript": transcript, "confidence": confidence, "words": []}]},
            "metadata": {"request_id": "r1", "model_info": {"name": "general"}}
        })
        .to_string(),
    )
}

async fn deepgram_server(behaviour: Behaviour) -> (String, Arc<Mutex<Seen>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = shared.clone();
            tokio::spawn(async move {
                let handshake_seen = seen.clone();
                // The callback's type is tungstenite's, large error and all.
                #[allow(clippy::result_large_err)]
                let callback = move |request: &Request, response: Response| {
                    let mut s = handshake_seen.lock().unwrap();
                    s.uri = request.uri().to_string();
                    s.authorization = request
                        .headers()
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    if behaviour == Behaviour::RejectKey {
                        let mut refusal = ErrorResponse::new(Some(
                            r#"{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials.","request_id":"r0"}"#
                                .to_owned(),
                        ));
                        *refusal.status_mut() = StatusCode::UNAUTHORIZED;
                        return Err(refusal);
                    }
                    Ok(response)
                };
                let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await
                else {
                    return;
                };
                let mut first_sent = false;
                while let Some(Ok(message)) = socket.next().await {
                    match message {
                        Message::Binary(bytes) => {
                            let total = {
                                let mut s = seen.lock().unwrap();
                                s.audio_after_close_stream |= s.close_stream;
                                s.audio.extend_from_slice(&bytes);
                                s.binary_frames += 1;
                                s.audio.len()
                            };
                            if behaviour == Behaviour::FailMidStream {
                                let frame = CloseFrame {
                                    code: CloseCode::Error,
                                    reason: "NET-0001: no audio received".into(),
                                };
                                socket.close(Some(frame)).await.unwrap();
                                continue;
                            }
                            if total >= 3_200 && !first_sent {
                                first_sent = true;
                                socket.send(results("I ne", 0.5, false)).await.unwrap();
                                socket.send(results("I need", 0.9, true)).await.unwrap();
                            }
                        }
                        Message::Text(text) => {
                            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                            match value["type"].as_str().unwrap() {
                                "KeepAlive" => seen.lock().unwrap().keepalives += 1,
                                "CloseStream" => {
                                    seen.lock().unwrap().close_stream = true;
                                    // Pending results come after CloseStream,
                                    // then metadata, then the close.
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                    socket
                                        .send(results("billing please", 0.7, true))
                                        .await
                                        .unwrap();
                                    socket.send(results("", 0.0, true)).await.unwrap();
                                    socket
                                        .send(Message::text(
                                            json!({"type": "Metadata", "request_id": "r1", "duration": 1.0}).to_string(),
                                        ))
                                        .await
                                        .unwrap();
                                    socket.close(None).await.unwrap();
                                }
                                other => panic!("unexpected message type {other}"),
                            }
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (format!("ws://{address}"), seen)
}

fn adapter(base: &str, keepalive_ms: u64) -> Deepgram {
    Deepgram::new(
        DeepgramSettings {
            base_url: base.to_owned(),
            model: "nova-2".into(),
            keepalive_ms,
            timeout_ms: 5_000,
            ..DeepgramSettings::default()
        },
        Some(ApiKey::new("dg-secret-key")),
    )
}

async fn next(
    stream: &mut tokio::sync::mpsc::Receiver<Result<Transcript, SpeechError>>,
) -> Option<Result<Transcript, SpeechError>> {
    tokio::time::timeout(Duration::from_secs(5), stream.recv())
        .await
        .expect("the adapter answered in time")
}

#[tokio::test]
async fn audio_streams_out_as_linear16_and_final_transcripts_stream_back() {
    let (base, seen) = deepgram_server(Behaviour::Transcribe).await;
    let deepgram = adapter(&base, 100);
    let mut stream = deepgram.open("en-US").await.unwrap();

    // 0.2 s in 20 ms frames, each frame's samples distinct.
    let frames: Vec<Vec<i16>> = (0..10)
        .map(|f| (0..160).map(|i| (f * 1000 + i) as i16).collect())
        .collect();
    for frame in &frames {
        stream.audio.send(frame.clone()).await.unwrap();
    }
    // The first final arrives while the stream is still open (the interim
    // before it is not passed on).
    let first = next(&mut stream.transcripts).await.unwrap().unwrap();
    assert_eq!(
        first,
        Transcript {
            text: "I need".into(),
            confidence: Some(0.9)
        }
    );

    // A pause with no audio: the adapter keeps the stream alive, every
    // 100 ms here.
    let pause = tokio::time::Instant::now();
    let before = seen.lock().unwrap().keepalives;
    while seen.lock().unwrap().keepalives < before + 2 {
        assert!(
            pause.elapsed() < Duration::from_secs(3),
            "no KeepAlive during the pause"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Dropping the sender finishes: CloseStream, the last results, the end.
    drop(stream.audio);
    let last = next(&mut stream.transcripts).await.unwrap().unwrap();
    assert_eq!(last.text, "billing please");
    assert!(
        next(&mut stream.transcripts).await.is_none(),
        "closed after the server closed"
    );

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.uri,
        "/v1/listen?encoding=linear16&sample_rate=8000&channels=1&language=en-US&model=nova-2\
         &interim_results=false&punctuate=true"
    );
    assert_eq!(seen.authorization, "Token dg-secret-key");
    let expected: Vec<u8> = frames
        .iter()
        .flatten()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    assert_eq!(
        seen.audio, expected,
        "16-bit little-endian, in order, nothing lost"
    );
    assert_eq!(seen.binary_frames, 10);
    assert!(seen.close_stream);
    assert!(!seen.audio_after_close_stream);
}

#[tokio::test]
async fn a_finished_utterance_is_transcribed_through_the_stream() {
    let (base, seen) = deepgram_server(Behaviour::Transcribe).await;
    let deepgram = adapter(&base, 4_000);
    let pcm: Vec<i16> = (0..8_000).map(|i| (i % 300) as i16).collect();
    let heard = deepgram.transcribe(&pcm, "en-GB", &[]).await.unwrap();
    assert_eq!(heard.text, "I need billing please");
    let confidence = heard.confidence.unwrap();
    assert!(
        (confidence - 0.8).abs() < 1e-6,
        "the mean of 0.9 and 0.7: {confidence}"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.audio.len(), 16_000);
    assert_eq!(seen.binary_frames, 10, "100 ms chunks");
    assert!(seen.uri.contains("language=en-GB"));
}

#[tokio::test]
async fn a_refused_key_is_an_http_error_with_deepgrams_message() {
    let (base, _) = deepgram_server(Behaviour::RejectKey).await;
    let deepgram = adapter(&base, 4_000);
    let error = deepgram.open("en-US").await.unwrap_err();
    assert!(
        matches!(error, SpeechError::Http { status: 401, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "deepgram answered HTTP 401: Invalid credentials."
    );
    assert!(!format!("{error:?} {deepgram:?}").contains("dg-secret-key"));
}

#[tokio::test]
async fn a_server_side_close_with_an_error_code_ends_the_stream_with_that_error() {
    let (base, _) = deepgram_server(Behaviour::FailMidStream).await;
    let deepgram = adapter(&base, 4_000);
    let mut stream = deepgram.open("en-US").await.unwrap();
    stream.audio.send(vec![1; 160]).await.unwrap();
    let error = next(&mut stream.transcripts).await.unwrap().unwrap_err();
    assert!(
        error
            .to_string()
            .contains("closed the stream (1011): NET-0001"),
        "{error}"
    );
    assert!(next(&mut stream.transcripts).await.is_none());
}

#[tokio::test]
async fn nobody_listening_is_a_connection_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let error = adapter(&format!("ws://{address}"), 4_000)
        .open("en-US")
        .await
        .unwrap_err();
    assert!(matches!(error, SpeechError::Provider { .. }), "{error:?}");
    assert!(
        error.to_string().starts_with("deepgram: cannot connect"),
        "{error}"
    );
}
