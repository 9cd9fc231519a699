//! Choosing providers: a serde value (from a file, the environment or the
//! command line) that builds the ports.
//!
//! ```
//! use switchyard_speech::config::SpeechConfig;
//! let config: SpeechConfig = serde_json::from_str(r#"{
//!     "tts": {"provider": "openai", "base_url": "http://127.0.0.1:8880/v1",
//!             "voice": "af_bella", "api_key_env": null},
//!     "stt": {"provider": "deepgram", "api_key_env": "DEEPGRAM_API_KEY"},
//!     "llm": {"provider": "openai", "base_url": "http://127.0.0.1:11434/v1",
//!             "model": "llama3.1", "api_key_env": null}
//! }"#).unwrap();
//! let env = |name: &str| (name == "DEEPGRAM_API_KEY").then(|| "dg-key".to_owned());
//! let services = config.build_with_env(&env).unwrap();
//! assert!(services.llm.is_some() && services.streaming_stt.is_some());
//! ```
//!
//! API keys are never part of the value: each provider names the
//! environment variable holding its key (`api_key_env`), read when the
//! ports are built, so a configuration can be logged, stored or shown
//! whole.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::llm::{OpenAiChat, OpenAiChatSettings};
use crate::ports::{Llm, SpeechError, StreamingStt, Stt, Tts};
use crate::secret::ApiKey;
use crate::stt::{
    Deepgram, DeepgramSettings, OpenAiStt, OpenAiSttSettings, Pocketsphinx, PocketsphinxSettings,
};
use crate::tts::{
    Cached, DEFAULT_CACHE_SAMPLES, Espeak, EspeakSettings, OpenAiTts, OpenAiTtsSettings,
};

/// Which provider serves each port. The default is fully local: espeak-ng,
/// pocketsphinx, no model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpeechConfig {
    /// Text to speech.
    pub tts: TtsConfig,
    /// Speech to text.
    pub stt: SttConfig,
    /// The chat model for `llm` actions.
    pub llm: LlmConfig,
    /// Samples of rendered prompts kept in memory (8,000 a second); `0`
    /// turns the cache off.
    pub tts_cache_samples: usize,
}

impl Default for SpeechConfig {
    fn default() -> Self {
        Self {
            tts: TtsConfig::default(),
            stt: SttConfig::default(),
            llm: LlmConfig::default(),
            tts_cache_samples: DEFAULT_CACHE_SAMPLES,
        }
    }
}

/// The text-to-speech provider, tagged by `provider`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum TtsConfig {
    /// Local espeak-ng.
    Espeak(EspeakSettings),
    /// An OpenAI-compatible `/v1/audio/speech`.
    #[serde(rename = "openai")]
    OpenAi(OpenAiTtsSettings),
}

impl Default for TtsConfig {
    fn default() -> Self {
        Self::Espeak(EspeakSettings::default())
    }
}

/// The speech-to-text provider, tagged by `provider`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum SttConfig {
    /// Local pocketsphinx with a grammar of the expected words.
    Pocketsphinx(PocketsphinxSettings),
    /// An OpenAI-compatible `/v1/audio/transcriptions` (or whisper.cpp's
    /// `/inference`).
    #[serde(rename = "openai")]
    OpenAi(OpenAiSttSettings),
    /// Deepgram's streaming WebSocket protocol.
    Deepgram(DeepgramSettings),
}

impl Default for SttConfig {
    fn default() -> Self {
        Self::Pocketsphinx(PocketsphinxSettings::default())
    }
}

/// The chat model, tagged by `provider`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum LlmConfig {
    /// No model: `llm` actions get an error reply.
    #[default]
    None,
    /// OpenAI-compatible chat completions.
    #[serde(rename = "openai")]
    OpenAi(OpenAiChatSettings),
}

