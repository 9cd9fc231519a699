//! pocketsphinx, the local default recogniser, driven by a grammar of the
//! words the current `menu` or `gather` expects.
//!
//! This is how IVR recognition has always worked: a caller at a menu says
//! one of a handful of words, and a recogniser that only has to choose
//! among them is accurate even with a small acoustic model. Debian's
//! `pocketsphinx-en-us` model is what is used here; on its own, without a
//! grammar, it is close to useless on telephone audio, so **free speech
//! needs a stronger adapter** ([`super::OpenAiStt`] or
//! [`super::Deepgram`]): an empty `expected` list is refused with
//! [`SpeechError::Unsupported`] rather than answered with noise.
//!
//! Each utterance runs Debian 12's `pocketsphinx_continuous` (0.8+5prealpha)
//! once: `-infile utterance.wav -fsg grammar.fsg -dict grammar.dict`, in a
//! temporary directory removed afterwards. The dictionary passed holds only
//! the grammar's words (copied from the model's 134,000-word dictionary,
//! which is read once per adapter): on a 2-core machine that cuts a run of
//! a 3-word grammar from about 150 ms to about 25 ms, most of it the
//! model loading. The garbage model that turns unrelated speech into a
//! no-match (see [`Pocketsphinx`]) about doubles that: 48 ms for a word,
//! 80 ms for a sentence (26 and 37 ms without it).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::audio::wav_bytes;
use crate::http::language_of;
use crate::ports::{BoxFuture, SpeechError, Stt, Transcript};
use crate::process;

const PROVIDER: &str = "pocketsphinx";

/// How to run pocketsphinx, and which model to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PocketsphinxSettings {
    /// The program; Debian's `pocketsphinx` package installs
    /// `pocketsphinx_continuous`.
    pub program: String,
    /// The acoustic model directory (`-hmm`).
    pub model_dir: String,
    /// The model's pronunciation dictionary; grammar words missing from it
    /// are dropped.
    pub dictionary: String,
    /// The language the model recognises (ISO 639-1); other locales are
    /// refused.
    pub language: String,
    /// How long one recognition may take before pocketsphinx is killed.
    pub timeout_ms: u64,
    /// Whether speech that is none of the expected words comes back as a
    /// no-match (the default), through a garbage model of common English
    /// words in the grammar. `false` restores the plain grammar, which
    /// forces every utterance onto one of the expected words (see
    /// [`Pocketsphinx`] for what each costs).
    pub reject_out_of_grammar: bool,
}

impl Default for PocketsphinxSettings {
    fn default() -> Self {
        // Paths of Debian 12's pocketsphinx-en-us.
        Self {
            program: "pocketsphinx_continuous".into(),
            model_dir: "/usr/share/pocketsphinx/model/en-us/en-us".into(),
            dictionary: "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict".into(),
            language: "en".into(),
            timeout_ms: 20_000,
            reject_out_of_grammar: true,
        }
    }
}

