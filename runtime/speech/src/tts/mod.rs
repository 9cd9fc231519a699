//! Text-to-speech adapters: [`Espeak`] (local, the default),
//! [`OpenAiTts`] (OpenAI-compatible `/v1/audio/speech`), and [`Cached`],
//! which keeps the audio of prompts already spoken.

mod cache;
mod espeak;
mod openai;

pub use cache::{Cached, DEFAULT_CACHE_SAMPLES};
pub use espeak::{Espeak, EspeakSettings, espeak_voice};
pub use openai::{OpenAiAudioFormat, OpenAiTts, OpenAiTtsSettings};
