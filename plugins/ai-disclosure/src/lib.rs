//! `ai-disclosure@1`: asks the runtime to tell the caller that they are
//! talking to an AI, and who is calling, then takes `done`.
//!
//! The plugin never says anything itself: the wording comes from the call's
//! compliance templates, in the call's locale, when the runtime carries out
//! the `disclose` action.
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let out = Harness::new(switchyard_plugin_ai_disclosure::step).enter();
//! assert_eq!(out.actions, vec![Action::Disclose { kind: DisclosureKind::Ai }]);
//! assert_eq!(out.exit.as_deref(), Some("done"));
//! ```

use switchyard_sdk::prelude::*;

/// The step function.
pub fn step(_input: StepInput) -> StepOutput {
    StepOutput::exit("done").with_action(Action::Disclose {
        kind: DisclosureKind::Ai,
    })
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_sdk::harness::Harness;

    #[test]
    fn discloses_the_ai_and_is_done() {
        for locale in ["en-US", "es-US", "de-DE", "fr-FR", "hi-IN"] {
            let out = Harness::new(step).locale(locale).config(json!({})).enter();
            assert_eq!(
                out.actions,
                vec![Action::Disclose {
                    kind: DisclosureKind::Ai
                }]
            );
            assert_eq!(out.exit.as_deref(), Some("done"));
            assert!(out.vars.is_none());
        }
    }

    #[test]
    fn never_says_anything_of_its_own() {
        let out = Harness::new(step).enter();
        assert!(out.actions.iter().all(|a| a.kind() == "disclose"));
    }
}
