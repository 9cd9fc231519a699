//! `switchyard serve`: the Studio API and the runtime in one process.
//!
//! Start-up opens the database (SQLite in the data directory, or
//! PostgreSQL), runs the embedded migrations, loads or creates the master
//! key and the evidence key, and on first start creates the bootstrap
//! tenant, prints its admin key once, and publishes the bundled flows for
//! it. Shutdown (SIGINT or SIGTERM) stops taking requests, lets live calls
//! finish for the grace period, ends the rest with outcome `shutdown`
//! (written whole), stops the workers and closes the database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use clap::Args;
use switchyard_runtime::host::{HostConfig, PluginHost};
use switchyard_runtime::policy::evidence::EvidenceSigner;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api;
use crate::api::limits::RateLimits;
use crate::crypto::MasterKey;
use crate::db::{Db, redact_url};
use crate::keyring::Keyring;
use crate::live_calls::LiveCalls;
use crate::ssrf::AddressPolicy;
use crate::state::{AppState, Inner, ServerConfig};

/// Flags of `switchyard serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeOptions {
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Data directory: the SQLite database, master key, evidence key, recordings.
    #[arg(long, default_value = "./switchyard-data")]
    pub data_dir: PathBuf,
    /// Use PostgreSQL instead of SQLite, e.g. postgres://user:pass@host/db.
    #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The master key file (64 hex digits); created when missing. The
    /// environment variable SWITCHYARD_MASTER_KEY takes precedence.
    #[arg(long)]
    pub master_key_file: Option<PathBuf>,
    /// Development mode: webhooks may use plain http://.
    #[arg(long)]
    pub dev: bool,
    /// Let webhooks reach this network although it is private or loopback
    /// (CIDR, repeatable), e.g. 10.1.2.0/24.
    #[arg(long = "allow-net", value_name = "CIDR")]
    pub allow_net: Vec<ipnet::IpNet>,
    /// Seconds live calls may run on after a shutdown signal.
    #[arg(long, default_value_t = 30)]
    pub grace: u64,
    /// Requests per second one API key may make (burst twice that).
    #[arg(long, default_value_t = 50)]
    pub key_rate: u32,
    /// Failed authentications per minute one source address may make.
    #[arg(long, default_value_t = 20)]
    pub auth_failure_rate: u32,
    /// Largest JSON request body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body: usize,
    /// Attempts per webhook delivery before it is marked failed.
    #[arg(long, default_value_t = 12)]
    pub webhook_max_attempts: u32,
    /// Delay after a webhook delivery's first failed attempt, in ms,
    /// doubled after each further one (tests shorten it).
    #[arg(long, default_value_t = 60_000, hide = true)]
    pub webhook_backoff_ms: u64,
    /// Time allowed for one webhook request, in ms.
    #[arg(long, default_value_t = 10_000, hide = true)]
    pub webhook_timeout_ms: u64,
    /// How often the retention sweeper runs, in ms (it also runs at start;
    /// tests shorten it).
    #[arg(long, default_value_t = 3_600_000, value_parser = clap::value_parser!(u64).range(1..), hide = true)]
    pub sweep_every_ms: u64,
    /// SIP address, UDP and TCP (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:5060")]
    pub sip: std::net::SocketAddr,
    /// Do not answer SIP at all (media streams still work).
    #[arg(long)]
    pub no_sip: bool,
    /// Only these source networks may start SIP calls (CIDR, repeatable);
    /// without it any source may.
    #[arg(long = "sip-trunk", value_name = "CIDR")]
    pub sip_trunks: Vec<ipnet::IpNet>,
    /// Require digest authentication of inbound SIP calls as this user
    /// (the password comes from SWITCHYARD_SIP_PASSWORD).
    #[arg(long)]
    pub sip_user: Option<String>,
    /// RTP ports, as FIRST-LAST (one even port per call, RTCP above it).
    #[arg(long, default_value = "20000-29999", value_parser = parse_port_range)]
    pub rtp_ports: (u16, u16),
    /// The SIP trunk outbound calls to numbers go through: a number N is
    /// dialled as sip:N@HOST:PORT. Without it, outbound calls take SIP URIs only.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub sip_outbound_proxy: Option<String>,
    /// Speech and language providers.
    #[command(flatten)]
    pub speech: crate::voice::SpeechOptions,
}

fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (first, last) = text
        .split_once('-')
        .ok_or_else(|| format!("`{text}` is not FIRST-LAST, e.g. 20000-29999"))?;
    let first: u16 = first
        .trim()
        .parse()
        .map_err(|e| format!("`{first}`: {e}"))?;
    let last: u16 = last.trim().parse().map_err(|e| format!("`{last}`: {e}"))?;
    if last <= first {
        return Err(format!("{first}-{last} holds no RTP/RTCP port pair"));
    }
    Ok((first, last))
}

