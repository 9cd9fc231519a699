//! Retention (the sweeper with a moved clock), export and erasure of one
//! phone number, encryption at rest (no plaintext in the raw database or
//! files) and master-key rotation, on both backends.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_studio_api::db::now_ms;
use switchyard_studio_api::retention::sweep_at;

use crate::both;
use crate::support::{Backend, TestServer, call_saying, error_code, wav};

const DAY_MS: i64 = 86_400_000;

async fn store_recording(server: &TestServer, call: &str, bytes: &[u8]) {
    let state = server.state();
    let tenant = state.db.tenant_ids().await.unwrap().remove(0);
    switchyard_studio_api::recordings::put_bytes(state, &tenant, call, bytes)
        .await
        .unwrap();
}

async fn the_sweeper_enforces_retention_when_the_clock_moves(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, _) = server
        .put(
            "/v1/tenant/retention",
            &server.admin,
            json!({"recordings_days": 7, "transcripts_days": 30, "calls_days": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let call = call_saying(&server, "+14155550100", "sales please").await;
    store_recording(&server, &call, &wav()).await;
    let (status, _) = server
        .get(&format!("/v1/calls/{call}/recording"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK);

    let now = now_ms();
    let swept = sweep_at(server.state(), now + DAY_MS).await.unwrap();
    assert_eq!(
        (swept.recordings, swept.transcripts, swept.calls),
        (0, 0, 0)
    );

    let swept = sweep_at(server.state(), now + 8 * DAY_MS).await.unwrap();
    assert_eq!(
        (swept.recordings, swept.transcripts, swept.calls),
        (1, 0, 0)
    );
    let (status, body) = server
        .get(&format!("/v1/calls/{call}/recording"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, transcript) = server
        .get(&format!("/v1/calls/{call}/transcript"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        transcript.to_string().contains("sales please"),
        "{transcript}"
    );

    let swept = sweep_at(server.state(), now + 31 * DAY_MS).await.unwrap();
    assert_eq!(
        (swept.recordings, swept.transcripts, swept.calls),
        (0, 1, 0)
    );
    let (_, transcript) = server
        .get(&format!("/v1/calls/{call}/transcript"), &server.admin)
        .await;
    assert!(
        !transcript.to_string().contains("sales please"),
        "{transcript}"
    );
    let (status, info) = server
        .get(&format!("/v1/calls/{call}"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(info["transcript_erased_at"].as_i64().is_some(), "{info}");

    let swept = sweep_at(server.state(), now + 61 * DAY_MS).await.unwrap();
    assert_eq!(swept.calls, 1);
    let (status, _) = server
        .get(&format!("/v1/calls/{call}"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, audit) = server.get("/v1/audit", &server.admin).await;
    let sweeps = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "retention.swept")
        .count();
    assert_eq!(sweeps, 3, "{audit}");
    let (_, retention) = server.get("/v1/retention", &server.admin).await;
    assert_eq!(retention["effective"]["recordings_days"], 7);
    server.stop().await;
}
both!(the_sweeper_enforces_retention_when_the_clock_moves);

async fn one_number_is_exported_and_erased(backend: Backend) {
    let server = TestServer::start(backend).await;
    let first = call_saying(&server, "+14155550111", "support please").await;
    let second = call_saying(&server, "+14155550111", "sales please").await;
    let other = call_saying(&server, "+14155550122", "sales please").await;
    let audio = wav();
    store_recording(&server, &first, &audio).await;

    let (status, export) = server
        .get("/v1/data-subjects/%2B14155550111/export", &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let calls = export["calls"].as_array().unwrap();
    let ids: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&first.as_str()) && ids.contains(&second.as_str()));
    assert!(
        export.to_string().contains("support please"),
        "transcripts are in the export"
    );
    let recorded = calls.iter().find(|c| c["id"] == first).unwrap();
    let decoded = base64_decode(recorded["recording"]["base64"].as_str().unwrap());
    assert_eq!(decoded, audio);
    assert!(
        calls.iter().all(|c| c["evidence"].is_object()),
        "evidence is in the export"
    );

    let (status, erased) = server
        .delete("/v1/data-subjects/%2B14155550111", &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(erased["calls"], 2);
    assert_eq!(erased["recordings"], 1);
    for id in [&first, &second] {
        let (status, _) = server.get(&format!("/v1/calls/{id}"), &server.admin).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = server
        .get(&format!("/v1/calls/{other}"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "another caller's call stays");
    let recordings = server.data_dir.join("recordings");
    let files = walk(&recordings);
    assert!(files.is_empty(), "the recording file is gone: {files:?}");

    // Both acts are audited, naming the number only by a hash.
    let (_, audit) = server.get("/v1/audit?limit=2", &server.admin).await;
    assert_eq!(audit[0]["action"], "data.erased");
    assert_eq!(audit[1]["action"], "data.exported");
    assert!(!audit.to_string().contains("4155550111"), "{audit}");
    assert_eq!(audit[0]["target"], audit[1]["target"]);

    let (status, body) = server
        .get("/v1/data-subjects/4155550111/export", &server.admin)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "bad-number");
    let reader = server.key(&["calls:read"]).await;
    let (status, _) = server
        .get("/v1/data-subjects/%2B14155550122/export", &reader)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.stop().await;
}
both!(one_number_is_exported_and_erased);

async fn no_plaintext_transcript_at_rest(backend: Backend) {
    let server = TestServer::start(backend).await;
    let marker = "pineapple marmalade seventeen";
    let call = call_saying(&server, "+14155550133", marker).await;
    store_recording(&server, &call, format!("RIFF....WAVE {marker}").as_bytes()).await;
    let (_, transcript) = server
        .get(&format!("/v1/calls/{call}/transcript"), &server.admin)
        .await;
    assert!(
        transcript.to_string().contains(marker),
        "the API opens it: {transcript}"
    );
    let needle = "pineapple marmalade";
    match backend {
        Backend::Sqlite => {
            // Checkpoint nothing: the WAL and the main file are both read raw.
            for file in walk(&server.data_dir) {
                let bytes = std::fs::read(&file).unwrap();
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "plaintext in {}",
                    file.display()
                );
            }
        }
        Backend::Postgres => {
            for table in [
                "calls",
                "webhook_deliveries",
                "audit_log",
                "bindings",
                "flows",
                "flow_versions",
            ] {
                let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT t::text FROM {table} t"
                )))
                .fetch_all(&pg(&server).await)
                .await
                .unwrap();
                assert!(
                    rows.iter().all(|(r,)| !r.contains(needle)),
                    "plaintext in {table}"
                );
            }
            for file in walk(&server.data_dir) {
                let bytes = std::fs::read(&file).unwrap();
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "plaintext in {}",
                    file.display()
                );
            }
        }
    }
    server.stop().await;
}
both!(no_plaintext_transcript_at_rest);

async fn rotating_the_master_key_loses_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let call = call_saying(&server, "+14155550144", "support please").await;
    let before: Value = server
        .get(&format!("/v1/calls/{call}/transcript"), &server.admin)
        .await
        .1;
    let old_key = std::fs::read_to_string(server.data_dir.join("master.key")).unwrap();
    let server = server
        .restart(async |server: &TestServer| {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
            command
                .args(["master-key", "rotate", "--data-dir"])
                .arg(&server.data_dir);
            if server.backend == Backend::Postgres {
                command.args(["--database-url", &server.database_url]);
            }
            let out = command
                .env_remove("SWITCHYARD_MASTER_KEY")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(stdout.contains("rewrapped 1 data keys"), "{stdout}");
        })
        .await;
    let new_key = std::fs::read_to_string(server.data_dir.join("master.key")).unwrap();
    assert_ne!(old_key, new_key);
    assert_eq!(
        std::fs::read_to_string(server.data_dir.join("master.key.old")).unwrap(),
        old_key
    );
    let (status, after) = server
        .get(&format!("/v1/calls/{call}/transcript"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after, before);
    // New data is sealed under the same, rewrapped data key.
    let second = call_saying(&server, "+14155550144", "sales please").await;
    let (status, _) = server
        .get(&format!("/v1/calls/{second}/transcript"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}
both!(rotating_the_master_key_loses_nothing);

/// Every file under `dir`.
pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

async fn pg(server: &TestServer) -> sqlx::PgPool {
    sqlx::PgPool::connect(&server.database_url).await.unwrap()
}
