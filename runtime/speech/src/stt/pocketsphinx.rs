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
//! once: `-infile utterance.wav -jsgf grammar.gram -dict grammar.dict`, in a
//! temporary directory removed afterwards. The dictionary passed holds only
//! the grammar's words (copied from the model's 134,000-word dictionary,
//! which is read once per adapter): that cuts a run from about 400 ms to
//! about 60 ms, nearly all of it the model loading.

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
/// # Telephone audio on a wideband model
///
/// The only English model Debian ships is trained on 16 kHz speech, and a
/// caller's audio is 8 kHz. Three things bridge the gap, each measured
/// with `cargo run -p switchyard-speech --example pocketsphinx_accuracy`
/// (six espeak-ng voices saying twelve menu words, taken to 8 kHz by the
/// media core's resampler, recognised against a 3-word and a 12-word
/// grammar):
///
/// | pipeline | 3 words | 12 words |
/// |---|---|---|
/// | clean (windowed-sinc) upsampling | 6/18 | 26/72 |
/// | zero-insertion upsampling ([`upsample_for_wideband_model`]) | 11/18 | 44/72 |
/// | + dither, no filler words, no noise removal | 17/18 | 56/72 |
/// | &nbsp;&nbsp;the same, 300 ms of low noise around the word | 17/18 | 27/72 |
/// | + leading and trailing silence trimmed (this adapter) | 17/18 | 61/72 |
/// | &nbsp;&nbsp;the same, 300 ms of low noise around the word | 17/18 | 67/72 |
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
        let grammar = Grammar::build(expected, &dictionary);
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
        let jsgf_path = dir.path().join("grammar.gram");
        let dict_path = dir.path().join("grammar.dict");
        tokio::fs::write(&wav_path, wav)
            .await
            .map_err(|e| io_error("cannot write the utterance", &e))?;
        tokio::fs::write(&jsgf_path, &grammar.jsgf)
            .await
            .map_err(|e| io_error("cannot write the grammar", &e))?;
        tokio::fs::write(&dict_path, &grammar.dictionary)
            .await
            .map_err(|e| io_error("cannot write the dictionary", &e))?;

        let args: [&OsStr; 18] = [
            "-infile".as_ref(),
            wav_path.as_os_str(),
            "-jsgf".as_ref(),
            jsgf_path.as_os_str(),
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
/// utterance it found; several are joined, filler tokens dropped.
fn hypothesis(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .filter(|w| !w.starts_with('<') && !w.starts_with('[') && !w.starts_with('+'))
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

/// A JSGF grammar of the expected phrases and the dictionary lines they
/// need.
#[derive(Debug, PartialEq)]
struct Grammar {
    /// The kept phrases, sanitised, in their first order, without
    /// duplicates.
    phrases: Vec<String>,
    /// Entries dropped because a word is not in the dictionary (or nothing
    /// was left after sanitising).
    dropped: Vec<String>,
    /// The `.gram` file.
    jsgf: String,
    /// The `.dict` file.
    dictionary: String,
}

impl Grammar {
    fn build(expected: &[String], dictionary: &Dictionary) -> Self {
        let mut phrases: Vec<String> = Vec::new();
        let mut dropped = Vec::new();
        let mut lines: Vec<&str> = Vec::new();
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
            // break out of the grammar's syntax.
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
                    if !lines.contains(&line.as_str()) {
                        lines.push(line);
                    }
                }
            }
            phrases.push(phrase);
        }
        let jsgf = format!(
            "#JSGF V1.0;\ngrammar switchyard;\npublic <utterance> = {};\n",
            phrases.join(" | ")
        );
        let mut dictionary_text = lines.join("\n");
        dictionary_text.push('\n');
        Self {
            phrases,
            dropped,
            jsgf,
            dictionary: dictionary_text,
        }
    }
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
        );
        assert_eq!(grammar.phrases, ["sales", "support", "customer service"]);
        assert_eq!(grammar.dropped, ["xyzzy", "42"]);
        assert_eq!(
            grammar.jsgf,
            "#JSGF V1.0;\ngrammar switchyard;\n\
             public <utterance> = sales | support | customer service;\n"
        );
        assert_eq!(
            grammar.dictionary,
            "sales S EY L Z\nsupport S AH P AO R T\ncustomer K AH S T AH M ER\nservice S ER V AH S\n"
        );
    }

    #[test]
    fn alternate_pronunciations_come_along_and_grammar_syntax_cannot_be_injected() {
        let grammar = Grammar::build(&strings(&["either;", "<x> | sales"]), &dictionary());
        assert_eq!(grammar.phrases, ["either"]);
        assert!(grammar.dictionary.contains("either(2) AY DH ER"));
        // `x` is not a word the dictionary knows, so the whole entry goes.
        assert_eq!(grammar.dropped, ["<x> | sales"]);
    }

    #[test]
    fn hypothesis_joins_utterances_and_drops_fillers() {
        assert_eq!(hypothesis("sales\n"), "sales");
        assert_eq!(
            hypothesis("\ncustomer service\n<sil> billing\n"),
            "customer service billing"
        );
        assert_eq!(hypothesis(""), "");
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
