//! The OpenAI-compatible speech client against a local server speaking
//! `/v1/audio/speech`.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::json;
use switchyard_speech::tts::{OpenAiAudioFormat, OpenAiTts, OpenAiTtsSettings};
use switchyard_speech::{ApiKey, SpeechError, Tts};

use crate::support::{Log, closed_port_url, record, rms, serve, sine, wav};

/// A speech server answering every request with `answer`.
async fn server(
    answer: impl Fn() -> axum::response::Response + Clone + Send + Sync + 'static,
) -> (String, Log) {
    let log = Log::default();
    let handler_log = log.clone();
    let app = Router::new().route(
        "/v1/audio/speech",
        post(move |request: axum::extract::Request| {
            let log = handler_log.clone();
            let answer = answer.clone();
            async move {
                record(&log, request).await;
                answer()
            }
        }),
    );
    (serve(app).await, log)
}

fn settings(base: &str) -> OpenAiTtsSettings {
    OpenAiTtsSettings {
        base_url: format!("{base}/v1"),
        model: "tts-1".into(),
        voice: "nova".into(),
        ..OpenAiTtsSettings::default()
    }
}

fn pcm_bytes(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[tokio::test]
async fn pcm_at_24khz_comes_back_at_8khz_and_the_request_is_openais() {
    let tone = sine(440.0, 24_000, 1.0, 8_000.0);
    let body = pcm_bytes(&tone);
    let (base, log) = server(move || body.clone().into_response()).await;
    let tts = OpenAiTts::new(settings(&base), Some(ApiKey::new("sk-test-123"))).unwrap();

    let pcm = tts
        .synthesize("Press one for sales", "en-US")
        .await
        .unwrap();

    assert_eq!(pcm.len(), 8_000);
    let level = rms(&pcm[2_000..6_000]);
    assert!((level - 8_000.0 / 2f64.sqrt()).abs() < 200.0, "RMS {level}");
    let requests = log.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.uri.path(), "/v1/audio/speech");
    assert_eq!(request.header("authorization"), "Bearer sk-test-123");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(
        request.json(),
        json!({"model": "tts-1", "input": "Press one for sales", "voice": "nova", "response_format": "pcm"})
    );
}

#[tokio::test]
async fn wav_answers_are_read_at_their_own_rate() {
    let body = wav(&sine(300.0, 16_000, 0.5, 5_000.0), 16_000);
    let (base, log) = server(move || body.clone().into_response()).await;
    let tts = OpenAiTts::new(
        OpenAiTtsSettings {
            response_format: OpenAiAudioFormat::Wav,
            api_key_env: None,
            ..settings(&base)
        },
        None,
    )
    .unwrap();
    let pcm = tts.synthesize("Hello", "en-US").await.unwrap();
    assert_eq!(pcm.len(), 4_000);
    let request = log.lock().unwrap()[0].clone();
    assert_eq!(request.json()["response_format"], "wav");
    assert_eq!(request.header("authorization"), "", "no key, no header");
}

#[tokio::test]
async fn an_error_status_carries_the_providers_message_but_never_the_key() {
    let (base, _) = server(|| {
        let body = json!({"error": {
            "message": "Incorrect API key provided: sk-live-secret. You can find your API key at https://platform.openai.com.",
            "type": "invalid_request_error", "code": "invalid_api_key"}});
        (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
    })
    .await;
    let tts = OpenAiTts::new(settings(&base), Some(ApiKey::new("sk-live-secret"))).unwrap();
    let error = tts.synthesize("Hello", "en-US").await.unwrap_err();
    assert!(
        matches!(error, SpeechError::Http { status: 401, .. }),
        "{error:?}"
    );
    let shown = format!("{error} {error:?} {tts:?}");
    assert!(
        shown.contains("Incorrect API key provided: ***."),
        "{shown}"
    );
    assert!(!shown.contains("sk-live-secret"), "{shown}");
}

#[tokio::test]
async fn a_stalled_server_times_out_and_a_dead_one_is_a_provider_error() {
    let stall = Router::new().route(
        "/v1/audio/speech",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            StatusCode::OK
        }),
    );
    let stalled = serve(stall).await;
    let tts = OpenAiTts::new(
        OpenAiTtsSettings {
            timeout_ms: 200,
            ..settings(&stalled)
        },
        None,
    )
    .unwrap();
    let error = tts.synthesize("Hello", "en-US").await.unwrap_err();
    assert!(
        matches!(error, SpeechError::Timeout { after, .. } if after == Duration::from_millis(200)),
        "{error:?}"
    );

    let dead = OpenAiTts::new(settings(&closed_port_url().await), None).unwrap();
    let error = dead.synthesize("Hello", "en-US").await.unwrap_err();
    assert!(matches!(error, SpeechError::Provider { .. }), "{error:?}");
    assert!(error.to_string().contains("Connection refused"), "{error}");
}
