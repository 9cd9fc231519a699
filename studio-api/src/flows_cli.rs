//! `switchyard flow push DIR` and `switchyard flow pull DIR`: a tenant's
//! flows as files in the user's own repository, one `NAME.json` a flow.
//!
//! `pull` writes every draft pretty-printed with sorted keys and a final
//! newline, so pulling twice, or pulling what was pushed, changes no byte
//! and a repository diff shows only real edits. `push` creates or updates
//! one draft per `*.json` file (updates carry the ETag just read in
//! `If-Match`, so an edit made in the Studio meanwhile is not overwritten
//! silently), and with `--publish` publishes each flow whose newest
//! version differs from the file. It reports one line per file and exits 1
//! when any file failed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use serde_json::Value;
use ureq::Agent;

use crate::flow_store::{canonical_json, pretty_json};

#[derive(Debug, Subcommand)]
pub enum FlowCommand {
    /// Create or update a draft for each *.json flow file in DIR.
    Push {
        dir: PathBuf,
        /// Also publish each flow whose newest version is not the file (moves `live`).
        #[arg(long)]
        publish: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Write each of the tenant's drafts as DIR/NAME.json.
    Pull {
        dir: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Where the Studio API is and the key to use.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// The Studio API's base URL.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An API key (flows:read to pull, flows:write to push).
    #[arg(long, env = "SWITCHYARD_KEY", hide_env_values = true)]
    key: String,
}

/// Runs a `switchyard flow` command.
pub fn run(command: FlowCommand) -> Result<ExitCode, String> {
    match command {
        FlowCommand::Push {
            dir,
            publish,
            server,
        } => push(&Client::new(server)?, &dir, publish),
        FlowCommand::Pull { dir, server } => pull(&Client::new(server)?, &dir),
    }
}

/// A small blocking client of the Studio API.
struct Client {
    base: String,
    key: String,
    agent: Agent,
}

/// A response: status, ETag and JSON body (`Null` when none).
struct Answer {
    status: u16,
    etag: Option<String>,
    body: Value,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The API's error message (`code: message`), or the bare status.
    fn error(&self) -> String {
        let error = &self.body["error"];
        match (error["code"].as_str(), error["message"].as_str()) {
            (Some(code), Some(message)) => format!("{message} [{code}, HTTP {}]", self.status),
            _ => format!("HTTP {}", self.status),
        }
    }
}

impl Client {
    fn new(args: ServerArgs) -> Result<Self, String> {
        let base = args.server.trim_end_matches('/').to_owned();
        let uri: ureq::http::Uri = base
            .parse()
            .map_err(|e| format!("--server {base}: not a URL ({e})"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(format!(
                "--server {base}: want http://HOST:PORT or https://HOST"
            ));
        }
        if args.key.trim().is_empty() {
            return Err("--key (or SWITCHYARD_KEY) is empty".into());
        }
        let mut config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")));
        // A local server is never reached through a proxy from the environment.
        if matches!(
            uri.host(),
            Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
        ) {
            config = config.proxy(None);
        }
        Ok(Self {
            base,
            key: args.key.trim().to_owned(),
            agent: config.build().new_agent(),
        })
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        if_match: Option<&str>,
    ) -> Result<Answer, String> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.key);
        let sent = match method {
            "GET" => self.agent.get(&url).header("Authorization", &auth).call(),
            "POST" | "PUT" => {
                let mut request = if method == "POST" {
                    self.agent.post(&url)
                } else {
                    self.agent.put(&url)
                };
                request = request.header("Authorization", &auth);
                if let Some(tag) = if_match {
                    request = request.header("If-Match", tag);
                }
                match body {
                    Some(body) => request
                        .header("Content-Type", "application/json")
                        .send(body),
                    None => request.send_empty(),
                }
            }
            other => return Err(format!("unsupported method {other}")),
        };
        // ureq's errors name the URL, never the headers: the key stays out.
        let mut response = sent.map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| format!("{method} {path}: reading the answer: {e}"))?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| {
                format!("{method} {path}: HTTP {status} with a body that is not JSON")
            })?
        };
        Ok(Answer { status, etag, body })
    }
}

/// A flow name as one URL path segment.
fn segment(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `*.json` files directly in `dir`, sorted.
fn flow_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    Ok(files)
}

