//! The port traits. They are object-safe (boxed futures) so a call can hold
//! `Arc<dyn Tts>` chosen per tenant at run time.
//!
//! All audio crossing a port is 8 kHz mono 16-bit PCM ([`SAMPLE_RATE`]),
//! the rate of the media core; adapters resample at their own edge.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use switchyard_sdk::protocol::{LlmRequest, ToolCall};
use tokio::sync::mpsc;

/// The sample rate of all audio crossing these ports: 8 kHz, mono, `i16`.
pub const SAMPLE_RATE: u32 = 8_000;

/// A boxed, sendable future: what the port methods return, so the traits
/// stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a provider could not answer. Messages name the provider and what
/// went wrong, never an API key, and never the audio or text sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpeechError {
    /// The provider could not be reached or failed while answering.
    #[error("{provider}: {message}")]
    Provider {
        /// Which adapter (`espeak-ng`, `openai-tts`, `deepgram`, ...).
        provider: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The provider answered with an HTTP error status; `message` is the
    /// provider's own explanation where it gave one.
    #[error("{provider} answered HTTP {status}: {message}")]
    Http {
        /// Which adapter.
        provider: &'static str,
        /// The HTTP status code.
        status: u16,
        /// The provider's error message (`error.message` in OpenAI's
        /// format), with any API key it echoed cut out.
        message: String,
    },
    /// The provider's answer did not follow its protocol.
    #[error("{provider} answered something unexpected: {message}")]
    Protocol {
        /// Which adapter.
        provider: &'static str,
        /// What was wrong with the answer.
        message: String,
    },
    /// The provider took longer than its configured limit.
    #[error("{provider} did not answer within {after:?}")]
    Timeout {
        /// Which adapter.
        provider: &'static str,
        /// The limit that ran out.
        after: Duration,
    },
    /// A local engine is not installed or cannot be started.
    #[error("{provider} is not available: {message}")]
    Unavailable {
        /// Which adapter.
        provider: &'static str,
        /// What is missing and how to install it.
        message: String,
    },
    /// The request is one this provider cannot serve (for example free
    /// speech on a grammar-based recogniser, or a language it lacks).
    #[error("{provider} cannot do this: {message}")]
    Unsupported {
        /// Which adapter.
        provider: &'static str,
        /// What was asked and why it cannot be done.
        message: String,
    },
    /// The speech configuration is incomplete or inconsistent (for example
    /// the environment variable naming an API key is not set).
    #[error("speech configuration: {0}")]
    Config(String),
}

/// Text to speech: 8 kHz mono PCM for `text` in `locale` (BCP 47).
pub trait Tts: Send + Sync {
    /// Speaks `text` in `locale` and returns the whole rendering.
    ///
    /// # Errors
    /// A [`SpeechError`] when the provider cannot be reached, fails, times
    /// out, or does not speak `locale`.
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

impl Transcript {
    /// Nothing recognised: the recogniser's no-match.
    pub fn no_match() -> Self {
        Self {
            text: String::new(),
            confidence: None,
        }
    }
}

/// Speech to text for one finished utterance (8 kHz PCM).
///
/// `expected` holds the words the current `menu` or `gather` listens for;
/// a grammar-driven recogniser (pocketsphinx) builds its grammar from them,
/// a free-speech one may use them as hints. Empty means free speech.
pub trait Stt: Send + Sync {
    /// Transcribes one utterance.
    ///
    /// # Errors
    /// A [`SpeechError`] when the provider cannot be reached, fails, times
    /// out, or cannot recognise this kind of speech (see each adapter).
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
    /// Opens one recognition for speech in `locale`.
    ///
    /// # Errors
    /// A [`SpeechError`] when the connection cannot be opened (unreachable,
    /// refused credentials, timeout).
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
    /// Starts a completion for `request`; the reply streams through the
    /// returned channel.
    ///
    /// # Errors
    /// A [`SpeechError`] when the request is refused or no answer starts in
    /// time; failures after the stream has started arrive as an `Err` item
    /// on the stream instead.
    fn stream<'a>(
        &'a self,
        request: &'a LlmRequest,
    ) -> BoxFuture<'a, Result<LlmStream, SpeechError>>;
}

/// A shared provider is a provider, so wrappers such as
/// [`crate::tts::Cached`] take `Arc<dyn Tts>` as readily as a concrete one.
impl<T: Tts + ?Sized> Tts for Arc<T> {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        locale: &'a str,
    ) -> BoxFuture<'a, Result<Arc<[i16]>, SpeechError>> {
        (**self).synthesize(text, locale)
    }
}
