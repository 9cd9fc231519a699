//! Secrets never reach the log: a real `switchyard serve` process, debug
//! logging on, goes through a full session (keys, secrets, webhooks, a call
//! in which the caller reads out a card number, a simulation, failures), and
//! then its whole log is searched for every secret it was given or made.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::support::{Backend, ServeProcess, fresh_postgres_database};

async fn the_log_of_a_full_run_holds_no_secret(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let database_url = if backend == Backend::Postgres {
        Some(fresh_postgres_database().await)
    } else {
        None
    };
    let mut command =
        ServeProcess::command(&dir.path().join("data"), database_url.as_deref(), &log_path);
    command
        .args(["--dev", "--allow-net", "127.0.0.1/32"])
        .env("RUST_LOG", "debug");
    let server = ServeProcess::spawn(command);
    let admin = server.admin.clone().expect("a first start");
    let send = async |method: &str, path: &str, key: &str, body: Option<serde_json::Value>| {
        server.call(method, path, key, body).await
    };

    let (status, created) = send(
        "POST",
        "/v1/keys",
        &admin,
        Some(json!({"name": "ci", "scopes": ["admin"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let key = created["key"].as_str().unwrap().to_owned();
    let (status, hook) = send(
        "POST",
        "/v1/webhooks",
        &key,
        Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["call.started", "call.ended"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook_secret = hook["secret"].as_str().unwrap().to_owned();
    let binding_secret = "binding-secret-Zq81vX";
    let (status, _) = send(
        "PUT",
        "/v1/environments/production/bindings/secret/crm",
        &key,
        Some(json!({"value": binding_secret})),
    )
    .await;
    assert!(status.is_success());
    let (status, call) = send(
        "POST",
        "/v1/calls",
        &key,
        Some(json!({"from": "+14155550100", "to": "+18005550199", "clock": "virtual"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    let id = call["id"].as_str().unwrap();
    let card = "4111 1111 1111 1111";
    let utterance = format!("my card is {card} and my code word is quokka");
    send(
        "POST",
        &format!("/v1/calls/{id}/input"),
        &key,
        Some(json!({"says": utterance})),
    )
    .await;
    send(
        "POST",
        &format!("/v1/calls/{id}/input"),
        &key,
        Some(json!({"hangup": true})),
    )
    .await;
    let (status, _) = send(
        "POST",
        "/v1/simulate",
        &key,
        Some(json!({"flow": "receptionist", "script": "flow: receptionist.json\ncaller says: my code word is quokka\n"})),
    )
    .await;
    assert!(status.as_u16() < 500);
    // Failures: a wrong key, a revoked key, a malformed body.
    send("GET", "/v1/keys", "sy_deadbeef_not-a-real-key-at-all", None).await;
    send(
        "DELETE",
        &format!("/v1/keys/{}", created["id"].as_str().unwrap()),
        &admin,
        None,
    )
    .await;
    send("GET", "/v1/keys", &key, None).await;
    send(
        "POST",
        "/v1/keys",
        &admin,
        Some(json!({"name": binding_secret})),
    )
    .await;
    // Give the webhook worker a moment to try (and fail) a delivery.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // SIGTERM: the graceful path.
    let exit = server.stop();
    assert!(exit.success(), "serve exits cleanly on SIGTERM: {exit:?}");

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("request_id="),
        "the log is the server's request log: {log}"
    );
    let master = std::fs::read_to_string(dir.path().join("data/master.key")).unwrap();
    let mut secrets = vec![
        ("the admin key", admin.clone()),
        ("a created key", key.clone()),
        (
            // `sy_<prefix>_<secret>`; the secret itself may hold `_`.
            "a key's secret part",
            key.splitn(3, '_').nth(2).unwrap().to_owned(),
        ),
        ("a webhook secret", hook_secret),
        ("a bound secret", binding_secret.to_owned()),
        ("the master key", master.trim().to_owned()),
        ("a card number", card.to_owned()),
        ("a card number", card.replace(' ', "")),
        ("what the caller said", "quokka".to_owned()),
    ];
    if let Some(url) = database_url {
        secrets.push(("the database password", ":postgres@".to_owned()));
        assert!(!log.contains(&url));
    }
    for (what, secret) in secrets {
        assert!(!log.contains(&secret), "{what} is in the log:\n{log}");
    }
}
both!(the_log_of_a_full_run_holds_no_secret);