/// The built ports.
#[derive(Clone)]
pub struct SpeechServices {
    /// Text to speech (behind the prompt cache unless it is off).
    pub tts: Arc<dyn Tts>,
    /// Speech to text for finished utterances.
    pub stt: Arc<dyn Stt>,
    /// The same recogniser as a stream, where the provider streams
    /// (Deepgram).
    pub streaming_stt: Option<Arc<dyn StreamingStt>>,
    /// The chat model, if one is configured.
    pub llm: Option<Arc<dyn Llm>>,
}

impl std::fmt::Debug for SpeechServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechServices")
            .field("streaming_stt", &self.streaming_stt.is_some())
            .field("llm", &self.llm.is_some())
            .finish_non_exhaustive()
    }
}

/// Reads an environment variable (in tests, a closure over a map).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A recogniser for finished utterances, and the same one as a stream
/// where the provider streams.
pub type BuiltStt = (Arc<dyn Stt>, Option<Arc<dyn StreamingStt>>);

fn key(var: Option<&String>, env: EnvLookup<'_>) -> Result<Option<ApiKey>, SpeechError> {
    var.map(|var| ApiKey::from_env(var, env)).transpose()
}

impl SpeechConfig {
    /// Builds every port, reading API keys from the process environment.
    ///
    /// # Errors
    /// [`SpeechError::Config`] when a named key variable is unset;
    /// [`SpeechError::Provider`] if an HTTP client cannot be built.
    pub fn build(&self) -> Result<SpeechServices, SpeechError> {
        self.build_with_env(&|name| std::env::var(name).ok())
    }

    /// Builds every port, reading API keys through `env`.
    ///
    /// # Errors
    /// As [`SpeechConfig::build`].
    pub fn build_with_env(&self, env: EnvLookup<'_>) -> Result<SpeechServices, SpeechError> {
        let tts = self.tts.build(env)?;
        let tts: Arc<dyn Tts> = if self.tts_cache_samples == 0 {
            tts
        } else {
            Arc::new(Cached::new(tts, self.tts_cache_samples))
        };
        let (stt, streaming_stt) = self.stt.build(env)?;
        Ok(SpeechServices {
            tts,
            stt,
            streaming_stt,
            llm: self.llm.build(env)?,
        })
    }
}

impl TtsConfig {
    /// The provider, uncached.
    ///
    /// # Errors
    /// As [`SpeechConfig::build`].
    pub fn build(&self, env: EnvLookup<'_>) -> Result<Arc<dyn Tts>, SpeechError> {
        Ok(match self {
            Self::Espeak(settings) => Arc::new(Espeak::new(settings.clone())),
            Self::OpenAi(settings) => {
                let key = key(settings.api_key_env.as_ref(), env)?;
                Arc::new(OpenAiTts::new(settings.clone(), key)?)
            }
        })
    }
}

impl SttConfig {
    /// The recogniser, and the same one as a stream where it streams.
    ///
    /// # Errors
    /// As [`SpeechConfig::build`].
    pub fn build(&self, env: EnvLookup<'_>) -> Result<BuiltStt, SpeechError> {
        Ok(match self {
            Self::Pocketsphinx(settings) => (Arc::new(Pocketsphinx::new(settings.clone())), None),
            Self::OpenAi(settings) => {
                let key = key(settings.api_key_env.as_ref(), env)?;
                (Arc::new(OpenAiStt::new(settings.clone(), key)?), None)
            }
            Self::Deepgram(settings) => {
                let key = key(settings.api_key_env.as_ref(), env)?;
                let deepgram = Arc::new(Deepgram::new(settings.clone(), key));
                (deepgram.clone(), Some(deepgram))
            }
        })
    }
}

impl LlmConfig {
    /// The model, or `None` when none is configured.
    ///
    /// # Errors
    /// As [`SpeechConfig::build`].
    pub fn build(&self, env: EnvLookup<'_>) -> Result<Option<Arc<dyn Llm>>, SpeechError> {
        Ok(match self {
            Self::None => None,
            Self::OpenAi(settings) => {
                let key = key(settings.api_key_env.as_ref(), env)?;
                Some(Arc::new(OpenAiChat::new(settings.clone(), key)?))
            }
        })
    }
}