fn parse_host_port(text: &str) -> Result<String, String> {
    let text = text.trim();
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("`{text}` is not HOST:PORT, e.g. trunk.example.com:5060"))?;
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("`{port}` is not a port number"))?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':');
    if bare.is_empty() || !bare.chars().all(fits) || (bare.contains(':') && bare == host) {
        return Err(format!(
            "`{host}` is not a host name or address (IPv6 goes in brackets)"
        ));
    }
    Ok(text.to_owned())
}

impl ServeOptions {
    /// Options for a data directory, as if given no other flags.
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            data_dir,
            database_url: None,
            master_key_file: None,
            dev: false,
            allow_net: Vec::new(),
            grace: 30,
            key_rate: 50,
            auth_failure_rate: 20,
            max_body: 1 << 20,
            webhook_max_attempts: 12,
            webhook_backoff_ms: 60_000,
            webhook_timeout_ms: 10_000,
            sweep_every_ms: 3_600_000,
            sip: "127.0.0.1:0".parse().expect("a socket address"),
            no_sip: false,
            sip_trunks: Vec::new(),
            sip_user: None,
            rtp_ports: (20_000, 29_999),
            sip_outbound_proxy: None,
            speech: crate::voice::SpeechOptions::default(),
        }
    }

    /// The SIP server's configuration from these options.
    ///
    /// # Errors
    /// When `--sip-user` is given without SWITCHYARD_SIP_PASSWORD.
    pub fn sip_config(&self) -> anyhow::Result<switchyard_sip::SipConfig> {
        let digest = match &self.sip_user {
            None => None,
            Some(user) => {
                let password = std::env::var("SWITCHYARD_SIP_PASSWORD")
                    .ok()
                    .filter(|p| !p.is_empty())
                    .context("--sip-user needs the password in SWITCHYARD_SIP_PASSWORD")?;
                Some(switchyard_sip::DigestCredentials {
                    realm: "switchyard".into(),
                    user: user.clone(),
                    password,
                })
            }
        };
        Ok(switchyard_sip::SipConfig {
            udp_bind: Some(self.sip),
            tcp_bind: Some(self.sip),
            rtp_ports: self.rtp_ports.0..=self.rtp_ports.1,
            trunk_allow_list: self.sip_trunks.clone(),
            digest,
            ..switchyard_sip::SipConfig::default()
        })
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!("sqlite://{}", self.data_dir.join("switchyard.db").display())
        })
    }

    /// Loads the master key: SWITCHYARD_MASTER_KEY, else the key file (made when missing).
    pub fn master_key(&self) -> anyhow::Result<MasterKey> {
        match std::env::var("SWITCHYARD_MASTER_KEY") {
            Ok(text) if !text.trim().is_empty() => {
                MasterKey::parse(&text).context("SWITCHYARD_MASTER_KEY")
            }
            _ => MasterKey::load_or_create(&self.master_key_path()),
        }
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }
}

/// A server that is up: its address, the admin key when this start created
/// the bootstrap tenant, and the means to stop it.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The SIP address (UDP; TCP on the same port where it was free).
    pub sip_addr: Option<SocketAddr>,
    pub admin_key: Option<String>,
    pub state: AppState,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Signals shutdown and waits until it has finished.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.done.await.context("server task")?
    }
}

