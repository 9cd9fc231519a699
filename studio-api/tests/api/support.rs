//! A real `switchyard serve` in the test process, on a fresh SQLite file or
//! a fresh PostgreSQL database, and a small client for it.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::Value;
use switchyard_studio_api::serve::{RunningServer, ServeOptions, start};

/// Which database a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// PostgreSQL for the tests: `SWITCHYARD_TEST_POSTGRES`, or the local server
/// `scripts/postgres.sh` starts.
pub fn postgres_base() -> String {
    std::env::var("SWITCHYARD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432".into())
}

/// A new, empty PostgreSQL database; its URL.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let base = postgres_base();
    let mut conn = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL is not reachable at {base} ({e}); run scripts/postgres.sh (scripts/test.sh does)")
        });
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    let name = format!("sy_test_{}", hex::encode(random));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    format!("{base}/{name}")
}

/// A running server with its admin key.
pub struct TestServer {
    pub base: String,
    pub admin: String,
    pub backend: Backend,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub client: reqwest::Client,
    pub options: ServeOptions,
    server: Option<RunningServer>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts with options adjusted by `adjust`.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut ServeOptions)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut options = ServeOptions::for_data_dir(dir.path().to_path_buf());
        if backend == Backend::Postgres {
            options.database_url = Some(fresh_postgres_database().await);
        }
        // Tests send many requests quickly; the rate-limit tests set their own.
        options.key_rate = 10_000;
        adjust(&mut options);
        let database_url = options.database_url();
        let server = start(options.clone()).await.expect("server starts");
        let admin = server
            .admin_key
            .clone()
            .expect("first start prints an admin key");
        Self {
            base: format!("http://{}", server.addr),
            admin,
            backend,
            data_dir: dir.path().to_path_buf(),
            database_url,
            client: reqwest::Client::new(),
            options,
            server: Some(server),
            _dir: dir,
        }
    }

    pub fn state(&self) -> &switchyard_studio_api::state::AppState {
        &self.server.as_ref().expect("running").state
    }

    /// Where the server answers SIP (UDP; TCP on the same port).
    pub fn sip_addr(&self) -> std::net::SocketAddr {
        self.server
            .as_ref()
            .and_then(|s| s.sip_addr)
            .expect("the server answers SIP")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with `key` and an optional JSON body; returns the
    /// status and the JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        read(response).await
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call("GET", path, key, None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, key, Some(body)).await
    }

    pub async fn put(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call("PUT", path, key, Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call("DELETE", path, key, None).await
    }

    /// A key of a second, separate tenant (made directly in the database, as
    /// an operator would), with the given scopes.
    pub async fn other_tenant_key(&self, scopes: &[&str]) -> String {
        let db = &self.state().db;
        let tenant = db.create_tenant("other").await.unwrap();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        db.create_key(&tenant, "other", &scopes).await.unwrap().1
    }

    /// A key of the admin's tenant with the given scopes.
    pub async fn key(&self, scopes: &[&str]) -> String {
        let (status, body) = self
            .post(
                "/v1/keys",
                &self.admin,
                serde_json::json!({"name": "test", "scopes": scopes}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["key"].as_str().unwrap().to_owned()
    }

    /// Stops the server, lets `between` work on the stopped data (the
    /// directory and database stay), and starts it again on the same data.
    pub async fn restart(mut self, between: impl AsyncFnOnce(&Self)) -> Self {
        if let Some(server) = self.server.take() {
            server.shutdown().await.unwrap();
        }
        between(&self).await;
        let server = start(self.options.clone()).await.expect("server restarts");
        assert!(
            server.admin_key.is_none(),
            "a restart does not bootstrap again"
        );
        self.base = format!("http://{}", server.addr);
        self.server = Some(server);
        self
    }

    /// Stops the server and waits for its shutdown to finish.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.unwrap();
        }
    }
}

/// Status and JSON body of a response.
pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Asserts the API's error format and returns the error's code.
pub fn error_code(body: &Value) -> &str {
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message: {body}"
    );
    assert!(
        error["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("req_")),
        "no request id: {body}"
    );
    error["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code: {body}"))
}

/// Runs an async test body once per backend: `both!(name)` makes
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    };
}

/// A text-channel call from `from` to the bundled receptionist, in which the
/// caller says `words`, then hangs up. Returns the call id.
pub async fn call_saying(server: &TestServer, from: &str, words: &str) -> String {
    let (status, started) = server
        .post(
            "/v1/calls",
            &server.admin,
            serde_json::json!({"from": from, "to": "+18005550199", "clock": "virtual"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let id = started["id"].as_str().unwrap().to_owned();
    let (status, turn) = server
        .post(
            &format!("/v1/calls/{id}/input"),
            &server.admin,
            serde_json::json!({"says": words}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    let (status, turn) = server
        .post(
            &format!("/v1/calls/{id}/input"),
            &server.admin,
            serde_json::json!({"hangup": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{turn}");
    assert_eq!(turn["status"], "ended", "{turn}");
    id
}

/// A small but real WAV file: 0.1 s of a 440 Hz tone, 8 kHz 16-bit mono.
pub fn wav() -> Vec<u8> {
    let samples: Vec<i16> = (0..800)
        .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 8000.0) as i16)
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

/// The tenant a key belongs to.
pub async fn tenant_of(server: &TestServer, key: &str) -> switchyard_studio_api::db::TenantId {
    server
        .state()
        .db
        .authenticate(key)
        .await
        .unwrap()
        .expect("a valid key")
        .tenant
}
