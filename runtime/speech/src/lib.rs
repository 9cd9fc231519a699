//! Speech and language ports of the Switchyard runtime, each with a local
//! default and a cloud adapter that speaks its provider's real protocol.
//!
//! ```no_run
//! # async fn demo() -> Result<(), switchyard_speech::SpeechError> {
//! use switchyard_speech::{Stt, Tts};
//! let tts = switchyard_speech::tts::Espeak::default();
//! let pcm = tts.synthesize("Press one for sales", "en-US").await?;
//! assert!(pcm.len() > 8_000 / 2); // at least half a second of 8 kHz audio
//!
//! // The local recogniser listens for the words the menu expects.
//! let stt = switchyard_speech::stt::Pocketsphinx::default();
//! let expected = ["sales".to_owned(), "support".to_owned()];
//! let heard = stt.transcribe(&pcm, "en-US", &expected).await?;
//! println!("heard {:?}", heard.text);
//! # Ok(()) }
//! ```
//!
//! All audio crossing these ports is 8 kHz mono 16-bit PCM, the rate of the
//! media core; adapters resample at their own edge.
//!
//! | port | local default | cloud / server adapters |
//! |---|---|---|
//! | [`Tts`] | [`tts::Espeak`] | [`tts::OpenAiTts`]; any of them behind [`tts::Cached`] |
//! | [`Stt`] | [`stt::Pocketsphinx`] (grammar of expected words) | [`stt::OpenAiStt`], [`stt::Deepgram`] |
//! | [`StreamingStt`] | — | [`stt::Deepgram`] |
//! | [`Llm`] | — | [`llm::OpenAiChat`] (OpenAI, vLLM, llama.cpp, Ollama) |
//!
//! [`config::SpeechConfig`] picks the providers and builds the ports;
//! [`sentences::SentenceSplitter`] cuts a streamed reply into sentences to
//! speak one by one. API keys live in [`ApiKey`], which never prints.

mod audio;
pub mod config;
mod http;
pub mod llm;
pub mod ports;
mod process;
mod secret;
pub mod sentences;
pub mod stt;
pub mod tts;

pub use ports::{
    BoxFuture, Llm, LlmDelta, LlmStream, SAMPLE_RATE, SpeechError, StreamingStt, Stt, SttStream,
    Transcript, Tts,
};
pub use secret::ApiKey;
