//! Choosing providers from a configuration value.

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::json;
use switchyard_speech::config::{LlmConfig, SpeechConfig, SttConfig, TtsConfig};
use switchyard_speech::stt::DeepgramSettings;
use switchyard_speech::tts::{EspeakSettings, OpenAiTtsSettings};
use switchyard_speech::{SpeechError, Tts};

use crate::support::{Log, record, serve};

#[test]
fn the_default_is_fully_local_and_an_empty_value_means_the_default() {
    let config: SpeechConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(config, SpeechConfig::default());
    assert_eq!(config.tts, TtsConfig::Espeak(EspeakSettings::default()));
    assert!(matches!(config.stt, SttConfig::Pocketsphinx(_)));
    assert_eq!(config.llm, LlmConfig::None);
    let services = config.build_with_env(&|_| None).unwrap();
    assert!(services.llm.is_none() && services.streaming_stt.is_none());
}

#[test]
fn every_provider_parses_and_round_trips() {
    let value = json!({
        "tts": {"provider": "openai", "base_url": "http://127.0.0.1:8880/v1", "model": "kokoro",
                "voice": "af_bella", "api_key_env": null, "response_format": "wav"},
        "stt": {"provider": "openai", "base_url": "http://127.0.0.1:8080", "path": "/inference",
                "api_key_env": null},
        "llm": {"provider": "openai", "base_url": "http://127.0.0.1:11434/v1", "model": "llama3.1",
                "api_key_env": null, "temperature": 0.2},
        "tts_cache_samples": 0
    });
    let config: SpeechConfig = serde_json::from_value(value).unwrap();
    let again: SpeechConfig =
        serde_json::from_value(serde_json::to_value(&config).unwrap()).unwrap();
    assert_eq!(again, config);
    let TtsConfig::OpenAi(tts) = &config.tts else {
        panic!("{config:?}")
    };
    assert_eq!(
        (tts.voice.as_str(), tts.pcm_sample_rate),
        ("af_bella", 24_000)
    );
    let SttConfig::OpenAi(stt) = &config.stt else {
        panic!("{config:?}")
    };
    assert_eq!(stt.path, "/inference");
    for stt in ["pocketsphinx", "deepgram"] {
        let config: SpeechConfig =
            serde_json::from_value(json!({"stt": {"provider": stt}})).unwrap();
        assert_eq!(
            serde_json::to_value(&config).unwrap()["stt"]["provider"],
            stt
        );
    }
}

#[test]
fn typos_are_refused_rather_than_ignored() {
    let error = serde_json::from_value::<SpeechConfig>(
        json!({"tts": {"provider": "espeak", "voice": "en"}}),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("unknown field `voice`"),
        "{error}"
    );
    let error = serde_json::from_value::<SpeechConfig>(json!({"stt": {"provider": "whisper"}}))
        .unwrap_err();
    assert!(
        error.to_string().contains("unknown variant `whisper`"),
        "{error}"
    );
}

#[test]
fn keys_come_from_the_named_variable_and_are_never_printed() {
    let config = SpeechConfig {
        stt: SttConfig::Deepgram(DeepgramSettings {
            api_key_env: Some("TEST_DEEPGRAM_KEY".into()),
            ..DeepgramSettings::default()
        }),
        ..SpeechConfig::default()
    };
    let error = config.build_with_env(&|_| None).unwrap_err();
    assert!(matches!(error, SpeechError::Config(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "speech configuration: the environment variable TEST_DEEPGRAM_KEY holding the API key is not set"
    );
    let env = |name: &str| (name == "TEST_DEEPGRAM_KEY").then(|| "dg-very-secret".to_owned());
    let services = config.build_with_env(&env).unwrap();
    assert!(services.streaming_stt.is_some());
    let shown = format!(
        "{config:?} {services:?} {}",
        serde_json::to_string(&config).unwrap()
    );
    assert!(shown.contains("TEST_DEEPGRAM_KEY"));
    assert!(!shown.contains("dg-very-secret"), "{shown}");
}

#[tokio::test]
async fn a_built_cloud_tts_sends_the_key_from_the_environment_and_caches_prompts() {
    let log = Log::default();
    let handler_log = log.clone();
    let app = Router::new().route(
        "/v1/audio/speech",
        post(move |request: axum::extract::Request| {
            let log = handler_log.clone();
            async move {
                record(&log, request).await;
                [0u8, 16].repeat(2_400).into_response() // 0.1 s at 24 kHz
            }
        }),
    );
    let base = serve(app).await;
    let config = SpeechConfig {
        tts: TtsConfig::OpenAi(OpenAiTtsSettings {
            base_url: format!("{base}/v1"),
            api_key_env: Some("TEST_TTS_KEY".into()),
            ..OpenAiTtsSettings::default()
        }),
        ..SpeechConfig::default()
    };
    let env = |name: &str| (name == "TEST_TTS_KEY").then(|| "sk-from-env".to_owned());
    let services = config.build_with_env(&env).unwrap();
    let first = services
        .tts
        .synthesize("Welcome to Acme.", "en-US")
        .await
        .unwrap();
    let second = services
        .tts
        .synthesize("Welcome to Acme.", "en-US")
        .await
        .unwrap();
    assert_eq!(first.len(), 800);
    assert_eq!(first, second);
    let requests = log.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "the second came from the cache");
    assert_eq!(requests[0].header("authorization"), "Bearer sk-from-env");
}