/// Opens everything and starts serving; returns once the listener is bound.
pub async fn start(options: ServeOptions) -> anyhow::Result<RunningServer> {
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("creating data directory {}", options.data_dir.display()))?;
    let url = options.database_url();
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    let master = options.master_key()?;
    let signer = EvidenceSigner::load_or_create(&options.data_dir.join("evidence.key"))
        .map_err(|e| anyhow::anyhow!("evidence key: {e}"))?;
    let host =
        PluginHost::new(HostConfig::default()).map_err(|e| anyhow::anyhow!("plugin host: {e}"))?;
    let bundled = host
        .bundled_registry()
        .map_err(|e| anyhow::anyhow!("bundled plugins: {e}"))?;
    let mut config = ServerConfig::new(options.data_dir.clone());
    config.dev_mode = options.dev;
    config.outbound = AddressPolicy::new(options.allow_net.clone());
    config.max_body_bytes = options.max_body;
    config.key_requests_per_second = options.key_rate;
    config.auth_failures_per_minute = options.auth_failure_rate;
    config.grace = Duration::from_secs(options.grace);
    config.webhook_max_attempts = options.webhook_max_attempts;
    config.webhook_backoff = Duration::from_millis(options.webhook_backoff_ms);
    config.webhook_timeout = Duration::from_millis(options.webhook_timeout_ms);
    config.sweep_every = Duration::from_millis(options.sweep_every_ms.max(1));
    config.sip_outbound_proxy = options.sip_outbound_proxy.clone();
    let state = AppState::new(Inner {
        limits: RateLimits::new(
            config.key_requests_per_second,
            config.auth_failures_per_minute,
        ),
        keyring: Keyring::new(master),
        calls: LiveCalls::default(),
        deliveries: tokio::sync::Notify::new(),
        voice: options.speech.build().context("speech providers")?,
        db,
        config,
        host,
        bundled,
        signer,
        sip: std::sync::OnceLock::new(),
        placing: Default::default(),
    });

    let admin_key = if state.db.tenant_count().await? == 0 {
        Some(bootstrap(&state).await?)
    } else {
        None
    };

    let listener = TcpListener::bind(&options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let addr = listener.local_addr()?;
    // Media streams send small messages back to back (a prompt, then its
    // mark): with Nagle's algorithm the second waits for the first one's
    // ACK, which the peer may delay by up to 40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
    });
    let sip = if options.no_sip {
        None
    } else {
        Some(crate::sip_channel::start(state.clone(), options.sip_config()?).await?)
    };
    let sip_addr = sip.as_ref().and_then(|s| s.udp_addr());
    if let Some(sip) = &sip {
        // Outbound calls dial through it (the handle is shared).
        let _ = state.sip.set(sip.clone());
    }
    let (stop, stopped) = watch::channel(false);
    let workers = crate::workers::spawn(state.clone(), stopped.clone());
    let app = api::app(state.clone());
    let server_state = state.clone();
    let done = tokio::spawn(async move {
        let mut signal = stopped.clone();
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = signal.wait_for(|stop| *stop).await;
        })
        .await
        .context("HTTP server")?;
        let grace = server_state.config.grace;
        let ended = server_state.calls.drain(&server_state, grace).await;
        if ended > 0 {
            tracing::warn!(ended, "live calls ended at shutdown after the grace period");
        }
        if let Some(sip) = sip {
            // The drained calls' drivers have hung up; this ends any leg
            // left (BYE) and stops listening.
            sip.shutdown(Duration::from_secs(2)).await;
        }
        // Outbound calls still ringing or being screened were ended by the
        // SIP shutdown or refused by the drain; let them write their rows.
        let left = server_state.placing.wait_idle(Duration::from_secs(5)).await;
        if left > 0 {
            tracing::warn!(left, "outbound calls not written at shutdown");
        }
        workers.stop().await;
        server_state.db.pool.close().await;
        tracing::info!("stopped");
        Ok(())
    });
    tracing::info!(%addr, database = %redact_url(&url), "listening");
    if let Some(sip) = sip_addr {
        tracing::info!(%sip, "answering SIP");
    }
    Ok(RunningServer {
        addr,
        sip_addr,
        admin_key,
        state,
        stop,
        done,
    })
}

/// First start: the bootstrap tenant, its admin key, and the bundled flows.
async fn bootstrap(state: &AppState) -> anyhow::Result<String> {
    let tenant = state.db.create_tenant("default").await?;
    let (info, key) = state
        .db
        .create_key(&tenant, "bootstrap admin", &["admin".to_owned()])
        .await?;
    state
        .db
        .audit(
            &tenant,
            "system",
            "key.created",
            &info.id,
            serde_json::json!({"name": info.name, "prefix": info.prefix, "scopes": info.scopes}),
        )
        .await?;
    crate::api::flows::bootstrap(state, &tenant).await?;
    Ok(key)
}

/// Runs `switchyard serve` until SIGINT or SIGTERM.
pub fn run(options: ServeOptions) -> anyhow::Result<()> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = start(options.clone()).await?;
        println!(
            "switchyard serve: listening on http://{} (OpenAPI at /v1/openapi.json)",
            server.addr
        );
        match &options.database_url {
            Some(url) => println!("database: {}", redact_url(url)),
            None => println!("data: {} (SQLite)", options.data_dir.display()),
        }
        if let Some(key) = &server.admin_key {
            println!("admin key: {key}");
            println!("(shown once; it is stored only as a hash)");
        }
        if let Some(sip) = server.sip_addr {
            println!("SIP: sip:receptionist@{sip} (UDP and TCP)");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        shutdown_signal().await;
        println!(
            "switchyard serve: shutting down (live calls have {} s)",
            options.grace
        );
        server.shutdown().await
    })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// Logs go to standard error; `RUST_LOG` filters (default `info`).
fn init_logging() {
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    let mut directives = if asked.trim().is_empty() {
        "info".to_owned()
    } else {
        asked.clone()
    };
    // rsipstack logs whole SIP messages (callers' numbers in them) at info
    // and debug: only its warnings reach our log unless RUST_LOG names it.
    if !asked.contains("rsipstack") {
        directives.push_str(",rsipstack=warn");
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rsipstack=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
