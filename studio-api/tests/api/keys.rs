//! Keys, scopes, tenant settings, the audit log, errors and rate limits.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::support::{Backend, TestServer, error_code};

async fn keys_are_shown_once_stored_as_hashes_and_revocable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, created) = server
        .post(
            "/v1/keys",
            &server.admin,
            json!({"name": "ci", "scopes": ["flows:read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));

    // Listed without the key; the database holds only a hash.
    let (_, listed) = server.get("/v1/keys", &server.admin).await;
    assert!(!listed.to_string().contains(&key));
    let (_, one) = server.get(&format!("/v1/keys/{id}"), &server.admin).await;
    assert_eq!(one["prefix"], created["prefix"]);
    assert!(one.get("key").is_none());
    let stored: Vec<(String,)> = sqlx::query_as("SELECT hash FROM api_keys")
        .fetch_all(&server.state().db.pool)
        .await
        .unwrap();
    assert!(stored.iter().all(|(h,)| h.len() == 64 && !h.contains(&key)));

    // The new key works within its scope, and only there.
    let (status, _) = server.get("/v1/flows", &key).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.get("/v1/keys", &key).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "forbidden");
    assert!(body["error"]["message"].as_str().unwrap().contains("admin"));

    // Used keys show when they were last used.
    let (_, one) = server.get(&format!("/v1/keys/{id}"), &server.admin).await;
    assert!(one["last_used_at"].as_i64().is_some(), "{one}");

    // Revoked keys stop working at once; a key cannot revoke itself.
    let (status, _) = server
        .delete(&format!("/v1/keys/{id}"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = server.get("/v1/flows", &key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "unauthorized");
    let (status, _) = server
        .delete(&format!("/v1/keys/{id}"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, keys) = server.get("/v1/keys", &server.admin).await;
    let admin_id = keys[0]["id"].as_str().unwrap();
    let (status, body) = server
        .delete(&format!("/v1/keys/{admin_id}"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "self-revocation");

    // Both are in the audit log, newest first.
    let (_, audit) = server.get("/v1/audit", &server.admin).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(&actions[..2], ["key.revoked", "key.created"], "{audit}");
    server.stop().await;
}
both!(keys_are_shown_once_stored_as_hashes_and_revocable);

async fn bad_keys_scopes_and_bodies_get_clear_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let cases = [
        (
            json!({"name": "x", "scopes": ["flows:read", "root"]}),
            "/scopes/1",
        ),
        (json!({"name": "", "scopes": ["admin"]}), "/name"),
        (json!({"name": "x", "scopes": []}), "/scopes"),
        (json!({"name": 7, "scopes": ["admin"]}), "/name"),
    ];
    for (body, pointer) in cases {
        let (status, error) = server.post("/v1/keys", &server.admin, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error_code(&error), "invalid");
        assert_eq!(error["error"]["pointer"], pointer, "{error}");
    }
    let response = server
        .client
        .post(server.url("/v1/keys"))
        .bearer_auth(&server.admin)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = crate::support::read(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "malformed-json");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{body}"
    );

    let response = server
        .client
        .post(server.url("/v1/keys"))
        .bearer_auth(&server.admin)
        .body("{}")
        .send()
        .await
        .unwrap();
    let (status, body) = crate::support::read(response).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(&body), "unsupported-media-type");

    // A body over the limit is refused from its declared length, before
    // any of it is sent: the client hears a clean 413 rather than a reset
    // in the middle of an upload. (Sending the 2 MiB as well would race the
    // server's close against the client's writes.)
    let response = headers_only_request(
        &server,
        &format!(
            "POST /v1/keys HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            server.admin,
            2 << 20
        ),
    )
    .await;
    assert!(
        response.starts_with("HTTP/1.1 413"),
        "expected a 413, got: {response}"
    );
    assert!(response.contains("body-too-large"), "{response}");

    let (status, body) = server.get("/v1/no-such-route", &server.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not-found");
    let (status, body) = server.call("PATCH", "/v1/keys", &server.admin, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&body), "method-not-allowed");
    let (status, body) = server.get("/v1/audit?limit=lots", &server.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "bad-query");
    server.stop().await;
}
both!(bad_keys_scopes_and_bodies_get_clear_errors);

async fn templates_and_retention_are_validated_and_audited(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, tenant) = server
        .put(
            "/v1/tenant/templates",
            &server.admin,
            json!({"templates": ["us-federal", "pci-dss-phone"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert_eq!(tenant["templates"], json!(["pci-dss-phone", "us-federal"]));
    let (status, error) = server
        .put(
            "/v1/tenant/templates",
            &server.admin,
            json!({"templates": ["us-federal", "mars"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["pointer"], "/templates/1");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("us-all-party-consent")
    );
    let (status, _) = server
        .put(
            "/v1/tenant/templates",
            &server.admin,
            json!({"templates": ["us-federal"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, error) = server
        .put(
            "/v1/tenant/retention",
            &server.admin,
            json!({"recordings_days": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["pointer"], "/recordings_days");
    let (status, tenant) = server
        .put(
            "/v1/tenant/retention",
            &server.admin,
            json!({"recordings_days": 30, "transcripts_days": 90}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tenant["retention"]["recordings_days"], 30);

    let (_, audit) = server.get("/v1/audit?limit=3", &server.admin).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["retention.changed", "template.disabled", "template.enabled"],
        "{audit}"
    );
    assert_eq!(audit[1]["target"], "pci-dss-phone");

    // The audit log is append-only in the database itself.
    let db = &server.state().db;
    assert!(
        sqlx::query("UPDATE audit_log SET action = 'x'")
            .execute(&db.pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM audit_log")
            .execute(&db.pool)
            .await
            .is_err()
    );
    server.stop().await;
}
both!(templates_and_retention_are_validated_and_audited);

async fn tenant_settings_and_the_audit_log_are_for_admins_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server
        .key(&["flows:write", "flows:read", "calls:read", "plugins:write"])
        .await;
    for path in ["/v1/tenant", "/v1/audit"] {
        let (status, body) = server.get(path, &key).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(error_code(&body), "forbidden", "{path}");
        assert_eq!(
            body["error"]["message"], "this key lacks the `admin` scope",
            "{path}: {body}"
        );
    }
    // An admin key reads both.
    let (status, tenant) = server.get("/v1/tenant", &server.admin).await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert!(tenant["templates"].is_array(), "{tenant}");
    let (status, audit) = server.get("/v1/audit", &server.admin).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "key.created"),
        "{audit}"
    );
    server.stop().await;
}
both!(tenant_settings_and_the_audit_log_are_for_admins_only);

async fn failed_authentication_is_rate_limited_per_source(backend: Backend) {
    let server = TestServer::start_with(backend, |o| o.auth_failure_rate = 5).await;
    for _ in 0..5 {
        let (status, body) = server.get("/v1/keys", "sy_00000000_wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(&body), "unauthorized");
    }
    let response = server
        .client
        .get(server.url("/v1/keys"))
        .bearer_auth("sy_00000000_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    // While blocked, even the right key waits: a guessed key cannot be confirmed.
    let (status, body) = server.get("/v1/keys", &server.admin).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_code(&body), "rate-limited");
    server.stop().await;
}
both!(failed_authentication_is_rate_limited_per_source);

async fn a_key_over_its_request_rate_gets_429(backend: Backend) {
    let server = TestServer::start_with(backend, |o| o.key_rate = 2).await;
    let mut limited = None;
    for _ in 0..20 {
        let response = server
            .client
            .get(server.url("/v1/keys"))
            .bearer_auth(&server.admin)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
    }
    let response = limited.expect("the key was limited");
    // Two requests a second: the next one is allowed within a second, and
    // Retry-After says so in whole seconds (never 0).
    let retry_after = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(retry_after, "1");
    let (_, body) = crate::support::read(response).await;
    assert_eq!(error_code(&body), "rate-limited");
    assert_eq!(
        body["error"]["message"],
        format!("this key is over its request rate; retry in {retry_after} s"),
        "{body}"
    );
    // After the wait it is served again.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (status, body) = server.get("/v1/keys", &server.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop().await;
}
both!(a_key_over_its_request_rate_gets_429);

/// Writes `head` on a fresh connection and reads the answer to its end,
/// with a deadline so a server that waits for the body fails the test
/// instead of hanging it.
async fn headers_only_request(server: &TestServer, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server answers from the headers alone")
    .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}
