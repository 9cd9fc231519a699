//! Flows: drafts with ETags, validation, publishing immutable versions, the
//! live alias, routes, per-environment bindings, the flow store the runtime
//! loads from, isolation between tenants, and `switchyard flow push/pull`.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use switchyard_studio_api::db::TenantId;
use switchyard_studio_api::flow_store::{self, FlowRef};

use crate::both;
use crate::support::{Backend, TestServer, error_code, read};

/// A request with extra headers; status, response headers and JSON body.
async fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = server
        .client
        .request(method, server.url(path))
        .bearer_auth(key);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let headers = response.headers().clone();
    let (status, body) = read(response).await;
    (status, headers, body)
}

fn etag(headers: &HeaderMap) -> String {
    headers
        .get("etag")
        .expect("an ETag header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// A small valid flow.
fn hello(name: &str, text: &str) -> Value {
    json!({
        "flow": "switchyard/v1",
        "name": name,
        "entry": "welcome",
        "nodes": {
            "welcome": {"use": "say@1", "with": {"text": text}, "on": {"done": "bye"}},
            "bye": {"use": "hangup@1"}
        }
    })
}

/// A flow that records before the caller consents, listing no template.
fn records_without_consent(name: &str) -> Value {
    json!({
        "flow": "switchyard/v1",
        "name": name,
        "entry": "welcome",
        "nodes": {
            "welcome": {"use": "say@1", "with": {"text": "Hello."}, "on": {"done": "record"}},
            "record": {"use": "record@1", "with": {"op": "start"}, "on": {"done": "bye"}},
            "bye": {"use": "hangup@1"}
        }
    })
}

/// The admin's tenant (from its key, as the API sees it).
async fn admin_tenant(server: &TestServer) -> TenantId {
    let (_, tenant) = server.get("/v1/tenant", &server.admin).await;
    let id = tenant["id"].as_str().unwrap().to_owned();
    let ids = server.state().db.tenant_ids().await.unwrap();
    ids.into_iter()
        .find(|t| t.as_str() == id)
        .expect("the admin's tenant exists")
}

fn audit_actions(audit: &Value) -> Vec<String> {
    audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn drafts_are_created_read_updated_and_deleted_with_etags(backend: Backend) {
    let server = TestServer::start(backend).await;
    let writer = server.key(&["flows:write"]).await;
    let reader = server.key(&["flows:read"]).await;

    // Create: 201, a quoted strong ETag, a Location.
    let (status, headers, created) = send(
        &server,
        "POST",
        "/v1/flows",
        &writer,
        Some(hello("greeter", "Hi.")),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let first = etag(&headers);
    assert!(first.starts_with('"') && first.ends_with('"') && !first.starts_with("W/"));
    assert_eq!(created["etag"], first.as_str());
    assert_eq!(created["name"], "greeter");
    assert_eq!(created["live_version"], Value::Null);
    assert_eq!(headers["location"], "/v1/flows/greeter");

    // Read: the document as written, the same ETag; listed with the bundled flows.
    let (status, headers, document) =
        send(&server, "GET", "/v1/flows/greeter", &reader, None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document, hello("greeter", "Hi."));
    assert_eq!(etag(&headers), first);
    let (status, list) = server.get("/v1/flows", &reader).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"greeter") && names.contains(&"receptionist"),
        "{list}"
    );

    // Same name again: 409; bodies that are not flow documents: 422 with a pointer.
    let (status, body) = server
        .post("/v1/flows", &writer, hello("greeter", "Again."))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "flow-exists");
    for (bad, pointer) in [
        (json!(["not", "a", "flow"]), ""),
        (json!({"flow": "switchyard/v2", "name": "x"}), "/flow"),
        (json!({"flow": "switchyard/v1"}), "/name"),
        (
            json!({"flow": "switchyard/v1", "name": "Bad Name"}),
            "/name",
        ),
    ] {
        let (status, body) = server.post("/v1/flows", &writer, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(error_code(&body), "invalid");
        assert_eq!(body["error"]["pointer"], pointer, "{body}");
    }
    let response = server
        .client
        .post(server.url("/v1/flows"))
        .bearer_auth(&writer)
        .header("content-type", "application/json")
        .body("{\"flow\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "malformed-json");
    // A read-only key cannot write.
    let (status, body) = server.post("/v1/flows", &reader, hello("nope", "x")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "forbidden");

    // Update: If-Match is required and must be current.
    let path = "/v1/flows/greeter";
    let (status, _, body) = send(
        &server,
        "PUT",
        path,
        &writer,
        Some(hello("greeter", "Hello.")),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(error_code(&body), "precondition-required");
    let (status, _, body) = send(
        &server,
        "PUT",
        path,
        &writer,
        Some(hello("greeter", "Hello.")),
        &[("if-match", "\"0000\"")],
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(error_code(&body), "etag-mismatch");
    assert_eq!(body["error"]["details"]["etag"], first.as_str());
    let (status, _, body) = send(
        &server,
        "PUT",
        path,
        &writer,
        Some(hello("other-name", "Hello.")),
        &[("if-match", &first)],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["pointer"], "/name");
    let weak = format!("W/{first}");
    let (status, _, _) = send(
        &server,
        "PUT",
        path,
        &writer,
        Some(hello("greeter", "Hello.")),
        &[("if-match", &weak)],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::PRECONDITION_FAILED,
        "weak tags never match"
    );
    let (status, headers, updated) = send(
        &server,
        "PUT",
        path,
        &writer,
        Some(hello("greeter", "Hello.")),
        &[("if-match", &first)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let second = etag(&headers);
    assert_ne!(second, first);
    assert_eq!(updated["etag"], second.as_str());

    // A second designer still holding the first ETag cannot overwrite it.
    let (status, _, body) = send(
        &server,
        "PUT",
        path,
        &writer,
        Some(hello("greeter", "Overwrite!")),
        &[("if-match", &first)],
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(error_code(&body), "etag-mismatch");
    let (_, document) = server.get(path, &reader).await;
    assert_eq!(document["nodes"]["welcome"]["with"]["text"], "Hello.");

    // Two designers racing with the same ETag: exactly one wins.
    let racing = [("if-match", second.as_str())];
    let (a, b) = tokio::join!(
        send(
            &server,
            "PUT",
            path,
            &writer,
            Some(hello("greeter", "A")),
            &racing
        ),
        send(
            &server,
            "PUT",
            path,
            &writer,
            Some(hello("greeter", "B")),
            &racing
        ),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let (_, headers, _) = send(&server, "GET", path, &reader, None, &[]).await;
    let third = etag(&headers);

    // Delete: If-Match checked when sent; then gone.
    let (status, _, body) = send(
        &server,
        "DELETE",
        path,
        &writer,
        None,
        &[("if-match", &first)],
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(error_code(&body), "etag-mismatch");
    let (status, _, _) = send(
        &server,
        "DELETE",
        path,
        &writer,
        None,
        &[("if-match", &third)],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = server.get(path, &reader).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not-found");
    let (status, _) = server.delete(path, &writer).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = send(
        &server,
        "PUT",
        path,
        &writer,
        Some(hello("greeter", "x")),
        &[("if-match", &third)],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Published flows are never deleted: calls pin their versions.
    let (status, body) = server.delete("/v1/flows/receptionist", &writer).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "flow-published");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("immutable") && message.contains("pin"),
        "{message}"
    );
    server.stop().await;
}
both!(drafts_are_created_read_updated_and_deleted_with_etags);

async fn validation_reports_every_problem_as_the_cli_does(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(&["flows:write"]).await;
    let invalid = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/invalid");
    // The same problems, pointers, messages and paths as `switchyard
    // validate --format json` (the files' expected output).
    for file in [
        "many-problems",
        "unknown-node",
        "unknown-plugin",
        "config-schema",
        "loop-without-wait",
        "compliance-record-before-consent",
        "compliance-llm-before-ai-disclosure",
        "compliance-unknown-template",
    ] {
        let document: Value = serde_json::from_str(
            &std::fs::read_to_string(invalid.join(format!("{file}.json"))).unwrap(),
        )
        .unwrap();
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(invalid.join(format!("{file}.expected.json"))).unwrap(),
        )
        .unwrap();
        let name = document["name"].as_str().unwrap().to_owned();
        let (status, body) = server.post("/v1/flows", &key, document).await;
        assert_eq!(status, StatusCode::CREATED, "{file}: {body}");
        let (status, body) = server
            .post(&format!("/v1/flows/{name}/validate"), &key, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{file}: {body}");
        assert_eq!(body["problems"], expected, "{file}");
    }
    // A valid draft has none; an unknown flow is a 404.
    server.post("/v1/flows", &key, hello("fine", "Hi.")).await;
    let (status, body) = server
        .call("POST", "/v1/flows/fine/validate", &key, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"problems": []}));
    let (status, body) = server
        .call("POST", "/v1/flows/missing/validate", &key, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not-found");

    // The tenant's enabled templates are proved on top of the flow's own list.
    server
        .post("/v1/flows", &key, records_without_consent("recorder"))
        .await;
    let (_, body) = server
        .call("POST", "/v1/flows/recorder/validate", &key, None)
        .await;
    assert_eq!(body["problems"], json!([]), "no template, no rule");
    let (status, _) = server
        .put(
            "/v1/tenant/templates",
            &server.admin,
            json!({"templates": ["us-all-party-consent"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = server
        .call("POST", "/v1/flows/recorder/validate", &key, None)
        .await;
    let problems = body["problems"].as_array().unwrap();
    let order = problems
        .iter()
        .find(|p| p["code"] == "compliance-order")
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(order["pointer"], "/nodes/record");
    assert_eq!(order["path"], json!(["welcome", "record"]));
    assert!(
        order["message"]
            .as_str()
            .unwrap()
            .contains("us-all-party-consent")
    );
    server.stop().await;
}
both!(validation_reports_every_problem_as_the_cli_does);

async fn publishing_makes_immutable_numbered_versions_and_moves_live(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(&["flows:write"]).await;
    let (_, headers, _) = send(
        &server,
        "POST",
        "/v1/flows",
        &key,
        Some(hello("shop", "One.")),
        &[],
    )
    .await;
    let draft_etag = etag(&headers);

    // Version 1, live, pinned to plugin digests; no body needed.
    let (status, v1) = server
        .call("POST", "/v1/flows/shop/versions", &key, None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["live"], true);
    assert!(v1["digest"].as_str().unwrap().starts_with("sha256:"));
    let plugins = v1["plugins"].as_object().unwrap();
    assert_eq!(
        plugins.keys().collect::<Vec<_>>(),
        ["bye", "welcome"],
        "{v1}"
    );
    assert!(
        plugins
            .values()
            .all(|d| d.as_str().is_some_and(|d| !d.is_empty()))
    );
    assert!(v1["published_at"].as_i64().unwrap() > 0);

    // A stale If-Match refuses; version 2 without moving live.
    let (status, _, body) = send(
        &server,
        "POST",
        "/v1/flows/shop/versions",
        &key,
        None,
        &[("if-match", "\"stale\"")],
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    let (status, _, body) = send(
        &server,
        "PUT",
        "/v1/flows/shop",
        &key,
        Some(hello("shop", "Two.")),
        &[("if-match", &draft_etag)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, v2) = server
        .post("/v1/flows/shop/versions", &key, json!({"live": false}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    assert_eq!(
        (v2["version"].as_i64(), v2["live"].as_bool()),
        (Some(2), Some(false))
    );
    assert_ne!(v2["digest"], v1["digest"]);
    let (_, summary) = server.get("/v1/flows", &key).await;
    let shop = summary
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "shop")
        .unwrap()
        .clone();
    assert_eq!(
        (
            shop["live_version"].as_i64(),
            shop["latest_version"].as_i64()
        ),
        (Some(1), Some(2))
    );
    let (status, body) = server
        .post("/v1/flows/shop/versions", &key, json!({"live": "yes"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Versions are listed and readable, and do not change with the draft.
    let (status, versions) = server.get("/v1/flows/shop/versions", &key).await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<(i64, bool)> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_i64().unwrap(), v["live"].as_bool().unwrap()))
        .collect();
    assert_eq!(listed, [(1, true), (2, false)]);
    let (status, one) = server.get("/v1/flows/shop/versions/1", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["document"], hello("shop", "One."));
    assert_eq!(one["digest"], v1["digest"]);
    let (status, body) = server.get("/v1/flows/shop/versions/9", &key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not-found");
    let (status, body) = server.get("/v1/flows/shop/versions/first", &key).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // No route changes a version.
    let (status, _) = server
        .put("/v1/flows/shop/versions/1", &key, hello("shop", "Changed."))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = server.delete("/v1/flows/shop/versions/1", &key).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // Live moves forward and back (a rollback), audited as such.
    let (status, moved) = server
        .put("/v1/flows/shop/live", &key, json!({"version": 2}))
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["live_version"], 2);
    let (status, moved) = server
        .put("/v1/flows/shop/live", &key, json!({"version": 1}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(moved["live_version"], 1);
    let (status, body) = server
        .put("/v1/flows/shop/live", &key, json!({"version": 7}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["pointer"], "/version");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 to 2")
    );
    let (status, _) = server
        .put("/v1/flows/nothing/live", &key, json!({"version": 1}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = server.get("/v1/audit", &server.admin).await;
    let actions = audit_actions(&audit);
    assert_eq!(
        &actions[..4],
        [
            "flow.rolled_back",
            "flow.live_moved",
            "flow.published",
            "flow.published"
        ],
        "{audit}"
    );
    assert_eq!(audit[0]["target"], "flow:shop@1");
    assert_eq!(audit[0]["detail"], json!({"from": 2, "to": 1}));

    // Concurrent publishes never share a number.
    let publishes = (0..6).map(|_| server.call("POST", "/v1/flows/shop/versions", &key, None));
    let results = futures_util::future::join_all(publishes).await;
    let mut numbers: Vec<i64> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::CREATED, "{body}");
            body["version"].as_i64().unwrap()
        })
        .collect();
    numbers.sort();
    assert_eq!(numbers, [3, 4, 5, 6, 7, 8]);
    let (_, shop) = server.get("/v1/flows", &key).await;
    let shop = shop
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "shop")
        .unwrap()
        .clone();
    assert_eq!(
        shop["live_version"], 8,
        "live ends on the newest of concurrent publishes"
    );

    // `null` and `{}` bodies take the defaults too.
    let (status, v9) = server
        .post("/v1/flows/shop/versions", &key, Value::Null)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v9}");
    assert_eq!(
        (v9["version"].as_i64(), v9["live"].as_bool()),
        (Some(9), Some(true))
    );
    let (status, v10) = server
        .post("/v1/flows/shop/versions", &key, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v10}");
    assert_eq!(v10["version"], 10);

    // A draft with problems is refused, with every problem; compliance
    // problems name their counterexample path.
    server
        .post("/v1/flows", &key, records_without_consent("taper"))
        .await;
    server
        .put(
            "/v1/tenant/templates",
            &server.admin,
            json!({"templates": ["us-all-party-consent"]}),
        )
        .await;
    let (status, body) = server
        .call("POST", "/v1/flows/taper/versions", &key, None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_code(&body), "publish-refused");
    let problems = body["error"]["details"]["problems"].as_array().unwrap();
    let order = problems
        .iter()
        .find(|p| p["code"] == "compliance-order")
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(order["path"], json!(["welcome", "record"]));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not published")
    );
    let (_, versions) = server.get("/v1/flows/taper/versions", &key).await;
    assert_eq!(versions, json!([]));
    let mut broken = hello("broken", "x");
    broken["nodes"]["welcome"]["on"]["done"] = json!("nowhere");
    server.post("/v1/flows", &key, broken).await;
    let (status, body) = server
        .call("POST", "/v1/flows/broken/versions", &key, None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let problems = body["error"]["details"]["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["pointer"] == "/nodes/welcome/on/done" && p["code"] == "unknown-node")
    );
    let (status, _) = server
        .call("POST", "/v1/flows/missing/versions", &key, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let reader = server.key(&["flows:read"]).await;
    let (status, _) = server
        .call("POST", "/v1/flows/shop/versions", &reader, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.stop().await;
}
both!(publishing_makes_immutable_numbered_versions_and_moves_live);

async fn pinned_versions_stay_loadable_after_live_moves(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(&["flows:write"]).await;
    let tenant = admin_tenant(&server).await;
    let state = server.state();
    server
        .post("/v1/flows", &key, hello("pinned", "Old."))
        .await;
    server
        .call("POST", "/v1/flows/pinned/versions", &key, None)
        .await;
    let (_, headers, _) = send(&server, "GET", "/v1/flows/pinned", &key, None, &[]).await;
    send(
        &server,
        "PUT",
        "/v1/flows/pinned",
        &key,
        Some(hello("pinned", "New.")),
        &[("if-match", &etag(&headers))],
    )
    .await;
    let (_, v2) = server
        .call("POST", "/v1/flows/pinned/versions", &key, None)
        .await;

    // A call that started on version 1 still loads it after live moved to 2.
    let old = flow_store::load(state, &tenant, "pinned", FlowRef::Version(1), "production")
        .await
        .unwrap();
    assert_eq!(old.version, Some(1));
    assert!(old.document.contains("Old."));
    let live = flow_store::load(state, &tenant, "pinned", FlowRef::Live, "production")
        .await
        .unwrap();
    assert_eq!(live.version, Some(2));
    assert_eq!(live.digest, v2["digest"].as_str().unwrap());
    assert!(live.document.contains("New."));
    // Rolled back: new calls get 1, a call pinned to 2 still loads 2.
    server
        .put("/v1/flows/pinned/live", &key, json!({"version": 1}))
        .await;
    let live = flow_store::load(state, &tenant, "pinned", FlowRef::Live, "staging")
        .await
        .unwrap();
    assert_eq!(
        (live.version, live.environment.as_str()),
        (Some(1), "staging")
    );
    let pinned = flow_store::load(state, &tenant, "pinned", FlowRef::Version(2), "production")
        .await
        .unwrap();
    assert!(pinned.document.contains("New."));
    // The draft, for simulations; its digest is what the runtime computes.
    let draft = flow_store::load(state, &tenant, "pinned", FlowRef::Draft, "staging")
        .await
        .unwrap();
    assert_eq!(draft.version, None);
    assert_eq!(
        draft.digest,
        v2["digest"].as_str().unwrap(),
        "same document, same digest"
    );

    // Missing things are 404s; unknown environments 422s.
    for (name, which) in [
        ("pinned", FlowRef::Version(3)),
        ("nothing", FlowRef::Draft),
        ("nothing", FlowRef::Live),
    ] {
        let error = flow_store::load(state, &tenant, name, which, "production")
            .await
            .unwrap_err();
        assert_eq!(error.status, StatusCode::NOT_FOUND, "{name} {which:?}");
    }
    server
        .post("/v1/flows", &key, hello("unpublished", "x"))
        .await;
    let error = flow_store::load(state, &tenant, "unpublished", FlowRef::Live, "production")
        .await
        .unwrap_err();
    assert_eq!(error.status, StatusCode::NOT_FOUND);
    assert!(
        error.message.contains("no live version"),
        "{}",
        error.message
    );
    let error = flow_store::load(state, &tenant, "pinned", FlowRef::Live, "qa")
        .await
        .unwrap_err();
    assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
    server.stop().await;
}
both!(pinned_versions_stay_loadable_after_live_moves);

async fn out_of_the_box_every_call_reaches_the_receptionist(backend: Backend) {
    let server = TestServer::start(backend).await;
    let state = server.state();
    let tenant = admin_tenant(&server).await;
    let (_, flows) = server.get("/v1/flows", &server.admin).await;
    let bundled: BTreeSet<(String, i64)> = flows
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["live_version"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, i64)> = switchyard_studio_api::bundled_flows::BUNDLED_FLOWS
        .iter()
        .map(|(name, _)| (name.to_string(), 1))
        .collect();
    assert_eq!(bundled, expected);
    let (_, routes) = server.get("/v1/routes", &server.admin).await;
    assert_eq!(routes[0]["address"], "*");
    assert_eq!(routes[0]["flow"], "receptionist");
    assert_eq!(routes[0]["environment"], "production");

    let (owner, flow, environment) = flow_store::route(state, "+14155550123")
        .await
        .unwrap()
        .expect("the catch-all route");
    assert_eq!(
        (owner, flow.as_str(), environment.as_str()),
        (tenant.clone(), "receptionist", "production")
    );
    // The receptionist loads with the voicemail box it enters.
    let loaded = flow_store::load(state, &tenant, "receptionist", FlowRef::Live, "production")
        .await
        .unwrap();
    assert_eq!(
        loaded.documents.keys().collect::<Vec<_>>(),
        ["voicemail-box"]
    );
    let (_, audit) = server.get("/v1/audit", &server.admin).await;
    let published = audit_actions(&audit)
        .iter()
        .filter(|a| *a == "flow.published")
        .count();
    assert_eq!(published, expected.len());
    server.stop().await;
}
both!(out_of_the_box_every_call_reaches_the_receptionist);

async fn routes_map_numbers_and_sip_uris_to_one_tenants_flows(backend: Backend) {
    let server = TestServer::start(backend).await;
    let state = server.state();
    let tenant = admin_tenant(&server).await;
    let key = server.key(&["flows:write"]).await;
    server
        .post("/v1/flows", &key, hello("sales", "Sales."))
        .await;

    // Numbers are stored in E.164; SIP URIs with a lower-case host.
    let (status, route) = server
        .post(
            "/v1/routes",
            &key,
            json!({"address": "+1 (415) 555-0100", "flow": "sales", "environment": "staging"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    assert_eq!(route["address"], "+14155550100");
    let (status, route) = server
        .post(
            "/v1/routes",
            &key,
            json!({"address": "sip:Desk@PBX.Example", "flow": "sales", "environment": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    assert_eq!(route["address"], "sip:Desk@pbx.example");
    let (status, routes) = server.get("/v1/routes", &key).await;
    assert_eq!(status, StatusCode::OK);
    let addresses: Vec<&str> = routes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["*", "+14155550100", "sip:Desk@pbx.example"]);

    // Inbound calls: exact, canonical, a SIP URI carrying the number, the catch-all.
    for (address, flow, environment) in [
        ("+14155550100", "sales", "staging"),
        (
            "sip:+14155550100@carrier.example;user=phone",
            "sales",
            "staging",
        ),
        ("sip:Desk@pbx.example", "sales", "production"),
        ("+442071838750", "receptionist", "production"),
    ] {
        let found = flow_store::route(state, address).await.unwrap().unwrap();
        assert_eq!(
            (found.0, found.1.as_str(), found.2.as_str()),
            (tenant.clone(), flow, environment),
            "{address}"
        );
    }

    // An address belongs to one tenant.
    let (status, body) = server
        .post(
            "/v1/routes",
            &key,
            json!({"address": "+14155550100", "flow": "sales", "environment": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "address-taken");
    let other = server.other_tenant_key(&["admin"]).await;
    server.post("/v1/flows", &other, hello("theirs", "x")).await;
    let (status, _) = server
        .post(
            "/v1/routes",
            &other,
            json!({"address": "+14155550100", "flow": "theirs", "environment": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = server
        .post(
            "/v1/routes",
            &other,
            json!({"address": "*", "flow": "theirs", "environment": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Bad requests say what and where.
    for (body, pointer) in [
        (
            json!({"address": "4155550100", "flow": "sales", "environment": "staging"}),
            "/address",
        ),
        (
            json!({"address": "+1415", "flow": "sales", "environment": "staging"}),
            "/address",
        ),
        (
            json!({"address": "sip:desk@pbx.example;transport=tcp", "flow": "sales", "environment": "staging"}),
            "/address",
        ),
        (
            json!({"address": "+14155550101", "flow": "sales", "environment": "qa"}),
            "/environment",
        ),
        (
            json!({"address": "+14155550101", "flow": "nope", "environment": "staging"}),
            "/flow",
        ),
    ] {
        let (status, answer) = server.post("/v1/routes", &key, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["pointer"], pointer, "{answer}");
    }
    let (status, body) = server
        .post(
            "/v1/routes",
            &key,
            json!({"address": "+14155550101", "flow": "sales"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The catch-all is the admin's business.
    let (status, body) = server.delete("/v1/routes/%2A", &key).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"]["message"].as_str().unwrap().contains("admin"));

    // A routed flow cannot be deleted; removing the route allows it.
    let (status, body) = server.delete("/v1/flows/sales", &key).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "flow-in-use");
    let (status, _) = server.delete("/v1/routes/%2B14155550100", &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server
        .delete("/v1/routes/sip%3ADesk%40pbx.example", &key)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = server.delete("/v1/routes/%2B14155550100", &key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not-found");
    let found = flow_store::route(state, "+14155550100")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.1, "receptionist", "back to the catch-all");
    let (status, _) = server.delete("/v1/flows/sales", &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Without the catch-all, an unrouted address reaches nobody.
    let (status, _) = server.delete("/v1/routes/%2A", &server.admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        flow_store::route(state, "+14155550100")
            .await
            .unwrap()
            .is_none()
    );
    let (_, audit) = server.get("/v1/audit", &server.admin).await;
    assert!(audit_actions(&audit).contains(&"route.deleted".to_owned()));
    server.stop().await;
}
both!(routes_map_numbers_and_sip_uris_to_one_tenants_flows);

async fn listing_routes_needs_a_key_with_a_flows_scope(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, body) = server.get_without_key("/v1/routes", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(error_code(&body), "unauthorized");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "the message says how to send a key: {body}"
    );
    let (status, body) = server.get("/v1/routes", "sy_00000000_unknown").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid"),
        "{body}"
    );

    let caller = server.key(&["calls:read", "plugins:write"]).await;
    let (status, body) = server.get("/v1/routes", &caller).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "forbidden");
    assert_eq!(
        body["error"]["message"], "this key lacks the `flows:read` scope",
        "{body}"
    );
    for scopes in [&["flows:read"][..], &["flows:write"]] {
        let key = server.key(scopes).await;
        let (status, routes) = server.get("/v1/routes", &key).await;
        assert_eq!(status, StatusCode::OK, "{scopes:?}: {routes}");
        assert_eq!(routes[0]["address"], "*", "{routes}");
    }
    server.stop().await;
}
both!(listing_routes_needs_a_key_with_a_flows_scope);

async fn bindings_resolve_names_per_environment_and_seal_secrets(backend: Backend) {
    let server = TestServer::start(backend).await;
    let state = server.state();
    let tenant = admin_tenant(&server).await;
    let key = server.key(&["flows:write"]).await;
    let reader = server.key(&["flows:read"]).await;
    let put = |path: &str, value: &str| {
        let path = format!("/v1/environments/{path}");
        let body = json!({"value": value});
        let server = &server;
        let key = key.clone();
        async move { server.put(&path, &key, body).await }
    };

    // Each kind, with its value checked.
    let (status, binding) = put(
        "production/bindings/endpoint/crm",
        "https://crm.example/hook",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{binding}");
    assert_eq!(binding["value"], "https://crm.example/hook");
    let (status, body) = put(
        "production/bindings/endpoint/crm",
        "http://crm.example/hook",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["pointer"], "/value");
    let (status, _) = put(
        "production/bindings/endpoint/crm",
        "https://user:pw@crm.example/",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = put("production/bindings/endpoint/crm", "not a url").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Refused addresses fail when bound, not on the first call that uses them.
    for refused in [
        "https://169.254.169.254/latest",
        "https://10.0.0.7/hook",
        "https://[::1]/hook",
    ] {
        let (status, body) = put("production/bindings/endpoint/crm", refused).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{refused}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("refused"),
            "{body}"
        );
    }
    let (status, binding) = put("production/bindings/number/desk", "+1 415 555 0199").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(binding["value"], "+14155550199");
    let (status, _) = put("staging/bindings/number/desk", "+14155550142").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = put("staging/bindings/number/desk", "555-0142").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["pointer"], "/value");
    let (status, body) = put("staging/bindings/subflow/box", "no-such-flow").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, secret) = put("production/bindings/secret/crm", "s3cret-token-value").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (secret["value"].clone(), secret["set"].clone()),
        (Value::Null, json!(true))
    );

    // Unknown environments and kinds are 404s; bad names 422s; scopes hold.
    let (status, body) = put("qa/bindings/number/desk", "+14155550142").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not-found");
    let (status, _) = put("staging/bindings/password/desk", "x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = put("staging/bindings/number/bad%20name", "+14155550142").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = server.get("/v1/environments/qa/bindings", &reader).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .put(
            "/v1/environments/staging/bindings/number/desk",
            &reader,
            json!({"value": "+14155550142"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Listed per environment; the secret only as set, nowhere in plain text.
    let (status, listed) = server
        .get("/v1/environments/production/bindings", &reader)
        .await;
    assert_eq!(status, StatusCode::OK);
    let listed_pairs: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["kind"].as_str().unwrap().to_owned(),
                b["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listed_pairs,
        [
            ("endpoint".to_owned(), "crm".to_owned()),
            ("number".to_owned(), "desk".to_owned()),
            ("secret".to_owned(), "crm".to_owned())
        ]
    );
    assert!(!listed.to_string().contains("s3cret"));
    let raw: Vec<(Option<String>, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT value, sealed FROM bindings WHERE kind = 'secret'")
            .fetch_all(&state.db.pool)
            .await
            .unwrap();
    assert_eq!(raw.len(), 1);
    let sealed = raw[0].1.as_ref().unwrap();
    assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
    assert!(!raw[0].0.as_deref().unwrap_or_default().contains("s3cret"));
    let (_, audit) = server.get("/v1/audit", &server.admin).await;
    assert!(!audit.to_string().contains("s3cret"));
    assert!(audit_actions(&audit).contains(&"binding.set".to_owned()));

    // What the runtime gets: the secret unsealed, the endpoint's URL.
    let secret = flow_store::secret(state, &tenant, "production", "crm")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(secret.as_slice(), b"s3cret-token-value");
    assert!(
        flow_store::secret(state, &tenant, "staging", "crm")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        flow_store::endpoint(state, &tenant, "production", "crm")
            .await
            .unwrap()
            .as_deref(),
        Some("https://crm.example/hook")
    );
    assert!(
        flow_store::endpoint(state, &tenant, "staging", "crm")
            .await
            .unwrap()
            .is_none()
    );

    // Numbers become call vars; sub-flow names resolve per environment.
    let mut main = hello("main", "Hi.");
    main["nodes"]["welcome"]["on"]["done"] = json!("box");
    main["nodes"]["box"] = json!({"use": "subflow@1", "with": {"flow": "box", "outcomes": ["left", "empty"]},
                                   "on": {"left": "bye", "empty": "bye"}});
    let mut boxed = serde_json::from_str::<Value>(
        switchyard_studio_api::bundled_flows::get("voicemail-box").unwrap(),
    )
    .unwrap();
    boxed["name"] = json!("box");
    let mut test_box = boxed.clone();
    test_box["name"] = json!("box-test");
    test_box["description"] = json!("The staging voicemail box.");
    for document in [main, boxed, test_box] {
        let (status, body) = server.post("/v1/flows", &key, document).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _) = put("staging/bindings/subflow/box", "box-test").await;
    assert_eq!(status, StatusCode::OK);
    for name in ["box", "box-test", "main"] {
        let (status, body) = server
            .call("POST", &format!("/v1/flows/{name}/versions"), &key, None)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
    }
    let staging = flow_store::load(state, &tenant, "main", FlowRef::Live, "staging")
        .await
        .unwrap();
    assert_eq!(staging.vars.get("desk"), Some(&json!("+14155550142")));
    let inner: Value = serde_json::from_str(&staging.documents["box"]).unwrap();
    assert_eq!(inner["name"], "box", "named as the parent calls it");
    assert_eq!(inner["description"], "The staging voicemail box.");
    let production = flow_store::load(state, &tenant, "main", FlowRef::Draft, "production")
        .await
        .unwrap();
    assert_eq!(production.vars.get("desk"), Some(&json!("+14155550199")));
    let inner: Value = serde_json::from_str(&production.documents["box"]).unwrap();
    assert_ne!(inner["description"], "The staging voicemail box.");
    // The runtime compiles the set as loaded.
    let registry = switchyard_studio_api::tenant_plugins::registry(state, &tenant)
        .await
        .unwrap();
    let source = |name: &str| staging.documents.get(name).cloned();
    struct Docs<'a>(&'a dyn Fn(&str) -> Option<String>);
    impl switchyard_runtime::flow::FlowSource for Docs<'_> {
        fn source(&self, name: &str) -> Option<String> {
            (self.0)(name)
        }
    }
    let set = switchyard_runtime::flow::load_flow_set(&staging.document, &Docs(&source), &registry)
        .unwrap_or_else(|e| panic!("{:?}", e.iter().map(|f| &f.problems).collect::<Vec<_>>()));
    assert!(set.get("box").is_some());

    // Delete: 204, then 404.
    let path = "/v1/environments/staging/bindings/number/desk";
    let (status, _) = server.delete(path, &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = server.delete(path, &key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not-found");
    let (status, _) = server
        .delete("/v1/environments/staging/bindings/nonsense/desk", &key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}
both!(bindings_resolve_names_per_environment_and_seal_secrets);

/// A request of the isolation walk: method, path, body, headers.
type Case<'a> = (&'a str, &'a str, Option<Value>, &'a [(&'a str, &'a str)]);

async fn another_tenant_gets_404_for_this_tenants_flows(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(&["flows:write"]).await;
    server
        .put(
            "/v1/environments/production/bindings/number/desk",
            &key,
            json!({"value": "+14155550199"}),
        )
        .await;
    server
        .post(
            "/v1/routes",
            &key,
            json!({"address": "+14155550100", "flow": "receptionist", "environment": "production"}),
        )
        .await;
    let (_, headers, _) = send(&server, "GET", "/v1/flows/receptionist", &key, None, &[]).await;
    let etag = etag(&headers);
    // The other tenant is an admin: scopes are not what stops it.
    let other = server.other_tenant_key(&["admin"]).await;
    let document = serde_json::from_str::<Value>(
        switchyard_studio_api::bundled_flows::get("receptionist").unwrap(),
    )
    .unwrap();
    let if_match = [("if-match", etag.as_str())];
    let cases: Vec<Case> = vec![
        ("GET", "/v1/flows/receptionist", None, &[]),
        (
            "PUT",
            "/v1/flows/receptionist",
            Some(document.clone()),
            &if_match,
        ),
        ("DELETE", "/v1/flows/receptionist", None, &[]),
        ("POST", "/v1/flows/receptionist/validate", None, &[]),
        ("GET", "/v1/flows/receptionist/versions", None, &[]),
        ("POST", "/v1/flows/receptionist/versions", None, &[]),
        ("GET", "/v1/flows/receptionist/versions/1", None, &[]),
        (
            "PUT",
            "/v1/flows/receptionist/live",
            Some(json!({"version": 1})),
            &[],
        ),
        ("DELETE", "/v1/routes/%2B14155550100", None, &[]),
        ("DELETE", "/v1/routes/%2A", None, &[]),
        (
            "DELETE",
            "/v1/environments/production/bindings/number/desk",
            None,
            &[],
        ),
    ];
    for (method, path, body, headers) in cases {
        let (status, _, answer) = send(&server, method, path, &other, body, headers).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        assert_eq!(error_code(&answer), "not-found");
    }
    // Lists show nothing of this tenant's; its flow names mean nothing there.
    let (_, flows) = server.get("/v1/flows", &other).await;
    assert_eq!(flows, json!([]));
    let (_, routes) = server.get("/v1/routes", &other).await;
    assert_eq!(routes, json!([]));
    let (_, bindings) = server
        .get("/v1/environments/production/bindings", &other)
        .await;
    assert_eq!(bindings, json!([]));
    let (status, body) = server
        .post(
            "/v1/routes",
            &other,
            json!({"address": "+14155550177", "flow": "receptionist", "environment": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["pointer"], "/flow");
    let (status, _) = server
        .put(
            "/v1/environments/production/bindings/subflow/box",
            &other,
            json!({"value": "voicemail-box"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // A flow of the same name there is theirs alone.
    let (status, _) = server.post("/v1/flows", &other, document).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, mine) = server.get("/v1/flows/receptionist/versions", &key).await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let (_, theirs) = server.get("/v1/flows/receptionist/versions", &other).await;
    assert_eq!(theirs, json!([]));
    // And this tenant's nothing changed.
    let (_, headers, _) = send(&server, "GET", "/v1/flows/receptionist", &key, None, &[]).await;
    assert_eq!(headers["etag"].to_str().unwrap(), etag);
    let (_, routes) = server.get("/v1/routes", &key).await;
    assert_eq!(routes.as_array().unwrap().len(), 2);
    server.stop().await;
}
both!(another_tenant_gets_404_for_this_tenants_flows);

/// Runs `switchyard ARGS` (off the async runtime); exit code and stdout+stderr.
async fn switchyard(args: Vec<String>, key_env: Option<String>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
        command.args(&args).env_remove("SWITCHYARD_KEY");
        if let Some(key) = key_env {
            command.env("SWITCHYARD_KEY", key);
        }
        let output = command.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}

fn read_dir_files(dir: &Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

async fn flow_push_and_pull_round_trip_a_directory(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(&["flows:write"]).await;
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path().join("flows");
    let dir_arg = dir.display().to_string();
    let base = server.base.clone();
    let with_server = |args: Vec<&str>| {
        let mut args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        args.extend(["--server".to_owned(), base.clone()]);
        args
    };

    // Pull: one pretty file a flow, sorted keys, a final newline; twice is a no-op.
    let (code, out) = switchyard(
        with_server(vec!["flow", "pull", &dir_arg, "--key", &key]),
        None,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let pulled = read_dir_files(&dir);
    let expected: BTreeSet<String> = switchyard_studio_api::bundled_flows::BUNDLED_FLOWS
        .iter()
        .map(|(name, _)| format!("{name}.json"))
        .collect();
    assert_eq!(pulled.keys().cloned().collect::<BTreeSet<_>>(), expected);
    let receptionist = &pulled["receptionist.json"];
    let value: Value = serde_json::from_str(receptionist).unwrap();
    assert_eq!(receptionist, &flow_store::pretty_json(&value));
    assert!(
        receptionist.starts_with("{\n  \"description\""),
        "{receptionist}"
    );
    let (code, out) = switchyard(
        with_server(vec!["flow", "pull", &dir_arg]),
        Some(key.clone()),
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches(": unchanged").count(), expected.len(), "{out}");
    assert_eq!(read_dir_files(&dir), pulled);

    // Edit one file, add one; push with --publish reports each file.
    let mut edited = value.clone();
    edited["vars"]["business"] = json!("Acme Heating");
    std::fs::write(
        dir.join("receptionist.json"),
        flow_store::pretty_json(&edited),
    )
    .unwrap();
    std::fs::write(
        dir.join("greeter.json"),
        flow_store::pretty_json(&hello("greeter", "Hi.")),
    )
    .unwrap();
    let (code, out) = switchyard(
        with_server(vec!["flow", "push", &dir_arg, "--publish", "--key", &key]),
        None,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("receptionist.json: updated flow receptionist, published as version 2 (live)"),
        "{out}"
    );
    assert!(
        out.contains("greeter.json: created flow greeter, published as version 1 (live)"),
        "{out}"
    );
    assert!(
        out.contains(
            "missed-call.json: flow missed-call unchanged, already published as version 1"
        ),
        "{out}"
    );
    assert!(out.contains("5 pushed, 0 failed"), "{out}");
    let (_, live) = server.get("/v1/flows/receptionist/versions/2", &key).await;
    assert_eq!(live["document"]["vars"]["business"], "Acme Heating");
    assert_eq!(live["live"], true);

    // Pushing again changes nothing; pulling elsewhere gives the same bytes.
    let (code, out) = switchyard(
        with_server(vec!["flow", "push", &dir_arg, "--publish", "--key", &key]),
        None,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.matches("unchanged, already published").count(),
        5,
        "{out}"
    );
    let (_, versions) = server.get("/v1/flows/receptionist/versions", &key).await;
    assert_eq!(versions.as_array().unwrap().len(), 2);
    let copy = repo.path().join("copy");
    let copy_arg = copy.display().to_string();
    let (code, out) = switchyard(
        with_server(vec!["flow", "pull", &copy_arg, "--key", &key]),
        None,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(read_dir_files(&copy), read_dir_files(&dir));

    // A draft the server refuses to publish, and a file that is not JSON,
    // fail on their own lines; the rest still go through; exit 1.
    server
        .put(
            "/v1/tenant/templates",
            &server.admin,
            json!({"templates": ["us-all-party-consent"]}),
        )
        .await;
    std::fs::write(
        dir.join("taper.json"),
        flow_store::pretty_json(&records_without_consent("taper")),
    )
    .unwrap();
    std::fs::write(dir.join("broken.json"), "{\"flow\": ").unwrap();
    let (code, out) = switchyard(
        with_server(vec!["flow", "push", &dir_arg, "--publish", "--key", &key]),
        None,
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("broken.json: error: not JSON"), "{out}");
    assert!(
        out.contains("taper.json: error: flow taper not published:"),
        "{out}"
    );
    assert!(
        out.contains("/nodes/record:") && out.contains("path: welcome → record"),
        "{out}"
    );
    assert!(out.contains("5 pushed, 2 failed"), "{out}");
    let (status, _) = server.get("/v1/flows/taper", &key).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the draft is pushed even when publishing is refused"
    );

    // Wrong or missing keys, and an empty directory, say so.
    let (code, out) = switchyard(
        with_server(vec!["flow", "pull", &copy_arg, "--key", "sy_bad"]),
        None,
    )
    .await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unauthorized"), "{out}");
    assert!(!out.contains(&key));
    let (code, out) = switchyard(with_server(vec!["flow", "pull", &copy_arg]), None).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--key"), "{out}");
    let empty = repo.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, out) = switchyard(
        with_server(vec![
            "flow",
            "push",
            &empty.display().to_string(),
            "--key",
            &key,
        ]),
        None,
    )
    .await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no *.json flow files"), "{out}");
    server.stop().await;
}
both!(flow_push_and_pull_round_trip_a_directory);

async fn every_flow_route_is_in_the_openapi_document(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, openapi) = server.get_without_key("/v1/openapi.json", &[]).await;
    assert_eq!(status, StatusCode::OK);
    for (path, methods) in [
        ("/v1/flows", &["get", "post"][..]),
        ("/v1/flows/{name}", &["get", "put", "delete"]),
        ("/v1/flows/{name}/validate", &["post"]),
        ("/v1/flows/{name}/versions", &["get", "post"]),
        ("/v1/flows/{name}/versions/{version}", &["get"]),
        ("/v1/flows/{name}/live", &["put"]),
        ("/v1/routes", &["get", "post"]),
        ("/v1/routes/{address}", &["delete"]),
        ("/v1/environments/{env}/bindings", &["get"]),
        (
            "/v1/environments/{env}/bindings/{kind}/{name}",
            &["put", "delete"],
        ),
    ] {
        for method in methods {
            let operation = &openapi["paths"][path][method];
            let responses = operation["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} is not in the OpenAPI document"));
            assert!(
                responses.keys().any(|s| s.starts_with('4')),
                "{method} {path} documents no error response"
            );
        }
    }
    let put = &openapi["paths"]["/v1/flows/{name}"]["put"];
    let documented: Vec<&str> = put["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for status in ["200", "404", "412", "428"] {
        assert!(documented.contains(&status), "{documented:?}");
    }
    assert!(
        put["responses"]["200"]["headers"]["ETag"].is_object(),
        "{put}"
    );
    server.stop().await;
}
both!(every_flow_route_is_in_the_openapi_document);