fn push(client: &Client, dir: &Path, publish: bool) -> Result<ExitCode, String> {
    let files = flow_files(dir)?;
    if files.is_empty() {
        return Err(format!("{}: no *.json flow files", dir.display()));
    }
    let mut seen: Vec<(String, PathBuf)> = Vec::new();
    let (mut ok, mut failed) = (0, 0);
    for file in &files {
        let shown = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match push_one(client, file, publish, &mut seen) {
            Ok(report) => {
                ok += 1;
                println!("{shown}: {report}");
            }
            Err(problem) => {
                failed += 1;
                println!("{shown}: error: {problem}");
            }
        }
    }
    println!("{ok} pushed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Pushes one file; what happened, or why it failed.
fn push_one(
    client: &Client,
    file: &Path,
    publish: bool,
    seen: &mut Vec<(String, PathBuf)>,
) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let document: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    let name = document["name"]
        .as_str()
        .ok_or("not a flow document: no \"name\"")?
        .to_owned();
    if let Some((_, other)) = seen.iter().find(|(n, _)| *n == name) {
        return Err(format!(
            "flow {name} is also in {}; one file a flow",
            other.display()
        ));
    }
    seen.push((name.clone(), file.to_path_buf()));
    let wanted = canonical_json(&document);
    let path = format!("/v1/flows/{}", segment(&name));

    let current = client.request("GET", &path, None, None)?;
    let (mut report, etag) = match current.status {
        404 => {
            let created = client.request("POST", "/v1/flows", Some(&wanted), None)?;
            if !created.ok() {
                return Err(created.error());
            }
            (format!("created flow {name}"), created.etag)
        }
        _ if current.ok() => {
            if canonical_json(&current.body) == wanted {
                (format!("flow {name} unchanged"), current.etag)
            } else {
                let etag = current.etag.ok_or("the server sent no ETag")?;
                let updated = client.request("PUT", &path, Some(&wanted), Some(&etag))?;
                if updated.status == 412 {
                    return Err(format!(
                        "flow {name} changed on the server while pushing; push again (or pull to see the change)"
                    ));
                }
                if !updated.ok() {
                    return Err(updated.error());
                }
                (format!("updated flow {name}"), updated.etag)
            }
        }
        _ => return Err(current.error()),
    };
    if publish {
        report.push_str(&publish_if_new(
            client,
            &name,
            &path,
            &document,
            etag.as_deref(),
        )?);
    }
    Ok(report)
}

/// Publishes the draft unless its newest version already holds the document.
fn publish_if_new(
    client: &Client,
    name: &str,
    path: &str,
    document: &Value,
    etag: Option<&str>,
) -> Result<String, String> {
    let versions = client.request("GET", &format!("{path}/versions"), None, None)?;
    if !versions.ok() {
        return Err(versions.error());
    }
    if let Some(newest) = versions.body.as_array().and_then(|v| v.last()) {
        let number = newest["version"].as_i64().unwrap_or_default();
        let version = client.request("GET", &format!("{path}/versions/{number}"), None, None)?;
        if !version.ok() {
            return Err(version.error());
        }
        if canonical_json(&version.body["document"]) == canonical_json(document) {
            return Ok(format!(", already published as version {number}"));
        }
    }
    // If-Match: publish exactly what was pushed, not a later edit.
    let published = client.request("POST", &format!("{path}/versions"), None, etag)?;
    if published.status == 422 {
        let mut message = format!("flow {name} not published:");
        for problem in published.body["error"]["details"]["problems"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let pointer = problem["pointer"]
                .as_str()
                .filter(|p| !p.is_empty())
                .unwrap_or("/");
            message.push_str(&format!(
                "\n    {pointer}: {} [{}]",
                problem["message"].as_str().unwrap_or_default(),
                problem["code"].as_str().unwrap_or_default()
            ));
            if let Some(path) = problem["path"].as_array() {
                let nodes: Vec<&str> = path.iter().filter_map(Value::as_str).collect();
                message.push_str(&format!(" path: {}", nodes.join(" → ")));
            }
        }
        return Err(message);
    }
    if !published.ok() {
        return Err(published.error());
    }
    Ok(format!(
        ", published as version {}{}",
        published.body["version"],
        if published.body["live"] == Value::Bool(true) {
            " (live)"
        } else {
            ""
        }
    ))
}

fn pull(client: &Client, dir: &Path) -> Result<ExitCode, String> {
    let list = client.request("GET", "/v1/flows", None, None)?;
    if !list.ok() {
        return Err(list.error());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let names: Vec<String> = list
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect();
    let mut failed = 0;
    for name in &names {
        let file = dir.join(format!("{name}.json"));
        let answer = client.request("GET", &format!("/v1/flows/{}", segment(name)), None, None)?;
        if !answer.ok() {
            failed += 1;
            println!("{}: error: {}", file.display(), answer.error());
            continue;
        }
        let text = pretty_json(&answer.body);
        if std::fs::read_to_string(&file).is_ok_and(|old| old == text) {
            println!("{}: unchanged", file.display());
            continue;
        }
        std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
        println!("{}: written", file.display());
    }
    println!("{} pulled, {failed} failed", names.len() - failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
