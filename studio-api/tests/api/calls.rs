//! Calls over the API's text channel, their sealed records (event log,
//! redacted transcript, signed evidence, recording), listing and filters,
//! graceful shutdown, tenant isolation, and simulations.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_runtime::policy::evidence::{EvidenceRecord, verify};
use switchyard_studio_api::serve::{ServeOptions, start};

use crate::both;
use crate::support::{Backend, TestServer, error_code, fresh_postgres_database, tenant_of};

/// Monday 2026-11-23, 22:30 in Los Angeles: the receptionist is closed.
const AFTER_HOURS: &str = "2026-11-23T22:30:00-08:00";
/// The same Monday at 10:00: open.
const OPEN: &str = "2026-11-23T10:00:00-08:00";

async fn publish(server: &TestServer, key: &str, document: Value) {
    let name = document["name"].as_str().unwrap().to_owned();
    let (status, body) = server.post("/v1/flows", key, document).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post(&format!("/v1/flows/{name}/versions"), key, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn route(server: &TestServer, key: &str, address: &str, flow: &str) {
    let (status, body) = server
        .post(
            "/v1/routes",
            key,
            json!({"address": address, "flow": flow, "environment": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Places a call on a virtual clock: a loaded test machine must not let
/// a flow's timers fire between the test's requests.
async fn place(server: &TestServer, key: &str, to: &str, at: &str) -> Value {
    place_with(server, key, to, at, "virtual").await
}

async fn place_with(server: &TestServer, key: &str, to: &str, at: &str, clock: &str) -> Value {
    let (status, turn) = server
        .post(
            "/v1/calls",
            key,
            json!({"to": to, "from": "+14155550100", "at": at, "clock": clock}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{turn}");
    turn
}

async fn input(server: &TestServer, key: &str, id: &str, body: Value) -> (StatusCode, Value) {
    server
        .post(&format!("/v1/calls/{id}/input"), key, body)
        .await
}

fn agent(turn: &Value) -> Vec<String> {
    turn["agent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn action_types(turn: &Value) -> Vec<String> {
    turn["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let kind = a["type"].as_str().unwrap();
            match a.get("op").and_then(Value::as_str) {
                Some(op) => format!("{kind} {op}"),
                None => kind.to_owned(),
            }
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn a_text_call_runs_the_live_flow_and_is_stored_sealed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let writer = server.key(&["flows:write"]).await;
    let reader = server.key(&["calls:read"]).await;
    route(&server, &server.admin, "+18005550199", "receptionist").await;

    // After hours: the flow says it is closed and starts the voicemail.
    let turn = place(&server, &writer, "+18005550199", AFTER_HOURS).await;
    let id = turn["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("call_"), "{turn}");
    assert_eq!(turn["status"], "live");
    assert_eq!(
        agent(&turn),
        [
            "Acme Plumbing is closed right now. We are open 9 to 5, Monday to Thursday, and 9 to 4 on Friday.",
            "Please leave a message after the tone."
        ]
    );
    let actions = action_types(&turn);
    assert!(actions.contains(&"record start".to_owned()), "{turn}");

    // Live: the row exists with the pinned version; the transcript so far
    // reads; the evidence is sealed only at the end.
    let (status, call) = server.get(&format!("/v1/calls/{id}"), &reader).await;
    assert_eq!(status, StatusCode::OK, "{call}");
    assert_eq!(call["status"], "live");
    assert_eq!(call["flow"], "receptionist");
    assert_eq!(call["flow_version"], 1);
    assert_eq!(call["channel"], "text");
    assert_eq!(call["environment"], "production");
    assert_eq!(call["from"], "+14155550100");
    assert_eq!(call["to"], "+18005550199");
    let (status, transcript) = server
        .get(&format!("/v1/calls/{id}/transcript"), &reader)
        .await;
    assert_eq!(status, StatusCode::OK, "{transcript}");
    assert_eq!(
        transcript["lines"][0],
        "agent: Acme Plumbing is closed right now. We are open 9 to 5, Monday to Thursday, and 9 to 4 on Friday."
    );
    let (status, events) = server.get(&format!("/v1/calls/{id}/events"), &reader).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert_eq!(events[0]["type"], "started");
    let (status, body) = server
        .get(&format!("/v1/calls/{id}/evidence"), &reader)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // The caller leaves a message with personal data in it, then is quiet.
    let (status, turn) = input(
        &server,
        &writer,
        &id,
        json!({"says": "Hi, this is Sam. My card is 4111 1111 1111 1111 and my email is sam@example.com."}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["status"], "live");
    let (status, turn) = input(&server, &writer, &id, json!({"silence_ms": 5000})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(
        agent(&turn),
        ["Thanks, we will call you back soon. Goodbye."]
    );
    assert!(action_types(&turn).contains(&"record stop".to_owned()));
    assert_eq!(turn["status"], "ended");
    assert_eq!(turn["outcome"], "voicemail");
    let (status, body) = input(&server, &writer, &id, json!({"digits": "1"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "call-ended");
    // Hanging up on an ended call is no error (the flow may end it first).
    let (status, body) = input(&server, &writer, &id, json!({"hangup": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ended");
    assert_eq!(body["outcome"], "voicemail");

    // Ended: metadata, the redacted transcript, the event log, the evidence.
    let (_, call) = server.get(&format!("/v1/calls/{id}"), &reader).await;
    assert_eq!(call["status"], "ended");
    assert_eq!(call["outcome"], "voicemail");
    assert!(call["ended_at"].as_i64().unwrap() >= call["started_at"].as_i64().unwrap());
    let (status, transcript) = server
        .get(&format!("/v1/calls/{id}/transcript"), &reader)
        .await;
    assert_eq!(status, StatusCode::OK, "{transcript}");
    let text = transcript["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("caller says: Hi, this is Sam."), "{text}");
    assert!(
        text.contains("[CARD]") && text.contains("[EMAIL]"),
        "{text}"
    );
    assert!(
        !text.contains("4111") && !text.contains("sam@example.com"),
        "{text}"
    );
    assert!(text.contains("agent: Thanks, we will call you back soon. Goodbye."));
    let (status, events) = server.get(&format!("/v1/calls/{id}/events"), &reader).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let events = events.as_array().unwrap();
    assert_eq!(events[0]["type"], "started");
    assert_eq!(events[0]["flow_source"], "flow:receptionist@1");
    assert_eq!(events.last().unwrap()["type"], "ended");
    let (status, evidence) = server
        .get(&format!("/v1/calls/{id}/evidence"), &reader)
        .await;
    assert_eq!(status, StatusCode::OK, "{evidence}");
    let record = EvidenceRecord::from_json(&evidence.to_string()).unwrap();
    verify(&record, &server.state().signer.verifying_key()).expect("signed evidence verifies");
    assert_eq!(record.header.call_id, id);

    // At rest: none of it in plain text.
    let (events, transcript, evidence, key_id): (Vec<u8>, Vec<u8>, Vec<u8>, String) =
        sqlx::query_as("SELECT events, transcript, evidence, data_key_id FROM calls WHERE id = $1")
            .bind(&id)
            .fetch_one(&server.state().db.pool)
            .await
            .unwrap();
    for sealed in [&events, &transcript, &evidence] {
        for plain in [&b"Acme Plumbing"[..], b"Sam", b"receptionist", b"4111"] {
            assert!(!contains(sealed, plain));
        }
    }
    assert!(key_id.starts_with("dk_"));

    // The list and its filters.
    let (status, list) = server.get("/v1/calls", &reader).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    let second = place(&server, &writer, "+18005550199", OPEN).await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    let (_, turn) = input(&server, &writer, &second_id, json!({"digits": "1"})).await;
    assert_eq!(agent(&turn), ["Connecting you to sales."]);
    assert_eq!(turn["outcome"], "transferred", "{turn}");
    let started = call["started_at"].as_i64().unwrap();
    let count = |list: &Value| list.as_array().unwrap().len();
    let ids = |list: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    for (query, expected) in [
        ("", vec![second_id.clone(), id.clone()]),
        (
            "?number=%2B14155550100",
            vec![second_id.clone(), id.clone()],
        ),
        (
            "?number=%2B18005550199",
            vec![second_id.clone(), id.clone()],
        ),
        ("?number=%2B19999999999", vec![]),
        ("?flow=receptionist", vec![second_id.clone(), id.clone()]),
        ("?flow=appointments", vec![]),
        ("?outcome=voicemail", vec![id.clone()]),
        ("?outcome=transferred", vec![second_id.clone()]),
        ("?status=ended", vec![second_id.clone(), id.clone()]),
        ("?status=live", vec![]),
        ("?limit=1", vec![second_id.clone()]),
        (&format!("?limit=1&before={second_id}"), vec![id.clone()]),
        (
            &format!("?since={started}"),
            vec![second_id.clone(), id.clone()],
        ),
        (&format!("?until={started}"), vec![]),
        (&format!("?since={}", started + 3_600_000), vec![]),
    ] {
        let (status, list) = server.get(&format!("/v1/calls{query}"), &reader).await;
        assert_eq!(status, StatusCode::OK, "{query}: {list}");
        assert_eq!(ids(&list), expected, "{query}");
    }
    let (_, list) = server
        .get(
            "/v1/calls?flow=receptionist&outcome=voicemail&number=%2B14155550100",
            &reader,
        )
        .await;
    assert_eq!(count(&list), 1);
    server.stop().await;
}
both!(a_text_call_runs_the_live_flow_and_is_stored_sealed);

fn wav(seconds: u32) -> Vec<u8> {
    let rate = 8000u32;
    let samples: Vec<i16> = (0..rate * seconds)
        .map(|i| {
            let t = i as f64 / rate as f64;
            // A chirp, so no two stretches of the signal are alike.
            ((t * (300.0 + 80.0 * t) * std::f64::consts::TAU).sin() * 12_000.0) as i16
        })
        .collect();
    let data_len = samples.len() as u32 * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

async fn download(
    server: &TestServer,
    key: &str,
    id: &str,
) -> (StatusCode, Option<String>, Result<Vec<u8>, String>) {
    let response = match server
        .client
        .get(server.url(&format!("/v1/calls/{id}/recording")))
        .bearer_auth(key)
        .send()
        .await
    {
        Ok(response) => response,
        // The server may abort mid-stream, before the head arrives.
        Err(e) => return (StatusCode::BAD_GATEWAY, None, Err(e.to_string())),
    };
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response
        .bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| e.to_string());
    (status, kind, body)
}

async fn recordings_are_sealed_on_disk_and_stream_back_whole(backend: Backend) {
    let server = TestServer::start(backend).await;
    let writer = server.key(&["flows:write"]).await;
    let reader = server.key(&["calls:read"]).await;
    let tenant = tenant_of(&server, &writer).await;
    let turn = place(&server, &writer, "+18005550199", AFTER_HOURS).await;
    let id = turn["id"].as_str().unwrap().to_owned();
    input(&server, &writer, &id, json!({"hangup": true})).await;

    // No recording yet.
    let (status, _, body) = download(&server, &reader, &id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        error_code(&serde_json::from_slice(&body.unwrap()).unwrap()),
        "not-found"
    );

    // A real WAV, several chunks long, through the store.
    let audio = wav(10);
    assert!(audio.len() > 2 * switchyard_studio_api::recordings::CHUNK);
    let written =
        switchyard_studio_api::recordings::put_bytes(server.state(), &tenant, &id, &audio)
            .await
            .unwrap();
    assert_eq!(written, audio.len() as u64);
    let (status, kind, body) = download(&server, &reader, &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind.as_deref(), Some("audio/wav"));
    assert!(
        body.as_ref().unwrap() == &audio,
        "the download differs from what was stored"
    );
    let (_, call) = server.get(&format!("/v1/calls/{id}"), &reader).await;
    assert_eq!(call["has_recording"], true);

    // On disk: sealed, none of the plaintext.
    let path = server
        .data_dir
        .join("recordings")
        .join(tenant.as_str())
        .join(format!("{id}.sealed"));
    let sealed = std::fs::read(&path).unwrap();
    assert!(sealed.len() > audio.len());
    assert!(!contains(&sealed, b"RIFF") && !contains(&sealed, b"WAVEfmt"));
    for offset in (44..audio.len() - 16).step_by(997) {
        assert!(
            !contains(&sealed, &audio[offset..offset + 16]),
            "plaintext at {offset} found on disk"
        );
    }

    // Exactly a whole number of chunks, and empty, also round-trip.
    for size in [2 * switchyard_studio_api::recordings::CHUNK, 0] {
        let bytes: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        switchyard_studio_api::recordings::put_bytes(server.state(), &tenant, &id, &bytes)
            .await
            .unwrap();
        let (status, _, body) = download(&server, &reader, &id).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.unwrap(), bytes, "size {size}");
    }

    // Tampering is caught: the download fails instead of passing bad audio.
    switchyard_studio_api::recordings::put_bytes(server.state(), &tenant, &id, &audio)
        .await
        .unwrap();
    let mut tampered = std::fs::read(&path).unwrap();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x40;
    std::fs::write(&path, &tampered).unwrap();
    let (_, _, body) = download(&server, &reader, &id).await;
    assert!(body.map_or(true, |b| b != audio));
    // A first chunk that does not open fails before the response starts,
    // in the one error format.
    let mut tampered = std::fs::read(&path).unwrap();
    let header = tampered.len() - (audio.len() + audio.len().div_ceil(64 << 10) * 16);
    tampered[header + 10] ^= 0x01;
    std::fs::write(&path, &tampered).unwrap();
    let (status, _, body) = download(&server, &reader, &id).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        error_code(&serde_json::from_slice(&body.unwrap()).unwrap()),
        "internal"
    );
    // Truncation at a chunk boundary too.
    switchyard_studio_api::recordings::put_bytes(server.state(), &tenant, &id, &audio)
        .await
        .unwrap();
    let whole = std::fs::read(&path).unwrap();
    let header = whole.len() - (audio.len() + audio.len().div_ceil(64 << 10) * 16);
    std::fs::write(&path, &whole[..header + (64 << 10) + 16]).unwrap();
    let (_, _, body) = download(&server, &reader, &id).await;
    assert!(body.map_or(true, |b| b.len() < audio.len()));

    // Another tenant sees nothing; a call that does not exist takes none.
    let other = server.other_tenant_key(&["calls:read"]).await;
    let (status, _, _) = download(&server, &other, &id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let other_tenant = tenant_of(&server, &other).await;
    assert!(
        switchyard_studio_api::recordings::put_bytes(server.state(), &other_tenant, &id, &audio)
            .await
            .is_err()
    );

    // Erased: the file goes, the call says when.
    assert!(
        switchyard_studio_api::recordings::delete(server.state(), &tenant, &id)
            .await
            .unwrap()
    );
    assert!(!path.exists());
    let (status, _, _) = download(&server, &reader, &id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, call) = server.get(&format!("/v1/calls/{id}"), &reader).await;
    assert_eq!(call["has_recording"], false);
    assert!(call["recording_erased_at"].as_i64().is_some());
    server.stop().await;
}
both!(recordings_are_sealed_on_disk_and_stream_back_whole);

fn quick_menu(name: &str, bye: &str) -> Value {
    json!({
        "flow": "switchyard/v1", "name": name, "entry": "menu",
        "nodes": {
            "menu": {"use": "menu@1",
                     "with": {"prompt": "Press 1.", "options": ["1"], "timeout_ms": 300, "retries": 0},
                     "on": {"1": "bye", "timeout": "bye", "invalid": "bye"}},
            "bye": {"use": "hangup@1", "with": {"text": bye}}
        }
    })
}

async fn calls_keep_their_version_and_timers_run_on_the_clock(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(&["flows:write", "calls:read"]).await;
    publish(&server, &key, quick_menu("quick", "Bye from one.")).await;
    route(&server, &key, "+18005550111", "quick").await;

    // A timer fires without anyone asking: the menu times out.
    let turn = place_with(&server, &key, "+18005550111", OPEN, "real").await;
    let id = turn["id"].as_str().unwrap().to_owned();
    assert_eq!(agent(&turn), ["Press 1."]);
    let mut call = Value::Null;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        call = server.get(&format!("/v1/calls/{id}"), &key).await.1;
        if call["status"] == "ended" {
            break;
        }
    }
    assert_eq!(call["status"], "ended", "{call}");
    assert_eq!(call["outcome"], "completed");
    let (_, transcript) = server
        .get(&format!("/v1/calls/{id}/transcript"), &key)
        .await;
    assert_eq!(
        transcript["lines"],
        json!(["agent: Press 1.", "agent: Bye from one.", "[hangup]"])
    );

    // A call keeps the version it started with, though live moves on.
    let turn = place(&server, &key, "+18005550111", OPEN).await;
    let pinned = turn["id"].as_str().unwrap().to_owned();
    let response = server
        .client
        .put(server.url("/v1/flows/quick"))
        .bearer_auth(&key)
        .header("if-match", {
            let r = server
                .client
                .get(server.url("/v1/flows/quick"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            r.headers()["etag"].to_str().unwrap().to_owned()
        })
        .json(&quick_menu("quick", "Bye from two."))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = server
        .post("/v1/flows/quick/versions", &key, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, turn) = input(&server, &key, &pinned, json!({"digits": "1"})).await;
    assert_eq!(agent(&turn), ["Bye from one."], "{turn}");
    let (_, call) = server.get(&format!("/v1/calls/{pinned}"), &key).await;
    assert_eq!(call["flow_version"], 1);
    let turn = place(&server, &key, "+18005550111", OPEN).await;
    let (_, turn) = input(
        &server,
        &key,
        turn["id"].as_str().unwrap(),
        json!({"digits": "1"}),
    )
    .await;
    assert_eq!(agent(&turn), ["Bye from two."]);

    // `silence_ms` moves the call's clock: the timeout fires at once.
    let turn = place(&server, &key, "+18005550111", OPEN).await;
    let (_, turn) = input(
        &server,
        &key,
        turn["id"].as_str().unwrap(),
        json!({"silence_ms": 1000}),
    )
    .await;
    assert_eq!(agent(&turn), ["Bye from two."]);
    assert_eq!(turn["status"], "ended");
    server.stop().await;
}
both!(calls_keep_their_version_and_timers_run_on_the_clock);

async fn card_keys_and_model_replies_go_where_they_belong(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(&["flows:write", "calls:read"]).await;

    // Secure capture: keys go to the sealed collector, the flow gets a token.
    publish(
        &server,
        &key,
        json!({
            "flow": "switchyard/v1", "name": "pay", "compliance": ["pci-dss-phone"], "entry": "card",
            "nodes": {
                "card": {"use": "secure-capture@1", "on": {"captured": "paid", "failed": "sorry"}},
                "paid": {"use": "hangup@1", "with": {"text": "Paid with the {{card_brand}} card ending {{card_last4}}."}},
                "sorry": {"use": "hangup@1", "with": {"text": "Sorry, no payment."}}
            }
        }),
    )
    .await;
    route(&server, &key, "+18005550122", "pay").await;
    let turn = place(&server, &key, "+18005550122", OPEN).await;
    let id = turn["id"].as_str().unwrap().to_owned();
    assert_eq!(turn["awaiting"], "secure_capture", "{turn}");
    assert!(action_types(&turn).contains(&"secure_capture".to_owned()));
    for keys in ["4111111111111111#", "1228#"] {
        let (status, turn) = input(&server, &key, &id, json!({"digits": keys})).await;
        assert_eq!(status, StatusCode::OK, "{turn}");
        assert_eq!(turn["status"], "live");
        assert_eq!(agent(&turn).len(), 1, "the next field is asked for: {turn}");
    }
    let (_, turn) = input(&server, &key, &id, json!({"digits": "123#"})).await;
    assert_eq!(
        agent(&turn),
        ["Paid with the visa card ending 1111."],
        "{turn}"
    );
    assert_eq!(turn["status"], "ended");
    let (_, transcript) = server
        .get(&format!("/v1/calls/{id}/transcript"), &key)
        .await;
    let (_, events) = server.get(&format!("/v1/calls/{id}/events"), &key).await;
    let (_, evidence) = server.get(&format!("/v1/calls/{id}/evidence"), &key).await;
    assert!(
        transcript
            .to_string()
            .contains("caller: (card keys, sealed)"),
        "{transcript}"
    );
    // Events and evidence carry hex digests, where short digit runs occur
    // by chance; the transcript has none, so any trace would show there.
    for record in [&events, &evidence] {
        let text = record.to_string();
        for secret in ["4111111111111111", "411111", "1228#", "123#"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    let text = transcript.to_string();
    for secret in ["4111", "1228", "123"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }

    // The model's replies come from the client, only when one is awaited.
    route(&server, &key, "+18005550133", "appointments").await;
    let turn = place(&server, &key, "+18005550133", OPEN).await;
    let id = turn["id"].as_str().unwrap().to_owned();
    assert!(agent(&turn)[0].starts_with("Hi, this is the automated booking assistant"));
    let (status, body) = input(&server, &key, &id, json!({"llm": "Hello."})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "not-waiting");
    let (_, turn) = input(&server, &key, &id, json!({"says": "I'd like a cleaning."})).await;
    assert_eq!(turn["awaiting"], "llm", "{turn}");
    assert!(action_types(&turn).contains(&"llm".to_owned()));
    let (status, body) = input(&server, &key, &id, json!({"digits": "1"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "awaiting-llm");
    let (status, body) = input(&server, &key, &id, json!({"llm": "tool end_call"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["pointer"], "/llm");
    let (_, turn) = input(
        &server,
        &key,
        &id,
        json!({"llm": "Sure. We have 10 am on Tuesday."}),
    )
    .await;
    assert_eq!(agent(&turn), ["Sure. We have 10 am on Tuesday."]);
    assert!(turn.get("awaiting").is_none(), "{turn}");
    let (_, turn) = input(&server, &key, &id, json!({"hangup": true})).await;
    assert_eq!(turn["status"], "ended");
    assert_eq!(turn["outcome"], "caller-hangup");
    server.stop().await;
}
both!(card_keys_and_model_replies_go_where_they_belong);

async fn bad_call_requests_get_clear_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let writer = server.key(&["flows:write"]).await;
    let reader = server.key(&["calls:read"]).await;
    let turn = place(&server, &writer, "+18005550199", OPEN).await;
    let id = turn["id"].as_str().unwrap().to_owned();

    for (body, pointer) in [
        (json!({"digits": "1", "says": "hi"}), ""),
        (json!({}), ""),
        (json!({"digits": "12a"}), "/digits"),
        (json!({"digits": ""}), "/digits"),
        (json!({"says": "  "}), "/says"),
        (json!({"silence_ms": 0}), "/silence_ms"),
        (json!({"hangup": false}), "/hangup"),
    ] {
        let (status, error) = input(&server, &writer, &id, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error_code(&error), "invalid");
        if !pointer.is_empty() {
            assert_eq!(error["error"]["pointer"], pointer, "{body}");
        }
    }
    let (status, error) = input(&server, &writer, &id, json!({"press": "1"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let (status, error) = input(&server, &writer, "call_nope", json!({"digits": "1"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&error), "not-found");

    for (body, pointer) in [
        (
            json!({"to": "+18005550199", "from": "+1415", "at": "yesterday"}),
            "/at",
        ),
        (json!({"to": "", "from": "+14155550100"}), "/to"),
        (json!({"to": "+18005550199", "from": ""}), "/from"),
        (
            json!({"to": "+18005550199", "from": "+1415", "clock": "fast"}),
            "/clock",
        ),
    ] {
        let (status, error) = server.post("/v1/calls", &writer, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error["error"]["pointer"], pointer);
    }
    let (status, error) = server
        .post("/v1/calls", &writer, json!({"from": "+14155550100"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let (status, error) = server
        .post(
            "/v1/calls",
            &writer,
            json!({"to": "+18005550199", "from": "+14155550100", "x": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let response = server
        .client
        .post(server.url("/v1/calls"))
        .bearer_auth(&writer)
        .body("{\"to\":")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Scopes and keys.
    let (status, error) = server
        .post(
            "/v1/calls",
            &reader,
            json!({"to": "+18005550199", "from": "+14155550100"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    let (status, _) = input(&server, &reader, &id, json!({"digits": "1"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for path in [
        "/v1/calls".to_owned(),
        format!("/v1/calls/{id}"),
        format!("/v1/calls/{id}/events"),
        format!("/v1/calls/{id}/transcript"),
        format!("/v1/calls/{id}/recording"),
        format!("/v1/calls/{id}/evidence"),
    ] {
        let (status, error) = server.get(&path, &writer).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(error_code(&error), "forbidden");
        let (status, error) = server.get(&path, "sy_wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(error_code(&error), "unauthorized");
    }
    for query in [
        "?limit=lots",
        "?since=yesterday",
        "?colour=blue",
        "?since=10&until=5",
    ] {
        let (status, error) = server.get(&format!("/v1/calls{query}"), &reader).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {error}");
        assert_eq!(error_code(&error), "bad-query");
    }
    for path in [
        "/v1/calls/call_nope",
        "/v1/calls/call_nope/events",
        "/v1/calls/call_nope/transcript",
        "/v1/calls/call_nope/recording",
        "/v1/calls/call_nope/evidence",
    ] {
        let (status, error) = server.get(path, &reader).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_code(&error), "not-found");
    }
    // A flow without a live version cannot take calls.
    let (status, _) = server
        .post(
            "/v1/flows",
            &server.admin,
            quick_menu("unpublished", "Bye."),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    route(&server, &server.admin, "+18005550144", "unpublished").await;
    let (status, error) = server
        .post(
            "/v1/calls",
            &writer,
            json!({"to": "+18005550144", "from": "+14155550100"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("live version")
    );
    server.stop().await;
}
both!(bad_call_requests_get_clear_errors);

async fn another_tenant_gets_404_on_every_call_route(backend: Backend) {
    let server = TestServer::start(backend).await;
    let writer = server.key(&["flows:write"]).await;
    let tenant = tenant_of(&server, &writer).await;
    route(&server, &server.admin, "+18005550199", "receptionist").await;
    let live = place(&server, &writer, "+18005550199", OPEN).await;
    let live_id = live["id"].as_str().unwrap().to_owned();
    let ended = place(&server, &writer, "+18005550199", OPEN).await;
    let ended_id = ended["id"].as_str().unwrap().to_owned();
    input(&server, &writer, &ended_id, json!({"digits": "2"})).await;
    switchyard_studio_api::recordings::put_bytes(server.state(), &tenant, &ended_id, &wav(1))
        .await
        .unwrap();

    let other = server
        .other_tenant_key(&["flows:write", "flows:read", "calls:read"])
        .await;
    for id in [&live_id, &ended_id] {
        for path in [
            format!("/v1/calls/{id}"),
            format!("/v1/calls/{id}/events"),
            format!("/v1/calls/{id}/transcript"),
            format!("/v1/calls/{id}/recording"),
            format!("/v1/calls/{id}/evidence"),
        ] {
            let (status, body) = server.get(&path, &other).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            assert_eq!(error_code(&body), "not-found");
        }
        let (status, body) = input(&server, &other, id, json!({"hangup": true})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    let (status, list) = server.get("/v1/calls", &other).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]));
    // Another tenant's number, or the catch-all route, is not theirs to call.
    for to in ["+18005550199", "+18005550100"] {
        let (status, body) = server
            .post(
                "/v1/calls",
                &other,
                json!({"to": to, "from": "+14155550100"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(error_code(&body), "not-found");
    }
    let (status, body) = server
        .post(
            "/v1/simulate",
            &other,
            json!({"flow": "receptionist", "script": "agent: Hello."}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // The owner's live call was untouched by the other tenant's hang-up.
    let (_, call) = server
        .get(&format!("/v1/calls/{live_id}"), &server.admin)
        .await;
    assert_eq!(call["status"], "live");
    server.stop().await;
}
both!(another_tenant_gets_404_on_every_call_route);

async fn own_options(backend: Backend, dir: &std::path::Path) -> ServeOptions {
    let mut options = ServeOptions::for_data_dir(dir.to_path_buf());
    if backend == Backend::Postgres {
        options.database_url = Some(fresh_postgres_database().await);
    }
    options.key_rate = 10_000;
    options.grace = 0;
    options
}

async fn shutdown_ends_live_calls_whole_with_outcome_shutdown(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let options = own_options(backend, dir.path()).await;
    let server = start(options.clone()).await.unwrap();
    let admin = server.admin_key.clone().unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let hook: Value = client
        .post(format!("{base}/v1/webhooks"))
        .bearer_auth(&admin)
        .json(&json!({"url": "https://hooks.example.invalid/calls", "events": ["call.ended"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hook = hook["id"].as_str().unwrap().to_owned();
    let response = client
        .post(format!("{base}/v1/calls"))
        .bearer_auth(&admin)
        .json(
            &json!({"to": "+18005550199", "from": "+14155550100", "at": OPEN, "clock": "virtual"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let turn: Value = response.json().await.unwrap();
    let id = turn["id"].as_str().unwrap().to_owned();
    assert_eq!(server.state.calls.count(), 1);
    server.shutdown().await.unwrap();

    // Reopened: the call ended with outcome `shutdown`, written whole.
    let server = start(options).await.unwrap();
    assert!(server.admin_key.is_none());
    let base = format!("http://{}", server.addr);
    let get = |path: String| {
        let client = client.clone();
        let admin = admin.clone();
        async move {
            let response = client.get(path).bearer_auth(admin).send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, call) = get(format!("{base}/v1/calls/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{call}");
    assert_eq!(call["status"], "ended");
    assert_eq!(call["outcome"], "shutdown");
    let (status, events) = get(format!("{base}/v1/calls/{id}/events")).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert_eq!(events[0]["type"], "started");
    assert_eq!(events.as_array().unwrap().last().unwrap()["type"], "ended");
    let (status, transcript) = get(format!("{base}/v1/calls/{id}/transcript")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        transcript["lines"][0],
        "agent: Thanks for calling Acme Plumbing."
    );
    let (status, _) = get(format!("{base}/v1/calls/{id}/evidence")).await;
    assert_eq!(status, StatusCode::OK);
    // Its `call.ended` was queued before the database closed.
    let (status, deliveries) = get(format!("{base}/v1/webhooks/{hook}/deliveries")).await;
    assert_eq!(status, StatusCode::OK, "{deliveries}");
    assert!(
        deliveries
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["event"] == "call.ended"
                && d["payload"]["data"]["call_id"] == id.as_str()
                && d["payload"]["data"]["outcome"] == "shutdown"),
        "{deliveries}"
    );
    server.shutdown().await.unwrap();
}
both!(shutdown_ends_live_calls_whole_with_outcome_shutdown);

async fn a_call_that_ends_in_the_grace_period_ends_normally(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = own_options(backend, dir.path()).await;
    options.grace = 5;
    let server = start(options.clone()).await.unwrap();
    let admin = server.admin_key.clone().unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let document = quick_menu("quick", "Goodbye.");
    for request in [
        client.post(format!("{base}/v1/flows")).json(&document),
        client
            .post(format!("{base}/v1/flows/quick/versions"))
            .json(&json!({})),
        client.post(format!("{base}/v1/routes")).json(
            &json!({"address": "+18005550111", "flow": "quick", "environment": "production"}),
        ),
    ] {
        let response = request.bearer_auth(&admin).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let response = client
        .post(format!("{base}/v1/calls"))
        .bearer_auth(&admin)
        .json(&json!({"to": "+18005550111", "from": "+14155550100"}))
        .send()
        .await
        .unwrap();
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = std::time::Instant::now();
    // The menu's 300 ms timeout ends the call inside the grace period.
    server.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(4));
    let server = start(options).await.unwrap();
    let base = format!("http://{}", server.addr);
    let call: Value = client
        .get(format!("{base}/v1/calls/{id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(call["outcome"], "completed", "{call}");
    server.shutdown().await.unwrap();
}
both!(a_call_that_ends_in_the_grace_period_ends_normally);

const SALES: &str = "# receptionist: open hours, the caller presses 1 and reaches sales
call: from=+14155550100 to=+18005550199 at=2026-11-23T10:00:00-08:00
agent: Thanks for calling Acme Plumbing.
agent: For sales, press 1 or say sales. For support, press 2 or say support. To leave a message, press 3.
caller: 1
agent: Connecting you to sales.
expect: transfer sip:sales@acme.example
expect: hangup
";

async fn simulations_run_scripts_against_drafts_and_versions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(&["flows:read"]).await;

    // Passing, against the draft (default), the live version and version 1.
    for version in [
        Value::Null,
        json!("draft"),
        json!("live"),
        json!(1),
        json!("1"),
    ] {
        let mut body = json!({"flow": "receptionist", "script": SALES});
        if !version.is_null() {
            body["version"] = version.clone();
        }
        let (status, result) = server.post("/v1/simulate", &key, body).await;
        assert_eq!(status, StatusCode::OK, "{version}: {result}");
        assert_eq!(result["passed"], true, "{version}: {result}");
        assert!(result.get("failure").is_none());
        assert_eq!(
            result["transcript"][0],
            "agent: Thanks for calling Acme Plumbing."
        );
    }
    // A `flow:` line naming a file is fine too (the request names the flow).
    let (_, result) = server
        .post(
            "/v1/simulate",
            &key,
            json!({"flow": "receptionist", "script": format!("flow: ../receptionist.json\n{SALES}")}),
        )
        .await;
    assert_eq!(result["passed"], true, "{result}");
    // Sub-flows come from the tenant's flows: the voicemail box.
    let (_, result) = server
        .post(
            "/v1/simulate",
            &key,
            json!({"flow": "receptionist", "environment": "production", "script":
                "call: at=2026-11-23T22:30:00-08:00\nagent~: Acme Plumbing is closed.*\nagent: Please leave a message after the tone.\nexpect: record start\ncaller says: Call me.\ncaller: silence 5s\nexpect: record stop\nagent: Thanks, we will call you back soon. Goodbye.\n"}),
        )
        .await;
    assert_eq!(result["passed"], true, "{result}");

    // Failing: the line, what was expected and what was said.
    let wrong = SALES.replace("Connecting you to sales.", "Hold on.");
    let (status, result) = server
        .post(
            "/v1/simulate",
            &key,
            json!({"flow": "receptionist", "script": wrong}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["passed"], false);
    assert_eq!(result["failure"]["line"], 6, "{result}");
    assert_eq!(result["failure"]["expected"], "Hold on.");
    assert_eq!(result["failure"]["actual"], "Connecting you to sales.");
    // An utterance the script never asserts fails at its end.
    let short = "call: at=2026-11-23T10:00:00-08:00\nagent: Thanks for calling Acme Plumbing.\n";
    let (_, result) = server
        .post(
            "/v1/simulate",
            &key,
            json!({"flow": "receptionist", "script": short}),
        )
        .await;
    assert_eq!(result["passed"], false);
    assert_eq!(result["failure"]["line"], 3, "{result}");
    assert_eq!(result["failure"]["text"], "(end of script)");

    // Drafts are simulated as they are now; versions as published.
    let flow = server
        .client
        .get(server.url("/v1/flows/receptionist"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    let etag = flow.headers()["etag"].to_str().unwrap().to_owned();
    let mut document: Value = flow.json().await.unwrap();
    document["nodes"]["welcome"]["with"]["text"] = json!("Welcome to {{business}}.");
    let response = server
        .client
        .put(server.url("/v1/flows/receptionist"))
        .bearer_auth(&server.admin)
        .header("if-match", etag)
        .json(&document)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, draft) = server
        .post(
            "/v1/simulate",
            &key,
            json!({"flow": "receptionist", "script": SALES}),
        )
        .await;
    assert_eq!(draft["passed"], false);
    assert_eq!(draft["failure"]["actual"], "Welcome to Acme Plumbing.");
    let (_, live) = server
        .post(
            "/v1/simulate",
            &key,
            json!({"flow": "receptionist", "version": "live", "script": SALES}),
        )
        .await;
    assert_eq!(live["passed"], true, "{live}");
    assert_eq!(live["version"], 1);

    // A malformed script is a 422 naming the line.
    for (script, line) in [
        ("agent: Hi\nagent~: (unclosed\n", 2),
        ("caller: silence 5 fortnights\n", 1),
        ("nonsense\n", 1),
        ("call: at=yesterday\nagent: Hi\n", 1),
    ] {
        let (status, error) = server
            .post(
                "/v1/simulate",
                &key,
                json!({"flow": "receptionist", "script": script}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{script}: {error}"
        );
        assert_eq!(error_code(&error), "invalid-script");
        assert_eq!(error["error"]["pointer"], "/script");
        assert_eq!(error["error"]["details"]["line"], line, "{script}: {error}");
    }
    // A draft that does not compile.
    let mut broken = document.clone();
    broken["nodes"]["welcome"]["on"]["done"] = json!("nowhere");
    let flow = server
        .client
        .get(server.url("/v1/flows/receptionist"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    let etag = flow.headers()["etag"].to_str().unwrap().to_owned();
    server
        .client
        .put(server.url("/v1/flows/receptionist"))
        .bearer_auth(&server.admin)
        .header("if-match", etag)
        .json(&broken)
        .send()
        .await
        .unwrap();
    let (status, error) = server
        .post(
            "/v1/simulate",
            &key,
            json!({"flow": "receptionist", "script": SALES}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error_code(&error), "invalid-flow");

    // Bad requests.
    for (body, status, code) in [
        (
            json!({"flow": "nope", "script": SALES}),
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            json!({"flow": "receptionist", "version": 99, "script": SALES}),
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            json!({"flow": "receptionist", "version": "banana", "script": SALES}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"flow": "receptionist", "version": 0, "script": SALES}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"flow": "receptionist", "environment": "moon", "script": SALES}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"flow": "receptionist"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
    ] {
        let (got, error) = server.post("/v1/simulate", &key, body.clone()).await;
        assert_eq!(got, status, "{body}: {error}");
        assert_eq!(error_code(&error), code, "{body}");
    }
    let calls_only = server.key(&["calls:read"]).await;
    let (status, error) = server
        .post(
            "/v1/simulate",
            &calls_only,
            json!({"flow": "receptionist", "script": SALES}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&error), "forbidden");

    // Nothing was stored.
    let (_, calls) = server.get("/v1/calls", &server.admin).await;
    assert_eq!(calls, json!([]));
    server.stop().await;
}
both!(simulations_run_scripts_against_drafts_and_versions);

/// A one-shot HTTP endpoint on loopback: answers every request with `200`
/// and `answer`, and hands over each request's body.
async fn endpoint(answer: Value) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/texts", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Read the head, then as much body as Content-Length says.
            loop {
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())
                                .flatten()
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        let _ = tx.send(body.to_owned());
                        break;
                    }
                }
            }
            let body = answer.to_string();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    (url, rx)
}

async fn http_actions_are_performed_for_the_call(backend: Backend) {
    let server = TestServer::start_with(backend, |options| {
        options.dev = true;
        options.allow_net = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let key = server.key(&["flows:write", "calls:read"]).await;
    let (url, mut requests) = endpoint(json!({"status": "queued"})).await;
    let (status, body) = server
        .put(
            "/v1/environments/production/bindings/endpoint/sms-textback",
            &server.admin,
            json!({"value": url}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    route(&server, &server.admin, "+18005550155", "missed-call").await;
    let (status, hook) = server
        .post(
            "/v1/webhooks",
            &server.admin,
            json!({"url": url, "events": ["call.started", "call.ended", "call.transferred",
                                          "voicemail.left", "compliance.opt_out"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook = hook["id"].as_str().unwrap().to_owned();
    let turn = place(&server, &key, "+18005550155", OPEN).await;
    let id = turn["id"].as_str().unwrap().to_owned();
    assert_eq!(
        agent(&turn)[0],
        "Sorry we missed your call at Bright Smile Dental. We will text you right back."
    );
    // No number typed: after the gather's two timeouts the caller ID is
    // used, and the text goes out without the client doing anything.
    input(&server, &key, &id, json!({"silence_ms": 6000})).await;
    let (status, turn) = input(&server, &key, &id, json!({"silence_ms": 6000})).await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(
        agent(&turn),
        ["Done. We just texted +14155550100. Talk soon!"],
        "{turn}"
    );
    assert!(action_types(&turn).contains(&"http".to_owned()));
    assert_eq!(turn["status"], "ended");
    // The endpoint also receives the webhook's deliveries: find the text.
    let sent = loop {
        let body: Value = serde_json::from_str(&requests.recv().await.unwrap()).unwrap();
        if body.get("message").is_some() {
            break body;
        }
    };
    assert_eq!(sent["to"], "+14155550100");
    assert_eq!(sent["from"], "+18005550155");
    let (_, transcript) = server
        .get(&format!("/v1/calls/{id}/transcript"), &key)
        .await;
    assert!(
        transcript["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "[http sms-textback POST]"),
        "{transcript}"
    );

    // The call's events went to the tenant's webhook: a transfer and a
    // voicemail on the receptionist (the catch-all route) as well.
    let sales = place(&server, &key, "+18005550166", OPEN).await;
    input(
        &server,
        &key,
        sales["id"].as_str().unwrap(),
        json!({"digits": "1"}),
    )
    .await;
    let message = place(&server, &key, "+18005550166", OPEN).await;
    let message_id = message["id"].as_str().unwrap().to_owned();
    input(&server, &key, &message_id, json!({"digits": "3"})).await;
    input(&server, &key, &message_id, json!({"says": "Call me back."})).await;
    input(
        &server,
        &key,
        &message_id,
        json!({"says": "Stop recording."}),
    )
    .await;
    let (_, turn) = input(&server, &key, &message_id, json!({"silence_ms": 5000})).await;
    assert_eq!(turn["outcome"], "voicemail", "{turn}");
    let mut events = Vec::new();
    for _ in 0..100 {
        let (_, deliveries) = server
            .get(
                &format!("/v1/webhooks/{hook}/deliveries?limit=200"),
                &server.admin,
            )
            .await;
        events = deliveries
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["event"].as_str().unwrap().to_owned())
            .collect();
        if events.len() >= 9 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    events.sort();
    assert_eq!(
        events,
        [
            "call.ended",
            "call.ended",
            "call.ended",
            "call.started",
            "call.started",
            "call.started",
            "call.transferred",
            "compliance.opt_out",
            "voicemail.left"
        ]
    );
    // Deliveries carry ids and outcomes, never the callers' numbers.
    let (_, deliveries) = server
        .get(
            &format!("/v1/webhooks/{hook}/deliveries?limit=200"),
            &server.admin,
        )
        .await;
    assert!(
        !deliveries.to_string().contains("4155550100"),
        "{deliveries}"
    );
    server.stop().await;
}
both!(http_actions_are_performed_for_the_call);

fn greet(version: &str, text: &str) -> Value {
    json!({
        "manifest": {"name": "greet", "version": version, "kind": "rhai", "module": "greet.rhai",
                     "outcomes": ["done"], "actions": ["say"]},
        "script": format!(
            "fn step(input) {{ #{{ \"exit\": \"done\", \"actions\": [#{{ \"type\": \"say\", \"text\": \"{text}\" }}] }} }}"
        )
    })
}

async fn a_published_version_runs_the_plugins_it_pinned(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server
        .key(&["flows:write", "flows:read", "plugins:write", "calls:read"])
        .await;
    let (status, body) = server
        .post("/v1/plugins", &key, greet("1.0.0", "Hello from one."))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    publish(
        &server,
        &key,
        json!({
            "flow": "switchyard/v1", "name": "greeter", "entry": "hi",
            "nodes": {"hi": {"use": "greet@1", "on": {"done": "bye"}},
                      "bye": {"use": "hangup@1"}}
        }),
    )
    .await;
    route(&server, &key, "+18005550177", "greeter").await;
    // A newer upload of the same major: new drafts use it, version 1 not.
    let (status, body) = server
        .post(
            "/v1/plugins",
            &key,
            greet("1.1.0", "Hello from one point one."),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let turn = place(&server, &key, "+18005550177", OPEN).await;
    assert_eq!(agent(&turn), ["Hello from one."], "{turn}");
    assert_eq!(turn["status"], "ended");
    let script = "agent: Hello from one.\nexpect: hangup\n";
    let (_, pinned) = server
        .post(
            "/v1/simulate",
            &key,
            json!({"flow": "greeter", "version": 1, "script": script}),
        )
        .await;
    assert_eq!(pinned["passed"], true, "{pinned}");
    let (_, draft) = server
        .post(
            "/v1/simulate",
            &key,
            json!({"flow": "greeter", "script": script}),
        )
        .await;
    assert_eq!(draft["passed"], false, "{draft}");
    assert_eq!(draft["failure"]["actual"], "Hello from one point one.");
    server.stop().await;
}
both!(a_published_version_runs_the_plugins_it_pinned);