/// pocketsphinx as an [`Stt`] for grammar-constrained recognition.
///
/// Each entry of `expected` is a word or short phrase the caller may say.
/// Words are lowercased and cut to letters only (`"Sales!"` → `sales`,
/// `"customer-service"` → `customer service`); an entry with any word the
/// model's dictionary lacks is dropped, since the recogniser could not
/// hear it anyway. The transcript is the phrase recognised, or empty for a
/// no-match. pocketsphinx gives no useful confidence for a grammar search,
/// so `confidence` is `None`.
///
/// # Speech that is none of the expected words
///
/// A grammar of only the expected words forces every utterance onto one of
/// them: "banana" or "I would like to talk to a human being please" at a
/// `sales | support | billing` menu came back as one of the three, so the
/// caller was routed instead of hearing the menu's no-match. So the
/// grammar also holds a garbage model: any one of up to about a hundred
/// common English words (`GARBAGE_WORDS`, less those of under three
/// phones and those that sound like an expected word, see `confusable`),
/// optionally followed by any number of the thirty most frequent. When the
/// garbage wins, the transcript is empty. It must win by a margin (the
/// probability on its last transition, 10⁻⁶ after one word, 10⁻¹³ after
/// several), or it would take expected words too: the model hears
/// narrowband audio poorly, and garbage words chained freely outscored
/// the right menu word for most clips. The search beams are widened to
/// 10⁻⁸⁰ so that the expected phrases survive within that margin.
///
/// Measured with `cargo run --release -p switchyard-speech --example
/// pocketsphinx_accuracy -- rejection`: six espeak-ng voices at 140, 175
/// and 210 words a minute, so 54 and 216 menu words; unrelated speech at
/// both menus, in the set the margins were tuned on and in a held-out set
/// never used for tuning; latency is the median wall time of one
/// recognition on a 2-core machine:
///
/// | | plain grammar | with the garbage model (default) |
/// |---|---|---|
/// | menu words heard, 3-word menu | 50/54 (4 wrong) | 48/54 (3 wrong, 3 no-match) |
/// | menu words heard, 12-word menu | 182/216 (34 wrong) | 182/216 (30 wrong, 4 no-match) |
/// | 24 unrelated words × 18 → no-match, 3 / 12-word menu | 6 / 5 of 432 | 410 (95%) / 239 (55%) |
/// | 5 unrelated sentences × 18 → no-match, 3 / 12-word menu | 0 / 0 of 90 | 90 / 77 |
/// | held out: 22 words × 18 → no-match, 3 / 12-word menu | 1 / 0 of 396 | 368 (93%) / 162 (41%) |
/// | held out: 5 sentences × 18 → no-match, 3 / 12-word menu | 0 / 0 of 90 | 90 / 85 |
/// | latency, a word / a sentence | 26 / 37 ms | 48 / 80 ms |
///
/// The more words a menu expects, the more unrelated speech lands close to
/// one of them, so rejection is weaker on long menus. A steady hum is
/// still a no-match, as it was before. The alternatives, measured on the
/// same kind of clips (pocketsphinx 0.8's options), did worse:
///
/// - a free phone loop as the garbage rejected almost everything, but kept
///   at best 15 of 18 and 51 of 72 menu words, and took twice as long;
/// - the acoustic score against a second, phone-loop pass (two processes;
///   pocketsphinx prints no confidence for a grammar search): with every
///   menu word kept it rejected 81 and 48 of 174 unrelated utterances;
/// - keyword spotting (`-kws`) heard at most 3 of 18 menu words at any
///   threshold from 10⁻⁵ to 10⁻³⁰;
/// - the model's own `[SPEECH]` noise word as the garbage never won;
/// - the garbage words alone, one per utterance: about 10 ms cheaper, but
///   fewer words and far fewer sentences (82 and 46 of 90) rejected.
///
/// Setting [`PocketsphinxSettings::reject_out_of_grammar`] to `false`
/// restores the plain grammar.
///
/// # Telephone audio on a wideband model
///
/// The only English model Debian ships is trained on 16 kHz speech, and a
/// caller's audio is 8 kHz. Three things bridge the gap, each measured
/// with `cargo run --release -p switchyard-speech --example
/// pocketsphinx_accuracy -- accuracy` (six espeak-ng voices saying twelve
/// menu words, taken to 8 kHz by the media core's resampler, recognised
/// against a 3-word and a 12-word grammar):
///
/// | pipeline | 3 words | 12 words |
/// |---|---|---|
/// | clean (windowed-sinc) upsampling | 6/18 | 26/72 |
/// | zero-insertion upsampling ([`upsample_for_wideband_model`]) | 11/18 | 44/72 |
/// | + dither, no filler words, no noise removal | 17/18 | 56/72 |
/// | &nbsp;&nbsp;the same, 300 ms of low noise around the word | 17/18 | 27/72 |
/// | + leading and trailing silence trimmed | 17/18 | 61/72 |
/// | &nbsp;&nbsp;the same, 300 ms of low noise around the word | 17/18 | 67/72 |
/// | + the garbage model (this adapter, see above) | 16/18 | 62/72 |
/// | &nbsp;&nbsp;the same, 300 ms of low noise around the word | 16/18 | 66/72 |
/// | the original 16 kHz audio, for reference | 18/18 | 56/72 |
///
/// The trimming matters because a voice-activity detector hands over the
/// word with silence or line noise around it.
#[derive(Debug, Clone, Default)]
pub struct Pocketsphinx {
    settings: PocketsphinxSettings,
    dictionary: Arc<OnceCell<Arc<Dictionary>>>,
}

impl Pocketsphinx {
    /// An adapter with these settings. The dictionary is read on first use.
    pub fn new(settings: PocketsphinxSettings) -> Self {
        Self {
            settings,
            dictionary: Arc::default(),
        }
    }

