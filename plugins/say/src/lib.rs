//! `say@1`: speaks `text` to the caller and takes `done`.
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let out = Harness::new(switchyard_plugin_say::step)
//!     .config(serde_json::json!({"text": "Welcome to Acme."}))
//!     .enter();
//! assert_eq!(out.exit.as_deref(), Some("done"));
//! ```

use switchyard_sdk::prelude::*;

/// The step function.
pub fn step(input: StepInput) -> StepOutput {
    let config = &input.node.config;
    let text = config["text"].as_str().unwrap_or_default().to_owned();
    let barge_in = config["barge_in"].as_bool().unwrap_or(true);
    StepOutput::exit("done").with_action(Action::Say { text, barge_in })
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_sdk::harness::Harness;

    #[test]
    fn says_the_text_and_is_done() {
        let out = Harness::new(step)
            .config(json!({"text": "Hi", "barge_in": false}))
            .enter();
        assert_eq!(
            out.actions,
            vec![Action::Say {
                text: "Hi".into(),
                barge_in: false
            }]
        );
        assert_eq!(out.exit.as_deref(), Some("done"));
    }
}
