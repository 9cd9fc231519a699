//! Webhooks over real HTTP: signed deliveries to receivers on 127.0.0.1,
//! retries, the delivery log, SSRF refusals (loopback, names that resolve to
//! loopback, redirects, metadata), the `webhook` plugin's requests, tenant
//! isolation and every route's errors.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode as AxumStatus, Uri};
use axum::response::{IntoResponse, Response};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_sdk::protocol::HttpRequest;
use switchyard_studio_api::db::flows::BindingValue;
use switchyard_studio_api::db::webhooks::{AttemptResult, DueDelivery};
use switchyard_studio_api::outbound_http;
use switchyard_studio_api::serve::ServeOptions;
use switchyard_studio_api::webhooks::emit;

use crate::both;
use crate::support::{Backend, TestServer, error_code, tenant_of};

// The verifier from docs/webhooks.md, character for character (a test below
// checks that the docs still hold exactly this text).
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Checks a `Switchyard-Signature` header against the raw request body;
/// `now` is the current Unix time in seconds.
pub fn verify_switchyard_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: u64,
) -> Result<(), &'static str> {
    let fields: Vec<(&str, &str)> = header
        .split(',')
        .filter_map(|part| part.trim().split_once('='))
        .collect();
    let timestamps: Vec<&str> = fields.iter().filter(|f| f.0 == "t").map(|f| f.1).collect();
    let [timestamp] = timestamps[..] else {
        return Err("no timestamp");
    };
    let seconds: u64 = timestamp.parse().map_err(|_| "no timestamp")?;
    if now.abs_diff(seconds) > 300 {
        return Err("timestamp too old or in the future");
    }
    for (_, signature) in fields.iter().filter(|f| f.0 == "v1") {
        let Ok(signature) = hex::decode(signature) else {
            continue;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key size");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        // verify_slice compares in constant time.
        if mac.verify_slice(&signature).is_ok() {
            return Ok(());
        }
    }
    Err("no matching signature")
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    method: Method,
    path: String,
    headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }
}

type Answer = Arc<dyn Fn(usize, &Hit) -> Response + Send + Sync>;

/// An HTTP server on `ip` (port chosen by the OS) that records every
/// request and answers with `answer(number of earlier requests, request)`.
pub(crate) struct Receiver {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    async fn start(
        ip: &str,
        answer: impl Fn(usize, &Hit) -> Response + Send + Sync + 'static,
    ) -> Self {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let answer: Answer = Arc::new(answer);
        let recorded = hits.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let recorded = recorded.clone();
                let answer = answer.clone();
                async move {
                    let hit = Hit {
                        method,
                        path: uri.path().to_owned(),
                        headers,
                        body: body.to_vec(),
                    };
                    let earlier = {
                        let mut hits = recorded.lock().unwrap();
                        hits.push(hit.clone());
                        hits.len() - 1
                    };
                    answer(earlier, &hit)
                }
            },
        );
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, hits }
    }

    /// Answers every request with 200 and `{"ok": true}`.
    pub(crate) async fn ok(ip: &str) -> Self {
        Self::start(ip, |_, _| axum::Json(json!({"ok": true})).into_response()).await
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

fn redirect_to(location: String) -> impl Fn(usize, &Hit) -> Response + Send + Sync + 'static {
    move |_, _| {
        (
            AxumStatus::TEMPORARY_REDIRECT,
            [("location", location.clone())],
        )
            .into_response()
    }
}

