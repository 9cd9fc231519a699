//! Speech and language ports of the Switchyard runtime, each with a local
//! default and a cloud adapter that speaks its provider's real protocol.
//!
//! ```no_run
//! # async fn demo() -> Result<(), switchyard_speech::SpeechError> {
//! use switchyard_speech::Tts;
//! let tts = switchyard_speech::tts::Espeak::default();
//! let pcm = tts.synthesize("Press one for sales", "en-US").await?;
//! assert!(pcm.len() > 8_000 / 2); // at least half a second of 8 kHz audio
//! # Ok(()) }
//! ```
//!
//! All audio crossing these ports is 8 kHz mono 16-bit PCM, the rate of the
//! media core; adapters resample at their own edge.

pub mod ports;

pub use ports::{
    BoxFuture, Llm, LlmDelta, LlmStream, SpeechError, StreamingStt, Stt, SttStream, Transcript, Tts,
};
