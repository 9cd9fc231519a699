//! Plugins: upload (checked as `switchyard plugin check` checks), list and
//! read with their origin, tenant privacy, the operator's trusted install,
//! and the per-tenant registry flows run against.

use std::path::{Path, PathBuf};

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, TestServer, error_code, tenant_of};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

const GREET: &str = r#"// greet@1: says hello, then takes `done`.
fn step(input) {
    #{ "exit": "done", "actions": [#{ "type": "say", "text": "Hello from greet." }] }
}
"#;

fn greet_manifest(version: &str) -> Value {
    json!({
        "name": "greet", "version": version, "description": "Says hello.",
        "kind": "rhai", "module": "greet.rhai", "outcomes": ["done"], "actions": ["say"],
        "config_schema": {"type": "object"}
    })
}

/// The bundled `say` module under another name: a real WebAssembly upload.
fn shout() -> (Value, Vec<u8>) {
    let mut manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("plugins/say/manifest.json")).unwrap(),
    )
    .unwrap();
    manifest["name"] = json!("shout");
    manifest["module"] = json!("shout.wasm");
    (
        manifest,
        std::fs::read(repo().join("plugins/say/say.wasm")).unwrap(),
    )
}

async fn uploads_are_stored_by_digest_listed_by_origin_and_private(backend: Backend) {
    let server = TestServer::start(backend).await;
    let writer = server.key(&["plugins:write"]).await;
    let reader = server.key(&["flows:read"]).await;

    // A Rhai script as text.
    let (status, greet) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": greet_manifest("1.0.0"), "script": GREET}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{greet}");
    assert_eq!(greet["origin"], "tenant");
    assert_eq!(greet["trusted"], false);
    assert_eq!(greet["kind"], "rhai");
    assert!(greet["digest"].as_str().unwrap().starts_with("sha256:"));

    // A WebAssembly module, base64.
    let (manifest, module) = shout();
    let (status, shout) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": manifest, "module_base64": b64(&module)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{shout}");
    assert_eq!(shout["kind"], "wasm");
    // The digest is the plugin host's: manifest and module together.
    let package = switchyard_runtime::host::PluginPackage::from_parts(
        &serde_json::to_vec(&manifest).unwrap(),
        module.clone(),
    )
    .unwrap();
    assert_eq!(shout["digest"], package.digest());

    // Content-addressed: the blob is stored once under that digest.
    let blobs: Vec<(String,)> = sqlx::query_as("SELECT digest FROM plugin_blobs")
        .fetch_all(&server.state().db.pool)
        .await
        .unwrap();
    assert!(
        blobs
            .iter()
            .any(|(d,)| d == shout["digest"].as_str().unwrap())
    );

    // The same package again is a no-op; the same version with other
    // contents is refused: versions are immutable.
    let (status, again) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": greet_manifest("1.0.0"), "script": GREET}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["digest"], greet["digest"]);
    let (status, body) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": greet_manifest("1.0.0"), "script": GREET.replace("Hello", "Hi")}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "version-exists");
    assert_eq!(body["error"]["pointer"], "/manifest/version");

    // Listed with bundled ones, each with its origin.
    let (status, list) = server.get("/v1/plugins", &reader).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let origin = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["origin"].as_str().unwrap().to_owned())
    };
    assert_eq!(origin("say").as_deref(), Some("bundled"));
    assert_eq!(origin("greet").as_deref(), Some("tenant"));
    assert_eq!(origin("shout").as_deref(), Some("tenant"));
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|p| p.get("manifest").is_none())
    );

    // One plugin, with its manifest.
    let (status, one) = server.get("/v1/plugins/greet/1.0.0", &reader).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["manifest"]["module"], "greet.rhai");
    assert_eq!(one["digest"], greet["digest"]);
    let (status, one) = server.get("/v1/plugins/say/1.0.0", &reader).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["origin"], "bundled");
    assert_eq!(one["trusted"], true);
    let (status, body) = server.get("/v1/plugins/greet/9.0.0", &reader).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not-found");

    // Private: another tenant neither lists nor reads it.
    let other = server
        .other_tenant_key(&["flows:read", "plugins:write"])
        .await;
    let (_, list) = server.get("/v1/plugins", &other).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "greet")
    );
    let (status, body) = server.get("/v1/plugins/greet/1.0.0", &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_code(&body), "not-found");
    let (status, body) = server.get("/v1/plugins/shout/1.0.0", &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // The tenant's registry holds its uploads (untrusted) and steps them;
    // the other tenant's does not.
    let tenant = tenant_of(&server, &writer).await;
    let registry = switchyard_studio_api::tenant_plugins::registry(server.state(), &tenant)
        .await
        .unwrap();
    let plugin = registry.get("greet", 1).expect("greet@1 in the registry");
    assert!(!plugin.trusted());
    assert_eq!(plugin.digest(), greet["digest"].as_str().unwrap());
    assert!(registry.get("shout", 1).is_some());
    assert!(registry.get("say", 1).is_some_and(|p| p.trusted()));
    use switchyard_sdk::prelude::*;
    let input = StepInput {
        abi: ABI_VERSION,
        node: NodeInfo {
            id: "hi".into(),
            config: json!({}),
        },
        call: CallInfo {
            id: "c1".into(),
            locale: "en-US".into(),
            jurisdiction: vec![],
            vars: Default::default(),
            now_ms: 0,
            seed: 1,
        },
        state: Value::Null,
        event: Event::Enter,
    };
    let output = plugin.step(&input).output.unwrap();
    assert_eq!(output.exit.as_deref(), Some("done"));
    let other_tenant = tenant_of(&server, &other).await;
    let theirs = switchyard_studio_api::tenant_plugins::registry(server.state(), &other_tenant)
        .await
        .unwrap();
    assert!(theirs.get("greet", 1).is_none());

    // A newer version of the same major replaces the older in the registry.
    let (status, v2) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": greet_manifest("1.1.0"), "script": GREET.replace("Hello", "Hey")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    let registry = switchyard_studio_api::tenant_plugins::registry(server.state(), &tenant)
        .await
        .unwrap();
    assert_eq!(
        registry.get("greet", 1).unwrap().digest(),
        v2["digest"].as_str().unwrap()
    );

    // Audited.
    let (_, audit) = server.get("/v1/audit", &server.admin).await;
    let uploads: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "plugin.uploaded")
        .collect();
    assert_eq!(uploads.len(), 3, "{audit}");
    assert!(uploads.iter().any(|e| e["target"] == "plugin:greet@1.0.0"));
    server.stop().await;
}
both!(uploads_are_stored_by_digest_listed_by_origin_and_private);

