//! The OpenAI-compatible transcription client against a local server
//! reading the multipart form as OpenAI (and whisper.cpp) do.

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::json;
use switchyard_speech::stt::{OpenAiStt, OpenAiSttSettings};
use switchyard_speech::{ApiKey, SpeechError, Stt};

use crate::support::{Log, multipart, record, serve, sine};

async fn server(
    path: &'static str,
    answer: impl Fn() -> axum::response::Response + Clone + Send + Sync + 'static,
) -> (String, Log) {
    let log = Log::default();
    let handler_log = log.clone();
    let app = Router::new().route(
        path,
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

#[tokio::test]
async fn the_utterance_goes_up_as_a_multipart_wav_with_model_language_and_hints() {
    let (base, log) = server("/v1/audio/transcriptions", || {
        axum::Json(json!({"text": " Quiero hablar con ventas. "})).into_response()
    })
    .await;
    let stt = OpenAiStt::new(
        OpenAiSttSettings {
            base_url: format!("{base}/v1"),
            model: "whisper-1".into(),
            ..OpenAiSttSettings::default()
        },
        Some(ApiKey::new("sk-stt")),
    )
    .unwrap();
    let pcm = sine(200.0, 8_000, 0.5, 3_000.0);
    let expected = vec!["ventas".to_owned(), "soporte".to_owned()];

    let heard = stt.transcribe(&pcm, "es-US", &expected).await.unwrap();

    assert_eq!(heard.text, "Quiero hablar con ventas.");
    let request = log.lock().unwrap()[0].clone();
    assert_eq!(request.uri.path(), "/v1/audio/transcriptions");
    assert_eq!(request.header("authorization"), "Bearer sk-stt");
    let content_type = request.header("content-type").to_owned();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    let parts = multipart(&content_type, &request.body);
    let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["file", "model", "response_format", "language", "prompt"]
    );
    let text = |name: &str| {
        let part = parts.iter().find(|p| p.name == name).unwrap();
        String::from_utf8(part.data.clone()).unwrap()
    };
    assert_eq!(text("model"), "whisper-1");
    assert_eq!(text("response_format"), "json");
    assert_eq!(text("language"), "es");
    assert_eq!(text("prompt"), "ventas, soporte");
    let file = &parts[0];
    assert_eq!(file.filename.as_deref(), Some("utterance.wav"));
    assert_eq!(file.content_type.as_deref(), Some("audio/wav"));
    let reader = hound::WavReader::new(std::io::Cursor::new(&file.data)).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 8_000, 16)
    );
    let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    assert_eq!(samples, pcm, "the audio arrives unchanged");
}

#[tokio::test]
async fn whisper_cpp_s_own_path_and_no_key_work() {
    let (base, log) = server("/inference", || {
        axum::Json(json!({"text": "billing"})).into_response()
    })
    .await;
    let stt = OpenAiStt::new(
        OpenAiSttSettings {
            base_url: base,
            path: "/inference".into(),
            api_key_env: None,
            ..OpenAiSttSettings::default()
        },
        None,
    )
    .unwrap();
    let heard = stt.transcribe(&[500; 4_000], "en-US", &[]).await.unwrap();
    assert_eq!(heard.text, "billing");
    let request = log.lock().unwrap()[0].clone();
    assert_eq!(request.header("authorization"), "");
    let parts = multipart(request.header("content-type"), &request.body);
    assert!(
        parts.iter().all(|p| p.name != "prompt"),
        "no hints, no prompt"
    );
}

#[tokio::test]
async fn server_errors_and_malformed_answers_are_reported() {
    let (base, _) = server("/v1/audio/transcriptions", || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": "model is loading"})),
        )
            .into_response()
    })
    .await;
    let settings = OpenAiSttSettings {
        base_url: format!("{base}/v1"),
        ..OpenAiSttSettings::default()
    };
    let stt = OpenAiStt::new(settings, None).unwrap();
    let error = stt.transcribe(&[1; 800], "en-US", &[]).await.unwrap_err();
    assert!(
        matches!(error, SpeechError::Http { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "openai-stt answered HTTP 503: model is loading"
    );

    let (base, _) = server("/v1/audio/transcriptions", || "just words".into_response()).await;
    let settings = OpenAiSttSettings {
        base_url: format!("{base}/v1"),
        ..OpenAiSttSettings::default()
    };
    let error = OpenAiStt::new(settings, None)
        .unwrap()
        .transcribe(&[1; 800], "en-US", &[])
        .await
        .unwrap_err();
    assert!(matches!(error, SpeechError::Protocol { .. }), "{error:?}");
}
