//! Deepgram's streaming recognition over a WebSocket.
//!
//! Wire protocol (Deepgram's `/v1/listen`):
//! - connect to `wss://api.deepgram.com/v1/listen?encoding=linear16&
//!   sample_rate=8000&channels=1&language=..&model=..&interim_results=false&
//!   punctuate=true` with the header `Authorization: Token <key>`;
//! - send audio as binary frames of 16-bit little-endian PCM;
//! - during silences with no audio to send, send the text frame
//!   `{"type":"KeepAlive"}` every few seconds (Deepgram closes an idle
//!   stream after 10 s);
//! - receive text frames `{"type":"Results","channel":{"alternatives":
//!   [{"transcript":..,"confidence":..}]},"is_final":..,"speech_final":..}`
//!   (and `Metadata`, which is ignored);
//! - finish with the text frame `{"type":"CloseStream"}`, then keep
//!   reading: Deepgram sends the results still pending and closes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::audio::pcm_to_le_bytes;
use crate::http;
use crate::ports::{BoxFuture, SAMPLE_RATE, SpeechError, StreamingStt, Stt, SttStream, Transcript};
use crate::secret::ApiKey;

const PROVIDER: &str = "deepgram";

/// Audio frames queued towards Deepgram: one second of 20 ms frames.
const AUDIO_QUEUE: usize = 50;

/// Where and how to reach Deepgram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeepgramSettings {
    /// The WebSocket root: `wss://api.deepgram.com`, or `ws://...` for a
    /// local server speaking the same protocol.
    pub base_url: String,
    /// The model, e.g. `nova-2` (widest language coverage) or `nova-3`.
    pub model: String,
    /// The environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// How often to send `KeepAlive` while no audio flows (Deepgram
    /// advises every 3–5 s).
    pub keepalive_ms: u64,
    /// How long connecting may take, and how long to wait for the last
    /// results after `CloseStream`.
    pub timeout_ms: u64,
}

impl Default for DeepgramSettings {
    fn default() -> Self {
        Self {
            base_url: "wss://api.deepgram.com".into(),
            model: "nova-2".into(),
            api_key_env: Some("DEEPGRAM_API_KEY".into()),
            keepalive_ms: 4_000,
            timeout_ms: 10_000,
        }
    }
}

/// Deepgram as a [`StreamingStt`], and as an [`Stt`] for one finished
/// utterance (streamed in 100 ms chunks, transcripts joined).
///
/// Deepgram recognises free speech: `expected` words are not sent.
#[derive(Debug, Clone)]
pub struct Deepgram {
    settings: DeepgramSettings,
    api_key: Option<ApiKey>,
}

/// The frames Deepgram sends (the fields used).
#[derive(Deserialize)]
struct ServerMessage {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    is_final: bool,
    channel: Option<Channel>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct Channel {
    #[serde(default)]
    alternatives: Vec<Alternative>,
}

#[derive(Deserialize)]
struct Alternative {
    #[serde(default)]
    transcript: String,
    confidence: Option<f32>,
}

impl Deepgram {
    /// An adapter for `settings` with `api_key` (Deepgram needs one; a
    /// local test server may not).
    pub fn new(settings: DeepgramSettings, api_key: Option<ApiKey>) -> Self {
        Self { settings, api_key }
    }

    /// The `/v1/listen` URL for `locale`.
    fn listen_url(&self, locale: &str) -> Result<reqwest::Url, SpeechError> {
        let rate = SAMPLE_RATE.to_string();
        let mut params = vec![
            ("encoding", "linear16"),
            ("sample_rate", rate.as_str()),
            ("channels", "1"),
        ];
        if !locale.is_empty() {
            params.push(("language", locale));
        }
        params.extend([
            ("model", self.settings.model.as_str()),
            ("interim_results", "false"),
            ("punctuate", "true"),
        ]);
        reqwest::Url::parse_with_params(
            &http::endpoint(&self.settings.base_url, "v1/listen"),
            params,
        )
        .map_err(|e| SpeechError::Config(format!("deepgram base_url is not a URL: {e}")))
    }

