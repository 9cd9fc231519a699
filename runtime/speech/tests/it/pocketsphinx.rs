//! pocketsphinx with Debian's en-US model, run for real on espeak-ng's
//! speech taken to telephone rate.

use switchyard_speech::stt::{Pocketsphinx, PocketsphinxSettings};
use switchyard_speech::tts::Espeak;
use switchyard_speech::{SpeechError, Stt, Transcript, Tts};

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

/// What the default adapter hears when a caller says `said` at a menu
/// expecting `menu`.
async fn heard_at_menu(said: &str, menu: &[&str]) -> Transcript {
    let pcm = caller_says(said).await;
    Pocketsphinx::default()
        .transcribe(&pcm, "en-US", &words(menu))
        .await
        .unwrap()
}

#[tokio::test]
async fn pocketsphinx_hears_each_menu_word_espeak_says_at_8khz() {
    let menu = ["sales", "support", "billing"];
    for word in menu {
        let heard = heard_at_menu(word, &menu).await;
        assert_eq!(heard.text, word, "espeak-ng said {word:?}");
        assert_eq!(heard.confidence, None);
    }
}

#[tokio::test]
async fn an_unrelated_word_at_a_three_word_menu_is_a_no_match() {
    // Before the garbage model, each of these came back as `sales`,
    // `support` or `billing`.
    for word in ["banana", "elephant", "tomorrow"] {
        let heard = heard_at_menu(word, &["sales", "support", "billing"]).await;
        assert_eq!(heard, Transcript::no_match(), "espeak-ng said {word:?}");
    }
}

#[tokio::test]
async fn an_unrelated_sentence_at_a_three_word_menu_is_a_no_match() {
    for sentence in [
        "I would like to talk to a human being please",
        "can you hear me",
    ] {
        let heard = heard_at_menu(sentence, &["sales", "support", "billing"]).await;
        assert_eq!(heard, Transcript::no_match(), "espeak-ng said {sentence:?}");
    }
}

#[tokio::test]
async fn every_word_of_a_twelve_word_menu_is_still_heard_beside_the_garbage_model() {
    let menu = [
        "sales", "support", "billing", "operator", "agent", "yes", "no", "repeat", "cancel",
        "account", "balance", "payment",
    ];
    for word in menu {
        let heard = heard_at_menu(word, &menu).await;
        assert_eq!(heard.text, word, "espeak-ng said {word:?}");
    }
}

#[tokio::test]
async fn a_menu_word_said_with_a_word_of_the_garbage_vocabulary_is_still_heard() {
    // `one` and `card` are in the garbage vocabulary; a menu that expects
    // them must still hear them, and `card` in a phrase as well.
    let menu = ["one", "two", "credit card"];
    for said in menu {
        let heard = heard_at_menu(said, &menu).await;
        assert_eq!(heard.text, said, "espeak-ng said {said:?}");
    }
}

#[tokio::test]
async fn a_steady_hum_is_still_a_no_match() {
    // A caller going "mmmm": 1.5 s of a 120 Hz buzz rich in harmonics.
    let hum: Vec<i16> = (0..12_000)
        .map(|i| {
            let t = f64::from(i) / 8_000.0;
            let wave: f64 = (1..20)
                .map(|h| (t * 120.0 * f64::from(h) * std::f64::consts::TAU).sin() / f64::from(h))
                .sum();
            (wave * 3_000.0) as i16
        })
        .collect();
    let heard = Pocketsphinx::default()
        .transcribe(&hum, "en-US", &words(&["sales", "support"]))
        .await
        .unwrap();
    assert_eq!(heard, Transcript::no_match());
}

#[tokio::test]
async fn without_rejection_an_unrelated_word_is_forced_onto_a_menu_word() {
    // The plain grammar, kept as an option: it can only choose among the
    // expected words.
    let stt = Pocketsphinx::new(PocketsphinxSettings {
        reject_out_of_grammar: false,
        ..PocketsphinxSettings::default()
    });
    let menu = words(&["sales", "support", "billing"]);
    let heard = stt
        .transcribe(&caller_says("banana").await, "en-US", &menu)
        .await
        .unwrap();
    assert!(menu.contains(&heard.text), "{heard:?}");
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