/// What `switchyard plugin check` says about a package directory.
fn check_dir(files: &[(&str, &[u8])]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let host = switchyard_runtime::host::PluginHost::new(Default::default()).unwrap();
    switchyard_runtime::host::check_package_dir(&host, dir.path()).problems
}

async fn bad_uploads_get_the_checks_messages_and_clear_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let writer = server.key(&["plugins:write"]).await;

    // A module importing WASI: the same problem, word for word, as the CLI.
    let wasi = wat::parse_file(repo().join("tests/plugins/wat/wasi-import.wat")).unwrap();
    let manifest = json!({"name": "leaky", "version": "1.0.0", "kind": "wasm",
                          "module": "leaky.wasm", "outcomes": ["done"]});
    let (status, body) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": manifest, "module_base64": b64(&wasi)}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_code(&body), "invalid-plugin");
    let expected = check_dir(&[
        (
            "manifest.json",
            &serde_json::to_vec_pretty(&manifest).unwrap(),
        ),
        ("leaky.wasm", &wasi),
    ]);
    assert!(!expected.is_empty());
    assert_eq!(body["error"]["details"]["problems"], json!(expected));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wasi_snapshot_preview1.fd_write"),
        "{body}"
    );

    // Manifest problems, and a script without `fn step`.
    let mut bad = greet_manifest("1.0");
    bad["name"] = json!("Greet");
    let (status, body) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": bad, "script": GREET}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_code(&body), "invalid-plugin");
    let expected = check_dir(&[
        ("manifest.json", &serde_json::to_vec_pretty(&bad).unwrap()),
        ("greet.rhai", GREET.as_bytes()),
    ]);
    assert_eq!(body["error"]["details"]["problems"], json!(expected));
    let (status, body) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": greet_manifest("1.0.0"), "script": "fn other(x) { x }"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing `fn step(input)`"),
        "{body}"
    );
    // A module path that leaves the package.
    let mut escaping = greet_manifest("1.0.0");
    escaping["module"] = json!("../../etc/passwd");
    let (status, body) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": escaping, "script": GREET}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must be a file name inside the package"),
        "{body}"
    );

    // Compliance roles are for operator-installed plugins only.
    let mut claims = greet_manifest("1.0.0");
    claims["roles"] = json!(["recording-disclosure"]);
    let (status, body) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": claims, "script": GREET}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_code(&body), "untrusted-role");
    assert_eq!(body["error"]["pointer"], "/manifest/roles");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("recording-disclosure")
    );

    // A bundled name cannot be taken.
    let mut say = greet_manifest("2.0.0");
    say["name"] = json!("say");
    let (status, body) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": say, "script": GREET}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "name-taken");

    // Shape errors point at the field.
    let (status, body) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": greet_manifest("1.0.0"), "module_base64": "not base64!"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["pointer"], "/module_base64");
    let (status, body) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": greet_manifest("1.0.0")}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["pointer"], "/module_base64");
    let (status, body) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": "greet", "script": GREET}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["pointer"], "/manifest");
    let response = server
        .client
        .post(server.url("/v1/plugins"))
        .bearer_auth(&writer)
        .header("content-type", "application/json")
        .body("{\"manifest\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "malformed-json");
    let response = server
        .client
        .post(server.url("/v1/plugins"))
        .bearer_auth(&writer)
        .body("manifest")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Larger than the JSON limit (1 MiB) is fine for a plugin...
    let big = format!("{GREET}\n// {}\n", "x".repeat(2 << 20));
    let (status, body) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": greet_manifest("3.0.0"), "script": big}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{}", body["error"]);
    // ...up to the plugin limit (16 MiB), not past it.
    let huge = vec![0u8; (16 << 20) + 1];
    let (status, body) = server
        .post(
            "/v1/plugins",
            &writer,
            json!({"manifest": greet_manifest("4.0.0"), "module_base64": b64(&huge)}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&body), "body-too-large");

    // Scopes and keys.
    let reader = server.key(&["flows:read"]).await;
    let (status, body) = server
        .post(
            "/v1/plugins",
            &reader,
            json!({"manifest": greet_manifest("1.0.0"), "script": GREET}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "forbidden");
    let calls_only = server.key(&["calls:read"]).await;
    let (status, body) = server.get("/v1/plugins", &calls_only).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "forbidden");
    let (status, body) = server.get("/v1/plugins/say/1.0.0", &calls_only).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = server.get("/v1/plugins", "sy_nope").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "unauthorized");

    // Nothing of the refused uploads was stored; no scratch files remain.
    let (_, list) = server.get("/v1/plugins", &writer).await;
    let tenant_names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["origin"] == "tenant")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(tenant_names, ["greet"]);
    let scratch = server.data_dir.join("tmp");
    if scratch.exists() {
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
    }
    server.stop().await;
}
both!(bad_uploads_get_the_checks_messages_and_clear_errors);

