//! espeak-ng, run for real.

use std::time::{Duration, Instant};

use switchyard_speech::tts::{Espeak, EspeakSettings, espeak_voice};
use switchyard_speech::{SpeechError, Tts};

use crate::support::rms;

#[tokio::test]
async fn espeak_speaks_a_prompt_as_8khz_audio_of_plausible_length_and_level() {
    let pcm = Espeak::default()
        .synthesize("Press one for sales", "en-US")
        .await
        .unwrap();
    // Four words at espeak-ng's 175 words a minute: about 1.5 s.
    let seconds = pcm.len() as f64 / 8_000.0;
    assert!((0.8..3.0).contains(&seconds), "{seconds} s");
    let level = rms(&pcm);
    let peak = pcm.iter().map(|s| i32::from(*s).abs()).max().unwrap();
    assert!(level > 1_000.0, "RMS {level}");
    assert!(peak > 5_000, "peak {peak}");
    // Speech has pauses: a good share of 20 ms frames is much quieter than
    // the loudest, unlike a tone or noise.
    let frames: Vec<f64> = pcm.chunks(160).map(rms).collect();
    let loudest = frames.iter().copied().fold(0.0, f64::max);
    let quiet = frames.iter().filter(|&&f| f < loudest / 10.0).count();
    assert!(
        quiet * 10 >= frames.len(),
        "{quiet} quiet frames of {}",
        frames.len()
    );
}

#[tokio::test]
async fn a_longer_text_takes_longer_and_the_rate_setting_is_applied() {
    let espeak = Espeak::default();
    let short = espeak.synthesize("Hello.", "en-US").await.unwrap();
    let long = espeak
        .synthesize("Hello. Thank you for calling. Please hold.", "en-US")
        .await
        .unwrap();
    assert!(
        long.len() > short.len() * 3,
        "{} vs {}",
        long.len(),
        short.len()
    );
    let slow = Espeak::new(EspeakSettings {
        words_per_minute: Some(100),
        ..EspeakSettings::default()
    })
    .synthesize("Hello. Thank you for calling. Please hold.", "en-US")
    .await
    .unwrap();
    assert!(
        slow.len() as f64 > long.len() as f64 * 1.4,
        "{} vs {}",
        slow.len(),
        long.len()
    );
}

#[tokio::test]
async fn every_mapped_locale_names_a_voice_espeak_ng_has_and_speaks() {
    let voices = std::process::Command::new("espeak-ng")
        .arg("--voices")
        .output()
        .unwrap();
    let listed: Vec<String> = String::from_utf8_lossy(&voices.stdout)
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1).map(str::to_owned))
        .collect();
    let locales = [
        "en-US", "en-GB", "en-IN", "en-AU", "es-US", "es-MX", "es-ES", "de-DE", "fr-FR", "fr-CA",
        "hi-IN", "pt-BR", "it-IT", "zh-CN",
    ];
    for locale in locales {
        let voice = espeak_voice(locale);
        assert!(
            listed.contains(&voice),
            "{locale} → {voice} is not installed"
        );
    }
    let espeak = Espeak::default();
    for (locale, text) in [
        ("de-DE", "Guten Tag"),
        ("es-US", "Buenos días"),
        ("hi-IN", "नमस्ते"),
    ] {
        let pcm = espeak.synthesize(text, locale).await.unwrap();
        assert!(
            pcm.len() > 2_400 && rms(&pcm) > 500.0,
            "{locale}: {} samples",
            pcm.len()
        );
    }
}

#[tokio::test]
async fn text_is_only_ever_spoken_never_run_or_read_as_options() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let text = format!(
        "--help -v xx; $(touch {m}) `touch {m}` && touch {m} <speak>ok</speak>",
        m = marker.display()
    );
    let pcm = Espeak::default().synthesize(&text, "en-US").await.unwrap();
    assert!(
        pcm.len() > 8_000,
        "all of it was spoken: {} samples",
        pcm.len()
    );
    assert!(!marker.exists());
}

#[tokio::test]
async fn empty_text_is_silence_without_running_anything() {
    let espeak = Espeak::new(EspeakSettings {
        program: "/nonexistent/espeak-ng".into(),
        ..EspeakSettings::default()
    });
    assert!(espeak.synthesize("  ", "en-US").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_missing_espeak_ng_is_a_clear_error() {
    let espeak = Espeak::new(EspeakSettings {
        program: "/nonexistent/espeak-ng".into(),
        ..EspeakSettings::default()
    });
    let error = espeak.synthesize("Hello", "en-US").await.unwrap_err();
    assert!(
        matches!(error, SpeechError::Unavailable { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "espeak-ng is not available: `/nonexistent/espeak-ng` was not found; \
         install it with `apt-get install espeak-ng`"
    );
}

#[tokio::test]
async fn a_locale_without_a_voice_is_unsupported() {
    let error = Espeak::default()
        .synthesize("Hello", "xx-YY")
        .await
        .unwrap_err();
    assert!(
        matches!(error, SpeechError::Unsupported { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("no voice `xx` for locale xx-YY"),
        "{error}"
    );
}

#[tokio::test]
async fn a_hung_engine_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hang.sh");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let espeak = Espeak::new(EspeakSettings {
        program: script.display().to_string(),
        timeout_ms: 300,
        ..EspeakSettings::default()
    });
    let started = Instant::now();
    let error = espeak.synthesize("Hello", "en-US").await.unwrap_err();
    assert!(
        matches!(error, SpeechError::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
