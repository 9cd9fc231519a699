//! # switchyard-studio-api
//!
//! The control plane of Switchyard and the `switchyard` command: the Studio
//! HTTP API ([`api`], started by [`serve`]), persistence on SQLite or
//! PostgreSQL ([`db`]), encryption at rest ([`crypto`], [`keyring`]), the
//! command line ([`cli`]), the flows bundled into the binary
//! ([`bundled_flows`]) and the HTTPS adapter of the payment-tokenizer port
//! ([`tokenizer`]).
//!
//! ```
//! use switchyard_studio_api::bundled_flows;
//! assert!(bundled_flows::get("receptionist").is_some());
//! ```

pub mod api;
pub mod bundled_flows;
pub mod cli;
pub mod crypto;
pub mod db;
pub mod evidence_cli;
pub mod flow_store;
pub mod flows_cli;
pub mod keyring;
pub mod live_calls;
pub mod media_stream;
pub mod outbound_cli;
pub mod outbound_http;
pub mod recordings;
pub mod retention;
pub mod serve;
pub mod serve_cli;
pub mod sip_channel;
pub mod ssrf;
pub mod state;
pub mod tenant_plugins;
pub mod tokenizer;
pub mod voice;
pub mod webhooks;
pub mod workers;
