//! `play@1`: plays the audio at `url` to the caller and takes `done`.
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let out = Harness::new(switchyard_plugin_play::step)
//!     .config(serde_json::json!({"url": "https://example.com/hold.wav"}))
//!     .enter();
//! assert_eq!(out.exit.as_deref(), Some("done"));
//! ```

use switchyard_sdk::prelude::*;

/// The step function.
pub fn step(input: StepInput) -> StepOutput {
    let config = &input.node.config;
    let url = config["url"].as_str().unwrap_or_default().to_owned();
    let barge_in = config["barge_in"].as_bool().unwrap_or(true);
    // Like `say`, the runtime queues the audio; the flow moves on at once.
    StepOutput::exit("done").with_action(Action::Play { url, barge_in })
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_sdk::harness::Harness;

    #[test]
    fn plays_the_url_and_is_done() {
        let out = Harness::new(step)
            .config(json!({"url": "tone:beep", "barge_in": false}))
            .enter();
        assert_eq!(
            out.actions,
            vec![Action::Play {
                url: "tone:beep".into(),
                barge_in: false
            }]
        );
        assert_eq!(out.exit.as_deref(), Some("done"));
    }

    #[test]
    fn barge_in_defaults_to_true() {
        let out = Harness::new(step)
            .config(json!({"url": "hold.wav"}))
            .enter();
        assert_eq!(
            out.actions,
            vec![Action::Play {
                url: "hold.wav".into(),
                barge_in: true
            }]
        );
    }
}
