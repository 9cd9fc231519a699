//! A card taken in a secure-capture window over the API stays sealed: the
//! flow ends with only a token and the last four digits, and the card
//! number, expiry and security code are nowhere the platform writes —
//! not the database (raw file on SQLite, every row on PostgreSQL), not the
//! sealed event log or transcript once opened, not a webhook body, not the
//! call's evidence.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, TestServer, assert_absent_from_files, assert_absent_from_postgres};

const CARD: &str = "4111111111111111";
const EXPIRY: &str = "1228";
const CVV: &str = "737";

async fn a_card_keyed_over_the_api_is_nowhere_at_rest(backend: Backend) {
    let server = TestServer::start_with(backend, |o| {
        o.dev = true;
        // Deliveries are queued for an address nobody listens on: their
        // bodies are in the database either way.
        o.allow_net = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let admin = &server.admin;
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("flows/compliance/payment.json")).unwrap(),
    )
    .unwrap();
    let (status, body) = server.post("/v1/flows", admin, document).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post("/v1/flows/payment/versions", admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post(
            "/v1/routes",
            admin,
            json!({"address": "+18005550177", "flow": "payment", "environment": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let events = [
        "call.started",
        "call.ended",
        "compliance.refused",
        "compliance.opt_out",
    ];
    let (status, body) = server
        .post(
            "/v1/webhooks",
            admin,
            json!({"url": "http://127.0.0.1:9/hook", "events": events}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, call) = server
        .post(
            "/v1/calls",
            admin,
            json!({"from": "+14155550100", "to": "+18005550177", "clock": "virtual", "at": "2026-11-23T10:00:00-08:00"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    let id = call["id"].as_str().unwrap().to_owned();
    let mut said = Vec::new();
    for keys in [
        "1",
        "1",
        &format!("{CARD}#"),
        &format!("{EXPIRY}#"),
        &format!("{CVV}#"),
    ] {
        let (status, turn) = server
            .post(
                &format!("/v1/calls/{id}/input"),
                admin,
                json!({"digits": keys}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{turn}");
        assert!(
            !turn.to_string().contains(CARD),
            "a turn echoes the card: {turn}"
        );
        said.extend(
            turn["agent"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_owned()),
        );
    }
    assert!(
        said.iter()
            .any(|l| l.contains("ending in 1111 was accepted")),
        "the flow saw the token's last four: {said:?}"
    );

    // Through the API: transcript, event log and evidence hold no card data.
    for part in ["transcript", "events", "evidence"] {
        let (status, body) = server.get(&format!("/v1/calls/{id}/{part}"), admin).await;
        assert_eq!(status, StatusCode::OK, "{part}: {body}");
        let text = body.to_string();
        for secret in [CARD, "411111", &format!("{EXPIRY}#"), &format!("{CVV}#")] {
            assert!(!text.contains(secret), "{part} holds `{secret}`: {text}");
        }
    }
    let (_, transcript) = server
        .get(&format!("/v1/calls/{id}/transcript"), admin)
        .await;
    assert!(
        transcript.to_string().contains("card keys, sealed"),
        "{transcript}"
    );

    // At rest: webhook bodies and every byte of the database.
    let pool = &server.state().db.pool;
    let payloads: Vec<(String,)> = sqlx::query_as("SELECT payload FROM webhook_deliveries")
        .fetch_all(pool)
        .await
        .unwrap();
    assert!(!payloads.is_empty(), "the call queued webhook deliveries");
    assert!(
        payloads
            .iter()
            .all(|(p,)| !p.contains(CARD) && !p.contains("411111"))
    );
    match backend {
        Backend::Sqlite => assert_absent_from_files(&server.data_dir, &[CARD, "411111"]),
        Backend::Postgres => assert_absent_from_postgres(&server.database_url, &[CARD]).await,
    }
    server.stop().await;
}
both!(a_card_keyed_over_the_api_is_nowhere_at_rest);

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}
