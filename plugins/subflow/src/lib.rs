//! `subflow@1`: runs the flow named `flow` and takes the outcome it returns,
//! provided `outcomes` declares it (otherwise `error`).
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let mut node = Harness::new(switchyard_plugin_subflow::step)
//!     .config(serde_json::json!({"flow": "verify-caller", "outcomes": ["verified", "failed"]}));
//! assert_eq!(node.enter().actions, vec![Action::Subflow { flow: "verify-caller".into() }]);
//! let out = node.send(Event::SubflowResult { outcome: "verified".into() });
//! assert_eq!(out.exit.as_deref(), Some("verified"));
//! ```

use switchyard_sdk::prelude::*;

/// The step function.
pub fn step(input: StepInput) -> StepOutput {
    let config = &input.node.config;
    match input.event {
        Event::Enter => {
            let Some(flow) = config["flow"].as_str().filter(|f| !f.is_empty()) else {
                log(Level::Error, "subflow: `flow` is missing or empty");
                return StepOutput::exit("error");
            };
            StepOutput::wait().with_action(Action::Subflow {
                flow: flow.to_owned(),
            })
        }
        Event::SubflowResult { outcome } => {
            let declared = config["outcomes"]
                .as_array()
                .is_some_and(|list| list.iter().any(|o| o.as_str() == Some(outcome.as_str())));
            // The flow graph only has edges for declared outcomes (and `error`),
            // so an undeclared one can only go to `error`.
            if !declared && outcome != "error" {
                log(
                    Level::Warn,
                    &format!("subflow: the sub-flow returned undeclared outcome {outcome:?}"),
                );
                return StepOutput::exit("error");
            }
            StepOutput::exit(outcome)
        }
        _ => StepOutput::wait(),
    }
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_sdk::{guest::take_native_log, harness::Harness};

    fn node() -> Harness {
        Harness::new(step).config(json!({"flow": "kyc", "outcomes": ["ok", "rejected"]}))
    }

    #[test]
    fn takes_each_declared_outcome() {
        for outcome in ["ok", "rejected"] {
            let mut node = node();
            let out = node.enter();
            assert_eq!(out.actions, vec![Action::Subflow { flow: "kyc".into() }]);
            assert_eq!(out.exit, None);
            assert_eq!(node.send(Event::PromptDone), StepOutput::wait());
            let out = node.send(Event::SubflowResult {
                outcome: outcome.into(),
            });
            assert_eq!(out.exit.as_deref(), Some(outcome));
        }
    }

    #[test]
    fn an_undeclared_outcome_is_an_error_with_a_warning() {
        let mut node = node();
        node.enter();
        take_native_log();
        let out = node.send(Event::SubflowResult {
            outcome: "maybe".into(),
        });
        assert_eq!(out.exit.as_deref(), Some("error"));
        let log = take_native_log();
        assert_eq!(log[0].0, Level::Warn);
        assert!(log[0].1.contains("maybe"));
    }

    #[test]
    fn an_error_from_the_sub_flow_passes_through_quietly() {
        let mut node = node();
        node.enter();
        take_native_log();
        let out = node.send(Event::SubflowResult {
            outcome: "error".into(),
        });
        assert_eq!(out.exit.as_deref(), Some("error"));
        assert!(take_native_log().is_empty());
    }

    #[test]
    fn a_missing_flow_name_is_an_error() {
        let out = Harness::new(step)
            .config(json!({"outcomes": ["ok"]}))
            .enter();
        assert_eq!(out.exit.as_deref(), Some("error"));
    }
}
