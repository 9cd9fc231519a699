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

/// Drops the database `url` names (made by [`fresh_postgres_database`]),
/// ending any connection still open to it. Best effort: a database left
/// behind is dropped by the next `scripts/postgres.sh`.
fn drop_postgres_database(url: &str) {
    let Some((base, name)) = url.rsplit_once('/') else {
        return;
    };
    if !name.starts_with("sy_test_") {
        return;
    }
    let (base, name) = (base.to_owned(), name.to_owned());
    // Drop runs inside the test's runtime, which cannot be blocked on: a
    // thread of its own, with its own runtime, does the work.
    let dropped = std::thread::spawn(move || {
        use sqlx::Connection;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&format!("{base}/postgres"))
                .await
                .ok()?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .ok()
        })
    });
    let _ = dropped.join();
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
        send(&self.client, method, &self.url(path), key, body).await
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

    /// `GET path` without a key, with `headers`; the status and JSON body.
    pub async fn get_without_key(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = self.client.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.unwrap()).await
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

impl Drop for TestServer {
    /// Each PostgreSQL test server has a database of its own; without this,
    /// every run of the suite left a hundred behind.
    fn drop(&mut self) {
        if self.backend == Backend::Postgres {
            drop_postgres_database(&self.database_url);
        }
    }
}

/// Sends `method url` with `key` and an optional JSON body; returns the
/// status and the JSON body (`Null` when empty).
pub async fn send(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method, url).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.unwrap()).await
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
    call_saying_at(&server.client, &server.base, &server.admin, from, words).await
}

/// [`call_saying`] on the server at `base`, with `key`.
pub async fn call_saying_at(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    from: &str,
    words: &str,
) -> String {
    let (status, started) = send(
        client,
        "POST",
        &format!("{base}/v1/calls"),
        key,
        Some(serde_json::json!({"from": from, "to": "+18005550199", "clock": "virtual"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let id = started["id"].as_str().unwrap().to_owned();
    let input = format!("{base}/v1/calls/{id}/input");
    let mut turn = Value::Null;
    for body in [
        serde_json::json!({"says": words}),
        serde_json::json!({"hangup": true}),
    ] {
        let status;
        (status, turn) = send(client, "POST", &input, key, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{turn}");
    }
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

/// The built `switchyard serve` as a process of its own (for what only a
/// process shows: its output, its log, its environment, a SIGTERM).
pub struct ServeProcess {
    child: std::process::Child,
    /// Kept open: the server prints again when it shuts down.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub client: reqwest::Client,
    /// The admin key, when this start created the bootstrap tenant.
    pub admin: Option<String>,
}

impl ServeProcess {
    /// `switchyard serve` on `data_dir` (and `database_url`, if any), HTTP
    /// and SIP on free ports, its log to `log`, and neither a master key nor
    /// a database URL from the test's environment; add flags and variables,
    /// then [`ServeProcess::spawn`].
    pub fn command(
        data_dir: &std::path::Path,
        database_url: Option<&str>,
        log: &std::path::Path,
    ) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--sip", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("SWITCHYARD_MASTER_KEY")
            .env_remove("SWITCHYARD_DATABASE_URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap());
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        command
    }

    /// Starts `command` (from [`ServeProcess::command`]) and reads what it
    /// prints until it answers SIP, its last line at start.
    pub fn spawn(mut command: std::process::Command) -> Self {
        use std::io::BufRead;
        let mut child = command.spawn().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (mut base, mut admin, mut printed) = (String::new(), None, Vec::new());
        loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "the server stopped at start; it printed {printed:?}"
            );
            let line = line.trim_end().to_owned();
            if let Some(rest) = line.strip_prefix("switchyard serve: listening on ") {
                base = rest.split_whitespace().next().unwrap().to_owned();
            }
            if let Some(key) = line.strip_prefix("admin key: ") {
                admin = Some(key.to_owned());
            }
            let last = line.starts_with("SIP: ");
            printed.push(line);
            if last {
                break;
            }
        }
        Self {
            child,
            _stdout: stdout,
            base,
            client: reqwest::Client::new(),
            admin,
        }
    }

    /// Sends a request, as [`TestServer::call`] does.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        send(
            &self.client,
            method,
            &format!("{}{path}", self.base),
            key,
            body,
        )
        .await
    }

    /// SIGTERM, the graceful path; waits for the process to exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

/// Every file under `dir`.
pub fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
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

/// Asserts that no file under `dir` holds any of `needles`, byte for byte
/// (SQLite's main file and WAL, sealed recordings, keys).
pub fn assert_absent_from_files(dir: &std::path::Path, needles: &[&str]) {
    for file in walk(dir) {
        let bytes = std::fs::read(&file).unwrap();
        for needle in needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "`{needle}` in {}",
                file.display()
            );
        }
    }
}

/// Asserts that no row of any table of the PostgreSQL database at `url`
/// holds any of `needles`, in its text or, since `BYTEA` renders as hex in
/// a row's text, in hex.
pub async fn assert_absent_from_postgres(url: &str, needles: &[&str]) {
    let pg = sqlx::PgPool::connect(url).await.unwrap();
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&pg)
            .await
            .unwrap();
    assert!(tables.len() >= 10, "{tables:?}");
    for (table,) in tables {
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT t::text FROM \"{table}\" t"
        )))
        .fetch_all(&pg)
        .await
        .unwrap();
        for needle in needles {
            let hex = hex::encode(needle);
            assert!(
                rows.iter()
                    .all(|(r,)| !r.contains(needle) && !r.contains(&hex)),
                "`{needle}` in table {table}"
            );
        }
    }
    pg.close().await;
}
