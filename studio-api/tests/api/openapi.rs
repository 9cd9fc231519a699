//! The OpenAPI document itself (version 3.1.0) and the routes outside the
//! resource modules: `/healthz` and the media-stream WebSocket, each in the
//! document as it behaves.

use reqwest::StatusCode;

use crate::both;
use crate::support::{Backend, TestServer, error_code};

async fn the_document_is_openapi_3_1_and_healthz_answers_without_a_key(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Neither needs a key.
    let (status, openapi) = server.get_without_key("/v1/openapi.json", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(openapi["openapi"], "3.1.0");
    assert_eq!(openapi["info"]["title"], "Switchyard Studio API");

    let response = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{:?}",
        response.headers()
    );
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(response.text().await.unwrap(), "ok");

    let healthz = &openapi["paths"]["/healthz"]["get"];
    assert_eq!(
        healthz["security"],
        serde_json::json!([{}]),
        "no key: {healthz}"
    );
    let ok = &healthz["responses"]["200"]["content"]["text/plain"];
    assert_eq!(ok["schema"]["type"], "string", "{healthz}");
    assert_eq!(ok["example"], "ok", "{healthz}");
    let statuses: Vec<&String> = healthz["responses"].as_object().unwrap().keys().collect();
    assert_eq!(statuses, ["200", "500"], "no key to refuse or limit");
    // Every other route still documents its key's failures.
    assert!(openapi["paths"]["/v1/keys"]["get"]["responses"]["401"].is_object());
    server.stop().await;
}
both!(the_document_is_openapi_3_1_and_healthz_answers_without_a_key);

async fn the_media_stream_handshake_is_documented_and_its_refusals_are_api_errors(
    backend: Backend,
) {
    let server = TestServer::start(backend).await;
    let (_, openapi) = server.get("/v1/openapi.json", &server.admin).await;
    let stream = &openapi["paths"]["/v1/media-stream"]["get"];
    assert_eq!(stream["security"], serde_json::json!([{}]), "{stream}");
    let responses = stream["responses"].as_object().unwrap();
    for status in ["101", "400", "426", "500"] {
        assert!(responses.contains_key(status), "{status}: {stream}");
    }
    assert!(
        !responses.contains_key("401"),
        "the token, not a key, decides: {stream}"
    );
    assert!(
        responses["101"]["description"]
            .as_str()
            .unwrap()
            .contains("Switching Protocols"),
        "{stream}"
    );
    let params = stream["parameters"].as_array().unwrap();
    assert_eq!(params.len(), 1, "{stream}");
    assert_eq!(params[0]["name"], "token");
    assert_eq!(params[0]["in"], "query");

    // Plain HTTP, as a browser or a fuzzer sends it: the API's error format,
    // naming what the handshake lacks.
    let (status, body) = server.get_without_key("/v1/media-stream", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "websocket-required");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("WebSocket") && message.contains("Connection"),
        "{body}"
    );
    let (status, body) = server
        .get_without_key(
            "/v1/media-stream?token=x",
            &[("connection", "upgrade"), ("upgrade", "websocket")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "websocket-required");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Sec-WebSocket"),
        "{body}"
    );
    let (status, body) = server
        .get_without_key("/v1/media-stream?token=a&token=b", &[])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "bad-query", "{body}");
    server.stop().await;
}
both!(the_media_stream_handshake_is_documented_and_its_refusals_are_api_errors);
