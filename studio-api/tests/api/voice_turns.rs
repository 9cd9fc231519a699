//! Spoken turns on a Twilio-compatible media stream, end to end: a real
//! server, real espeak-ng and pocketsphinx, and a WebSocket client in the
//! test that plays the part of Twilio (20 ms µ-law frames at real-time
//! pace, marks echoed, `clear` honoured).
//!
//! - Speech during a long prompt stops it (`clear`), and the word said is
//!   still recognised.
//! - An utterance matching none of a menu's keywords takes its `invalid`
//!   path (a hum: pocketsphinx forces any word onto its grammar, see
//!   [`hum`]); silence takes its `timeout` path.
//! - A model's streamed reply is spoken sentence by sentence while the
//!   model is still streaming (a fake OpenAI-compatible server in the test
//!   speaks the real wire protocol: SSE chat-completion chunks, and a JSON
//!   answer to `/v1/audio/transcriptions`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_media::g711;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::both;
use crate::media_stream::{correlation, envelope, rendering};
use crate::support::{Backend, TestServer};

const NUMBER: &str = "+15005550031";
const CALLER: &str = "+14155550100";

/// µ-law samples a second.
const RATE: usize = 8_000;

/// Publishes `flow`, routes [`NUMBER`] to it and returns a media-stream
/// token for that number.
async fn publish(server: &TestServer, flow: Value) -> String {
    let key = &server.admin;
    let name = flow["name"].as_str().unwrap().to_owned();
    let (status, body) = server.post("/v1/flows", key, flow).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post(&format!("/v1/flows/{name}/versions"), key, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post(
            "/v1/routes",
            key,
            json!({"address": NUMBER, "flow": name, "environment": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post("/v1/media-stream/tokens", key, json!({"to": NUMBER}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// What the server sent.
#[derive(Debug)]
enum Heard {
    Media(Vec<i16>),
    Mark(String),
    Clear,
    Closed(u16),
}

enum Outgoing {
    Audio(Vec<i16>),
    Mark(String),
    Stop,
}

/// A frame this loud (RMS) or louder may be voice: −50 dBFS, the floor
/// below which the server's VAD calls any frame silence. The caller's
/// speech onset is the first frame of a clip at or above it.
const VOICED_RMS: f64 = 103.6;

/// The caller's end of a media stream, as Twilio runs it: 20 ms frames at
/// real-time pace (silence unless audio is queued), marks echoed on
/// request. It notes when the first voiced frame of each queued clip left.
struct Caller {
    heard: mpsc::UnboundedReceiver<(Instant, Heard)>,
    send: mpsc::UnboundedSender<Outgoing>,
    voiced: mpsc::UnboundedReceiver<Instant>,
}

impl Caller {
    async fn connect(server: &TestServer, token: &str) -> Self {
        let url = server.url("/v1/media-stream").replace("http://", "ws://");
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let (mut sink, mut stream) = socket.split();
        let sid = "MZ00000000000000000000000000000031";
        for message in [
            json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
            json!({"event": "start", "sequenceNumber": "1", "streamSid": sid,
                   "start": {"streamSid": sid, "accountSid": "AC0", "callSid": "CA0",
                             "tracks": ["inbound"],
                             "customParameters": {"token": token, "from": CALLER},
                             "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}),
        ] {
            sink.send(Message::text(message.to_string())).await.unwrap();
        }
        let (heard_tx, heard) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(message) = stream.next().await {
                let now = Instant::now();
                let heard = match message {
                    Ok(Message::Text(text)) => {
                        let value: Value = serde_json::from_str(&text).unwrap();
                        match value["event"].as_str().unwrap() {
                            "media" => {
                                use base64::Engine;
                                let payload = value["media"]["payload"].as_str().unwrap();
                                let bytes = base64::engine::general_purpose::STANDARD
                                    .decode(payload)
                                    .unwrap();
                                Heard::Media(bytes.iter().map(|&b| g711::ulaw_decode(b)).collect())
                            }
                            "mark" => Heard::Mark(value["mark"]["name"].as_str().unwrap().into()),
                            "clear" => Heard::Clear,
                            other => panic!("unexpected event {other}"),
                        }
                    }
                    Ok(Message::Close(frame)) => {
                        let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                        let _ = heard_tx.send((now, Heard::Closed(code)));
                        return;
                    }
                    Ok(_) => continue,
                    Err(_) => {
                        let _ = heard_tx.send((now, Heard::Closed(1006)));
                        return;
                    }
                };
                if heard_tx.send((now, heard)).is_err() {
                    return;
                }
            }
        });
        let (send, mut outgoing) = mpsc::unbounded_channel::<Outgoing>();
        let (voiced_tx, voiced) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut queued: std::collections::VecDeque<i16> = Default::default();
            let mut onset_pending = false;
            let mut chunk = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let frame: Vec<i16> = (0..160).map(|_| queued.pop_front().unwrap_or(0)).collect();
                        let mut payload = vec![0u8; 160];
                        g711::Codec::Pcmu.encode_into(&frame, &mut payload);
                        use base64::Engine;
                        chunk += 1;
                        let message = json!({"event": "media", "streamSid": sid,
                            "media": {"track": "inbound", "chunk": chunk.to_string(),
                                      "timestamp": (chunk * 20).to_string(),
                                      "payload": base64::engine::general_purpose::STANDARD.encode(&payload)}});
                        let voiced_now = onset_pending && rms(&frame) >= VOICED_RMS;
                        let leaving = Instant::now();
                        if sink.send(Message::text(message.to_string())).await.is_err() { return; }
                        if voiced_now {
                            onset_pending = false;
                            let _ = voiced_tx.send(leaving);
                        }
                    }
                    next = outgoing.recv() => {
                        let message = match next {
                            None | Some(Outgoing::Stop) => {
                                let _ = sink.send(Message::text(json!({"event": "stop", "streamSid": sid,
                                    "stop": {"accountSid": "AC0", "callSid": "CA0"}}).to_string())).await;
                                return;
                            }
                            Some(Outgoing::Audio(pcm)) => {
                                queued.extend(pcm);
                                onset_pending = true;
                                continue;
                            }
                            Some(Outgoing::Mark(name)) => json!({"event": "mark", "streamSid": sid,
                                "mark": {"name": name}}).to_string(),
                        };
                        if sink.send(Message::text(message)).await.is_err() { return; }
                    }
                }
            }
        });
        Self {
            heard,
            send,
            voiced,
        }
    }

    /// The next thing the server sends, within `wait`.
    async fn next(&mut self, wait: Duration) -> (Instant, Heard) {
        tokio::time::timeout(wait, self.heard.recv())
            .await
            .unwrap_or_else(|_| panic!("the server sent nothing for {wait:?}"))
            .expect("the stream is open")
    }

    /// Collects one prompt's audio up to its mark; returns the audio, the
    /// mark's name (not echoed) and when its first audio arrived.
    async fn prompt(&mut self) -> (Vec<i16>, String, Instant) {
        let mut pcm = Vec::new();
        let mut first = None;
        loop {
            match self.next(Duration::from_secs(30)).await {
                (at, Heard::Media(more)) => {
                    first.get_or_insert(at);
                    pcm.extend(more);
                }
                (at, Heard::Mark(name)) => return (pcm, name, first.unwrap_or(at)),
                other => panic!("expected a prompt, got {other:?}"),
            }
        }
    }

    /// Echoes a mark: the audio before it has played.
    fn played(&self, mark: &str) {
        self.send.send(Outgoing::Mark(mark.to_owned())).unwrap();
    }

    /// Echoes the mark once the prompt's real duration has passed, as a
    /// phone plays it (the caller's silence keeps flowing meanwhile).
    async fn play_out(&self, pcm: &[i16], mark: &str) {
        tokio::time::sleep(Duration::from_millis((pcm.len() * 1000 / RATE) as u64)).await;
        self.played(mark);
    }

    /// The caller speaks: `pcm` is streamed in real time from the next frame.
    fn say(&self, pcm: Vec<i16>) {
        self.send.send(Outgoing::Audio(pcm)).unwrap();
    }

    /// When the first voiced frame of the last clip left the client.
    async fn onset(&mut self) -> Instant {
        tokio::time::timeout(Duration::from_secs(10), self.voiced.recv())
            .await
            .expect("the caller's speech was sent")
            .unwrap()
    }

    /// Waits for the server's close frame; its code.
    async fn closed(&mut self) -> u16 {
        loop {
            if let (_, Heard::Closed(code)) = self.next(Duration::from_secs(30)).await {
                return code;
            }
        }
    }

    /// Plays out a closing prompt and expects the server's normal close.
    async fn hears_goodbye(&mut self, words: &str) {
        let (pcm, mark, _) = self.prompt().await;
        assert_sounds_like(&pcm, words).await;
        self.played(&mark);
        loop {
            match self.next(Duration::from_secs(30)).await {
                (_, Heard::Closed(code)) => {
                    assert_eq!(code, 1000, "the call ends with a normal close");
                    return;
                }
                (_, Heard::Media(_) | Heard::Mark(_)) => {
                    panic!("nothing is said after the goodbye")
                }
                (_, Heard::Clear) => {}
            }
        }
    }
}

fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
}

fn ms(samples: usize) -> u64 {
    (samples * 1000 / RATE) as u64
}

/// Asserts `pcm` is espeak-ng saying `words`: the same length (within
/// 5%) and the same energy envelope over time.
async fn assert_sounds_like(pcm: &[i16], words: &str) {
    let expected = rendering(words).await;
    let ratio = pcm.len() as f64 / expected.len() as f64;
    assert!(
        (0.95..1.05).contains(&ratio),
        "{words:?}: heard {} ms, espeak-ng says it in {} ms",
        ms(pcm.len()),
        ms(expected.len())
    );
    let r = correlation(&envelope(pcm), &envelope(&expected));
    assert!(
        r > 0.9,
        "{words:?}: the envelope follows espeak-ng's (r = {r:.3})"
    );
}

/// The stream's call, once it has been written as ended: its id.
async fn ended_call(server: &TestServer) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, calls) = server.get("/v1/calls", &server.admin).await;
        if let Some(call) = calls.as_array().and_then(|c| c.first()) {
            let id = call["id"].as_str().unwrap().to_owned();
            let (_, call) = server.get(&format!("/v1/calls/{id}"), &server.admin).await;
            if call["status"] == "ended" {
                return id;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the call is written when it ends"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The call's event log.
async fn events(server: &TestServer, id: &str) -> Vec<Value> {
    let (status, events) = server
        .get(&format!("/v1/calls/{id}/events"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{events}");
    events.as_array().unwrap().clone()
}

/// The outcome each step of `node` took, in order.
fn exits(events: &[Value], node: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["node"] == node)
        .filter_map(|e| e["exit"].as_str().map(str::to_owned))
        .collect()
}

async fn transcript(server: &TestServer, id: &str) -> Vec<String> {
    let (status, body) = server
        .get(&format!("/v1/calls/{id}/transcript"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body["lines"].clone()).unwrap()
}

const SALES_BYE: &str = "Sales it is. Goodbye.";
const SUPPORT_BYE: &str = "Support it is. Goodbye.";
const NO_MATCH_BYE: &str = "That was not one of the choices. Please call again. Goodbye.";
const NO_INPUT_BYE: &str = "We did not hear anything from you. Goodbye.";

/// A menu by keyword or key, each outcome ending the call with its own
/// distinctive words.
fn menu_flow(name: &str, prompt: &str, timeout_ms: u64) -> Value {
    json!({
        "flow": "switchyard/v1",
        "name": name,
        "locale": "en-US",
        "entry": "menu",
        "nodes": {
            "menu": {
                "use": "menu@1",
                "with": {"prompt": prompt, "options": {"1": ["sales"], "2": ["support"]},
                         "timeout_ms": timeout_ms, "retries": 0},
                "on": {"1": "sales", "2": "support", "timeout": "no-input", "invalid": "no-match"}
            },
            "sales": {"use": "hangup@1", "with": {"text": SALES_BYE}},
            "support": {"use": "hangup@1", "with": {"text": SUPPORT_BYE}},
            "no-match": {"use": "hangup@1", "with": {"text": NO_MATCH_BYE}},
            "no-input": {"use": "hangup@1", "with": {"text": NO_INPUT_BYE}}
        }
    })
}

const LONG_MENU: &str = "Thank you for calling the Acme help line. Our offices are open from nine \
    in the morning until five in the evening, Monday to Friday. For questions about an order \
    you placed, say sales. For help with a product you already have, say support.";

/// How far into the prompt's playout the caller starts talking.
const TALK_AFTER: Duration = Duration::from_millis(1_500);

both!(speech_during_a_long_prompt_clears_it_and_is_still_understood);
async fn speech_during_a_long_prompt_clears_it_and_is_still_understood(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = publish(&server, menu_flow("barge-in", LONG_MENU, 8_000)).await;
    let full = rendering(LONG_MENU).await;
    assert!(
        full.len() > 8 * RATE,
        "the prompt is long: {} ms",
        ms(full.len())
    );
    let word = rendering("support").await;
    let mut caller = Caller::connect(&server, &token).await;

    // Twilio plays what it is sent in real time from its arrival, so by a
    // given moment it has played at most what has arrived and at most the
    // time since the first audio arrived. The prompt's mark is not echoed:
    // it is still playing when the caller talks over it.
    let mut arrived: Vec<i16> = Vec::new();
    let mut first_audio: Option<Instant> = None;
    let mut menu_mark: Option<String> = None;
    let mut spoke = false;
    let talk = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(talk);
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    let cleared_at = loop {
        tokio::select! {
            () = tokio::time::sleep_until(give_up) => panic!("no clear within 30 s"),
            heard = caller.heard.recv() => match heard.expect("the stream is open") {
                (at, Heard::Media(pcm)) => {
                    if first_audio.is_none() {
                        first_audio = Some(at);
                        talk.as_mut().reset((at + TALK_AFTER).into());
                    }
                    arrived.extend(pcm);
                }
                (_, Heard::Mark(name)) => menu_mark = Some(name),
                (at, Heard::Clear) => break at,
                (_, other) => panic!("expected the prompt, then clear: {other:?}"),
            },
            () = &mut talk, if !spoke => {
                spoke = true;
                caller.send.send(Outgoing::Audio(word.clone())).unwrap();
            }
        }
    };
    assert!(spoke, "clear came only after the caller spoke");
    let onset = caller.onset().await;
    let first_audio = first_audio.unwrap();
    let onset_to_clear = cleared_at.saturating_duration_since(onset);
    let playing_for = cleared_at - first_audio;
    let played = arrived
        .len()
        .min(playing_for.as_millis() as usize * RATE / 1000);
    eprintln!(
        "[{backend:?}] speech barge-in: onset -> clear {:.1} ms; prompt {} ms long, {} ms had \
         arrived, {} ms played before clear",
        onset_to_clear.as_secs_f64() * 1e3,
        ms(full.len()),
        ms(arrived.len()),
        ms(played)
    );
    assert!(
        cleared_at > onset,
        "clear follows the caller's speech, it does not precede it"
    );
    assert!(
        onset_to_clear < Duration::from_secs(1),
        "speech onset to clear took {onset_to_clear:?}"
    );
    // The prompt stopped well before its end: what was played is the part
    // before the caller spoke and the detector's reaction, a fraction of it.
    assert!(
        played < full.len() * 35 / 100,
        "{} ms of a {} ms prompt played before it was cleared",
        ms(played),
        ms(full.len())
    );
    // The server sends a prompt ahead of its playout, as Twilio allows
    // (today all of it at once, so "arrived" is the whole rendering and
    // only `clear` stops it); whatever arrived is the real prompt.
    assert!(arrived.len() <= full.len() * 105 / 100);
    let head = played.min(arrived.len());
    let r = correlation(&envelope(&arrived[..head]), &envelope(&full[..head]));
    assert!(r > 0.9, "what played is the prompt's start (r = {r:.3})");

    // Twilio echoes the marks of cleared audio; that is not "played".
    if let Some(mark) = menu_mark {
        caller.played(&mark);
    }
    // The word that interrupted the prompt is recognised, and chooses.
    caller.hears_goodbye(SUPPORT_BYE).await;
    let id = ended_call(&server).await;
    assert_eq!(exits(&events(&server, &id).await, "menu"), ["2"]);
    let lines = transcript(&server, &id).await;
    assert!(
        lines.contains(&"caller says: support".to_owned()),
        "{lines:?}"
    );
}

const SHORT_MENU: &str = "Please say sales or support.";

/// What the caller "says" at the keyword menu: a second and a half of a
/// steady hum (a 120 Hz buzz rich in harmonics, a caller going "mmmm").
///
/// Why not a word such as "banana": pocketsphinx with the adapter's JSGF
/// grammar (no filler words, no garbage model) forces every utterance onto
/// the closest phrase of the grammar. Measured against `sales | support`
/// through the same VAD and µ-law path: "banana", "pizza", "hello there",
/// "elephant", "I would like to talk to a human being please", white noise
/// and even time-reversed speech all came back as `sales` or `support`.
/// What does end with no hypothesis, the adapter's no-match (an empty
/// transcript, which the menu treats as invalid input), is a sustained
/// sound with no word-like structure: a hum of 1 s or more, at any pitch
/// from 100 to 180 Hz and any level tried (shorter hums were forced to
/// `sales`). The VAD hears it as voice, so it goes through the same
/// onset, utterance and recogniser path as a word.
fn hum() -> Vec<i16> {
    (0..RATE * 3 / 2)
        .map(|i| {
            let t = i as f64 / RATE as f64;
            let wave: f64 = (1..20)
                .map(|h| (t * 120.0 * h as f64 * std::f64::consts::TAU).sin() / h as f64)
                .sum();
            (wave * 3_000.0) as i16
        })
        .collect()
}

both!(an_utterance_matching_no_keyword_takes_the_menus_invalid_path);
async fn an_utterance_matching_no_keyword_takes_the_menus_invalid_path(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = publish(&server, menu_flow("no-match", SHORT_MENU, 8_000)).await;
    let mut caller = Caller::connect(&server, &token).await;
    let (menu, mark, _) = caller.prompt().await;
    assert_sounds_like(&menu, SHORT_MENU).await;
    caller.play_out(&menu, &mark).await;
    caller.say(hum());
    caller.onset().await;
    // The menu's `invalid` edge: its node's words, not a branch's.
    caller.hears_goodbye(NO_MATCH_BYE).await;
    let id = ended_call(&server).await;
    let events = events(&server, &id).await;
    assert_eq!(exits(&events, "menu"), ["invalid"]);
    // The recogniser did run on the utterance and heard none of the words.
    let heard: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "input" && e["input"]["type"] == "speech")
        .map(|e| e["input"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        heard,
        [""],
        "one utterance, matching no phrase, reached the flow"
    );
    let lines = transcript(&server, &id).await;
    assert!(
        lines.iter().any(|l| l.trim_end() == "caller says:"),
        "{lines:?}"
    );
}

both!(a_silent_caller_takes_the_menu_timeout_path);
async fn a_silent_caller_takes_the_menu_timeout_path(backend: Backend) {
    const TIMEOUT_MS: u64 = 3_000;
    let server = TestServer::start(backend).await;
    let token = publish(&server, menu_flow("no-input", SHORT_MENU, TIMEOUT_MS)).await;
    let mut caller = Caller::connect(&server, &token).await;
    let (menu, mark, _) = caller.prompt().await;
    caller.play_out(&menu, &mark).await;
    // The caller says nothing: the client keeps sending silent frames.
    let heard = Instant::now();
    let (bye, mark, first_audio) = caller.prompt().await;
    let waited = first_audio - heard;
    eprintln!(
        "[{backend:?}] no input: the timeout prompt began {waited:?} after the menu was heard"
    );
    // The no-input time runs from when the prompt was heard, not sent.
    assert!(
        waited >= Duration::from_millis(TIMEOUT_MS - 100),
        "the timeout path came after {waited:?}, before the {TIMEOUT_MS} ms"
    );
    assert!(
        waited < Duration::from_millis(TIMEOUT_MS + 3_000),
        "the timeout path came after {waited:?}"
    );
    assert_sounds_like(&bye, NO_INPUT_BYE).await;
    caller.played(&mark);
    assert_eq!(caller.closed().await, 1000);
    let id = ended_call(&server).await;
    assert_eq!(exits(&events(&server, &id).await, "menu"), ["timeout"]);
    let lines = transcript(&server, &id).await;
    assert!(
        !lines.iter().any(|l| l.starts_with("caller says")),
        "{lines:?}"
    );
}

/// What the fake recogniser hears in any utterance.
const TRANSCRIPT: &str = "What are your opening hours?";
/// The model's reply, as OpenAI streams it: one token a delta, each word
/// with its leading space. The pause comes between the two sentences.
const FIRST_SENTENCE: [&str; 8] = ["We", " are", " open", " from", " nine", " to", " five", "."];
const SECOND_SENTENCE: [&str; 6] = [" Please", " call", " again", " on", " Monday", "."];
const MODEL_PAUSE: Duration = Duration::from_secs(2);

fn sentence(tokens: &[&str]) -> String {
    tokens.concat().trim().to_owned()
}

/// An OpenAI-compatible provider in the test: `/v1/audio/transcriptions`
/// answers [`TRANSCRIPT`]; `/v1/chat/completions` streams the reply as
/// server-sent events, pausing [`MODEL_PAUSE`] between its sentences.
struct FakeOpenAi {
    /// `http://127.0.0.1:PORT/v1`
    base: String,
    /// When the last delta of the first sentence was handed to the socket.
    first_sent: Arc<Mutex<Option<Instant>>>,
    /// When the first delta of the second sentence was handed to the socket.
    second_sent: Arc<Mutex<Option<Instant>>>,
    /// The chat requests' JSON bodies.
    chats: Arc<Mutex<Vec<Value>>>,
    /// The transcription requests' content types and bodies.
    transcriptions: Arc<Mutex<Vec<(String, Bytes)>>>,
}

/// One chat-completion chunk as an SSE event, as OpenAI sends it.
fn sse_chunk(delta: Value, finish_reason: Option<&str>) -> Bytes {
    let chunk = json!({
        "id": "chatcmpl-voice-turns", "object": "chat.completion.chunk",
        "created": 1_700_000_000, "model": "m", "system_fingerprint": null,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]
    });
    Bytes::from(format!("data: {chunk}\n\n"))
}

impl FakeOpenAi {
    async fn start() -> Self {
        use axum::routing::post;
        let first_sent: Arc<Mutex<Option<Instant>>> = Arc::default();
        let second_sent: Arc<Mutex<Option<Instant>>> = Arc::default();
        let chats: Arc<Mutex<Vec<Value>>> = Arc::default();
        let transcriptions: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
        let (first, second, chat_log, stt_log) = (
            first_sent.clone(),
            second_sent.clone(),
            chats.clone(),
            transcriptions.clone(),
        );
        let app = axum::Router::new()
            .route(
                "/v1/audio/transcriptions",
                post(move |headers: axum::http::HeaderMap, body: Bytes| {
                    let log = stt_log.clone();
                    async move {
                        let content_type = headers
                            .get(axum::http::header::CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        log.lock().unwrap().push((content_type, body));
                        axum::Json(json!({"text": TRANSCRIPT}))
                    }
                }),
            )
            .route(
                "/v1/chat/completions",
                post(move |body: Bytes| {
                    let (first, second, log) = (first.clone(), second.clone(), chat_log.clone());
                    async move {
                        log.lock()
                            .unwrap()
                            .push(serde_json::from_slice(&body).expect("a JSON request"));
                        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
                        tokio::spawn(async move {
                            // Each event is its own write, a little apart,
                            // as a model produces tokens.
                            let send = |bytes: Bytes| {
                                let tx = tx.clone();
                                async move {
                                    let sent = tx.send(Ok(bytes)).await.is_ok();
                                    tokio::time::sleep(Duration::from_millis(5)).await;
                                    sent
                                }
                            };
                            if !send(sse_chunk(json!({"role": "assistant", "content": ""}), None))
                                .await
                            {
                                return;
                            }
                            for token in FIRST_SENTENCE {
                                if !send(sse_chunk(json!({"content": token}), None)).await {
                                    return;
                                }
                            }
                            *first.lock().unwrap() = Some(Instant::now());
                            tokio::time::sleep(MODEL_PAUSE).await;
                            second.lock().unwrap().get_or_insert_with(Instant::now);
                            for token in SECOND_SENTENCE {
                                if !send(sse_chunk(json!({"content": token}), None)).await {
                                    return;
                                }
                            }
                            if send(sse_chunk(json!({}), Some("stop"))).await {
                                send(Bytes::from_static(b"data: [DONE]\n\n")).await;
                            }
                        });
                        let body =
                            Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async {
                                rx.recv().await.map(|item| (item, rx))
                            }));
                        axum::response::Response::builder()
                            .header(axum::http::header::CONTENT_TYPE, "text/event-stream")
                            .header(axum::http::header::CACHE_CONTROL, "no-cache")
                            .body(body)
                            .unwrap()
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base: format!("http://{address}/v1"),
            first_sent,
            second_sent,
            chats,
            transcriptions,
        }
    }
}

/// An AI receptionist, disclosed as the US template requires.
fn agent_flow() -> Value {
    json!({
        "flow": "switchyard/v1",
        "name": "voice-agent",
        "locale": "en-US",
        "compliance": ["us-ai-voice"],
        "vars": {"business_name": "Acme", "callback_number": "+1 415 555 0100"},
        "entry": "disclose",
        "nodes": {
            "disclose": {"use": "ai-disclosure@1", "on": {"done": "agent"}},
            "agent": {"use": "llm-agent@1",
                      "with": {"system": "You are the receptionist of {{business_name}}. Answer briefly.",
                               "tools": [], "listen_timeout_ms": 10000},
                      "on": {"ended": "bye", "transfer": "bye", "timeout": "bye", "max_turns": "bye"}},
            "bye": {"use": "hangup@1", "with": {"text": "Goodbye."}}
        }
    })
}

both!(a_model_reply_is_spoken_sentence_by_sentence_while_it_streams);
async fn a_model_reply_is_spoken_sentence_by_sentence_while_it_streams(backend: Backend) {
    let fake = FakeOpenAi::start().await;
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("speech.json");
    let speech = json!({
        "stt": {"provider": "openai", "base_url": fake.base, "model": "whisper-1", "api_key_env": null},
        "llm": {"provider": "openai", "base_url": fake.base, "model": "m", "api_key_env": null}
    });
    std::fs::write(&config, speech.to_string()).unwrap();
    let server = TestServer::start_with(backend, |options| {
        options.speech.speech_config = Some(config.clone());
    })
    .await;
    let token = publish(&server, agent_flow()).await;
    let mut caller = Caller::connect(&server, &token).await;

    // The AI disclosure comes first; then the agent listens.
    let (disclosure, mark, _) = caller.prompt().await;
    assert!(disclosure.len() > 3 * RATE, "the disclosure was spoken");
    caller.played(&mark);
    caller.say(rendering("What are your opening hours?").await);
    let onset = caller.onset().await;

    let (one, mark, one_at) = caller.prompt().await;
    caller.played(&mark);
    let (two, mark, two_at) = caller.prompt().await;
    caller.played(&mark);
    let first_sent = fake.first_sent.lock().unwrap().expect("the model streamed");
    let second_sent = fake
        .second_sent
        .lock()
        .unwrap()
        .expect("the model streamed");
    eprintln!(
        "[{backend:?}] streamed reply: caller onset -> first sentence audio {:.0} ms; first \
         sentence complete at the provider -> its audio {:.0} ms; second sentence sent -> its \
         audio {:.0} ms",
        (one_at - onset).as_secs_f64() * 1e3,
        one_at.saturating_duration_since(first_sent).as_secs_f64() * 1e3,
        two_at.saturating_duration_since(second_sent).as_secs_f64() * 1e3,
    );
    assert!(
        one_at < second_sent,
        "the first sentence is heard while the model still streams: its audio came {:?} after \
         the model sent the second sentence",
        one_at - second_sent
    );
    assert!(
        two_at > second_sent,
        "the second sentence's audio comes after the model sent it"
    );
    assert_sounds_like(&one, &sentence(&FIRST_SENTENCE)).await;
    assert_sounds_like(&two, &sentence(&SECOND_SENTENCE)).await;

    // The session's `say` of the whole reply is not spoken a second time:
    // the agent just listens again.
    if let Ok(Some((_, heard))) =
        tokio::time::timeout(Duration::from_millis(1_500), caller.heard.recv()).await
    {
        panic!("nothing more is said after the streamed reply: {heard:?}");
    }
    caller.send.send(Outgoing::Stop).unwrap();
    assert_eq!(caller.closed().await, 1000);

    // The providers saw the real wire protocol: a WAV upload, then a
    // streamed chat turn whose user message is what the recogniser heard.
    {
        let uploads = fake.transcriptions.lock().unwrap();
        assert_eq!(uploads.len(), 1, "one utterance was transcribed");
        assert!(
            uploads[0].0.starts_with("multipart/form-data"),
            "{}",
            uploads[0].0
        );
        assert!(
            uploads[0].1.windows(4).any(|w| w == b"RIFF"),
            "the utterance was sent as a WAV file"
        );
        let chats = fake.chats.lock().unwrap();
        assert_eq!(chats.len(), 1, "{chats:?}");
        assert_eq!(chats[0]["stream"], true, "{}", chats[0]);
        let messages = chats[0]["messages"].as_array().unwrap();
        assert_eq!(messages.last().unwrap()["role"], "user", "{}", chats[0]);
        assert_eq!(
            messages.last().unwrap()["content"],
            TRANSCRIPT,
            "{}",
            chats[0]
        );
    }
    let id = ended_call(&server).await;
    let lines = transcript(&server, &id).await;
    let reply = format!(
        "agent: {} {}",
        sentence(&FIRST_SENTENCE),
        sentence(&SECOND_SENTENCE)
    );
    assert!(
        lines.contains(&format!("caller says: {TRANSCRIPT}")),
        "{lines:?}"
    );
    assert_eq!(
        lines.iter().filter(|l| **l == reply).count(),
        1,
        "{lines:?}"
    );
}
