//! What every request handler shares: the database, the keyring, the plugin
//! host, live calls, rate limiters and the server's configuration.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use switchyard_runtime::host::{PluginHost, PluginRegistry};
use switchyard_runtime::policy::evidence::EvidenceSigner;

use crate::api::limits::RateLimits;
use crate::db::Db;
use crate::keyring::Keyring;
use crate::live_calls::LiveCalls;
use crate::ssrf::AddressPolicy;

/// Settings fixed at start (from `switchyard serve`'s flags).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// Development mode: `http://` webhook URLs are accepted.
    pub dev_mode: bool,
    /// Which outbound addresses webhooks and the `webhook` plugin may reach.
    pub outbound: AddressPolicy,
    /// Largest JSON body, in bytes (plugin uploads have their own limit).
    pub max_body_bytes: usize,
    /// Largest plugin upload, in bytes.
    pub max_plugin_bytes: usize,
    /// Requests per second one key may make (burst twice that).
    pub key_requests_per_second: u32,
    /// Failed authentications per minute one source address may make.
    pub auth_failures_per_minute: u32,
    /// How long live calls may run on after a shutdown signal.
    pub grace: std::time::Duration,
    /// Webhook retries: the delay after the first failed attempt, doubled
    /// after each further one (see `webhooks::backoff`).
    pub webhook_backoff: std::time::Duration,
    /// Attempts per webhook delivery before it is marked `failed`.
    pub webhook_max_attempts: u32,
    /// Time allowed for one webhook request, redirects included.
    pub webhook_timeout: std::time::Duration,
    /// Where outbound calls to a number go: `HOST:PORT` of the SIP trunk
    /// (`sip:NUMBER@HOST:PORT`). Without it, outbound calls need SIP URIs.
    pub sip_outbound_proxy: Option<String>,
    /// How often the retention sweeper runs (it also runs at start).
    pub sweep_every: std::time::Duration,
}

impl ServerConfig {
    /// Defaults for a data directory (what `switchyard serve` uses without flags).
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            dev_mode: false,
            outbound: AddressPolicy::default(),
            max_body_bytes: 1 << 20,
            max_plugin_bytes: 16 << 20,
            key_requests_per_second: 50,
            auth_failures_per_minute: 20,
            grace: std::time::Duration::from_secs(30),
            webhook_backoff: std::time::Duration::from_secs(60),
            webhook_max_attempts: 12,
            webhook_timeout: std::time::Duration::from_secs(10),
            sip_outbound_proxy: None,
            sweep_every: crate::retention::SWEEP_EVERY,
        }
    }
}

/// The shared state; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub db: Db,
    pub keyring: Keyring,
    pub config: ServerConfig,
    pub host: PluginHost,
    /// The plugins bundled into the binary (trusted, visible to every tenant).
    pub bundled: PluginRegistry,
    pub signer: EvidenceSigner,
    pub limits: RateLimits,
    pub calls: LiveCalls,
    /// Wakes the webhook delivery worker when a delivery is queued.
    pub deliveries: tokio::sync::Notify,
    /// Speech and language providers of voice calls.
    pub voice: crate::voice::VoiceServices,
    /// The SIP server, once started (`serve` sets it; none with `--no-sip`):
    /// outbound calls dial through it.
    pub sip: std::sync::OnceLock<switchyard_sip::SipServer>,
    /// Outbound calls being dialled or screened (answering-machine
    /// detection), not yet live calls: shutdown waits for them.
    pub placing: crate::voice::outbound::Placements,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

/// The peer's address, where the server knows it.
pub fn peer_ip(parts: &axum::http::request::Parts) -> IpAddr {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}
