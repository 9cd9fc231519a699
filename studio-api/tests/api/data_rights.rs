//! Retention (the sweeper with a moved clock), export and erasure of one
//! phone number, encryption at rest (no plaintext in the raw database or
//! files) and master-key rotation, on both backends.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_studio_api::db::now_ms;
use switchyard_studio_api::retention::sweep_at;

use crate::both;
use crate::support::{
    Backend, ServeProcess, TestServer, assert_absent_from_files, assert_absent_from_postgres,
    call_saying, error_code, fresh_postgres_database, walk, wav,
};
use crate::webhooks::{Receiver, create, deliveries, loopback_allowed, settled};

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

async fn the_sweeper_runs_on_its_own_every_interval(backend: Backend) {
    let server = TestServer::start_with(backend, |o| o.sweep_every_ms = 200).await;
    let (status, _) = server
        .put(
            "/v1/tenant/retention",
            &server.admin,
            json!({"recordings_days": 1, "transcripts_days": 1, "calls_days": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let old = call_saying(&server, "+14155550155", "sales please").await;
    let fresh = call_saying(&server, "+14155550156", "support please").await;
    // The first call ended two days ago, as far as the database knows.
    let two_days_ago = now_ms() - 2 * DAY_MS;
    sqlx::query("UPDATE calls SET started_at = $1, ended_at = $2 WHERE id = $3")
        .bind(two_days_ago - 60_000)
        .bind(two_days_ago)
        .bind(&old)
        .execute(&server.state().db.pool)
        .await
        .unwrap();

    // Nothing here calls the sweeper: the server's own task must come by.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, body) = server.get(&format!("/v1/calls/{old}"), &server.admin).await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper did not remove the expired call: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, _) = server
        .get(&format!("/v1/calls/{fresh}"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "a call inside its period stays");
    let (_, transcript) = server
        .get(&format!("/v1/calls/{fresh}/transcript"), &server.admin)
        .await;
    assert!(
        transcript.to_string().contains("support please"),
        "{transcript}"
    );
    let (_, audit) = server.get("/v1/audit", &server.admin).await;
    let sweep = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "retention.swept")
        .unwrap_or_else(|| panic!("the sweep is audited: {audit}"));
    assert_eq!(sweep["actor"], "system", "{sweep}");
    assert_eq!(sweep["detail"]["calls"], 1, "{sweep}");
    server.stop().await;
}
both!(the_sweeper_runs_on_its_own_every_interval);

async fn one_number_is_exported_and_erased(backend: Backend) {
    let server = TestServer::start_with(backend, loopback_allowed).await;
    let receiver = Receiver::ok("127.0.0.1").await;
    let (webhook, _) = create(
        &server,
        &receiver.url("/events"),
        &["call.started", "call.ended"],
    )
    .await;
    let first = call_saying(&server, "+14155550111", "support please").await;
    let second = call_saying(&server, "+14155550111", "sales please").await;
    let other = call_saying(&server, "+14155550122", "sales please").await;
    let audio = wav();
    store_recording(&server, &first, &audio).await;
    // The endpoint heard each call start and end.
    let log = settled(&server, &webhook, 6).await;
    assert_eq!(log.len(), 6, "{log:?}");
    assert!(log.iter().all(|d| d["status"] == "delivered"), "{log:?}");
    assert_eq!(receiver.hits().len(), 6);
    let call_of = |d: &Value| d["payload"]["data"]["call_id"].as_str().unwrap().to_owned();

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
    let exported: Vec<String> = export["webhook_deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(call_of)
        .collect();
    assert_eq!(exported.len(), 4, "{export}");
    assert!(exported.iter().all(|c| *c == first || *c == second));

    let (status, erased) = server
        .delete("/v1/data-subjects/%2B14155550111", &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(erased["calls"], 2);
    assert_eq!(erased["recordings"], 1);
    assert_eq!(erased["webhook_deliveries"], 4, "{erased}");
    // The delivery log keeps only the other caller's events.
    let left: Vec<String> = deliveries(&server, &webhook)
        .await
        .iter()
        .map(call_of)
        .collect();
    assert_eq!(left, [other.clone(), other.clone()]);
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
    assert_eq!(audit[0]["detail"]["webhook_deliveries"], 4, "{audit}");
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

async fn retention_and_erasure_report_their_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let writer = server.key(&["flows:write", "calls:read"]).await;

    let (status, body) = server.get("/v1/retention", &writer).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "forbidden");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("admin"),
        "{body}"
    );

    let (status, body) = server
        .delete("/v1/data-subjects/%2B14155550166", &writer)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "forbidden");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("admin"),
        "{body}"
    );

    for bad in ["4155550166", "%2B1415", "not-a-number"] {
        let (status, body) = server
            .delete(&format!("/v1/data-subjects/{bad}"), &server.admin)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(error_code(&body), "bad-number", "{body}");
        assert_eq!(body["error"]["pointer"], "/number", "{body}");
    }
    let (_, body) = server
        .delete("/v1/data-subjects/4155550166", &server.admin)
        .await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"4155550166\"") && message.contains("E.164"),
        "the message names the value and what a number is: {body}"
    );

    // While a call with the number is live, nothing of it is erased.
    let (status, started) = server
        .post(
            "/v1/calls",
            &server.admin,
            json!({"from": "+14155550166", "to": "+18005550199", "clock": "virtual"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let live = started["id"].as_str().unwrap();
    let (status, body) = server
        .delete("/v1/data-subjects/%2B14155550166", &server.admin)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "call-live");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(live),
        "the message names the live call: {body}"
    );
    let (status, _) = server
        .get(&format!("/v1/calls/{live}"), &server.admin)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refused erasure removed nothing"
    );
    let (status, turn) = server
        .post(
            &format!("/v1/calls/{live}/input"),
            &server.admin,
            json!({"hangup": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    let (status, erased) = server
        .delete("/v1/data-subjects/%2B14155550166", &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(erased["calls"], 1, "{erased}");
    server.stop().await;
}
both!(retention_and_erasure_report_their_errors);

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
    // Checkpoint nothing: on SQLite the WAL and the main file are both read
    // raw; on PostgreSQL every row of every table, and the files
    // (recordings) in the data directory.
    if backend == Backend::Postgres {
        assert_absent_from_postgres(&server.database_url, &[needle]).await;
    }
    assert_absent_from_files(&server.data_dir, &[needle]);
    server.stop().await;
}
both!(no_plaintext_transcript_at_rest);

/// Runs `switchyard master-key rotate` on stopped data, with `env_key` as
/// SWITCHYARD_MASTER_KEY (without it, the key file is the key); returns
/// whether it succeeded, and its standard output and error.
fn rotate_master_key(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    env_key: Option<&str>,
) -> (bool, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command
        .args(["master-key", "rotate", "--data-dir"])
        .arg(data_dir)
        .env_remove("SWITCHYARD_MASTER_KEY")
        .env_remove("SWITCHYARD_DATABASE_URL");
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    if let Some(key) = env_key {
        command.env("SWITCHYARD_MASTER_KEY", key);
    }
    let out = command.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

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
            let url = (server.backend == Backend::Postgres).then_some(server.database_url.as_str());
            let (ok, stdout, stderr) = rotate_master_key(&server.data_dir, url, None);
            assert!(ok, "{stdout}{stderr}");
            assert!(stdout.contains("rewrapped 1 data keys"), "{stdout}");
            let rotated = std::fs::read_to_string(server.data_dir.join("master.key")).unwrap();

            // Again, with the first rotation's old key still kept: refused
            // before anything moves (it would replace the only copy of the
            // key that backups from before the first rotation need).
            let (ok, stdout, stderr) = rotate_master_key(&server.data_dir, url, None);
            assert!(!ok, "{stdout}");
            assert!(stderr.contains("master.key.old"), "{stderr}");
            assert!(stderr.contains("no data key was changed"), "{stderr}");
            assert_eq!(
                std::fs::read_to_string(server.data_dir.join("master.key")).unwrap(),
                rotated
            );
            assert!(!server.data_dir.join("master.key.new").exists());
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

/// The master key only in SWITCHYARD_MASTER_KEY (no key file anywhere), as
/// an operator with a secret manager runs it: rotation must not need the
/// file, must leave the new key where the operator is told, and the data
/// must open with the new key once the variable holds it.
async fn rotating_a_master_key_from_the_environment_loses_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = match backend {
        Backend::Postgres => Some(fresh_postgres_database().await),
        Backend::Sqlite => None,
    };
    let random_key = || {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).unwrap();
        hex::encode(bytes)
    };
    let old_key = random_key();
    let serve = |key: &str, log: &str| {
        let mut command = ServeProcess::command(&data, url.as_deref(), &dir.path().join(log));
        command.env("SWITCHYARD_MASTER_KEY", key);
        ServeProcess::spawn(command)
    };
    let server = serve(&old_key, "first.log");
    let admin = server.admin.clone().expect("a first start");
    let call = crate::support::call_saying_at(
        &server.client,
        &server.base,
        &admin,
        "+14155550145",
        "support please",
    )
    .await;
    let transcript = format!("/v1/calls/{call}/transcript");
    let (status, before) = server.call("GET", &transcript, &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert!(server.stop().success());
    assert!(
        !data.join("master.key").exists(),
        "the key came from the environment only"
    );

    // A data directory with no data in it (a typo) is refused, and nothing
    // is made there.
    let elsewhere = dir.path().join("elsewhere");
    let (ok, stdout, stderr) = rotate_master_key(&elsewhere, None, Some(&old_key));
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("no data key was changed"), "{stderr}");
    assert!(walk(&elsewhere).is_empty(), "{:?}", walk(&elsewhere));

    // A key that does not open the data keys is refused before anything is
    // written or changed.
    let (ok, stdout, stderr) = rotate_master_key(&data, url.as_deref(), Some(&random_key()));
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("does not open"), "{stderr}");
    assert!(stderr.contains("no data key was changed"), "{stderr}");
    assert!(!data.join("master.key.new").exists());

    let (ok, stdout, stderr) = rotate_master_key(&data, url.as_deref(), Some(&old_key));
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("rewrapped 1 data keys"), "{stdout}");
    let new_path = data.join("master.key.new");
    assert!(
        stdout.contains(&new_path.display().to_string()),
        "it says where the new key is: {stdout}"
    );
    assert!(
        stdout.contains("set SWITCHYARD_MASTER_KEY"),
        "it says the variable must change: {stdout}"
    );
    assert!(
        !data.join("master.key").exists(),
        "nothing pretends a key file is in use"
    );
    let new_key = std::fs::read_to_string(&new_path).unwrap();
    assert_ne!(new_key.trim(), old_key);

    // The old value no longer opens anything, as the output says...
    let server = serve(&old_key, "stale.log");
    let (status, body) = server.call("GET", &transcript, &admin, None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(server.stop().success());
    // ...and the new one opens everything.
    let server = serve(new_key.trim(), "rotated.log");
    let (status, after) = server.call("GET", &transcript, &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after, before);
    assert!(server.stop().success());
}
both!(rotating_a_master_key_from_the_environment_loses_nothing);

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}
