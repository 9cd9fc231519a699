//! The port traits. They are object-safe (boxed futures) so a call can hold
//! `Arc<dyn Tts>` chosen per tenant at run time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use switchyard_sdk::protocol::{LlmRequest, ToolCall};
use tokio::sync::mpsc;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a provider could not answer. Messages name the provider and what
/// went wrong, never an API key, and never the audio or text sent.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// The provider could not be reached or answered with an error.
    #[error("{provider}: {message}")]
    Provider {
        provider: &'static str,
        message: String,
    },
    /// The provider's answer did not follow its protocol.
    #[error("{provider} answered something unexpected: {message}")]
    Protocol {
        provider: &'static str,
        message: String,
    },
}

/// Text to speech: 8 kHz mono PCM for `text` in `locale` (BCP 47).
pub trait Tts: Send + Sync {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        locale: &'a str,
    ) -> BoxFuture<'a, Result<Arc<[i16]>, SpeechError>>;
}

/// What a recogniser heard.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// Empty when nothing was recognised (a no-match).
    pub text: String,
    /// 0.0–1.0 where the provider gives one.
    pub confidence: Option<f32>,
}

/// Speech to text for one finished utterance (8 kHz PCM).
///
/// `expected` holds the words the current `menu` or `gather` listens for;
/// a grammar-driven recogniser (pocketsphinx) builds its grammar from them,
/// a free-speech one may use them as hints. Empty means free speech.
pub trait Stt: Send + Sync {
    fn transcribe<'a>(
        &'a self,
        pcm: &'a [i16],
        locale: &'a str,
        expected: &'a [String],
    ) -> BoxFuture<'a, Result<Transcript, SpeechError>>;
}

/// A streaming recogniser (Deepgram's protocol): audio goes in as it
/// arrives, transcripts come out as the provider finalises them.
pub trait StreamingStt: Send + Sync {
    fn open<'a>(&'a self, locale: &'a str) -> BoxFuture<'a, Result<SttStream, SpeechError>>;
}

/// One open streaming recognition.
#[derive(Debug)]
pub struct SttStream {
    /// 20 ms frames of 8 kHz PCM; dropping the sender finishes the stream.
    pub audio: mpsc::Sender<Vec<i16>>,
    /// Final transcripts, in order; closed when the provider is done.
    pub transcripts: mpsc::Receiver<Result<Transcript, SpeechError>>,
}

/// One piece of a streamed model reply.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmDelta {
    /// More reply text.
    Text(String),
    /// A complete tool call (arguments assembled from the stream).
    ToolCall(ToolCall),
}

/// A streamed chat completion: deltas in order, then the channel closes;
/// an error ends the stream.
pub type LlmStream = mpsc::Receiver<Result<LlmDelta, SpeechError>>;

/// A chat model (OpenAI-compatible chat completions).
pub trait Llm: Send + Sync {
    fn stream<'a>(
        &'a self,
        request: &'a LlmRequest,
    ) -> BoxFuture<'a, Result<LlmStream, SpeechError>>;
}
