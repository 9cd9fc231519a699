//! `transfer@1`: optionally says `prompt`, transfers the call to `to`, and
//! takes `transferred` or `failed` (setting `transfer_failure` to the reason).
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let mut node = Harness::new(switchyard_plugin_transfer::step)
//!     .config(serde_json::json!({"to": "+15550100"}));
//! assert_eq!(node.enter().actions, vec![Action::Transfer { to: "+15550100".into() }]);
//! let out = node.send(Event::TransferResult { ok: true, reason: None });
//! assert_eq!(out.exit.as_deref(), Some("transferred"));
//! ```

use switchyard_sdk::prelude::*;

/// The step function.
pub fn step(input: StepInput) -> StepOutput {
    let config = &input.node.config;
    match input.event {
        Event::Enter => {
            let Some(to) = config["to"].as_str().filter(|to| !to.trim().is_empty()) else {
                log(Level::Error, "transfer: `to` is missing or empty");
                return StepOutput::exit("error");
            };
            let mut out = StepOutput::wait();
            if let Some(text) = config["prompt"].as_str().filter(|t| !t.trim().is_empty()) {
                // A hold notice should be heard in full, so no barge-in.
                out = out.with_action(Action::Say {
                    text: text.to_owned(),
                    barge_in: false,
                });
            }
            out.with_action(Action::Transfer { to: to.to_owned() })
        }
        Event::TransferResult { ok: true, .. } => StepOutput::exit("transferred"),
        Event::TransferResult { ok: false, reason } => StepOutput::exit("failed").with_var(
            "transfer_failure",
            reason.unwrap_or_else(|| "unknown".to_owned()),
        ),
        // Anything else (prompt_done, ...) arrives while the transfer is under way.
        _ => StepOutput::wait(),
    }
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_sdk::harness::Harness;

    #[test]
    fn says_the_prompt_then_transfers() {
        let mut node =
            Harness::new(step).config(json!({"to": "sip:desk@example.com", "prompt": "Hold on."}));
        let out = node.enter();
        assert_eq!(
            out.actions,
            vec![
                Action::Say {
                    text: "Hold on.".into(),
                    barge_in: false
                },
                Action::Transfer {
                    to: "sip:desk@example.com".into()
                },
            ]
        );
        assert_eq!(out.exit, None);
        assert_eq!(node.send(Event::PromptDone), StepOutput::wait());
        let out = node.send(Event::TransferResult {
            ok: true,
            reason: None,
        });
        assert_eq!(out.exit.as_deref(), Some("transferred"));
    }

    #[test]
    fn a_failed_transfer_records_the_reason() {
        let mut node = Harness::new(step).config(json!({"to": "sales"}));
        node.enter();
        let out = node.send(Event::TransferResult {
            ok: false,
            reason: Some("busy".into()),
        });
        assert_eq!(out.exit.as_deref(), Some("failed"));
        assert_eq!(node.vars()["transfer_failure"], "busy");
    }

    #[test]
    fn a_failure_without_reason_says_unknown() {
        let mut node = Harness::new(step).config(json!({"to": "sales"}));
        node.enter();
        node.send(Event::TransferResult {
            ok: false,
            reason: None,
        });
        assert_eq!(node.vars()["transfer_failure"], "unknown");
    }

    #[test]
    fn a_missing_destination_is_an_error() {
        let out = Harness::new(step).config(json!({"to": " "})).enter();
        assert_eq!(out.exit.as_deref(), Some("error"));
        assert!(out.actions.is_empty());
    }
}
