//! Speech-to-text adapters: [`Pocketsphinx`] (local, the default, for
//! menus and gathers with a known vocabulary), [`OpenAiStt`]
//! (OpenAI-compatible `/v1/audio/transcriptions`: OpenAI, whisper.cpp
//! server, faster-whisper servers) and [`Deepgram`] (streaming, over
//! Deepgram's WebSocket protocol).

mod deepgram;
mod openai;
mod pocketsphinx;

pub use deepgram::{Deepgram, DeepgramSettings};
pub use openai::{OpenAiStt, OpenAiSttSettings};
pub use pocketsphinx::{Pocketsphinx, PocketsphinxSettings, upsample_for_wideband_model};
