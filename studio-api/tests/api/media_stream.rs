//! Twilio-compatible media streams against a live server: a WebSocket
//! client in the test speaks Twilio's messages (`connected`, `start`,
//! `media`, `dtmf`, `mark`, `stop`), streams 20 ms µ-law frames in real
//! time and checks what comes back: the greeting's audio (compared with
//! espeak-ng's rendering of the same words), the branch a key chooses,
//! `clear` on barge-in, and close frames for bad tokens and garbage.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_media::g711;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::both;
use crate::support::{Backend, TestServer, error_code};

pub const NUMBER: &str = "+15005550006";
pub const GREETING: &str = "Thanks for calling Acme.";
const MENU: &str = "For sales, press 1 or say sales. For support, press 2 or say support.";

/// A small flow: greeting, a menu by key or speech, a goodbye per branch.
fn flow() -> Value {
    json!({
        "flow": "switchyard/v1",
        "name": "stream-desk",
        "locale": "en-US",
        "entry": "welcome",
        "nodes": {
            "welcome": {"use": "say@1", "with": {"text": GREETING}, "on": {"done": "menu"}},
            "menu": {
                "use": "menu@1",
                "with": {"prompt": MENU, "options": {"1": ["sales"], "2": ["support"]},
                         "timeout_ms": 8000, "retries": 1},
                "on": {"1": "sales", "2": "support", "timeout": "bye", "invalid": "bye"}
            },
            "sales": {"use": "hangup@1", "with": {"text": "Sales it is. Goodbye."}},
            "support": {"use": "hangup@1", "with": {"text": "Support it is. Goodbye."}},
            "bye": {"use": "hangup@1", "with": {"text": "Goodbye."}}
        }
    })
}