    async fn dictionary(&self) -> Result<Arc<Dictionary>, SpeechError> {
        let path = self.settings.dictionary.clone();
        self.dictionary
            .get_or_try_init(|| async move {
                let text = tokio::fs::read_to_string(&path).await.map_err(|e| {
                    SpeechError::Unavailable {
                        provider: PROVIDER,
                        message: format!(
                            "cannot read the dictionary {path}: {e}; install it with \
                             `apt-get install pocketsphinx-en-us`"
                        ),
                    }
                })?;
                tokio::task::spawn_blocking(move || Arc::new(Dictionary::parse(&text)))
                    .await
                    .map_err(|e| SpeechError::Provider {
                        provider: PROVIDER,
                        message: format!("reading the dictionary failed: {e}"),
                    })
            })
            .await
            .cloned()
    }

    async fn recognise(
        &self,
        pcm: &[i16],
        locale: &str,
        expected: &[String],
    ) -> Result<Transcript, SpeechError> {
        let language = language_of(locale);
        if language != self.settings.language {
            return Err(SpeechError::Unsupported {
                provider: PROVIDER,
                message: format!(
                    "the installed model recognises `{}`, not {locale}",
                    self.settings.language
                ),
            });
        }
        if expected.is_empty() {
            return Err(SpeechError::Unsupported {
                provider: PROVIDER,
                message: "free speech (no expected words) needs a stronger recogniser \
                          such as the openai or deepgram adapter"
                    .into(),
            });
        }
        let dictionary = self.dictionary().await?;
        let grammar = Grammar::build(expected, &dictionary, self.settings.reject_out_of_grammar);
        if grammar.phrases.is_empty() {
            return Err(SpeechError::Unsupported {
                provider: PROVIDER,
                message: format!(
                    "none of the expected words is in the dictionary (dropped: {})",
                    grammar.dropped.join(", ")
                ),
            });
        }
        if pcm.is_empty() {
            return Ok(Transcript::no_match());
        }

        let wav = wav_bytes(&upsample_for_wideband_model(trim_silence(pcm)), 16_000);
        let dir = tempfile::Builder::new()
            .prefix("switchyard-pocketsphinx-")
            .tempdir()
            .map_err(|e| io_error("cannot make a temporary directory", &e))?;
        let wav_path = dir.path().join("utterance.wav");
        let fsg_path = dir.path().join("grammar.fsg");
        let dict_path = dir.path().join("grammar.dict");
        tokio::fs::write(&wav_path, wav)
            .await
            .map_err(|e| io_error("cannot write the utterance", &e))?;
        tokio::fs::write(&fsg_path, &grammar.fsg)
            .await
            .map_err(|e| io_error("cannot write the grammar", &e))?;
        tokio::fs::write(&dict_path, &grammar.dictionary)
            .await
            .map_err(|e| io_error("cannot write the dictionary", &e))?;

        let mut args: Vec<&OsStr> = vec![
            "-infile".as_ref(),
            wav_path.as_os_str(),
            "-fsg".as_ref(),
            fsg_path.as_os_str(),
            "-dict".as_ref(),
            dict_path.as_os_str(),
            "-hmm".as_ref(),
            self.settings.model_dir.as_ref(),
            // No filler words between grammar words, no spectral noise
            // subtraction, and dither so that digital silence is not
            // log(0): together they measured better on narrowband audio
            // (see the type's docs). A fixed seed keeps the dither, and so
            // the result, the same from run to run.
            "-fsgusefiller".as_ref(),
            "no".as_ref(),
            "-remove_noise".as_ref(),
            "no".as_ref(),
            "-dither".as_ref(),
            "yes".as_ref(),
            "-seed".as_ref(),
            "1".as_ref(),
            "-logfn".as_ref(),
            // Its log goes to stderr otherwise, about 10 KB a run; errors
            // still show in the exit status.
            "/dev/null".as_ref(),
        ];
        if !grammar.garbage.is_empty() {
            for beam in ["-beam", "-pbeam", "-wbeam"] {
                args.extend([OsStr::new(beam), OsStr::new(GARBAGE_BEAM)]);
            }
        }
        let output = process::run(
            PROVIDER,
            &self.settings.program,
            &args,
            Vec::new(),
            Duration::from_millis(self.settings.timeout_ms),
            "install it with `apt-get install pocketsphinx pocketsphinx-en-us`",
        )
        .await?;
        drop(dir);
        if !output.status.success() {
            return Err(SpeechError::Provider {
                provider: PROVIDER,
                message: format!(
                    "exited with {}: {}",
                    output.status,
                    process::stderr_summary(&output.stderr)
                ),
            });
        }
        Ok(Transcript {
            text: hypothesis(&String::from_utf8_lossy(&output.stdout)),
            confidence: None,
        })
    }
}

fn io_error(what: &str, error: &std::io::Error) -> SpeechError {
    SpeechError::Provider {
        provider: PROVIDER,
        message: format!("{what}: {error}"),
    }
}

