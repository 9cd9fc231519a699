//! # switchyard-sdk
//!
//! Everything a Switchyard node plugin needs, and nothing of the runtime:
//! the step contract ([`protocol`]), the manifest ([`manifest`]), the
//! WebAssembly guest glue ([`export_step!`]) and a native test
//! [`harness`].
//!
//! A plugin is one pure function. It gets the node's config, the call's
//! facts, its own state and an event, and returns actions for the runtime to
//! carry out and, when it is done, an outcome:
//!
//! ```
//! use switchyard_sdk::prelude::*;
//! use switchyard_sdk::harness::Harness;
//! use serde_json::json;
//!
//! /// Says the configured text, then takes the `done` outcome.
//! fn step(input: StepInput) -> StepOutput {
//!     let text = input.node.config["text"].as_str().unwrap_or_default().to_owned();
//!     StepOutput::exit("done").with_action(Action::Say { text, barge_in: true })
//! }
//!
//! // Exports the ABI when built for wasm32; nothing natively.
//! switchyard_sdk::export_step!(step);
//!
//! // Unit-test it natively, no wasm involved.
//! let out = Harness::new(step).config(json!({"text": "Hello"})).enter();
//! assert_eq!(out.exit.as_deref(), Some("done"));
//! assert_eq!(out.actions, vec![Action::Say { text: "Hello".into(), barge_in: true }]);
//! ```
//!
//! Build it for the runtime with
//! `cargo build --target wasm32-unknown-unknown --profile plugin` and check
//! the package with `switchyard plugin check DIR`. The ABI is specified in
//! `sdk/ABI.md` for plugins written in other languages.

pub mod guest;
pub mod harness;
pub mod manifest;
pub mod protocol;

/// The names a plugin usually needs.
pub mod prelude {
    pub use crate::guest::{Level, log};
    pub use crate::manifest::{Manifest, PluginKind};
    pub use crate::protocol::{
        ABI_VERSION, Action, CallInfo, ChatMessage, DisclosureKind, Event, Gather, HttpRequest,
        LlmRequest, NodeInfo, RecordOp, StepInput, StepOutput, ToolCall, ToolSpec, Vars,
    };
}
