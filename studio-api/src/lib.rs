//! # switchyard-studio-api
//!
//! The control plane of Switchyard and the `switchyard` command. Today it
//! holds the command line ([`cli`]), the flows bundled into the binary
//! ([`bundled_flows`]) and the HTTPS adapter of the payment-tokenizer port
//! ([`tokenizer`]); the HTTP API and persistence come next.
//!
//! ```
//! use switchyard_studio_api::bundled_flows;
//! assert!(bundled_flows::get("receptionist").is_some());
//! ```

pub mod bundled_flows;
pub mod cli;
pub mod evidence_cli;
pub mod outbound_cli;
pub mod tokenizer;