/// Creates a webhook; returns its id and secret.
pub(crate) async fn create(server: &TestServer, url: &str, events: &[&str]) -> (String, String) {
    let (status, body) = server
        .post(
            "/v1/webhooks",
            &server.admin,
            json!({"url": url, "events": events}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn deliveries(server: &TestServer, webhook: &str) -> Vec<Value> {
    let (status, log) = server
        .get(&format!("/v1/webhooks/{webhook}/deliveries"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    log.as_array().unwrap().clone()
}

/// Waits until the webhook's log holds `count` deliveries that are no
/// longer pending; returns the log.
pub(crate) async fn settled(server: &TestServer, webhook: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = deliveries(server, webhook).await;
        if log.iter().filter(|d| d["status"] != "pending").count() >= count {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries did not settle: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn ping(server: &TestServer, webhook: &str) -> Value {
    let (status, delivery) = server
        .post(
            &format!("/v1/webhooks/{webhook}/ping"),
            &server.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{delivery}");
    delivery
}

pub(crate) fn loopback_allowed(options: &mut ServeOptions) {
    options.dev = true;
    options.allow_net = vec!["127.0.0.0/8".parse().unwrap()];
    options.webhook_backoff_ms = 50;
}

async fn deliveries_arrive_signed_and_verify_with_the_documented_code(backend: Backend) {
    let server = TestServer::start_with(backend, loopback_allowed).await;
    let receiver = Receiver::ok("127.0.0.1").await;
    let (id, secret) = create(&server, &receiver.url("/hooks?token=abc"), &["call.ended"]).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let tenant = tenant_of(&server, &server.admin).await;

    emit(
        server.state(),
        &tenant,
        "call.ended",
        json!({"call_id": "call_1", "outcome": "completed"}),
    )
    .await
    .unwrap();
    // Not subscribed: nothing is queued for it.
    emit(
        server.state(),
        &tenant,
        "voicemail.left",
        json!({"call_id": "call_1"}),
    )
    .await
    .unwrap();
    let log = settled(&server, &id, 1).await;
    assert_eq!(log.len(), 1, "{log:?}");
    let delivery = &log[0];
    assert_eq!(delivery["status"], "delivered", "{delivery}");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["last_status"], 200);
    assert_eq!(delivery["event"], "call.ended");
    assert!(delivery["next_attempt_at"].is_null(), "{delivery}");

    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.method, Method::POST);
    assert_eq!(hit.path, "/hooks");
    assert_eq!(hit.header("content-type"), "application/json");
    let signature = hit.header("switchyard-signature");
    assert!(signature.starts_with("t="), "{signature}");
    verify_switchyard_signature(&secret, signature, &hit.body, unix_now()).unwrap();

    assert!(
        hit.body.starts_with(br#"{"id":"evt_"#),
        "compact, id first: {}",
        String::from_utf8_lossy(&hit.body)
    );
    let body: Value = serde_json::from_slice(&hit.body).unwrap();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["created_at", "data", "id", "tenant_id", "type"]
    );
    assert_eq!(body["type"], "call.ended");
    assert_eq!(body["tenant_id"], tenant.as_str());
    assert_eq!(
        body["data"],
        json!({"call_id": "call_1", "outcome": "completed"})
    );
    assert!(body["created_at"].as_i64().is_some(), "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("evt_"), "{body}");
    assert_eq!(hit.header("switchyard-event"), body["id"].as_str().unwrap());
    assert_eq!(hit.header("switchyard-event-type"), "call.ended");
    assert_eq!(
        hit.header("switchyard-delivery"),
        delivery["id"].as_str().unwrap()
    );
    assert_eq!(delivery["payload"], body);

    // The documented check refuses a changed body, another secret, a stale
    // or future timestamp, and a header without a timestamp.
    // Staleness is measured from the signature's own `t`: the clock may have
    // passed a second boundary since the delivery.
    let sent: u64 = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split(',').next())
        .and_then(|t| t.parse().ok())
        .expect("t= first");
    let mut tampered = hit.body.clone();
    tampered[10] ^= 1;
    assert_eq!(
        verify_switchyard_signature(&secret, signature, &tampered, unix_now()),
        Err("no matching signature")
    );
    // The Python snippet in the docs agrees on this real delivery.
    assert_eq!(
        documented_python_verifier(&secret, signature, &hit.body),
        "ok"
    );
    assert_eq!(
        documented_python_verifier(&secret, signature, &tampered),
        "no matching signature"
    );
    assert_eq!(
        documented_python_verifier("whsec_other", signature, &hit.body),
        "no matching signature"
    );
    assert_eq!(
        verify_switchyard_signature("whsec_other", signature, &hit.body, unix_now()),
        Err("no matching signature")
    );
    assert_eq!(
        verify_switchyard_signature(&secret, signature, &hit.body, sent + 301),
        Err("timestamp too old or in the future")
    );
    assert_eq!(
        verify_switchyard_signature(&secret, signature, &hit.body, sent - 301),
        Err("timestamp too old or in the future")
    );
    let without_t = signature.split(',').nth(1).unwrap();
    assert_eq!(
        verify_switchyard_signature(&secret, without_t, &hit.body, unix_now()),
        Err("no timestamp")
    );

    // A ping goes to the webhook whatever it subscribes to.
    let queued = ping(&server, &id).await;
    assert_eq!(queued["event"], "ping");
    assert_eq!(queued["status"], "pending");
    let log = settled(&server, &id, 2).await;
    assert_eq!(log[0]["id"], queued["id"], "newest first: {log:?}");
    assert_eq!(log[0]["status"], "delivered");
    let hits = receiver.hits();
    assert_eq!(hits.len(), 2);
    let ping_body: Value = serde_json::from_slice(&hits[1].body).unwrap();
    assert_eq!(ping_body["type"], "ping");
    assert_eq!(ping_body["data"], json!({"webhook_id": id}));
    verify_switchyard_signature(
        &secret,
        hits[1].header("switchyard-signature"),
        &hits[1].body,
        unix_now(),
    )
    .unwrap();

    // Filters and paging of the log.
    let (_, failed) = server
        .get(
            &format!("/v1/webhooks/{id}/deliveries?status=failed"),
            &server.admin,
        )
        .await;
    assert_eq!(failed, json!([]));
    let (_, page) = server
        .get(
            &format!("/v1/webhooks/{id}/deliveries?limit=1"),
            &server.admin,
        )
        .await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["id"], queued["id"]);
    let before = queued["id"].as_str().unwrap();
    let (_, older) = server
        .get(
            &format!("/v1/webhooks/{id}/deliveries?before={before}"),
            &server.admin,
        )
        .await;
    assert_eq!(older.as_array().unwrap().len(), 1);
    assert_eq!(older[0]["event"], "call.ended");

    // The secret is sealed at rest: not in the database in the clear.
    let stored: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT secret FROM webhooks")
        .fetch_all(&server.state().db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    let secret_bytes = secret.as_bytes();
    assert!(
        !stored[0]
            .0
            .windows(secret_bytes.len())
            .any(|w| w == secret_bytes)
    );
    // Listing never shows it.
    let (_, listed) = server.get("/v1/webhooks", &server.admin).await;
    assert!(!listed.to_string().contains(&secret), "{listed}");
    assert_eq!(listed[0]["id"], id.as_str());
    let (_, one) = server
        .get(&format!("/v1/webhooks/{id}"), &server.admin)
        .await;
    assert_eq!(one["events"], json!(["call.ended"]));
    assert!(one.get("secret").is_none(), "{one}");

    // Unknown event types are a programming error, caught at emit.
    assert!(
        emit(server.state(), &tenant, "call.exploded", json!({}))
            .await
            .is_err()
    );
    server.stop().await;
}
both!(deliveries_arrive_signed_and_verify_with_the_documented_code);

async fn a_failing_receiver_gets_the_delivery_on_the_third_attempt(backend: Backend) {
    let server = TestServer::start_with(backend, |options| {
        loopback_allowed(options);
        options.webhook_max_attempts = 4;
    })
    .await;
    let flaky = Receiver::start("127.0.0.1", |earlier, _| {
        if earlier < 2 {
            AxumStatus::SERVICE_UNAVAILABLE.into_response()
        } else {
            AxumStatus::NO_CONTENT.into_response()
        }
    })
    .await;
    let down = Receiver::start("127.0.0.1", |_, _| {
        AxumStatus::INTERNAL_SERVER_ERROR.into_response()
    })
    .await;
    // A port nobody listens on: bind one, learn it, close it.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (flaky_id, secret) = create(&server, &flaky.url("/"), &["call.started"]).await;
    let (down_id, _) = create(&server, &down.url("/"), &["call.started"]).await;
    let (closed_id, _) = create(&server, &format!("http://{closed}/"), &["call.started"]).await;
    let tenant = tenant_of(&server, &server.admin).await;
    emit(
        server.state(),
        &tenant,
        "call.started",
        json!({"call_id": "call_7"}),
    )
    .await
    .unwrap();

    let log = settled(&server, &flaky_id, 1).await;
    assert_eq!(log[0]["status"], "delivered", "{log:?}");
    assert_eq!(log[0]["attempts"], 3);
    assert_eq!(log[0]["last_status"], 204);
    assert!(log[0]["last_error"].is_null(), "{log:?}");
    let hits = flaky.hits();
    assert_eq!(hits.len(), 3);
    // Every attempt is the same delivery with the same bytes, freshly signed.
    for hit in &hits {
        assert_eq!(hit.body, hits[0].body);
        assert_eq!(
            hit.header("switchyard-delivery"),
            log[0]["id"].as_str().unwrap()
        );
        assert_eq!(
            hit.header("switchyard-event"),
            hits[0].header("switchyard-event")
        );
        verify_switchyard_signature(
            &secret,
            hit.header("switchyard-signature"),
            &hit.body,
            unix_now(),
        )
        .unwrap();
    }

    // Out of attempts: failed, with the last status and error kept.
    let log = settled(&server, &down_id, 1).await;
    assert_eq!(log[0]["status"], "failed", "{log:?}");
    assert_eq!(log[0]["attempts"], 4);
    assert_eq!(log[0]["last_status"], 500);
    assert_eq!(
        log[0]["last_error"],
        "the receiver answered 500 Internal Server Error"
    );
    assert_eq!(down.hits().len(), 4);
    let log = settled(&server, &closed_id, 1).await;
    assert_eq!(log[0]["status"], "failed", "{log:?}");
    assert_eq!(log[0]["attempts"], 4);
    assert!(log[0]["last_status"].is_null());
    let error = log[0]["last_error"].as_str().unwrap();
    assert!(error.starts_with("could not connect"), "{error}");
    assert!(
        !error.contains(&closed.to_string()),
        "no URL in errors: {error}"
    );
    server.stop().await;
}
both!(a_failing_receiver_gets_the_delivery_on_the_third_attempt);

async fn retries_are_spaced_by_a_doubling_backoff(backend: Backend) {
    // The base delay is loopback_allowed's 50 ms: 50, 100, 200, 400 ms
    // nominal, each up to a quarter more.
    let base = 50;
    let server = TestServer::start_with(backend, |options| {
        loopback_allowed(options);
        options.webhook_max_attempts = 5;
    })
    .await;
    let down = Receiver::start("127.0.0.1", |_, _| {
        AxumStatus::SERVICE_UNAVAILABLE.into_response()
    })
    .await;
    let (id, _) = create(&server, &down.url("/"), &["call.started"]).await;
    let tenant = tenant_of(&server, &server.admin).await;
    emit(
        server.state(),
        &tenant,
        "call.started",
        json!({"call_id": "call_9"}),
    )
    .await
    .unwrap();

    // The delivery log after each attempt: `updated_at` is when it ended,
    // `next_attempt_at` when the next one is due. (While an attempt runs,
    // the due time is its lease, a minute or more out: not recorded.)
    let mut finished: std::collections::BTreeMap<i64, (i64, Option<i64>)> = Default::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = deliveries(&server, &id).await;
        let delivery = &log[0];
        let attempts = delivery["attempts"].as_i64().unwrap();
        let updated = delivery["updated_at"].as_i64().unwrap();
        let next = delivery["next_attempt_at"].as_i64();
        let done = delivery["status"] == "failed";
        if attempts > 0 && (done || next.is_some_and(|next| next - updated < 30_000)) {
            finished.entry(attempts).or_insert((updated, next));
        }
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "still pending: {delivery}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        finished.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4, 5],
        "every attempt seen in the log: {finished:?}"
    );
    assert_eq!(down.hits().len(), 5);
    assert_eq!(finished[&5].1, None, "no attempt after the last");

    // The schedule is what doubles; the gaps as they happened only have to
    // respect it (a loaded machine may run an attempt late, and a later
    // gap can then be the shorter one).
    let mut delays = Vec::new();
    for attempt in 1..5 {
        let nominal = base << (attempt - 1);
        let (ended, next) = finished[&attempt];
        // As scheduled: the nominal delay, plus up to a quarter (the two
        // clock readings may be a few ms apart).
        let scheduled = next.unwrap() - ended;
        assert!(
            (nominal - 5..=nominal + nominal / 4).contains(&scheduled),
            "attempt {attempt}: next due {scheduled} ms after it, nominal {nominal}: {finished:?}"
        );
        // As it happened: the next attempt ended no earlier than it was due.
        let gap = finished[&(attempt + 1)].0 - ended;
        assert!(
            gap >= scheduled - 5,
            "attempt {attempt}: next one {gap} ms later, due after {scheduled}: {finished:?}"
        );
        delays.push(scheduled);
    }
    assert!(
        delays.windows(2).all(|w| w[1] > w[0]),
        "each scheduled delay grows: {delays:?}"
    );
    server.stop().await;
}
both!(retries_are_spaced_by_a_doubling_backoff);

async fn loopback_receivers_are_refused_unless_the_operator_allows_them(backend: Backend) {
    let receiver = Receiver::ok("127.0.0.1").await;
    let port = receiver.addr.port();

    // Without --allow-net: loopback literals are refused at creation...
    let server = TestServer::start_with(backend, |options| {
        options.dev = true;
        options.webhook_backoff_ms = 50;
    })
    .await;
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://0x7f000001:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://10.0.0.7:{port}/"),
    ] {
        let (status, body) = server
            .post(
                "/v1/webhooks",
                &server.admin,
                json!({"url": url, "events": ["ping"]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(error_code(&body), "invalid");
        assert_eq!(body["error"]["pointer"], "/url");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("refused: "), "{message}");
        assert!(message.contains("--allow-net"), "{message}");
    }
    // ...and a name that resolves to loopback is refused after resolution,
    // in the delivery log, without a connection.
    let (id, _) = create(&server, &format!("http://localhost:{port}/hook"), &["ping"]).await;
    ping(&server, &id).await;
    let log = settled(&server, &id, 1).await;
    assert_eq!(log[0]["status"], "failed", "{log:?}");
    assert_eq!(log[0]["attempts"], 1, "refusals are not retried");
    let error = log[0]["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("refused: localhost resolves to "),
        "{error}"
    );
    assert!(error.ends_with("a loopback address"), "{error}");
    assert!(receiver.hits().is_empty());
    server.stop().await;

    // With --allow-net 127.0.0.0/8 the same receiver is reached, by address
    // and by name.
    let server = TestServer::start_with(backend, loopback_allowed).await;
    let (by_address, _) = create(&server, &receiver.url("/a"), &["ping"]).await;
    let (by_name, _) = create(&server, &format!("http://localhost:{port}/b"), &["ping"]).await;
    ping(&server, &by_address).await;
    ping(&server, &by_name).await;
    for id in [&by_address, &by_name] {
        let log = settled(&server, id, 1).await;
        assert_eq!(log[0]["status"], "delivered", "{log:?}");
    }
    let mut paths: Vec<String> = receiver.hits().into_iter().map(|h| h.path).collect();
    paths.sort();
    assert_eq!(paths, ["/a", "/b"]);
    server.stop().await;
}
both!(loopback_receivers_are_refused_unless_the_operator_allows_them);

async fn plain_http_is_refused_outside_dev_mode(backend: Backend) {
    let server = TestServer::start_with(backend, |options| {
        options.allow_net = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    for url in [
        "http://hooks.example.com/in",
        "http://127.0.0.1:9/in",
        "ftp://hooks.example.com/in",
        "ws://hooks.example.com/in",
    ] {
        let (status, body) = server
            .post(
                "/v1/webhooks",
                &server.admin,
                json!({"url": url, "events": ["call.ended"]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["error"]["pointer"], "/url");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("https://"),
            "{body}"
        );
    }
    let (_, secret) = create(&server, "https://hooks.example.com/in", &["call.ended"]).await;
    assert!(secret.starts_with("whsec_"));
    server.stop().await;
}
both!(plain_http_is_refused_outside_dev_mode);

async fn redirects_are_rechecked_at_every_hop(backend: Backend) {
    // Only 127.0.0.1 is allowed; 127.0.0.2 is loopback too, and refused.
    let server = TestServer::start_with(backend, |options| {
        options.dev = true;
        options.allow_net = vec!["127.0.0.1/32".parse().unwrap()];
        options.webhook_backoff_ms = 50;
    })
    .await;
    let hidden = Receiver::ok("127.0.0.2").await;
    let final_stop = Receiver::ok("127.0.0.1").await;
    let to_hidden = Receiver::start("127.0.0.1", redirect_to(hidden.url("/internal"))).await;
    let to_metadata = Receiver::start(
        "127.0.0.1",
        redirect_to("http://169.254.169.254/latest/meta-data/".into()),
    )
    .await;
    let to_allowed = Receiver::start("127.0.0.1", redirect_to(final_stop.url("/moved"))).await;

    let (hidden_id, _) = create(&server, &to_hidden.url("/"), &["ping"]).await;
    let (metadata_id, _) = create(&server, &to_metadata.url("/"), &["ping"]).await;
    let (allowed_id, secret) = create(&server, &to_allowed.url("/"), &["ping"]).await;
    for id in [&hidden_id, &metadata_id, &allowed_id] {
        ping(&server, id).await;
    }

    let log = settled(&server, &hidden_id, 1).await;
    assert_eq!(log[0]["status"], "failed", "{log:?}");
    assert_eq!(
        log[0]["last_error"],
        "refused: 127.0.0.2 is a loopback address"
    );
    assert_eq!(to_hidden.hits().len(), 1);
    assert!(
        hidden.hits().is_empty(),
        "the refused hop was not requested"
    );

    let log = settled(&server, &metadata_id, 1).await;
    assert_eq!(log[0]["status"], "failed", "{log:?}");
    assert_eq!(
        log[0]["last_error"],
        "refused: 169.254.169.254 is a cloud metadata address"
    );

    // A redirect to an allowed address is followed, with the body and the
    // signature (307 keeps the method and body).
    let log = settled(&server, &allowed_id, 1).await;
    assert_eq!(log[0]["status"], "delivered", "{log:?}");
    let hits = final_stop.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].path, "/moved");
    verify_switchyard_signature(
        &secret,
        hits[0].header("switchyard-signature"),
        &hits[0].body,
        unix_now(),
    )
    .unwrap();
    server.stop().await;
}
both!(redirects_are_rechecked_at_every_hop);

async fn metadata_addresses_are_refused_even_inside_an_allowed_network(backend: Backend) {
    let server = TestServer::start_with(backend, |options| {
        options.dev = true;
        options.allow_net = vec![
            "169.254.0.0/16".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
        ];
    })
    .await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/computeMetadata/v1/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://168.63.129.16/machine",
    ] {
        let (status, body) = server
            .post(
                "/v1/webhooks",
                &server.admin,
                json!({"url": url, "events": ["ping"]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["error"]["pointer"], "/url");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("a cloud metadata address"),
            "{url}: {body}"
        );
    }
    // The rest of the allowed network is open.
    create(&server, "http://169.254.10.10/hook", &["ping"]).await;
    create(&server, "http://[fd00::10]/hook", &["ping"]).await;
    server.stop().await;
}
both!(metadata_addresses_are_refused_even_inside_an_allowed_network);

async fn another_tenant_gets_404_on_every_webhook_route(backend: Backend) {
    let server = TestServer::start_with(backend, loopback_allowed).await;
    let receiver = Receiver::ok("127.0.0.1").await;
    let (id, _) = create(&server, &receiver.url("/"), &["call.ended"]).await;
    let other = server.other_tenant_key(&["admin"]).await;

    for (method, path) in [
        ("GET", format!("/v1/webhooks/{id}")),
        ("DELETE", format!("/v1/webhooks/{id}")),
        ("GET", format!("/v1/webhooks/{id}/deliveries")),
        ("POST", format!("/v1/webhooks/{id}/ping")),
    ] {
        let body = (method == "POST").then(|| json!({}));
        let (status, error) = server.call(method, &path, &other, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {error}");
        assert_eq!(error_code(&error), "not-found");
    }
    let (status, listed) = server.get("/v1/webhooks", &other).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed, json!([]));

    // The other tenant's events do not reach this tenant's webhook.
    let other_tenant = server
        .state()
        .db
        .authenticate(&other)
        .await
        .unwrap()
        .unwrap()
        .tenant;
    emit(
        server.state(),
        &other_tenant,
        "call.ended",
        json!({"call_id": "x"}),
    )
    .await
    .unwrap();
    // The other tenant's own webhook and ping stay its own.
    let (status, created) = server
        .post(
            "/v1/webhooks",
            &other,
            json!({"url": receiver.url("/other"), "events": ["call.ended"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = server
        .get(
            &format!("/v1/webhooks/{}", created["id"].as_str().unwrap()),
            &server.admin,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Nothing was touched: the webhook is there, its log empty.
    let (status, _) = server
        .get(&format!("/v1/webhooks/{id}"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(deliveries(&server, &id).await.is_empty());
    assert!(receiver.hits().is_empty());
    server.stop().await;
}
both!(another_tenant_gets_404_on_every_webhook_route);

async fn every_webhook_route_reports_its_errors(backend: Backend) {
    let server = TestServer::start_with(backend, |options| options.dev = true).await;
    let (id, _) = create(&server, "https://hooks.example.com/in", &["call.ended"]).await;
    let reader = server.key(&["flows:read", "calls:read"]).await;
    let routes = [
        ("GET", "/v1/webhooks".to_owned(), None),
        (
            "POST",
            "/v1/webhooks".to_owned(),
            Some(json!({"url": "https://hooks.example.com/x", "events": ["ping"]})),
        ),
        ("GET", format!("/v1/webhooks/{id}"), None),
        ("DELETE", format!("/v1/webhooks/{id}"), None),
        ("GET", format!("/v1/webhooks/{id}/deliveries"), None),
        ("POST", format!("/v1/webhooks/{id}/ping"), Some(json!({}))),
    ];
    for (method, path, body) in &routes {
        let (status, error) = server.call(method, path, "", body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(error_code(&error), "unauthorized");
        let (status, error) = server.call(method, path, &reader, body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(error_code(&error), "forbidden");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("admin")
        );
    }

    // Bodies of the wrong shape or with wrong values: 422 at their pointer.
    let long = format!("https://hooks.example.com/{}", "a".repeat(2100));
    let cases = [
        (json!({"url": "not a url", "events": ["ping"]}), "/url"),
        (json!({"url": "https://", "events": ["ping"]}), "/url"),
        (
            json!({"url": "https://user:pw@hooks.example.com/", "events": ["ping"]}),
            "/url",
        ),
        (
            json!({"url": "file:///etc/passwd", "events": ["ping"]}),
            "/url",
        ),
        (json!({"url": long, "events": ["ping"]}), "/url"),
        (
            json!({"url": "https://hooks.example.com/", "events": []}),
            "/events",
        ),
        (
            json!({"url": "https://hooks.example.com/", "events": ["call.ended", "call.exploded"]}),
            "/events/1",
        ),
        (json!({"url": 7, "events": ["ping"]}), "/url"),
    ];
    for (body, pointer) in cases {
        let (status, error) = server
            .post("/v1/webhooks", &server.admin, body.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error_code(&error), "invalid");
        assert_eq!(error["error"]["pointer"], pointer, "{body}: {error}");
    }
    let (status, error) = server
        .post(
            "/v1/webhooks",
            &server.admin,
            json!({"url": "https://hooks.example.com/", "events": ["call.exploded"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("call.ended"),
        "the message lists the known types: {error}"
    );
    for body in [
        json!({"url": "https://hooks.example.com/"}),
        json!({"url": "https://hooks.example.com/", "events": ["ping"], "secret": "mine"}),
    ] {
        let (status, error) = server
            .post("/v1/webhooks", &server.admin, body.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error_code(&error), "invalid");
    }
    let response = server
        .client
        .post(server.url("/v1/webhooks"))
        .bearer_auth(&server.admin)
        .header("content-type", "application/json")
        .body("{\"url\": ")
        .send()
        .await
        .unwrap();
    let (status, error) = crate::support::read(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&error), "malformed-json");
    let response = server
        .client
        .post(server.url("/v1/webhooks"))
        .bearer_auth(&server.admin)
        .body(r#"{"url": "https://hooks.example.com/", "events": ["ping"]}"#)
        .send()
        .await
        .unwrap();
    let (status, error) = crate::support::read(response).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(&error), "unsupported-media-type");

    // Unknown ids: 404 on every route that takes one.
    for (method, path) in [
        ("GET", "/v1/webhooks/wh_missing"),
        ("DELETE", "/v1/webhooks/wh_missing"),
        ("GET", "/v1/webhooks/wh_missing/deliveries"),
        ("POST", "/v1/webhooks/wh_missing/ping"),
    ] {
        let body = (method == "POST").then(|| json!({}));
        let (status, error) = server.call(method, path, &server.admin, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(error_code(&error), "not-found");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("wh_missing")
        );
    }

    // Bad query parameters of the delivery log: 400.
    for query in ["status=lost", "limit=many", "colour=blue"] {
        let (status, error) = server
            .get(
                &format!("/v1/webhooks/{id}/deliveries?{query}"),
                &server.admin,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {error}");
        assert_eq!(error_code(&error), "bad-query");
    }

    // A method the route does not take.
    let (status, error) = server
        .put(&format!("/v1/webhooks/{id}"), &server.admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&error), "method-not-allowed");

    // At most 20 webhooks a tenant.
    for n in 1..20 {
        create(
            &server,
            &format!("https://hooks.example.com/{n}"),
            &["ping"],
        )
        .await;
    }
    let (status, error) = server
        .post(
            "/v1/webhooks",
            &server.admin,
            json!({"url": "https://hooks.example.com/21", "events": ["ping"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(error_code(&error), "too-many-webhooks");

    // Deleting: 204, then 404; its deliveries go with it; both audited.
    ping(&server, &id).await;
    let (status, body) = server
        .delete(&format!("/v1/webhooks/{id}"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = server
        .delete(&format!("/v1/webhooks/{id}"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .get(&format!("/v1/webhooks/{id}/deliveries"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let left: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(&id)
            .fetch_all(&server.state().db.pool)
            .await
            .unwrap();
    assert!(left.is_empty(), "{left:?}");
    // A delivery queued while its webhook was being deleted is dropped by
    // the worker, not retried forever.
    let tenant = tenant_of(&server, &server.admin).await;
    let db = &server.state().db;
    let orphans = db
        .queue_deliveries(&tenant, std::slice::from_ref(&id), "ping", "{}")
        .await
        .unwrap();
    server.state().deliveries.notify_one();
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.delivery(&tenant, &orphans[0]).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the orphan delivery stayed");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let (_, audit) = server.get("/v1/audit", &server.admin).await;
    let entries = audit.as_array().unwrap();
    let deleted = entries
        .iter()
        .find(|e| e["action"] == "webhook.deleted")
        .expect("webhook.deleted audited");
    assert_eq!(deleted["target"], id.as_str());
    let created = entries
        .iter()
        .find(|e| e["action"] == "webhook.created" && e["target"] == id.as_str())
        .expect("webhook.created audited");
    assert_eq!(created["detail"]["host"], "hooks.example.com");
    assert!(
        !audit.to_string().contains("whsec_"),
        "no secret in the audit log"
    );
    server.stop().await;
}
both!(every_webhook_route_reports_its_errors);

async fn every_webhook_route_is_in_the_openapi_document(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, doc) = server.get("/v1/openapi.json", &server.admin).await;
    assert_eq!(status, StatusCode::OK);
    for (path, method, codes) in [
        ("/v1/webhooks", "get", &["200", "401", "403"][..]),
        (
            "/v1/webhooks",
            "post",
            &["201", "400", "401", "403", "409", "415", "422"][..],
        ),
        (
            "/v1/webhooks/{id}",
            "get",
            &["200", "401", "403", "404"][..],
        ),
        (
            "/v1/webhooks/{id}",
            "delete",
            &["204", "401", "403", "404"][..],
        ),
        (
            "/v1/webhooks/{id}/deliveries",
            "get",
            &["200", "400", "401", "403", "404"][..],
        ),
        (
            "/v1/webhooks/{id}/ping",
            "post",
            &["202", "401", "403", "404"][..],
        ),
    ] {
        let responses = &doc["paths"][path][method]["responses"];
        for code in codes {
            assert!(
                responses.get(*code).is_some(),
                "{method} {path} does not document {code}: {responses}"
            );
        }
    }
    let schemas = &doc["components"]["schemas"];
    for schema in ["Webhook", "CreatedWebhook", "NewWebhook", "Delivery"] {
        assert!(schemas.get(schema).is_some(), "no {schema} schema");
    }
    server.stop().await;
}
both!(every_webhook_route_is_in_the_openapi_document);

async fn two_servers_on_one_database_send_each_delivery_once(backend: Backend) {
    let first = TestServer::start_with(backend, loopback_allowed).await;
    let second_dir = tempfile::tempdir().unwrap();
    let mut options = ServeOptions::for_data_dir(second_dir.path().to_path_buf());
    options.database_url = Some(first.database_url.clone());
    options.master_key_file = Some(first.data_dir.join("master.key"));
    loopback_allowed(&mut options);
    let second = switchyard_studio_api::serve::start(options).await.unwrap();
    assert!(second.admin_key.is_none(), "the database is already set up");
    // Both servers' workers race for the same rows: each emits half the
    // events and wakes its own worker, and each worker reads every due row.

    let receiver = Receiver::start("127.0.0.1", |_, _| AxumStatus::OK.into_response()).await;
    let (id, _) = create(&first, &receiver.url("/"), &["call.ended"]).await;
    let tenant = tenant_of(&first, &first.admin).await;
    let events = 40;
    let (a, b) = (first.state().clone(), second.state.clone());
    let emit_on = |state: switchyard_studio_api::state::AppState, from: usize| {
        let tenant = tenant.clone();
        tokio::spawn(async move {
            for n in (from..events).step_by(2) {
                emit(&state, &tenant, "call.ended", json!({"n": n}))
                    .await
                    .unwrap();
            }
        })
    };
    let (x, y) = (emit_on(a, 0), emit_on(b, 1));
    x.await.unwrap();
    y.await.unwrap();
    let log = settled(&first, &id, events).await;
    assert!(
        log.iter()
            .all(|d| d["status"] == "delivered" && d["attempts"] == 1),
        "{log:?}"
    );

    let hits = receiver.hits();
    let mut ids: Vec<&str> = hits
        .iter()
        .map(|h| h.header("switchyard-delivery"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events, "every delivery arrived");
    assert_eq!(hits.len(), events, "none arrived twice");

    second.shutdown().await.unwrap();

    // The claim is a compare-and-set: of two workers that read the same due
    // row, exactly one wins. (The row is due far in the future, so the
    // running worker leaves it alone.)
    let db = &first.state().db;
    let far = i64::MAX / 4;
    sqlx::query(
        "INSERT INTO webhook_deliveries (tenant_id, id, webhook_id, event, payload, status, \
         attempts, next_attempt_at, created_at, updated_at) \
         VALUES ($1, 'whd_race', $2, 'call.ended', '{}', 'pending', 0, $3, 0, 0)",
    )
    .bind(tenant.as_str())
    .bind(&id)
    .bind(far)
    .execute(&db.pool)
    .await
    .unwrap();
    let seen = DueDelivery {
        tenant: tenant.clone(),
        id: "whd_race".into(),
        webhook_id: id.clone(),
        event: "call.ended".into(),
        payload: "{}".into(),
        attempts: 0,
        next_attempt_at: far,
    };
    assert!(db.claim_delivery(&seen, far + 1).await.unwrap());
    assert!(
        !db.claim_delivery(&seen, far + 1).await.unwrap(),
        "a second claim from the same reading loses"
    );
    // A late sender whose attempt was taken over cannot overwrite the
    // outcome of the newer attempt.
    let newer = DueDelivery {
        attempts: 1,
        next_attempt_at: far + 1,
        ..seen.clone()
    };
    assert!(db.claim_delivery(&newer, far + 2).await.unwrap());
    let stale = AttemptResult::Failed {
        status: None,
        error: "stale".into(),
    };
    assert!(
        !db.finish_delivery(&tenant, "whd_race", 1, &stale)
            .await
            .unwrap()
    );
    let done = AttemptResult::Delivered { status: 200 };
    assert!(
        db.finish_delivery(&tenant, "whd_race", 2, &done)
            .await
            .unwrap()
    );
    first.stop().await;
}
both!(two_servers_on_one_database_send_each_delivery_once);

#[test]
fn the_documented_rust_verifier_is_the_one_tested() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/webhooks.md"),
    )
    .unwrap();
    let start = docs.find("```rust\n").expect("a Rust snippet") + "```rust\n".len();
    let end = start + docs[start..].find("```").unwrap();
    let snippet = &docs[start..end];
    assert!(snippet.contains("fn verify_switchyard_signature"));
    assert!(
        include_str!("webhooks.rs").contains(snippet),
        "the Rust snippet in docs/webhooks.md differs from the verifier in this file"
    );
}

/// Runs the Python snippet of docs/webhooks.md, as written, on one
/// delivery; returns "ok" or the `ValueError` it raised.
fn documented_python_verifier(secret: &str, header: &str, body: &[u8]) -> String {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/webhooks.md"),
    )
    .unwrap();
    let start = docs.find("```python\n").expect("a Python snippet") + "```python\n".len();
    let snippet = &docs[start..start + docs[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let body_path = dir.path().join("body");
    std::fs::write(&body_path, body).unwrap();
    let script = format!(
        "{snippet}\nimport os, sys\ntry:\n    verify_switchyard_signature(os.environ['SECRET'], os.environ['HEADER'], open(sys.argv[1], 'rb').read())\n    print('ok')\nexcept ValueError as e:\n    print(e)\n"
    );
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&body_path)
        .env("SECRET", secret)
        .env("HEADER", header)
        .output()
        .expect("python3 runs (the test command installs it for schemathesis)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Binds `name` in `staging` through the API.
async fn bind(server: &TestServer, kind: &str, name: &str, value: &str) {
    let (status, body) = server
        .put(
            &format!("/v1/environments/staging/bindings/{kind}/{name}"),
            &server.admin,
            json!({"value": value}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn http(endpoint: &str, method: &str, body: Value) -> HttpRequest {
    HttpRequest {
        endpoint: endpoint.into(),
        method: method.into(),
        body,
    }
}

async fn the_webhook_plugin_reaches_bound_endpoints_through_the_same_checks(backend: Backend) {
    let server = TestServer::start_with(backend, loopback_allowed).await;
    let tenant = tenant_of(&server, &server.admin).await;
    let state = server.state();
    let echo = Receiver::start("127.0.0.1", |_, hit| {
        let body: Value = serde_json::from_slice(&hit.body).unwrap_or(Value::Null);
        (AxumStatus::CREATED, axum::Json(json!({"got": body}))).into_response()
    })
    .await;
    let huge = Receiver::start("127.0.0.1", |_, _| {
        let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024));
        ([("content-type", "application/json")], big).into_response()
    })
    .await;
    let text = Receiver::start("127.0.0.1", |_, _| "plain words".into_response()).await;
    let hidden = Receiver::ok("127.0.0.2").await;
    let bouncer = Receiver::start("127.0.0.1", redirect_to(hidden.url("/"))).await;

    // Not bound: status 0.
    let outcome =
        outbound_http::perform(state, &tenant, "staging", &http("crm", "POST", json!({}))).await;
    assert_eq!(outcome.status, 0);
    assert_eq!(outcome.body, Value::Null);

    // Bound, with a secret of the same name: signed like a webhook.
    bind(&server, "endpoint", "crm", &echo.url("/lookup")).await;
    bind(&server, "secret", "crm", "crm-shared-secret").await;
    let outcome = outbound_http::perform(
        state,
        &tenant,
        "staging",
        &http("crm", "POST", json!({"caller": "+14155550100"})),
    )
    .await;
    assert_eq!(outcome.status, 201);
    assert_eq!(outcome.body, json!({"got": {"caller": "+14155550100"}}));
    let hits = echo.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].path, "/lookup");
    assert_eq!(hits[0].header("content-type"), "application/json");
    verify_switchyard_signature(
        "crm-shared-secret",
        hits[0].header("switchyard-signature"),
        &hits[0].body,
        unix_now(),
    )
    .unwrap();
    // Another environment has its own bindings.
    let outcome = outbound_http::perform(
        state,
        &tenant,
        "production",
        &http("crm", "POST", json!({})),
    )
    .await;
    assert_eq!(outcome.status, 0);

    // Without a secret: no signature. GET sends no body.
    bind(&server, "endpoint", "status", &echo.url("/status")).await;
    let outcome = outbound_http::perform(
        state,
        &tenant,
        "staging",
        &http("status", "GET", Value::Null),
    )
    .await;
    assert_eq!(outcome.status, 201);
    let hits = echo.hits();
    assert_eq!(hits[1].method, Method::GET);
    assert!(hits[1].body.is_empty());
    assert!(!hits[1].headers.contains_key("switchyard-signature"));

    // Answers over the size cap keep their status and lose their body; an
    // answer that is not JSON is null.
    bind(&server, "endpoint", "huge", &huge.url("/")).await;
    let outcome =
        outbound_http::perform(state, &tenant, "staging", &http("huge", "GET", Value::Null)).await;
    assert_eq!((outcome.status, outcome.body), (200, Value::Null));
    bind(&server, "endpoint", "text", &text.url("/")).await;
    let outcome =
        outbound_http::perform(state, &tenant, "staging", &http("text", "GET", Value::Null)).await;
    assert_eq!((outcome.status, outcome.body), (200, Value::Null));

    // Refused: a redirect to a loopback address outside the allowed
    // network, and a method the plugin may not use.
    let narrow = TestServer::start_with(backend, |options| {
        options.dev = true;
        options.allow_net = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let narrow_tenant = tenant_of(&narrow, &narrow.admin).await;
    bind(&narrow, "endpoint", "bounce", &bouncer.url("/")).await;
    bind(&narrow, "endpoint", "echo", &echo.url("/")).await;
    for (endpoint, method) in [("bounce", "POST"), ("echo", "TRACE")] {
        let outcome = outbound_http::perform(
            narrow.state(),
            &narrow_tenant,
            "staging",
            &http(endpoint, method, json!({})),
        )
        .await;
        assert_eq!(outcome.status, 0, "{endpoint} {method}");
    }
    assert_eq!(bouncer.hits().len(), 1);
    assert!(hidden.hits().is_empty(), "127.0.0.2 was never reached");
    narrow.stop().await;

    // Without --allow-net: loopback by address or by a name that resolves
    // to it is refused. An address literal is refused when it is bound; one
    // bound before the policy changed (written straight to the database) is
    // refused when it is used.
    let closed = TestServer::start_with(backend, |options| options.dev = true).await;
    let closed_tenant = tenant_of(&closed, &closed.admin).await;
    let (status, body) = closed
        .put(
            "/v1/environments/staging/bindings/endpoint/literal",
            &closed.admin,
            json!({"value": echo.url("/")}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback"),
        "{body}"
    );
    closed
        .state()
        .db
        .put_binding(
            &closed_tenant,
            "staging",
            "endpoint",
            "literal",
            &BindingValue::Plain(echo.url("/")),
        )
        .await
        .unwrap();
    let by_name = format!("http://localhost:{}/", echo.addr.port());
    bind(&closed, "endpoint", "byname", &by_name).await;
    for endpoint in ["literal", "byname"] {
        let outcome = outbound_http::perform(
            closed.state(),
            &closed_tenant,
            "staging",
            &http(endpoint, "POST", json!({})),
        )
        .await;
        assert_eq!(outcome.status, 0, "{endpoint}");
    }
    closed.stop().await;

    // Outside development mode a plain http:// endpoint is not requested
    // (written straight to the database: the API would refuse to bind it).
    let strict = TestServer::start_with(backend, |options| {
        options.allow_net = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let strict_tenant = tenant_of(&strict, &strict.admin).await;
    strict
        .state()
        .db
        .put_binding(
            &strict_tenant,
            "staging",
            "endpoint",
            "echo",
            &BindingValue::Plain(echo.url("/")),
        )
        .await
        .unwrap();
    let outcome = outbound_http::perform(
        strict.state(),
        &strict_tenant,
        "staging",
        &http("echo", "POST", json!({})),
    )
    .await;
    assert_eq!(outcome.status, 0);
    assert_eq!(
        echo.hits().len(),
        2,
        "only the two allowed requests reached it"
    );
    strict.stop().await;
    server.stop().await;
}
both!(the_webhook_plugin_reaches_bound_endpoints_through_the_same_checks);
