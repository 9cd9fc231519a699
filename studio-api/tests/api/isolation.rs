//! Tenant isolation, route by route: every operation of the OpenAPI
//! document is sent with a second tenant's admin key, aimed at the first
//! tenant's objects. Routes that name an object answer 404; routes that
//! list or write in the caller's own namespace show nothing of the first
//! tenant and change nothing of it. The test fails on an operation it has
//! no expectation for, so a new route cannot skip it. Both backends.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, TestServer, call_saying, wav};

/// What the other tenant must see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 404: the path names the first tenant's object.
    NotFound,
    /// Success, and nothing of the first tenant in the body.
    OwnView,
    /// Works on the caller's own namespace (any status below 500); the
    /// first tenant's objects are checked unchanged at the end.
    OwnWrite,
    /// A WebSocket that takes no key: a plain request is refused (400)
    /// before any tenant is known. A stream's token names its tenant;
    /// media_stream.rs shows another tenant's token reaches nothing.
    Handshake,
}

/// The first tenant's objects.
struct Owned {
    flow: String,
    etag: String,
    key_id: String,
    webhook_id: String,
    call_id: String,
    caller: String,
    address: String,
    plugin: (String, String),
}

async fn make_objects(server: &TestServer) -> Owned {
    let admin = &server.admin;
    let (_, keys) = server
        .post(
            "/v1/keys",
            admin,
            json!({"name": "first", "scopes": ["flows:read"]}),
        )
        .await;
    let (status, hook) = server
        .post(
            "/v1/webhooks",
            admin,
            json!({"url": "https://hooks.first.example/in", "events": ["call.ended"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let address = "+18005550123".to_owned();
    let (status, route) = server
        .post(
            "/v1/routes",
            admin,
            json!({"address": address, "flow": "receptionist", "environment": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    let (status, binding) = server
        .put(
            "/v1/environments/production/bindings/endpoint/crm",
            admin,
            json!({"value": "https://crm.first.example/hook"}),
        )
        .await;
    assert!(status.is_success(), "{binding}");
    let (status, plugin) = server
        .post(
            "/v1/plugins",
            admin,
            json!({"manifest": {
                "name": "first-only", "version": "1.0.0", "description": "The first tenant's plugin.",
                "kind": "rhai", "module": "first-only.rhai", "outcomes": ["done"], "actions": ["say"],
                "config_schema": {"type": "object"}
            }, "script": "fn step(input) { #{ \"exit\": \"done\", \"actions\": [] } }"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plugin}");
    let caller = "+14155550177".to_owned();
    let call_id = call_saying(server, &caller, "support please").await;
    let state = server.state();
    let tenant = state.db.tenant_ids().await.unwrap().remove(0);
    switchyard_studio_api::recordings::put_bytes(state, &tenant, &call_id, &wav())
        .await
        .unwrap();
    let response = server
        .client
        .get(server.url("/v1/flows/receptionist"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    Owned {
        flow: "receptionist".into(),
        etag,
        key_id: keys["id"].as_str().unwrap().to_owned(),
        webhook_id: hook["id"].as_str().unwrap().to_owned(),
        call_id,
        caller,
        address,
        plugin: ("first-only".into(), "1.0.0".into()),
    }
}

/// The concrete path for `template`, with the first tenant's ids.
fn fill(template: &str, owned: &Owned) -> String {
    let mut path = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close = rest[open..].find('}').unwrap() + open;
        let param = &rest[open + 1..close];
        let value = match (param, template) {
            ("id", t) if t.starts_with("/v1/calls/") => owned.call_id.clone(),
            ("id", t) if t.starts_with("/v1/keys/") => owned.key_id.clone(),
            ("id", t) if t.starts_with("/v1/webhooks/") => owned.webhook_id.clone(),
            ("name", t) if t.starts_with("/v1/flows/") => owned.flow.clone(),
            ("name", t) if t.starts_with("/v1/plugins/") => owned.plugin.0.clone(),
            ("version", t) if t.starts_with("/v1/plugins/") => owned.plugin.1.clone(),
            ("version", _) => "1".into(),
            ("number", _) => owned.caller.replace('+', "%2B"),
            ("address", _) => owned.address.replace('+', "%2B"),
            ("env", _) => "production".into(),
            ("kind", _) => "endpoint".into(),
            ("name", t) if t.contains("/bindings/") => "crm".into(),
            _ => panic!("the isolation walk has no value for `{param}` in {template}: add one"),
        };
        path.push_str(&value);
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    path
}

/// What the other tenant must get from `method path`, and the body to send.
fn expectation(method: &str, template: &str, owned: &Owned) -> (Expect, Option<Value>) {
    use Expect::*;
    let simulate = "flow: receptionist.json\nagent~: .*\n";
    match (method, template) {
        ("POST", "/v1/calls") => (
            NotFound,
            Some(json!({"from": "+14155550100", "to": owned.address})),
        ),
        ("POST", "/v1/calls/{id}/input") => (NotFound, Some(json!({"hangup": true}))),
        // The flow is looked up first: another tenant's name rings nobody.
        ("POST", "/v1/calls/outbound") => (
            NotFound,
            Some(
                json!({"to": "sip:someone@127.0.0.1:9", "from": "+14155550100",
                        "flow": owned.flow}),
            ),
        ),
        ("POST", "/v1/media-stream/tokens") => (NotFound, Some(json!({"to": owned.address}))),
        ("POST", "/v1/simulate") => (
            NotFound,
            Some(json!({"flow": owned.flow, "version": "live", "script": simulate})),
        ),
        ("PUT", "/v1/flows/{name}") => (
            NotFound,
            Some(
                json!({"flow": "switchyard/v1", "name": "receptionist", "entry": "x", "nodes": {"x": {"use": "hangup@1"}}}),
            ),
        ),
        ("PUT", "/v1/flows/{name}/live") => (NotFound, Some(json!({"version": 1}))),
        ("POST", "/v1/flows/{name}/versions") => (NotFound, Some(json!({}))),
        ("POST", "/v1/webhooks/{id}/ping") => (NotFound, None),
        ("POST", "/v1/flows/{name}/validate") => (NotFound, None),
        // Names in the caller's own namespace: writing one touches only the caller's.
        ("PUT", "/v1/environments/{env}/bindings/{kind}/{name}") => (
            OwnWrite,
            Some(json!({"value": "https://crm.other.example/hook"})),
        ),
        ("DELETE", "/v1/environments/{env}/bindings/{kind}/{name}") => (NotFound, None),
        ("GET", "/v1/environments/{env}/bindings") => (OwnView, None),
        // A data subject is a number, not an object: the other tenant holds
        // nothing about it, and erasing there erases nothing here.
        ("GET", "/v1/data-subjects/{number}/export") => (OwnView, None),
        ("DELETE", "/v1/data-subjects/{number}") => (OwnWrite, None),
        ("POST", "/v1/flows") => (
            OwnWrite,
            Some(
                json!({"flow": "switchyard/v1", "name": "other-flow", "entry": "x", "nodes": {"x": {"use": "hangup@1"}}}),
            ),
        ),
        // An address belongs to one tenant across the platform, as a number
        // belongs to one carrier customer: claiming a taken one is a 409.
        ("POST", "/v1/routes") => (
            OwnWrite,
            Some(
                json!({"address": owned.address, "flow": "other-flow", "environment": "production"}),
            ),
        ),
        ("POST", "/v1/keys") => (
            OwnWrite,
            Some(json!({"name": "other", "scopes": ["admin"]})),
        ),
        ("POST", "/v1/webhooks") => (
            OwnWrite,
            Some(json!({"url": "https://hooks.other.example/in", "events": ["ping"]})),
        ),
        ("POST", "/v1/plugins") => (OwnWrite, Some(json!({}))),
        ("PUT", "/v1/tenant/retention") => (OwnWrite, Some(json!({"recordings_days": 1}))),
        ("PUT", "/v1/tenant/templates") => (OwnWrite, Some(json!({"templates": ["us-federal"]}))),
        ("GET", "/v1/media-stream") => (Handshake, None),
        ("GET", t) if !t.contains('{') => (OwnView, None),
        (_, t) if t.contains('{') => (NotFound, None),
        _ => panic!("the isolation walk has no expectation for {method} {template}: add one"),
    }
}

async fn another_tenant_sees_and_changes_nothing_on_any_route(backend: Backend) {
    let server = TestServer::start_with(backend, |o| o.dev = true).await;
    let owned = make_objects(&server).await;
    let other = server.other_tenant_key(&["admin"]).await;
    let (_, openapi) = server.get("/v1/openapi.json", &server.admin).await;
    let markers = [
        owned.call_id.as_str(),
        owned.key_id.as_str(),
        owned.webhook_id.as_str(),
        owned.address.as_str(),
        owned.caller.as_str(),
        "first-only",
        "crm.first.example",
        "hooks.first.example",
    ];

    let mut operations = Vec::new();
    for (template, item) in openapi["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                operations.push((method.to_uppercase(), template.clone()));
            }
        }
    }
    assert!(
        operations.len() >= 40,
        "the document lists every route: {}",
        operations.len()
    );
    // Reads and 404s first, so the other tenant's own writes (a flow of its
    // own, a binding of its own) cannot mask a leak.
    operations.sort_by_key(|(method, template)| {
        let (expect, _) = expectation(method, template, &owned);
        (expect == Expect::OwnWrite, method == "DELETE")
    });
    let mut walked = BTreeSet::new();
    for (method, template) in &operations {
        let (expect, body) = expectation(method, template, &owned);
        let path = fill(template, &owned);
        let mut request = server
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                server.url(&path),
            )
            .bearer_auth(&other);
        if method == "PUT" && template == "/v1/flows/{name}"
            || template.ends_with("/bindings/{kind}/{name}")
            || method == "DELETE" && template == "/v1/flows/{name}"
        {
            request = request.header("if-match", &owned.etag);
        }
        let sent = format!(
            "{} {}",
            path.replace("%2B", "+"),
            body.as_ref().map(Value::to_string).unwrap_or_default()
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        match expect {
            Expect::NotFound => {
                assert_eq!(
                    status,
                    StatusCode::NOT_FOUND,
                    "{method} {path} by another tenant: {text}"
                );
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    body["error"]["code"], "not-found",
                    "{method} {path}: {text}"
                );
            }
            Expect::OwnView => {
                assert!(
                    status.is_success(),
                    "{method} {path} by another tenant: {status} {text}"
                );
            }
            Expect::OwnWrite => {
                assert!(status.as_u16() < 500, "{method} {path}: {status} {text}");
            }
            Expect::Handshake => {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {text}");
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    body["error"]["code"], "websocket-required",
                    "{method} {path}: {text}"
                );
            }
        }
        // An error may echo what was asked; anything else of the first
        // tenant's in the answer is a leak.
        for marker in markers.iter().filter(|m| !sent.contains(*m)) {
            assert!(
                !text.contains(marker),
                "{method} {path} shows the first tenant's `{marker}`: {text}"
            );
        }
        walked.insert(format!("{method} {template}"));
    }
    assert_eq!(walked.len(), operations.len());

    // The first tenant's objects are all still there, unchanged.
    let admin = &server.admin;
    let response = server
        .client
        .get(server.url("/v1/flows/receptionist"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"].to_str().unwrap(), owned.etag);
    let (_, key) = server
        .get(&format!("/v1/keys/{}", owned.key_id), admin)
        .await;
    assert!(key["revoked_at"].is_null(), "{key}");
    let (status, _) = server
        .get(&format!("/v1/webhooks/{}", owned.webhook_id), admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .get(&format!("/v1/calls/{}/recording", owned.call_id), admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, routes) = server.get("/v1/routes", admin).await;
    assert!(routes.to_string().contains(&owned.address), "{routes}");
    let (_, bindings) = server
        .get("/v1/environments/production/bindings", admin)
        .await;
    assert!(
        bindings.to_string().contains("crm.first.example"),
        "{bindings}"
    );
    let (_, tenant) = server.get("/v1/tenant", admin).await;
    assert!(tenant["retention"]["recordings_days"].is_null(), "{tenant}");
    server.stop().await;
}
both!(another_tenant_sees_and_changes_nothing_on_any_route);
