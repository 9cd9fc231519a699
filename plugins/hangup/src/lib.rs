//! `hangup@1`: optionally says `text`, then ends the call with `reason`.
//! It takes no outcome: the runtime ends the call on the `hangup` action.
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let out = Harness::new(switchyard_plugin_hangup::step)
//!     .config(serde_json::json!({"text": "Goodbye.", "reason": "done"}))
//!     .enter();
//! assert_eq!(out.actions.last(), Some(&Action::Hangup { reason: Some("done".into()) }));
//! assert_eq!(out.exit, None);
//! ```

use switchyard_sdk::prelude::*;

/// The step function.
pub fn step(input: StepInput) -> StepOutput {
    // Only `enter` hangs up; any later event (say a `prompt_done` that raced
    // the hangup) must not emit a second one.
    if input.event != Event::Enter {
        return StepOutput::wait();
    }
    let config = &input.node.config;
    let mut out = StepOutput::wait();
    if let Some(text) = config["text"].as_str().filter(|t| !t.trim().is_empty()) {
        out = out.with_action(Action::Say {
            text: text.to_owned(),
            barge_in: false,
        });
    }
    let reason = config["reason"].as_str().map(str::to_owned);
    out.with_action(Action::Hangup { reason })
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_sdk::harness::Harness;

    #[test]
    fn says_goodbye_then_hangs_up_without_an_outcome() {
        let out = Harness::new(step)
            .config(json!({"text": "Bye", "reason": "caller-done"}))
            .enter();
        assert_eq!(
            out.actions,
            vec![
                Action::Say {
                    text: "Bye".into(),
                    barge_in: false
                },
                Action::Hangup {
                    reason: Some("caller-done".into())
                },
            ]
        );
        assert_eq!(out.exit, None);
    }

    #[test]
    fn hangs_up_silently_without_text() {
        let out = Harness::new(step).enter();
        assert_eq!(out.actions, vec![Action::Hangup { reason: None }]);
    }

    #[test]
    fn later_events_do_nothing() {
        let mut node = Harness::new(step);
        node.enter();
        assert_eq!(node.send(Event::PromptDone), StepOutput::wait());
    }
}
