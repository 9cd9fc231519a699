//! `record@1`: starts or stops recording the call (`op`) and takes `done`.
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let out = Harness::new(switchyard_plugin_record::step)
//!     .config(serde_json::json!({"op": "start"}))
//!     .enter();
//! assert_eq!(out.actions, vec![Action::Record { op: RecordOp::Start }]);
//! assert_eq!(out.exit.as_deref(), Some("done"));
//! ```

use switchyard_sdk::prelude::*;

/// The step function.
pub fn step(input: StepInput) -> StepOutput {
    let op = match input.node.config["op"].as_str() {
        Some("start") => RecordOp::Start,
        Some("stop") => RecordOp::Stop,
        // Guessing an op could start a recording nobody asked for, so a bad
        // config is an error rather than a default.
        other => {
            log(
                Level::Error,
                &format!("record: `op` must be \"start\" or \"stop\", got {other:?}"),
            );
            return StepOutput::exit("error");
        }
    };
    StepOutput::exit("done").with_action(Action::Record { op })
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_sdk::{guest::take_native_log, harness::Harness};

    #[test]
    fn starts_and_stops() {
        for (op, expected) in [("start", RecordOp::Start), ("stop", RecordOp::Stop)] {
            let out = Harness::new(step).config(json!({"op": op})).enter();
            assert_eq!(out.actions, vec![Action::Record { op: expected }]);
            assert_eq!(out.exit.as_deref(), Some("done"));
        }
    }

    #[test]
    fn a_bad_op_is_an_error_not_a_guess() {
        let out = Harness::new(step).config(json!({"op": "pause"})).enter();
        assert!(out.actions.is_empty());
        assert_eq!(out.exit.as_deref(), Some("error"));
        assert!(take_native_log()[0].1.contains("pause"));
    }
}