pub async fn set_up(server: &TestServer) -> String {
    let key = &server.admin;
    let (status, body) = server.post("/v1/flows", key, flow()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post("/v1/flows/stream-desk/versions", key, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post(
            "/v1/routes",
            key,
            json!({"address": NUMBER, "flow": "stream-desk", "environment": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post("/v1/media-stream/tokens", key, json!({"to": NUMBER}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body["twiml"].as_str().unwrap().contains("<Stream"),
        "{body}"
    );
    body["token"].as_str().unwrap().to_owned()
}

/// What the server sent, as the test client saw it.
#[derive(Debug)]
enum Heard {
    Media(Vec<u8>),
    Mark(String),
    Clear,
    Closed(u16, String),
}

/// A Twilio media stream: sends 20 ms frames at real-time pace (silence
/// unless audio was queued), keys on request, and echoes marks when asked.
struct Twilio {
    heard: mpsc::UnboundedReceiver<(Instant, Heard)>,
    send: mpsc::UnboundedSender<Outgoing>,
    /// The close frame [`Twilio::listen`] ran into, if it did.
    closed_with: Option<(u16, String)>,
}

enum Outgoing {
    Audio(Vec<i16>),
    Dtmf(char),
    Mark(String),
    Raw(Message),
    Stop,
}

impl Twilio {
    async fn connect(server: &TestServer, start_params: Value, url_token: Option<&str>) -> Self {
        let mut url = server.url("/v1/media-stream").replace("http://", "ws://");
        if let Some(token) = url_token {
            url.push_str(&format!("?token={token}"));
        }
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let (mut sink, mut stream) = socket.split();
        let sid = "MZ00000000000000000000000000000001";
        sink.send(Message::text(
            json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string(),
        ))
        .await
        .unwrap();
        sink.send(Message::text(
            json!({"event": "start", "sequenceNumber": "1", "streamSid": sid,
                   "start": {"streamSid": sid, "accountSid": "AC0", "callSid": "CA0",
                             "tracks": ["inbound"], "customParameters": start_params,
                             "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
            .to_string(),
        ))
        .await
        .unwrap();
        let (heard_tx, heard) = mpsc::unbounded_channel();
        let (send, mut outgoing) = mpsc::unbounded_channel::<Outgoing>();
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
                                Heard::Media(
                                    base64::engine::general_purpose::STANDARD
                                        .decode(payload)
                                        .unwrap(),
                                )
                            }
                            "mark" => Heard::Mark(value["mark"]["name"].as_str().unwrap().into()),
                            "clear" => Heard::Clear,
                            other => panic!("unexpected event {other}"),
                        }
                    }
                    Ok(Message::Close(frame)) => {
                        let (code, reason) = frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new()));
                        let _ = heard_tx.send((now, Heard::Closed(code, reason)));
                        return;
                    }
                    Ok(_) => continue,
                    Err(_) => {
                        let _ = heard_tx.send((now, Heard::Closed(1006, String::new())));
                        return;
                    }
                };
                if heard_tx.send((now, heard)).is_err() {
                    return;
                }
            }
        });
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut queued: std::collections::VecDeque<i16> = Default::default();
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
                        if sink.send(Message::text(message.to_string())).await.is_err() { return; }
                    }
                    next = outgoing.recv() => {
                        let message = match next {
                            None | Some(Outgoing::Stop) => {
                                let _ = sink.send(Message::text(json!({"event": "stop", "streamSid": sid,
                                    "stop": {"accountSid": "AC0", "callSid": "CA0"}}).to_string())).await;
                                return;
                            }
                            Some(Outgoing::Audio(pcm)) => { queued.extend(pcm); continue; }
                            Some(Outgoing::Dtmf(digit)) => json!({"event": "dtmf", "streamSid": sid,
                                "dtmf": {"track": "inbound_track", "digit": digit.to_string()}}).to_string(),
                            Some(Outgoing::Mark(name)) => json!({"event": "mark", "streamSid": sid,
                                "mark": {"name": name}}).to_string(),
                            Some(Outgoing::Raw(message)) => {
                                if sink.send(message).await.is_err() { return; }
                                continue;
                            }
                        };
                        if sink.send(Message::text(message)).await.is_err() { return; }
                    }
                }
            }
        });
        Self {
            heard,
            send,
            closed_with: None,
        }
    }

    /// Collects audio until the next mark; returns the audio as PCM and the
    /// mark's name (not echoed).
    async fn prompt(&mut self) -> (Vec<i16>, String, Instant) {
        let mut pcm = Vec::new();
        let mut first = None;
        loop {
            let (at, heard) = tokio::time::timeout(Duration::from_secs(30), self.heard.recv())
                .await
                .expect("the server sends a prompt within 30 s")
                .expect("the stream is open");
            match heard {
                Heard::Media(bytes) => {
                    first.get_or_insert(at);
                    pcm.extend(bytes.iter().map(|&b| g711::ulaw_decode(b)));
                }
                Heard::Mark(name) => return (pcm, name, first.unwrap_or(at)),
                other => panic!("expected audio, got {other:?}"),
            }
        }
    }

    /// Plays a prompt "to its end" as Twilio would: echoes its mark.
    fn played(&self, mark: &str) {
        self.send.send(Outgoing::Mark(mark.to_owned())).unwrap();
    }

    /// Echoes the mark after the prompt's real duration, as a phone plays
    /// it (the server meanwhile keeps receiving the caller's frames).
    async fn play_out(&self, pcm: &[i16], mark: &str) {
        tokio::time::sleep(Duration::from_millis(pcm.len() as u64 / 8)).await;
        self.played(mark);
    }

    /// Takes every prompt the server sends until it has been quiet for
    /// `quiet`, echoing each mark; returns the audio heard.
    async fn listen(&mut self, quiet: Duration) -> Vec<i16> {
        let mut pcm = Vec::new();
        while let Ok(Some((_, heard))) = tokio::time::timeout(quiet, self.heard.recv()).await {
            match heard {
                Heard::Media(bytes) => pcm.extend(bytes.iter().map(|&b| g711::ulaw_decode(b))),
                Heard::Mark(name) => self.played(&name),
                Heard::Clear => {}
                Heard::Closed(code, reason) => {
                    self.closed_with = Some((code, reason));
                    break;
                }
            }
        }
        pcm
    }

    /// Keys `digits` the way a phone on a carrier that passes both does:
    /// a tone in the audio and a `dtmf` event for each.
    async fn key_in(&self, digits: &str) {
        for digit in digits.chars() {
            let mut audio = switchyard_media::dtmf::dtmf_tone(digit, 80, 8_000).unwrap();
            audio.extend(std::iter::repeat_n(0i16, 800));
            self.send.send(Outgoing::Audio(audio)).unwrap();
            tokio::time::sleep(Duration::from_millis(180)).await;
            self.send.send(Outgoing::Dtmf(digit)).unwrap();
        }
    }

    async fn closed(&mut self) -> (u16, String) {
        if let Some(closed) = self.closed_with.take() {
            return closed;
        }
        loop {
            let (_, heard) = tokio::time::timeout(Duration::from_secs(30), self.heard.recv())
                .await
                .expect("the server closes within 30 s")
                .expect("a close frame comes before the end");
            if let Heard::Closed(code, reason) = heard {
                return (code, reason);
            }
        }
    }
}

