//! pocketsphinx with Debian's en-US model, run for real on espeak-ng's
//! speech taken to telephone rate.

use switchyard_speech::stt::{Pocketsphinx, PocketsphinxSettings};
use switchyard_speech::tts::Espeak;
use switchyard_speech::{SpeechError, Stt, Tts};

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| (*w).to_owned()).collect()
}

/// What a caller saying `text` sounds like at the port: espeak-ng's
/// rendering, which the Espeak adapter has already taken to 8 kHz.
async fn caller_says(text: &str) -> Vec<i16> {
    Espeak::default()
        .synthesize(text, "en-US")
        .await
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn pocketsphinx_hears_each_menu_word_espeak_says_at_8khz() {
    let stt = Pocketsphinx::default();
    let menu = words(&["sales", "support", "billing"]);
    for word in ["sales", "support", "billing"] {
        let pcm = caller_says(word).await;
        let heard = stt.transcribe(&pcm, "en-US", &menu).await.unwrap();
        assert_eq!(heard.text, word, "espeak-ng said {word:?}");
        assert_eq!(heard.confidence, None);
    }
}

#[tokio::test]
async fn a_word_with_silence_and_line_noise_around_it_is_still_heard() {
    // As a voice-activity detector hands it over: 400 ms of low noise
    // before and after the word.
    let word = caller_says("support").await;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 81) as i32 - 40
    };
    let mut pcm: Vec<i16> = (0..3_200).map(|_| noise() as i16).collect();
    pcm.extend(
        word.iter()
            .map(|&s| (i32::from(s) + noise()).clamp(-32_768, 32_767) as i16),
    );
    pcm.extend((0..3_200).map(|_| noise() as i16));
    let menu = words(&["sales", "support", "billing", "operator"]);
    let heard = Pocketsphinx::default()
        .transcribe(&pcm, "en-US", &menu)
        .await
        .unwrap();
    assert_eq!(heard.text, "support");
}

#[tokio::test]
async fn expected_words_are_sanitised_and_unknown_ones_dropped() {
    let pcm = caller_says("billing").await;
    let stt = Pocketsphinx::default();
    // "Billing!" becomes `billing`; the invented word is dropped, not fatal.
    let menu = words(&["Sales.", "Billing!", "zqxjvw"]);
    assert_eq!(
        stt.transcribe(&pcm, "en-US", &menu).await.unwrap().text,
        "billing"
    );
    let error = stt
        .transcribe(&pcm, "en-US", &words(&["zqxjvw", "42"]))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SpeechError::Unsupported { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("dropped: zqxjvw, 42"), "{error}");
}

#[tokio::test]
async fn free_speech_is_refused_with_a_pointer_to_a_stronger_recogniser() {
    let pcm = caller_says("hello").await;
    let error = Pocketsphinx::default()
        .transcribe(&pcm, "en-US", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(error, SpeechError::Unsupported { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("needs a stronger recogniser"),
        "{error}"
    );
}

#[tokio::test]
async fn other_languages_are_refused_and_silence_is_a_no_match() {
    let stt = Pocketsphinx::default();
    let error = stt
        .transcribe(&[0; 8_000], "de-DE", &words(&["ja"]))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("recognises `en`, not de-DE"),
        "{error}"
    );
    let heard = stt
        .transcribe(&[], "en-GB", &words(&["yes", "no"]))
        .await
        .unwrap();
    assert_eq!(heard.text, "");
}

#[tokio::test]
async fn a_missing_pocketsphinx_is_a_clear_error() {
    let stt = Pocketsphinx::new(PocketsphinxSettings {
        program: "/nonexistent/pocketsphinx_continuous".into(),
        ..PocketsphinxSettings::default()
    });
    let error = stt
        .transcribe(&[100; 8_000], "en-US", &words(&["yes"]))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SpeechError::Unavailable { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("apt-get install pocketsphinx pocketsphinx-en-us"),
        "{error}"
    );

    let stt = Pocketsphinx::new(PocketsphinxSettings {
        dictionary: "/nonexistent/cmudict.dict".into(),
        ..PocketsphinxSettings::default()
    });
    let error = stt
        .transcribe(&[100; 8_000], "en-US", &words(&["yes"]))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("cannot read the dictionary /nonexistent/cmudict.dict"),
        "{error}"
    );
}
