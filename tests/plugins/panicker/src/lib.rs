//! Test guest: panics when its config says so, otherwise says "still standing".
//! The host must report the panic message as the node's `error` reason.
//!
//! ```
//! use switchyard_sdk::harness::Harness;
//! let out = Harness::new(switchyard_plugin_panicker::step).config(serde_json::json!({})).enter();
//! assert_eq!(out.exit.as_deref(), Some("done"));
//! ```

use switchyard_sdk::prelude::*;

/// Panics with the configured message when `panic` is set.
pub fn step(input: StepInput) -> StepOutput {
    if let Some(message) = input.node.config.get("panic").and_then(|v| v.as_str()) {
        panic!("{message}");
    }
    StepOutput::exit("done").with_action(Action::Say {
        text: "still standing".into(),
        barge_in: true,
    })
}

switchyard_sdk::export_step!(step);