/// espeak-ng's rendering of `text`, as the server's TTS makes it.
pub async fn rendering(text: &str) -> Vec<i16> {
    use switchyard_speech::Tts;
    switchyard_speech::tts::Espeak::default()
        .synthesize(text, "en-US")
        .await
        .unwrap()
        .to_vec()
}

/// Energy per 20 ms window, normalised to its peak.
pub fn envelope(pcm: &[i16]) -> Vec<f64> {
    let energy: Vec<f64> = pcm
        .chunks(160)
        .map(|c| c.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / c.len() as f64)
        .collect();
    let peak = energy.iter().cloned().fold(1.0, f64::max);
    energy.iter().map(|e| e / peak).collect()
}

/// Pearson correlation of two envelopes over their common length.
pub fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mean = |x: &[f64]| x.iter().sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va.sqrt() * vb.sqrt())
}

/// The best correlation of `words`' energy envelope anywhere in `heard`,
/// and where (in 20 ms windows).
pub fn find(heard: &[f64], words: &[f64]) -> (f64, usize) {
    (0..heard.len().saturating_sub(words.len()).max(1))
        .map(|at| (correlation(&heard[at..], words), at))
        .fold(
            (f64::MIN, 0),
            |best, next| if next.0 > best.0 { next } else { best },
        )
}