    async fn connect(&self, locale: &str) -> Result<SttStream, SpeechError> {
        let url = self.listen_url(locale)?;
        if url.scheme() == "wss" {
            // rustls needs a crypto provider; ring is the one the workspace
            // builds. Installing fails harmlessly if one is already set.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| SpeechError::Config(format!("deepgram URL: {e}")))?;
        if let Some(key) = &self.api_key {
            let mut value =
                HeaderValue::from_str(&format!("Token {}", key.expose())).map_err(|_| {
                    SpeechError::Config("the deepgram API key is not a valid header value".into())
                })?;
            value.set_sensitive(true);
            request.headers_mut().insert("Authorization", value);
        }
        let timeout = Duration::from_millis(self.settings.timeout_ms);
        let (socket, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| SpeechError::Timeout {
                provider: PROVIDER,
                after: timeout,
            })?
            .map_err(|e| self.handshake_error(e))?;

        let (audio_tx, audio_rx) = mpsc::channel(AUDIO_QUEUE);
        let (transcripts_tx, transcripts_rx) = mpsc::channel(16);
        tokio::spawn(pump(
            socket,
            audio_rx,
            transcripts_tx,
            Duration::from_millis(self.settings.keepalive_ms.max(1)),
            timeout,
        ));
        Ok(SttStream {
            audio: audio_tx,
            transcripts: transcripts_rx,
        })
    }

    fn handshake_error(&self, error: tungstenite::Error) -> SpeechError {
        match error {
            tungstenite::Error::Http(response) => {
                let body = response
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                let message = http::provider_message(&body)
                    .unwrap_or_else(|| body.trim().chars().take(500).collect());
                let message = match &self.api_key {
                    Some(key) => key.redact(&message),
                    None => message,
                };
                SpeechError::Http {
                    provider: PROVIDER,
                    status: response.status().as_u16(),
                    message: if message.is_empty() {
                        "(no message)".into()
                    } else {
                        message
                    },
                }
            }
            other => SpeechError::Provider {
                provider: PROVIDER,
                message: format!("cannot connect: {other}"),
            },
        }
    }

    async fn recognise(&self, pcm: &[i16], locale: &str) -> Result<Transcript, SpeechError> {
        if pcm.is_empty() {
            return Ok(Transcript::no_match());
        }
        let stream = self.connect(locale).await?;
        let SttStream {
            audio,
            mut transcripts,
        } = stream;
        let chunks: Vec<Vec<i16>> = pcm
            .chunks(SAMPLE_RATE as usize / 10)
            .map(<[i16]>::to_vec)
            .collect();
        // Audio is sent from its own task so results can be read while it
        // goes; dropping the sender at the end finishes the stream.
        let sender = tokio::spawn(async move {
            for chunk in chunks {
                if audio.send(chunk).await.is_err() {
                    break;
                }
            }
        });
        let mut texts = Vec::new();
        let mut confidences = Vec::new();
        while let Some(result) = transcripts.recv().await {
            let transcript = result?;
            texts.push(transcript.text);
            confidences.extend(transcript.confidence);
        }
        let _ = sender.await;
        Ok(Transcript {
            text: texts.join(" "),
            confidence: (!confidences.is_empty())
                .then(|| confidences.iter().sum::<f32>() / confidences.len() as f32),
        })
    }
}

impl StreamingStt for Deepgram {
    fn open<'a>(&'a self, locale: &'a str) -> BoxFuture<'a, Result<SttStream, SpeechError>> {
        Box::pin(self.connect(locale))
    }
}

impl Stt for Deepgram {
    fn transcribe<'a>(
        &'a self,
        pcm: &'a [i16],
        locale: &'a str,
        _expected: &'a [String],
    ) -> BoxFuture<'a, Result<Transcript, SpeechError>> {
        Box::pin(self.recognise(pcm, locale))
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Moves audio out and transcripts in until Deepgram closes the stream,
/// the transcript receiver goes away, or something fails (sent as the last
/// item).
async fn pump(
    socket: Socket,
    mut audio: mpsc::Receiver<Vec<i16>>,
    transcripts: mpsc::Sender<Result<Transcript, SpeechError>>,
    keepalive: Duration,
    finish_timeout: Duration,
) {
    let (mut sink, mut source) = socket.split();
    let mut audio_open = true;
    let mut idle = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
    // After a stall, one KeepAlive is enough; a burst of them is noise.
    idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let far_future = Instant::now() + Duration::from_secs(86_400 * 365);
    let mut finish_by = far_future;
    let fail = |message: String| SpeechError::Provider {
        provider: PROVIDER,
        message,
    };
    loop {
        tokio::select! {
            frame = audio.recv(), if audio_open => {
                let sent = match frame {
                    Some(pcm) => {
                        idle.reset();
                        sink.send(Message::binary(pcm_to_le_bytes(&pcm))).await
                    }
                    None => {
                        audio_open = false;
                        finish_by = Instant::now() + finish_timeout;
                        sink.send(Message::text(r#"{"type":"CloseStream"}"#)).await
                    }
                };
                if let Err(e) = sent {
                    let _ = transcripts.send(Err(fail(format!("sending failed: {e}")))).await;
                    return;
                }
            }
            _ = idle.tick(), if audio_open => {
                if let Err(e) = sink.send(Message::text(r#"{"type":"KeepAlive"}"#)).await {
                    let _ = transcripts.send(Err(fail(format!("sending failed: {e}")))).await;
                    return;
                }
            }
            message = source.next() => {
                let outcome = match message {
                    None => return,
                    Some(Ok(Message::Text(text))) => read_message(&text),
                    Some(Ok(Message::Close(Some(frame))))
                        if !matches!(frame.code, CloseCode::Normal | CloseCode::Away) =>
                    {
                        Some(Err(fail(format!("closed the stream ({}): {}", u16::from(frame.code), frame.reason))))
                    }
                    // Pings are answered by tungstenite; a normal close is
                    // followed by the end of the stream.
                    Some(Ok(_)) => None,
                    Some(Err(tungstenite::Error::ConnectionClosed)) => return,
                    Some(Err(e)) => Some(Err(fail(format!("connection failed: {e}")))),
                };
                if let Some(item) = outcome {
                    let failed = item.is_err();
                    if transcripts.send(item).await.is_err() || failed {
                        return;
                    }
                }
            }
            () = tokio::time::sleep_until(finish_by) => {
                let _ = transcripts
                    .send(Err(SpeechError::Timeout { provider: PROVIDER, after: finish_timeout }))
                    .await;
                return;
            }
            () = transcripts.closed() => {
                // Nobody listens any more: tell Deepgram we are done rather
                // than leave it waiting for audio.
                let _ = sink.send(Message::text(r#"{"type":"CloseStream"}"#)).await;
                let _ = sink.close().await;
                return;
            }
        }
    }
}

/// A final transcript, an error, or nothing (interim results, metadata,
/// empty finals: silence).
fn read_message(text: &str) -> Option<Result<Transcript, SpeechError>> {
    let message: ServerMessage = match serde_json::from_str(text) {
        Ok(message) => message,
        Err(e) => {
            return Some(Err(SpeechError::Protocol {
                provider: PROVIDER,
                message: format!("unreadable message: {e}"),
            }));
        }
    };
    match message.kind.as_str() {
        "Results" if message.is_final => {
            let best = message.channel?.alternatives.into_iter().next()?;
            let text = best.transcript.trim();
            (!text.is_empty()).then(|| {
                Ok(Transcript {
                    text: text.to_owned(),
                    confidence: best.confidence,
                })
            })
        }
        "Error" => Some(Err(SpeechError::Provider {
            provider: PROVIDER,
            message: message
                .description
                .or(message.message)
                .unwrap_or_else(|| "an unexplained error".into()),
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listen_url_carries_the_audio_format_and_options() {
        let deepgram = Deepgram::new(DeepgramSettings::default(), None);
        assert_eq!(
            deepgram.listen_url("en-US").unwrap().as_str(),
            "wss://api.deepgram.com/v1/listen?encoding=linear16&sample_rate=8000&channels=1\
             &language=en-US&model=nova-2&interim_results=false&punctuate=true"
        );
    }

    #[test]
    fn finals_are_read_and_interims_metadata_and_silence_are_skipped() {
        let final_result = r#"{"type":"Results","channel_index":[0,1],"duration":1.2,"start":0.0,
            "is_final":true,"speech_final":true,
            "channel":{"alternatives":[{"transcript":"I need billing.","confidence":0.93,"words":[]}]}}"#;
        let transcript = read_message(final_result).unwrap().unwrap();
        assert_eq!(transcript.text, "I need billing.");
        assert_eq!(transcript.confidence, Some(0.93));
        let interim = final_result.replace(r#""is_final":true"#, r#""is_final":false"#);
        assert!(read_message(&interim).is_none());
        let silence = r#"{"type":"Results","is_final":true,"channel":{"alternatives":[{"transcript":"","confidence":0.0}]}}"#;
        assert!(read_message(silence).is_none());
        assert!(read_message(r#"{"type":"Metadata","request_id":"x"}"#).is_none());
        let error = read_message(r#"{"type":"Error","description":"bad audio"}"#).unwrap();
        assert!(error.unwrap_err().to_string().contains("bad audio"));
    }
}