impl Stt for Pocketsphinx {
    fn transcribe<'a>(
        &'a self,
        pcm: &'a [i16],
        locale: &'a str,
        expected: &'a [String],
    ) -> BoxFuture<'a, Result<Transcript, SpeechError>> {
        Box::pin(self.recognise(pcm, locale, expected))
    }
}

/// What `pocketsphinx_continuous` printed: one hypothesis line per
/// utterance it found; several are joined, filler tokens and garbage words
/// dropped (so garbage alone is a no-match).
fn hypothesis(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .filter(|w| {
            !w.starts_with('<')
                && !w.starts_with('[')
                && !w.starts_with('+')
                && !w.starts_with(GARBAGE_PREFIX)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// 8 kHz telephone audio at 16 kHz, the rate Debian's wideband model
/// wants, by inserting a zero after each sample (with gain, so the level
/// stays the same).
///
/// This is deliberately *not* a clean resampler. A clean one leaves 4–8 kHz
/// empty, and the model, trained on wideband speech, then misses the
/// fricatives it expects up there: `sales` and `support` start with an
/// /s/ whose energy is mostly above 4 kHz, and both came out as `billing`.
/// Zero insertion mirrors the 0–4 kHz band into 4–8 kHz (the classic
/// spectral-folding bandwidth extension), which puts energy where the
/// model looks for it. See [`Pocketsphinx`] for the measurements.
///
/// The gain is 2 (zero insertion halves the baseband level) unless that
/// would clip, in which case it is as high as the loudest sample allows.
pub fn upsample_for_wideband_model(pcm: &[i16]) -> Vec<i16> {
    let peak = pcm
        .iter()
        .map(|s| i32::from(*s).abs())
        .max()
        .unwrap_or(0)
        .max(1);
    let gain = (f64::from(i16::MAX) / f64::from(peak)).min(2.0);
    pcm.iter()
        .flat_map(|&s| [(f64::from(s) * gain).round() as i16, 0])
        .collect()
}

/// 10 ms at 8 kHz: the frame over which loudness is measured for trimming.
const TRIM_FRAME: usize = 80;
/// Frames quieter than this far below the loudest one are silence.
const TRIM_BELOW_PEAK_DB: f64 = 30.0;
/// Silence kept on each side of the speech, in frames (50 ms).
const TRIM_MARGIN_FRAMES: usize = 5;

/// The utterance without its leading and trailing silence, keeping 50 ms
/// on each side.
///
/// The model normalises its features by their mean over the whole file, so
/// long silences pull that mean away from the speech; a voice-activity
/// detector hands over utterances with such margins. Frames (10 ms) more
/// than 30 dB below the loudest frame count as silence.
fn trim_silence(pcm: &[i16]) -> &[i16] {
    let power: Vec<f64> = pcm
        .chunks(TRIM_FRAME)
        .map(|frame| frame.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / frame.len() as f64)
        .collect();
    let peak = power.iter().copied().fold(0.0, f64::max);
    if peak == 0.0 {
        return pcm;
    }
    let threshold = peak * 10f64.powf(-TRIM_BELOW_PEAK_DB / 10.0);
    let first = power.iter().position(|&p| p > threshold).unwrap_or(0);
    let last = power.iter().rposition(|&p| p > threshold).unwrap_or(0);
    let start = first.saturating_sub(TRIM_MARGIN_FRAMES) * TRIM_FRAME;
    let end = ((last + 1 + TRIM_MARGIN_FRAMES) * TRIM_FRAME).min(pcm.len());
    &pcm[start..end]
}

/// The model's pronunciation dictionary: each word with its lines (the
/// first pronunciation and any `word(2)` alternates).
#[derive(Debug, Default)]
struct Dictionary {
    words: HashMap<String, Vec<String>>,
}

impl Dictionary {
    fn parse(text: &str) -> Self {
        let mut words: HashMap<String, Vec<String>> = HashMap::new();
        for line in text.lines() {
            let Some((entry, phones)) = line.trim().split_once(char::is_whitespace) else {
                continue;
            };
            // `word(2)` is the second pronunciation of `word`.
            let word = entry.split('(').next().unwrap_or(entry);
            words
                .entry(word.to_owned())
                .or_default()
                .push(format!("{entry} {}", phones.trim()));
        }
        Self { words }
    }
}

/// Common English words, the most frequent first: the garbage model's
/// vocabulary (see [`Pocketsphinx`]).
///
/// Edward Fry's hundred most frequent words, then words callers say at a
/// menu that is not listening for them (fillers, politeness, "speak to a
/// person"). Words of fewer than [`GARBAGE_MIN_PHONES`] phones are left out
/// when the grammar is built, and so is any word that sounds like one of
/// the expected words ([`confusable`]), so a menu that expects `one` or
/// `card` still hears them. None of the unrelated words the accuracy
/// example says is in this list, so it measures the garbage model on words
/// it does not hold (its sentences share a few, as real ones would).
const GARBAGE_WORDS: [&str; 161] = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "you",
    "that",
    "it",
    "he",
    "was",
    "for",
    "on",
    "are",
    "as",
    "with",
    "his",
    "they",
    "i",
    "at",
    "be",
    "this",
    "have",
    "from",
    "or",
    "one",
    "had",
    "by",
    "word",
    "but",
    "not",
    "what",
    "all",
    "were",
    "we",
    "when",
    "your",
    "can",
    "said",
    "there",
    "use",
    "an",
    "each",
    "which",
    "she",
    "do",
    "how",
    "their",
    "if",
    "will",
    "up",
    "other",
    "about",
    "out",
    "many",
    "then",
    "them",
    "these",
    "so",
    "some",
    "her",
    "would",
    "make",
    "like",
    "him",
    "into",
    "time",
    "has",
    "look",
    "two",
    "more",
    "write",
    "go",
    "see",
    "number",
    "way",
    "could",
    "people",
    "my",
    "than",
    "first",
    "been",
    "call",
    "who",
    "oil",
    "its",
    "now",
    "find",
    "long",
    "down",
    "day",
    "did",
    "get",
    "come",
    "made",
    "may",
    "part",
    "uh",
    "um",
    "hmm",
    "oh",
    "okay",
    "well",
    "just",
    "thanks",
    "please",
    "thank",
    "hi",
    "hey",
    "right",
    "good",
    "want",
    "need",
    "talk",
    "speak",
    "person",
    "somebody",
    "someone",
    "maybe",
    "sure",
    "really",
    "know",
    "think",
    "mean",
    "because",
    "where",
    "why",
    "something",
    "thing",
    "things",
    "back",
    "over",
    "again",
    "still",
    "here",
    "only",
    "very",
    "much",
    "little",
    "big",
    "bad",
    "new",
    "old",
    "great",
    "give",
    "take",
    "tell",
    "ask",
    "work",
    "home",
    "money",
    "card",
    "phone",
    "check",
    "pay",
    "open",
    "close",
    "stop",
    "start",
    "wait",
    "hold",
];

/// Garbage words shorter than this many phones are left out: a word of one
/// or two phones, stretched, matches part of almost anything, and two of
/// them in a row outscored whole menu words.
const GARBAGE_MIN_PHONES: usize = 3;

/// How many garbage words (the most frequent kept) may follow the first
/// one, so that a sentence is garbage too. Each of them multiplies the
/// search's work, which is why this is not the whole list: 30 cost about
/// 25 ms of CPU per recognition over the single-word garbage; 10 cost a
/// quarter of that, but let more than twice as many sentences through (33
/// against 13 of 180).
const GARBAGE_LOOP_WORDS: usize = 30;

/// Garbage words carry this prefix in the grammar and dictionary: it has a
/// character no sanitised expected word can have, and the hypothesis
/// drops every word that starts with it.
const GARBAGE_PREFIX: &str = "garbage_";

/// The probability of the transition that ends an utterance heard as one
/// garbage word, and as several. These are the rejection thresholds: an
/// utterance is a no-match only when garbage beats the best expected
/// phrase by this much (scaled by the language weight, 6.5). Lower
/// values keep more expected words and reject less; the values are
/// where measurement put the best trade-off (see [`Pocketsphinx`]).
const ONE_GARBAGE_WORD: &str = "1e-6";
const SEVERAL_GARBAGE_WORDS: &str = "1e-13";

/// Search beams with the garbage model. The defaults (1e-48, 7e-29 for
/// word exits) are narrower than the thresholds above, so the expected
/// phrases were pruned whenever garbage led by less than a threshold
/// (40 of 72 menu words kept); 1e-80 keeps them alive, and 1e-70 lost
/// three more of 216.
const GARBAGE_BEAM: &str = "1e-80";

/// A grammar of the expected phrases (with the garbage model when asked
/// for) and the dictionary lines it needs.
#[derive(Debug, PartialEq)]
struct Grammar {
    /// The kept phrases, sanitised, in their first order, without
    /// duplicates.
    phrases: Vec<String>,
    /// Entries dropped because a word is not in the dictionary (or nothing
    /// was left after sanitising).
    dropped: Vec<String>,
    /// The garbage words, in order, without [`GARBAGE_PREFIX`]; empty
    /// when there is no garbage model.
    garbage: Vec<&'static str>,
    /// The `.fsg` file (pocketsphinx's finite-state grammar format).
    fsg: String,
    /// The `.dict` file.
    dictionary: String,
}

impl Grammar {
    fn build(expected: &[String], dictionary: &Dictionary, with_garbage: bool) -> Self {
        let mut phrases: Vec<String> = Vec::new();
        let mut dropped = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        for entry in expected {
            let words: Vec<String> = entry
                .split(|c: char| c.is_whitespace() || c == '-' || c == '_' || c == '/')
                .map(|w| {
                    w.chars()
                        .filter(|c| c.is_alphabetic())
                        .flat_map(char::to_lowercase)
                        .collect::<String>()
                })
                .filter(|w| !w.is_empty())
                .collect();
            // Only letters survive, so nothing a flow author writes can
            // break out of the grammar's syntax or name a garbage word.
            let known = !words.is_empty() && words.iter().all(|w| dictionary.words.contains_key(w));
            if !known {
                dropped.push(entry.clone());
                continue;
            }
            let phrase = words.join(" ");
            if phrases.contains(&phrase) {
                continue;
            }
            for word in &words {
                for line in &dictionary.words[word] {
                    if !lines.contains(line) {
                        lines.push(line.clone());
                    }
                }
            }
            phrases.push(phrase);
        }
        let garbage = if with_garbage && !phrases.is_empty() {
            garbage_words(&phrases, dictionary)
        } else {
            Vec::new()
        };
        for word in &garbage {
            // The first pronunciation only: alternates would grow the
            // search for little gain.
            let phones = phones(&dictionary.words[*word][0]);
            lines.push(format!("{GARBAGE_PREFIX}{word} {}", phones.join(" ")));
        }
        let mut dictionary_text = lines.join("\n");
        dictionary_text.push('\n');
        Self {
            fsg: fsg(&phrases, &garbage),
            phrases,
            dropped,
            garbage,
            dictionary: dictionary_text,
        }
    }
}

/// The grammar as an FSG: state 0 is the start, 1 the end.
///
/// Each phrase runs from 0 to 1. The garbage model, when there is one, is
/// any garbage word (0 → 2 → 3), then either the end with probability
/// [`ONE_GARBAGE_WORD`] or any number of the [`GARBAGE_LOOP_WORDS`] most
/// frequent ones (3 → 4 → 5 → 4 …) and the end with probability
/// [`SEVERAL_GARBAGE_WORDS`]. The thresholds sit on the last transition,
/// not the first, so that the garbage paths are not pruned before they
/// have heard the utterance. JSGF weights could not express this: they
/// are not scaled by the language weight as the FSG's are, and one on a
/// `+` loop came out at half its value.
fn fsg(phrases: &[String], garbage: &[&str]) -> String {
    let mut transitions = Vec::new();
    let mut states = 6;
    for phrase in phrases {
        let words: Vec<&str> = phrase.split(' ').collect();
        let mut from = 0;
        for (i, word) in words.iter().enumerate() {
            let to = if i + 1 == words.len() {
                1
            } else {
                states += 1;
                states - 1
            };
            transitions.push(format!("TRANSITION {from} {to} 1 {word}"));
            from = to;
        }
    }
    if !garbage.is_empty() {
        transitions.push("TRANSITION 0 2 1".into());
        for word in garbage {
            transitions.push(format!("TRANSITION 2 3 1 {GARBAGE_PREFIX}{word}"));
        }
        transitions.push(format!("TRANSITION 3 1 {ONE_GARBAGE_WORD}"));
        transitions.push("TRANSITION 3 4 1".into());
        for word in garbage.iter().take(GARBAGE_LOOP_WORDS) {
            transitions.push(format!("TRANSITION 4 5 1 {GARBAGE_PREFIX}{word}"));
        }
        transitions.push("TRANSITION 5 4 1".into());
        transitions.push(format!("TRANSITION 5 1 {SEVERAL_GARBAGE_WORDS}"));
    }
    format!(
        "FSG_BEGIN switchyard\nNUM_STATES {states}\nSTART_STATE 0\nFINAL_STATE 1\n{}\nFSG_END\n",
        transitions.join("\n")
    )
}

/// The phones of a dictionary line (`word(2) AY DH ER` → `AY DH ER`).
fn phones(line: &str) -> Vec<&str> {
    line.split_whitespace().skip(1).collect()
}

/// The garbage words for these phrases: those of [`GARBAGE_WORDS`] the
/// dictionary has, of at least [`GARBAGE_MIN_PHONES`] phones, that are not
/// a word of a phrase and not [`confusable`] with one.
fn garbage_words(phrases: &[String], dictionary: &Dictionary) -> Vec<&'static str> {
    // Every pronunciation of every expected word, and each phrase of
    // several words as a whole (first pronunciations).
    let mut expected: Vec<Vec<&str>> = Vec::new();
    for phrase in phrases {
        let words: Vec<&str> = phrase.split(' ').collect();
        for word in &words {
            expected.extend(dictionary.words[*word].iter().map(|l| phones(l)));
        }
        if words.len() > 1 {
            expected.push(
                words
                    .iter()
                    .flat_map(|w| phones(&dictionary.words[*w][0]))
                    .collect(),
            );
        }
    }
    let in_a_phrase = |word: &str| phrases.iter().any(|p| p.split(' ').any(|w| w == word));
    GARBAGE_WORDS
        .into_iter()
        .filter(|word| {
            let Some(lines) = dictionary.words.get(*word) else {
                return false;
            };
            phones(&lines[0]).len() >= GARBAGE_MIN_PHONES
                && !in_a_phrase(word)
                && !lines.iter().any(|line| {
                    let garbage = phones(line);
                    expected.iter().any(|e| confusable(e, &garbage))
                })
        })
        .collect()
}

/// Whether two pronunciations are close enough that a garbage word would
/// steal the expected one: a phone edit distance of at most half the
/// longer one, where a substitution within a class of similar sounds
/// (vowels, stops, fricatives, nasals, liquids and glides) costs half.
///
/// Measured: with a plain edit distance, `really` (R IH L IY) stayed in
/// the garbage of a `billing` (B IH L IH NG) menu and took four of six
/// voices' `billing`.
fn confusable(a: &[&str], b: &[&str]) -> bool {
    fn class(phone: &str) -> &str {
        match phone {
            "AA" | "AE" | "AH" | "AO" | "AW" | "AY" | "EH" | "ER" | "EY" | "IH" | "IY" | "OW"
            | "OY" | "UH" | "UW" => "vowel",
            "B" | "D" | "G" | "K" | "P" | "T" => "stop",
            "CH" | "DH" | "F" | "HH" | "JH" | "S" | "SH" | "TH" | "V" | "Z" | "ZH" => "fricative",
            "M" | "N" | "NG" => "nasal",
            "L" | "R" | "W" | "Y" => "liquid",
            other => other,
        }
    }
    // Costs in halves, so the arithmetic stays in integers.
    let mut row: Vec<usize> = (0..=b.len()).map(|j| 2 * j).collect();
    for (i, pa) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = 2 * (i + 1);
        for (j, pb) in b.iter().enumerate() {
            let substitution = if pa == pb {
                0
            } else if class(pa) == class(pb) {
                1
            } else {
                2
            };
            let next = (row[j + 1] + 2)
                .min(row[j] + 2)
                .min(diagonal + substitution);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    // distance <= max / 2, in halves: 2 * distance <= max.
    row[b.len()] <= a.len().max(b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dictionary() -> Dictionary {
        Dictionary::parse(
            "sales S EY L Z\nsupport S AH P AO R T\ncustomer K AH S T AH M ER\n\
             service S ER V AH S\neither IY DH ER\neither(2) AY DH ER\n",
        )
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn the_grammar_keeps_known_words_sanitised_and_drops_the_rest() {
        let grammar = Grammar::build(
            &strings(&[
                "Sales!",
                "SUPPORT",
                "xyzzy",
                "customer-service",
                "42",
                "sales",
            ]),
            &dictionary(),
            false,
        );
        assert_eq!(grammar.phrases, ["sales", "support", "customer service"]);
        assert_eq!(grammar.dropped, ["xyzzy", "42"]);
        assert!(grammar.garbage.is_empty());
        assert_eq!(
            grammar.fsg,
            "FSG_BEGIN switchyard\nNUM_STATES 7\nSTART_STATE 0\nFINAL_STATE 1\n\
             TRANSITION 0 1 1 sales\nTRANSITION 0 1 1 support\n\
             TRANSITION 0 6 1 customer\nTRANSITION 6 1 1 service\nFSG_END\n"
        );
        assert_eq!(
            grammar.dictionary,
            "sales S EY L Z\nsupport S AH P AO R T\ncustomer K AH S T AH M ER\nservice S ER V AH S\n"
        );
    }

    #[test]
    fn alternate_pronunciations_come_along_and_grammar_syntax_cannot_be_injected() {
        let grammar = Grammar::build(&strings(&["either;", "<x> | sales"]), &dictionary(), true);
        assert_eq!(grammar.phrases, ["either"]);
        assert!(grammar.dictionary.contains("either(2) AY DH ER"));
        // `x` is not a word the dictionary knows, so the whole entry goes.
        assert_eq!(grammar.dropped, ["<x> | sales"]);
    }

    #[test]
    fn the_garbage_model_leaves_out_short_expected_and_confusable_words() {
        let dictionary = Dictionary::parse(
            "billing B IH L IH NG\ncard K AA R D\nthe DH AH\nreally R IH L IY\n\
             call K AO L\nthing TH IH NG\nthing(2) TH IY NG\nhold HH OW L D\n\
             people P IY P AH L\n",
        );
        let grammar = Grammar::build(&strings(&["billing", "card"]), &dictionary, true);
        // `the` is too short, `card` is expected, `really` sounds like
        // `billing`, `call` and `hold` like `card`.
        assert_eq!(grammar.garbage, ["people", "thing"]);
        assert_eq!(
            grammar.fsg,
            "FSG_BEGIN switchyard\nNUM_STATES 6\nSTART_STATE 0\nFINAL_STATE 1\n\
             TRANSITION 0 1 1 billing\nTRANSITION 0 1 1 card\n\
             TRANSITION 0 2 1\n\
             TRANSITION 2 3 1 garbage_people\nTRANSITION 2 3 1 garbage_thing\n\
             TRANSITION 3 1 1e-6\nTRANSITION 3 4 1\n\
             TRANSITION 4 5 1 garbage_people\nTRANSITION 4 5 1 garbage_thing\n\
             TRANSITION 5 4 1\nTRANSITION 5 1 1e-13\nFSG_END\n"
        );
        // Garbage words come with their first pronunciation only.
        assert_eq!(
            grammar.dictionary,
            "billing B IH L IH NG\ncard K AA R D\n\
             garbage_people P IY P AH L\ngarbage_thing TH IH NG\n"
        );
        // Without the option, or when no expected word is known, no garbage.
        assert!(
            Grammar::build(&strings(&["billing"]), &dictionary, false)
                .garbage
                .is_empty()
        );
        let nothing = Grammar::build(&strings(&["xyzzy"]), &dictionary, true);
        assert!(nothing.garbage.is_empty() && nothing.phrases.is_empty());
    }

    #[test]
    fn confusable_pronunciations_are_within_half_a_phone_per_two() {
        let p = |s: &'static str| s.split(' ').collect::<Vec<_>>();
        assert!(confusable(&p("N OW"), &p("N OW")));
        // `no` and `not`: a vowel for a vowel (half) and one more phone.
        assert!(confusable(&p("N OW"), &p("N AA T")));
        assert!(confusable(&p("B IH L IH NG"), &p("R IH L IY")));
        assert!(!confusable(&p("S EY L Z"), &p("P IY P AH L")));
        assert!(!confusable(&p("Y EH S"), &p("W AH T")));
        assert!(!confusable(&[], &p("W AH T")));
    }

    #[test]
    fn hypothesis_joins_utterances_and_drops_fillers_and_garbage() {
        assert_eq!(hypothesis("sales\n"), "sales");
        assert_eq!(
            hypothesis("\ncustomer service\n<sil> billing\n"),
            "customer service billing"
        );
        assert_eq!(hypothesis(""), "");
        assert_eq!(hypothesis("garbage_thing garbage_people\n"), "");
        assert_eq!(hypothesis("garbage_people\nsales\n"), "sales");
    }

    #[test]
    fn silence_is_trimmed_to_a_50_ms_margin() {
        let mut pcm = vec![0i16; 8_000];
        pcm.extend(vec![5_000i16; 800]);
        pcm.extend(vec![3i16; 8_000]);
        let trimmed = trim_silence(&pcm);
        assert_eq!(trimmed.len(), 400 + 800 + 400);
        assert_eq!(trimmed[400], 5_000);
        assert_eq!(trim_silence(&[0i16; 100]).len(), 100);
    }

    #[test]
    fn upsampling_doubles_the_length_with_gain_but_never_clips() {
        assert_eq!(upsample_for_wideband_model(&[100, -200]), [200, 0, -400, 0]);
        assert_eq!(
            upsample_for_wideband_model(&[i16::MAX, i16::MIN + 1, 0]),
            [i16::MAX, 0, i16::MIN + 1, 0, 0, 0]
        );
    }
}