both!(a_stream_hears_the_greeting_and_a_key_chooses_the_branch);
async fn a_stream_hears_the_greeting_and_a_key_chooses_the_branch(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = set_up(&server).await;
    let mut twilio = Twilio::connect(
        &server,
        json!({"token": token, "from": "+14155550100"}),
        None,
    )
    .await;

    // The greeting, as audio: the same words espeak-ng says, by duration
    // and by the shape of their energy over time.
    let (greeting, mark, _) = twilio.prompt().await;
    let expected = rendering(GREETING).await;
    let ratio = greeting.len() as f64 / expected.len() as f64;
    assert!(
        (0.95..1.05).contains(&ratio),
        "greeting is {} samples, espeak says {}",
        greeting.len(),
        expected.len()
    );
    let r = correlation(&envelope(&greeting), &envelope(&expected));
    assert!(
        r > 0.9,
        "the greeting's energy envelope follows espeak's (r = {r:.3})"
    );
    twilio.played(&mark);

    let (menu, mark, _) = twilio.prompt().await;
    assert!(
        menu.len() > 8_000 * 3,
        "the menu prompt is several seconds long"
    );
    twilio.played(&mark);

    // Key 1: the sales branch answers, and the call ends.
    let pressed = Instant::now();
    twilio.send.send(Outgoing::Dtmf('1')).unwrap();
    let (goodbye, mark, first_audio) = twilio.prompt().await;
    let dtmf_to_audio = first_audio - pressed;
    let expected = rendering("Sales it is. Goodbye.").await;
    let ratio = goodbye.len() as f64 / expected.len() as f64;
    assert!(
        (0.95..1.05).contains(&ratio),
        "the sales goodbye is what was said"
    );
    assert!(
        dtmf_to_audio < Duration::from_secs(2),
        "DTMF to audio took {dtmf_to_audio:?}"
    );
    twilio.played(&mark);
    let (code, _) = twilio.closed().await;
    assert_eq!(code, 1000, "the call ends with a normal close");

    // The call is stored like any other, with the key in its transcript.
    let (status, calls) = server.get("/v1/calls", &server.admin).await;
    assert_eq!(status, StatusCode::OK);
    let call = &calls[0];
    assert_eq!(call["channel"], "media-stream", "{call}");
    let id = call["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, call) = server.get(&format!("/v1/calls/{id}"), &server.admin).await;
        if call["status"] == "ended" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the call is written when it ends: {call}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, transcript) = server
        .get(&format!("/v1/calls/{id}/transcript"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<String> = serde_json::from_value(transcript["lines"].clone()).unwrap();
    assert!(lines.contains(&"caller: 1".to_owned()), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("Sales it is")), "{lines:?}");
}

both!(a_key_during_a_prompt_clears_it_and_the_cleared_mark_is_not_played);
async fn a_key_during_a_prompt_clears_it_and_the_cleared_mark_is_not_played(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = set_up(&server).await;
    let mut twilio = Twilio::connect(&server, json!({"token": token}), None).await;
    let (_, mark, _) = twilio.prompt().await;
    twilio.played(&mark);
    // The menu is still "playing" (its mark not echoed) when the key comes.
    let (_, menu_mark, _) = twilio.prompt().await;
    let pressed = Instant::now();
    twilio.send.send(Outgoing::Dtmf('2')).unwrap();
    let (at, heard) = tokio::time::timeout(Duration::from_secs(10), twilio.heard.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(heard, Heard::Clear),
        "a key stops the prompt: {heard:?}"
    );
    let barge_in = at - pressed;
    assert!(
        barge_in < Duration::from_millis(500),
        "clear came {barge_in:?} after the key"
    );
    // Twilio echoes the cleared mark; it must not count as played.
    twilio.played(&menu_mark);
    let (goodbye, mark, _) = twilio.prompt().await;
    assert!(!goodbye.is_empty());
    twilio.played(&mark);
    assert_eq!(twilio.closed().await.0, 1000);
}

both!(streams_without_a_valid_token_are_closed_before_any_audio);
async fn streams_without_a_valid_token_are_closed_before_any_audio(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = set_up(&server).await;

    let mut twilio = Twilio::connect(&server, json!({}), None).await;
    let (code, reason) = twilio.closed().await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("token"), "{reason}");

    // A MAC with its first character changed: still well-formed base64
    // (the last character would carry padding bits, and changing those
    // makes the token malformed rather than forged).
    let (body, mac) = token.rsplit_once('.').unwrap();
    let flipped = if mac.starts_with('A') { 'B' } else { 'A' };
    let forged = format!("{body}.{flipped}{}", &mac[1..]);
    let mut twilio = Twilio::connect(&server, json!({"token": forged}), None).await;
    let (code, reason) = twilio.closed().await;
    assert_eq!(code, 1008);
    assert!(reason.contains("signature"), "{reason}");

    let mut twilio = Twilio::connect(&server, json!({"token": "mst1.nope"}), None).await;
    assert_eq!(twilio.closed().await.0, 1008);

    // Another tenant's token for its own number cannot reach this flow.
    let (status, body) = server
        .post(
            "/v1/media-stream/tokens",
            &server.other_tenant_key(&["admin"]).await,
            json!({"to": NUMBER}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // An expired token.
    let (status, body) = server
        .post(
            "/v1/media-stream/tokens",
            &server.admin,
            json!({"to": NUMBER, "ttl_seconds": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let expired = body["token"].as_str().unwrap();
    let mut twilio = Twilio::connect(&server, json!({"token": expired}), None).await;
    let (code, reason) = twilio.closed().await;
    assert_eq!(code, 1008);
    assert!(reason.contains("expired"), "{reason}");

    // The token may come in the URL instead.
    let mut twilio = Twilio::connect(&server, json!({}), Some(&token)).await;
    let (pcm, _, _) = twilio.prompt().await;
    assert!(!pcm.is_empty());
    twilio.send.send(Outgoing::Stop).unwrap();

    // None of the refused streams made a call.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, calls) = server.get("/v1/calls", &server.admin).await;
        let calls = calls.as_array().unwrap().clone();
        if calls.len() == 1 && calls[0]["status"] == "ended" {
            break;
        }
        assert!(
            calls.len() <= 1,
            "only the stream with a token made a call: {calls:?}"
        );
        assert!(Instant::now() < deadline, "{calls:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both!(stream_tokens_refuse_bad_requests_naming_the_field);
async fn stream_tokens_refuse_bad_requests_naming_the_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tokens = "/v1/media-stream/tokens";
    for (body, pointer, says) in [
        (json!({"to": ""}), "/to", "1 to 200 printable characters"),
        (json!({"to": "  "}), "/to", "1 to 200 printable characters"),
        (
            json!({"to": "+1800\u{7}5550199"}),
            "/to",
            "1 to 200 printable characters",
        ),
        (
            json!({"to": "x".repeat(201)}),
            "/to",
            "1 to 200 printable characters",
        ),
        (
            json!({"to": NUMBER, "ttl_seconds": 0}),
            "/ttl_seconds",
            "a lifetime is 1 to 31622400 seconds",
        ),
        (
            json!({"to": NUMBER, "ttl_seconds": 366 * 86_400 + 1}),
            "/ttl_seconds",
            "a lifetime is 1 to 31622400 seconds",
        ),
        (
            json!({"to": NUMBER, "ttl_seconds": "soon"}),
            "/ttl_seconds",
            "invalid type",
        ),
        (json!({"to": 18005550199u64}), "/to", "invalid type"),
    ] {
        let (status, error) = server.post(tokens, &server.admin, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error_code(&error), "invalid", "{body}");
        assert_eq!(error["error"]["pointer"], pointer, "{body}: {error}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(says),
            "{body}: {error}"
        );
    }
    let key = server.key(&["flows:write", "calls:read"]).await;
    let (status, error) = server.post(tokens, &key, json!({"to": NUMBER})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    assert_eq!(error_code(&error), "forbidden");
    assert_eq!(
        error["error"]["message"], "this key lacks the `admin` scope",
        "{error}"
    );
    server.stop().await;
}

both!(garbage_on_the_socket_gets_a_close_with_a_reason);
async fn garbage_on_the_socket_gets_a_close_with_a_reason(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = set_up(&server).await;
    let cases: Vec<(Message, u16, &str)> = vec![
        (Message::text("this is not json"), 1007, "JSON"),
        (
            Message::text(r#"{"event":"dance","streamSid":"MZ1"}"#),
            1007,
            "dance",
        ),
        (
            Message::text(
                r#"{"event":"media","streamSid":"MZ1","media":{"track":"inbound","chunk":"1","timestamp":"20","payload":"%%%"}}"#,
            ),
            1007,
            "base64",
        ),
        (Message::binary(vec![0u8, 1, 2]), 1003, "binary"),
    ];
    for (garbage, code, words) in cases {
        let mut twilio = Twilio::connect(&server, json!({"token": token}), None).await;
        let (_, _, _) = twilio.prompt().await;
        twilio.send.send(Outgoing::Raw(garbage)).unwrap();
        let (got, reason) = twilio.closed().await;
        assert_eq!(got, code, "{reason}");
        assert!(
            reason.to_lowercase().contains(&words.to_lowercase()),
            "the close reason says what was wrong: {reason}"
        );
    }
    // The server is fine, and so are new calls.
    let (status, _) = server.get("/v1/calls", &server.admin).await;
    assert_eq!(status, StatusCode::OK);
    let mut twilio = Twilio::connect(&server, json!({"token": token}), None).await;
    let (pcm, _, _) = twilio.prompt().await;
    assert!(!pcm.is_empty());
}

both!(a_caller_who_says_support_is_heard_by_pocketsphinx);
async fn a_caller_who_says_support_is_heard_by_pocketsphinx(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = set_up(&server).await;
    let mut twilio = Twilio::connect(&server, json!({"token": token}), None).await;
    let (_, mark, _) = twilio.prompt().await;
    twilio.played(&mark);
    let (_, mark, _) = twilio.prompt().await;
    twilio.played(&mark);
    // The caller says "support" (espeak-ng's voice, at telephone rate),
    // streamed in real time like any caller's audio.
    let words = rendering("support").await;
    twilio.send.send(Outgoing::Audio(words)).unwrap();
    let (goodbye, mark, _) = twilio.prompt().await;
    let expected = rendering("Support it is. Goodbye.").await;
    let ratio = goodbye.len() as f64 / expected.len() as f64;
    assert!(
        (0.95..1.05).contains(&ratio),
        "the support branch answered ({} samples, expected about {})",
        goodbye.len(),
        expected.len()
    );
    twilio.played(&mark);
    assert_eq!(twilio.closed().await.0, 1000);
}

/// Consent, recording, keys typed as tones in the audio: the stored
/// recording has both sides, and not one key tone in it.
fn recorded_flow() -> Value {
    json!({
        "flow": "switchyard/v1",
        "name": "recorded-desk",
        "locale": "en-US",
        "compliance": ["us-all-party-consent", "us-federal"],
        "entry": "consent",
        "nodes": {
            "consent": {"use": "recording-consent@1", "on": {"granted": "record", "declined": "bye", "timeout": "bye"}},
            "record": {"use": "record@1", "with": {"op": "start"}, "on": {"done": "account"}},
            "account": {"use": "gather@1",
                        "with": {"prompt": "Please key your account number, then press pound.", "var": "account",
                                 "max_length": 12, "timeout_ms": 10000},
                        "on": {"done": "stop", "timeout": "stop", "invalid": "stop"}},
            "stop": {"use": "record@1", "with": {"op": "stop"}, "on": {"done": "bye"}},
            "bye": {"use": "hangup@1", "with": {"text": "Thank you. Goodbye."}}
        }
    })
}

both!(a_recording_has_both_sides_and_no_key_tones);
async fn a_recording_has_both_sides_and_no_key_tones(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = &server.admin;
    let (status, body) = server.post("/v1/flows", key, recorded_flow()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post("/v1/flows/recorded-desk/versions", key, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let number = "+15005550007";
    let (status, body) = server
        .post(
            "/v1/routes",
            key,
            json!({"address": number, "flow": "recorded-desk", "environment": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, token) = server
        .post("/v1/media-stream/tokens", key, json!({"to": number}))
        .await;
    let mut twilio = Twilio::connect(
        &server,
        json!({"token": token["token"], "from": "+14155550100"}),
        None,
    )
    .await;
    // The disclosure and consent question; 1 agrees.
    let (_, mark, _) = twilio.prompt().await;
    twilio.played(&mark);
    twilio.send.send(Outgoing::Dtmf('1')).unwrap();
    let (account_prompt, mark, _) = twilio.prompt().await;
    twilio.play_out(&account_prompt, &mark).await;
    // The account number, typed on a phone whose keys make tones in the
    // audio as well as dtmf events (as a carrier that passes both does).
    let digits = "4111111111";
    for digit in digits.chars().chain(['#']) {
        let tone = switchyard_media::dtmf::dtmf_tone(digit, 80, 8_000).unwrap();
        let mut audio = tone;
        audio.extend(std::iter::repeat_n(0i16, 800));
        twilio.send.send(Outgoing::Audio(audio)).unwrap();
        tokio::time::sleep(Duration::from_millis(180)).await;
        twilio.send.send(Outgoing::Dtmf(digit)).unwrap();
    }
    let (_, mark, _) = twilio.prompt().await;
    twilio.played(&mark);
    assert_eq!(twilio.closed().await.0, 1000);

    let (_, calls) = server.get("/v1/calls", key).await;
    let id = calls[0]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, call) = server.get(&format!("/v1/calls/{id}"), key).await;
        if call["status"] == "ended" {
            assert_eq!(call["has_recording"], true, "{call}");
            break;
        }
        assert!(Instant::now() < deadline, "{call}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = server
        .client
        .get(server.url(&format!("/v1/calls/{id}/recording")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let wav = response.bytes().await.unwrap();
    let mut reader = hound::WavReader::new(std::io::Cursor::new(wav.to_vec())).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 8_000));
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let caller: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let agent: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    assert!(caller.len() > 8_000, "more than a second was recorded");
    // The agent's side holds the account prompt (recording began after
    // consent): real speech energy.
    let prompt = rendering("Please key your account number, then press pound.").await;
    let (r, _) = find(&envelope(&agent), &envelope(&prompt));
    assert!(
        r > 0.9,
        "the agent's prompt is on the right channel (r = {r:.3})"
    );
    // The caller's side heard the tones (loud, 8,000 peak), and kept none.
    assert!(
        caller.iter().all(|s| s.unsigned_abs() < 2_000),
        "no tone is left in the caller's channel"
    );
    let mut detector = switchyard_media::dtmf::InbandDetector::new(
        switchyard_media::dtmf::InbandConfig::default(),
    );
    let keys: String = switchyard_media::frame::frames_of(&caller)
        .iter()
        .filter_map(|frame| detector.process(frame))
        .collect();
    assert_eq!(keys, "", "no key tone survives in the recording");
    // And the account number is in no stored text.
    let (_, transcript) = server.get(&format!("/v1/calls/{id}/transcript"), key).await;
    assert!(!transcript.to_string().contains(digits), "{transcript}");
}

both!(a_card_keyed_on_a_stream_is_in_no_recording_transcript_or_log);
async fn a_card_keyed_on_a_stream_is_in_no_recording_transcript_or_log(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = &server.admin;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../flows/compliance/payment.json"
    );
    let document: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (status, body) = server.post("/v1/flows", key, document).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post("/v1/flows/payment/versions", key, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let number = "+15005550008";
    let (status, body) = server
        .post(
            "/v1/routes",
            key,
            json!({"address": number, "flow": "payment", "environment": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, token) = server
        .post("/v1/media-stream/tokens", key, json!({"to": number}))
        .await;
    let mut twilio = Twilio::connect(
        &server,
        json!({"token": token["token"], "from": "+14155550100"}),
        None,
    )
    .await;
    let quiet = Duration::from_millis(1500);
    twilio.listen(quiet).await; // greeting, disclosure and the consent question
    twilio.key_in("1").await; // consent: the recording starts
    twilio.listen(quiet).await; // the menu
    twilio.key_in("1").await; // pay: the recording stops, the window opens
    twilio.listen(quiet).await;
    twilio.key_in("4111111111111111#").await;
    twilio.listen(quiet).await;
    twilio.key_in("1228").await;
    twilio.listen(quiet).await;
    twilio.key_in("737#").await;
    let thanks = twilio.listen(quiet).await;
    let (code, _) = twilio.closed().await;
    assert_eq!(code, 1000);

    let (_, calls) = server.get("/v1/calls", key).await;
    let id = calls[0]["id"].as_str().unwrap().to_owned();
    let (_, transcript) = server.get(&format!("/v1/calls/{id}/transcript"), key).await;
    assert!(
        !thanks.is_empty(),
        "the flow thanked the caller: {transcript}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, call) = server.get(&format!("/v1/calls/{id}"), key).await;
        if call["status"] == "ended" {
            assert_eq!(call["has_recording"], true, "consent was given: {call}");
            break;
        }
        assert!(Instant::now() < deadline, "{call}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The flow saw only the token's last four.
    let (_, transcript) = server.get(&format!("/v1/calls/{id}/transcript"), key).await;
    let text = transcript.to_string();
    assert!(text.contains("ending in 1111"), "{text}");
    for secret in ["4111111111111111", "111111111111", "1228", "737"] {
        assert!(
            !text.contains(secret),
            "the transcript holds {secret}: {text}"
        );
    }
    let events = server
        .client
        .get(server.url(&format!("/v1/calls/{id}/events")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for secret in ["4111111111111111", "111111111111", "\"1228\"", "\"737\""] {
        assert!(!events.contains(secret), "the event log holds {secret}");
    }
    // The recording stopped before the window, and no key tone made it in.
    let wav = server
        .client
        .get(server.url(&format!("/v1/calls/{id}/recording")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut reader = hound::WavReader::new(std::io::Cursor::new(wav.to_vec())).unwrap();
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let caller: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let mut detector = switchyard_media::dtmf::InbandDetector::new(
        switchyard_media::dtmf::InbandConfig::default(),
    );
    let keys: String = switchyard_media::frame::frames_of(&caller)
        .iter()
        .filter_map(|frame| detector.process(frame))
        .collect();
    assert_eq!(keys, "", "no key tone is in the recording");
}
