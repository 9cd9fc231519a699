//! OpenAI-compatible text to speech: `POST {base_url}/audio/speech`.
//!
//! Wire format (OpenAI's, also served by Kokoro-FastAPI, openedai-speech
//! and LocalAI): a JSON body `{"model", "input", "voice",
//! "response_format"}` with `Authorization: Bearer <key>`; the answer is
//! the audio itself. `pcm` is raw 16-bit little-endian mono at 24 kHz (the
//! lowest-latency choice, nothing to parse); `wav` is a WAV file at
//! whatever rate the server uses.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audio::{Pcm, parse_wav, pcm_from_le_bytes, to_port_rate};
use crate::http;
use crate::ports::{BoxFuture, SpeechError, Tts};
use crate::secret::ApiKey;

const PROVIDER: &str = "openai-tts";

/// The audio format asked of the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpenAiAudioFormat {
    /// Raw 16-bit little-endian mono at
    /// [`OpenAiTtsSettings::pcm_sample_rate`].
    #[default]
    Pcm,
    /// A WAV file (its header gives the rate).
    Wav,
}

impl OpenAiAudioFormat {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pcm => "pcm",
            Self::Wav => "wav",
        }
    }
}

/// Where and how to reach an OpenAI-compatible speech endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiTtsSettings {
    /// The API root including its version, e.g. `https://api.openai.com/v1`
    /// or `http://127.0.0.1:8880/v1`.
    pub base_url: String,
    /// The model, e.g. `gpt-4o-mini-tts` or `tts-1`.
    pub model: String,
    /// The voice, e.g. `alloy`. OpenAI's voices speak whatever language the
    /// text is in, so the locale does not choose it.
    pub voice: String,
    /// The environment variable holding the API key; `None` for local
    /// servers that take none.
    pub api_key_env: Option<String>,
    /// `pcm` (default) or `wav`.
    pub response_format: OpenAiAudioFormat,
    /// The rate of `pcm` answers: 24,000 for OpenAI.
    pub pcm_sample_rate: u32,
    /// How long one synthesis may take, connection to last byte.
    pub timeout_ms: u64,
}

impl Default for OpenAiTtsSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4o-mini-tts".into(),
            voice: "alloy".into(),
            api_key_env: Some("OPENAI_API_KEY".into()),
            response_format: OpenAiAudioFormat::Pcm,
            pcm_sample_rate: 24_000,
            timeout_ms: 30_000,
        }
    }
}

/// An OpenAI-compatible speech endpoint as a [`Tts`].
#[derive(Debug, Clone)]
pub struct OpenAiTts {
    settings: OpenAiTtsSettings,
    api_key: Option<ApiKey>,
    client: reqwest::Client,
}

#[derive(Serialize)]
struct SpeechRequest<'a> {
    model: &'a str,
    input: &'a str,
    voice: &'a str,
    response_format: &'a str,
}

impl OpenAiTts {
    /// An adapter for `settings`, sending `api_key` (if any) as a bearer
    /// token.
    ///
    /// # Errors
    /// [`SpeechError::Provider`] if the HTTP client cannot be built (no TLS
    /// backend).
    pub fn new(settings: OpenAiTtsSettings, api_key: Option<ApiKey>) -> Result<Self, SpeechError> {
        Ok(Self {
            client: http::client(PROVIDER)?,
            settings,
            api_key,
        })
    }

    async fn speak(&self, text: &str) -> Result<Arc<[i16]>, SpeechError> {
        if text.trim().is_empty() {
            return Ok(Arc::from(Vec::new()));
        }
        let timeout = Duration::from_millis(self.settings.timeout_ms);
        let body = SpeechRequest {
            model: &self.settings.model,
            input: text,
            voice: &self.settings.voice,
            response_format: self.settings.response_format.as_str(),
        };
        let mut request = self
            .client
            .post(http::endpoint(&self.settings.base_url, "audio/speech"))
            .timeout(timeout)
            .json(&body);
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
        let bytes = response
            .bytes()
            .await
            .map_err(|e| http::transport_error(PROVIDER, &e, timeout))?;
        let format = self.settings.response_format;
        let pcm_rate = self.settings.pcm_sample_rate;
        let pcm = tokio::task::spawn_blocking(move || {
            let audio = match format {
                OpenAiAudioFormat::Pcm => Pcm {
                    samples: pcm_from_le_bytes(&bytes),
                    rate_hz: pcm_rate,
                },
                OpenAiAudioFormat::Wav => parse_wav(&bytes, PROVIDER)?,
            };
            to_port_rate(&audio, PROVIDER)
        })
        .await
        .map_err(|e| SpeechError::Provider {
            provider: PROVIDER,
            message: format!("resampling failed: {e}"),
        })??;
        Ok(Arc::from(pcm))
    }
}

impl Tts for OpenAiTts {
    /// Speaks `text` with the configured voice; `locale` is not sent,
    /// because OpenAI's voices follow the language of the text.
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        _locale: &'a str,
    ) -> BoxFuture<'a, Result<Arc<[i16]>, SpeechError>> {
        Box::pin(self.speak(text))
    }
}
