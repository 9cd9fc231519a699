//! OpenAI-compatible transcription: `POST {base_url}{path}` with a
//! multipart form.
//!
//! Wire format (OpenAI's `/v1/audio/transcriptions`, also served by
//! faster-whisper servers such as speaches, and by whisper.cpp's server,
//! whose own path is `/inference`): parts `file` (a WAV; 8 kHz is fine,
//! the server resamples), `model`, `language` (ISO 639-1), `prompt` (the
//! expected words, as a hint for spelling and vocabulary) and
//! `response_format=json`; the answer is `{"text": "..."}`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audio::wav_bytes;
use crate::http::{self, language_of};
use crate::ports::{BoxFuture, SAMPLE_RATE, SpeechError, Stt, Transcript};
use crate::secret::ApiKey;

const PROVIDER: &str = "openai-stt";

/// Where and how to reach an OpenAI-compatible transcription endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiSttSettings {
    /// The server root, e.g. `https://api.openai.com/v1`, or
    /// `http://127.0.0.1:8080` for whisper.cpp.
    pub base_url: String,
    /// The path under `base_url`: `/audio/transcriptions` (OpenAI,
    /// faster-whisper servers, recent whisper.cpp) or `/inference`
    /// (whisper.cpp's own).
    pub path: String,
    /// The model, e.g. `whisper-1`, `gpt-4o-mini-transcribe`, or whatever
    /// the local server loaded.
    pub model: String,
    /// The environment variable holding the API key; `None` for local
    /// servers that take none.
    pub api_key_env: Option<String>,
    /// How long one transcription may take, connection to last byte.
    pub timeout_ms: u64,
}

impl Default for OpenAiSttSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            path: "/audio/transcriptions".into(),
            model: "whisper-1".into(),
            api_key_env: Some("OPENAI_API_KEY".into()),
            timeout_ms: 30_000,
        }
    }
}

/// An OpenAI-compatible transcription endpoint as an [`Stt`]: free speech,
/// with the expected words sent as a prompt.
#[derive(Debug, Clone)]
pub struct OpenAiStt {
    settings: OpenAiSttSettings,
    api_key: Option<ApiKey>,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct TranscriptionResponse {
    text: String,
}

impl OpenAiStt {
    /// An adapter for `settings`, sending `api_key` (if any) as a bearer
    /// token.
    ///
    /// # Errors
    /// [`SpeechError::Provider`] if the HTTP client cannot be built.
    pub fn new(settings: OpenAiSttSettings, api_key: Option<ApiKey>) -> Result<Self, SpeechError> {
        Ok(Self {
            client: http::client(PROVIDER)?,
            settings,
            api_key,
        })
    }

    async fn recognise(
        &self,
        pcm: &[i16],
        locale: &str,
        expected: &[String],
    ) -> Result<Transcript, SpeechError> {
        if pcm.is_empty() {
            return Ok(Transcript::no_match());
        }
        let timeout = Duration::from_millis(self.settings.timeout_ms);
        let file = reqwest::multipart::Part::bytes(wav_bytes(pcm, SAMPLE_RATE))
            .file_name("utterance.wav")
            .mime_str("audio/wav")
            .map_err(|e| SpeechError::Provider {
                provider: PROVIDER,
                message: format!("cannot build the upload: {e}"),
            })?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", self.settings.model.clone())
            .text("response_format", "json");
        let language = language_of(locale);
        if !language.is_empty() {
            form = form.text("language", language);
        }
        if !expected.is_empty() {
            form = form.text("prompt", expected.join(", "));
        }
        let mut request = self
            .client
            .post(http::endpoint(&self.settings.base_url, &self.settings.path))
            .timeout(timeout)
            .multipart(form);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| http::transport_error(PROVIDER, &e, timeout))?;
        if !response.status().is_success() {
            return Err(http::status_error(PROVIDER, response, self.api_key.as_ref()).await);
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| http::transport_error(PROVIDER, &e, timeout))?;
        let answer: TranscriptionResponse =
            serde_json::from_slice(&body).map_err(|e| SpeechError::Protocol {
                provider: PROVIDER,
                message: format!("expected {{\"text\": ...}}: {e}"),
            })?;
        Ok(Transcript {
            text: answer.text.trim().to_owned(),
            confidence: None,
        })
    }
}

impl Stt for OpenAiStt {
    fn transcribe<'a>(
        &'a self,
        pcm: &'a [i16],
        locale: &'a str,
        expected: &'a [String],
    ) -> BoxFuture<'a, Result<Transcript, SpeechError>> {
        Box::pin(self.recognise(pcm, locale, expected))
    }
}
