//! espeak-ng, the local default voice: no key, no network, robotic but
//! clear, and in about a hundred languages.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audio::{parse_wav, to_port_rate};
use crate::ports::{BoxFuture, SpeechError, Tts};
use crate::process;

const PROVIDER: &str = "espeak-ng";

/// How to run espeak-ng.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EspeakSettings {
    /// The program to run; a bare name is looked up on `PATH`.
    pub program: String,
    /// How long one synthesis may take before espeak-ng is killed.
    pub timeout_ms: u64,
    /// Speaking rate; `None` keeps espeak-ng's default (175).
    pub words_per_minute: Option<u32>,
}

impl Default for EspeakSettings {
    fn default() -> Self {
        Self {
            program: "espeak-ng".into(),
            timeout_ms: 20_000,
            words_per_minute: None,
        }
    }
}

/// espeak-ng as a [`Tts`]: runs `espeak-ng --stdout` with the voice of the
/// locale ([`espeak_voice`]), the text on stdin, and resamples its
/// 22,050 Hz WAV to 8 kHz.
///
/// The text never passes through a shell or the argument list (where a
/// leading `-` would read as an option), and SSML is off, so any caller- or
/// model-supplied text is only ever spoken.
#[derive(Debug, Clone, Default)]
pub struct Espeak {
    settings: EspeakSettings,
}

impl Espeak {
    /// An adapter with these settings.
    pub fn new(settings: EspeakSettings) -> Self {
        Self { settings }
    }

    async fn speak(&self, text: &str, locale: &str) -> Result<Arc<[i16]>, SpeechError> {
        if text.trim().is_empty() {
            return Ok(Arc::from(Vec::new()));
        }
        let voice = espeak_voice(locale);
        let rate = self.settings.words_per_minute.map(|w| w.to_string());
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("-v"),
            OsStr::new(&voice),
            // UTF-8 input, whatever the process locale says.
            OsStr::new("-b"),
            OsStr::new("1"),
            OsStr::new("--stdin"),
            OsStr::new("--stdout"),
        ];
        if let Some(rate) = &rate {
            args.extend([OsStr::new("-s"), OsStr::new(rate)]);
        }
        let output = process::run(
            PROVIDER,
            &self.settings.program,
            &args,
            text.as_bytes().to_vec(),
            Duration::from_millis(self.settings.timeout_ms),
            "install it with `apt-get install espeak-ng`",
        )
        .await?;
        if !output.status.success() {
            let why = process::stderr_summary(&output.stderr);
            if why.contains("voice does not exist") {
                return Err(SpeechError::Unsupported {
                    provider: PROVIDER,
                    message: format!("no voice `{voice}` for locale {locale}"),
                });
            }
            return Err(SpeechError::Provider {
                provider: PROVIDER,
                message: format!("exited with {}: {why}", output.status),
            });
        }
        // Parsing and resampling a few seconds of audio is a few
        // milliseconds of CPU: off the async threads all the same.
        let pcm = tokio::task::spawn_blocking(move || {
            let wav = parse_wav(&output.stdout, PROVIDER)?;
            to_port_rate(&wav, PROVIDER)
        })
        .await
        .map_err(|e| SpeechError::Provider {
            provider: PROVIDER,
            message: format!("resampling failed: {e}"),
        })??;
        Ok(Arc::from(pcm))
    }
}

impl Tts for Espeak {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        locale: &'a str,
    ) -> BoxFuture<'a, Result<Arc<[i16]>, SpeechError>> {
        Box::pin(self.speak(text, locale))
    }
}

/// The espeak-ng 1.51 voice for a BCP 47 locale.
///
/// Regional variants map to the voice espeak-ng has for that region
/// (`en-GB` → `en-gb`, `es-US` and the rest of Latin America → `es-419`,
/// `fr-FR` → `fr-fr`); regions it has no voice for take the nearest one
/// (`en-IN`, `en-AU` → `en-gb`; `fr-CA` → `fr-fr`; Chinese → `cmn`, Hong
/// Kong → `yue`); anything else falls back to the language subtag
/// (`de-AT` → `de`, `hi-IN` → `hi`). `espeak-ng --voices` lists them.
pub fn espeak_voice(locale: &str) -> String {
    let normal = locale.trim().replace('_', "-").to_ascii_lowercase();
    let language = normal.split('-').next().unwrap_or_default();
    let region = normal.split('-').nth(1).unwrap_or_default();
    let voice = match (language, region) {
        ("en", "us" | "ca" | "") => "en-us",
        ("en", "gb" | "uk" | "in" | "au" | "nz" | "ie" | "za") => "en-gb",
        ("en", "029" | "jm" | "tt" | "bb") => "en-029",
        ("es", "es" | "") => "es",
        ("es", _) => "es-419",
        ("fr", "be") => "fr-be",
        ("fr", "ch") => "fr-ch",
        ("fr", _) => "fr-fr",
        ("pt", "br") => "pt-br",
        ("pt", _) => "pt",
        ("zh" | "cmn", "hk" | "mo") | ("yue", _) => "yue",
        ("zh" | "cmn", _) => "cmn",
        ("vi", _) => "vi",
        _ => language,
    };
    if voice.is_empty() {
        "en-us".to_owned()
    } else {
        voice.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_map_to_espeak_voices() {
        for (locale, voice) in [
            ("en-US", "en-us"),
            ("en-GB", "en-gb"),
            ("en-IN", "en-gb"),
            ("es-US", "es-419"),
            ("es-MX", "es-419"),
            ("es-ES", "es"),
            ("de-DE", "de"),
            ("fr-FR", "fr-fr"),
            ("fr-CA", "fr-fr"),
            ("hi-IN", "hi"),
            ("pt_BR", "pt-br"),
            ("zh-CN", "cmn"),
            ("it", "it"),
            ("", "en-us"),
        ] {
            assert_eq!(espeak_voice(locale), voice, "{locale}");
        }
    }
}