fn install(server: &TestServer, dir: &Path) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command.args(["plugin", "install"]).arg(dir);
    command.env_remove("SWITCHYARD_DATABASE_URL");
    match server.backend {
        Backend::Sqlite => command.arg("--data-dir").arg(&server.data_dir),
        Backend::Postgres => command.arg("--database-url").arg(&server.database_url),
    };
    command.output().unwrap()
}

async fn the_operator_installs_trusted_plugins_for_every_tenant(backend: Backend) {
    let server = TestServer::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = json!({
        "name": "consent-plus", "version": "1.0.0", "description": "Asks for consent.",
        "kind": "rhai", "module": "consent.rhai", "outcomes": ["done"], "actions": ["say"],
        "roles": ["recording-disclosure"]
    });
    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.path().join("consent.rhai"), GREET).unwrap();

    let output = install(&server, dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("installed consent-plus@1.0.0 sha256:"),
        "{stdout}"
    );
    // Again: already there, still fine.
    let output = install(&server, dir.path());
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("already installed"));

    // Every tenant sees it, trusted, with its role.
    let other = server
        .other_tenant_key(&["flows:read", "plugins:write"])
        .await;
    for key in [&server.admin, &other] {
        let (status, one) = server.get("/v1/plugins/consent-plus/1.0.0", key).await;
        assert_eq!(status, StatusCode::OK, "{one}");
        assert_eq!(one["origin"], "platform");
        assert_eq!(one["trusted"], true);
        assert_eq!(one["roles"], json!(["recording-disclosure"]));
        let (_, list) = server.get("/v1/plugins", key).await;
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "consent-plus" && p["origin"] == "platform")
        );
    }
    let tenant = tenant_of(&server, &other).await;
    let registry = switchyard_studio_api::tenant_plugins::registry(server.state(), &tenant)
        .await
        .unwrap();
    assert!(registry.get("consent-plus", 1).unwrap().trusted());

    // A tenant cannot upload under that name.
    let mut theirs = greet_manifest("2.0.0");
    theirs["name"] = json!("consent-plus");
    let (status, body) = server
        .post(
            "/v1/plugins",
            &other,
            json!({"manifest": theirs, "script": GREET}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "name-taken");

    // The same version with other contents, or a broken package, is refused.
    std::fs::write(
        dir.path().join("consent.rhai"),
        GREET.replace("Hello", "Hi"),
    )
    .unwrap();
    let output = install(&server, dir.path());
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("already installed with other contents"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(dir.path().join("consent.rhai"), "fn nope(").unwrap();
    let output = install(&server, dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("error: rhai script"));
    server.stop().await;
}
both!(the_operator_installs_trusted_plugins_for_every_tenant);
