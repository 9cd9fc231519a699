//! `secure-capture@1`: opens a sealed window in which the runtime collects
//! the card `fields`, then takes `captured` with the variables `card_token`,
//! `card_last4` and `card_brand`, or `failed`.
//!
//! The plugin never sees card digits: the runtime collects them, pauses
//! recording and transcripts, and answers with a `secure_result` holding only
//! a token, the last four digits and the brand. Nor does the plugin log
//! anything.
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let mut node = Harness::new(switchyard_plugin_secure_capture::step);
//! let out = node.enter();
//! assert_eq!(out.actions, vec![Action::SecureCapture {
//!     fields: vec!["number".into(), "expiry".into(), "cvv".into()],
//! }]);
//! let out = node.send(Event::SecureResult {
//!     ok: true,
//!     token: Some("tok_123".into()),
//!     last4: Some("4242".into()),
//!     brand: Some("visa".into()),
//! });
//! assert_eq!(out.exit.as_deref(), Some("captured"));
//! assert_eq!(node.vars()["card_last4"], "4242");
//! ```

use serde_json::Value;
use switchyard_sdk::prelude::*;

/// The fields a caller can be asked for, in the default order.
const FIELDS: [&str; 3] = ["number", "expiry", "cvv"];

/// The configured `fields`: all of them when absent, `None` when the value is
/// not a non-empty list of distinct known fields.
fn fields(config: &Value) -> Option<Vec<String>> {
    let list = match &config["fields"] {
        Value::Null => return Some(FIELDS.map(str::to_owned).to_vec()),
        Value::Array(list) if !list.is_empty() => list,
        _ => return None,
    };
    let mut fields: Vec<String> = Vec::with_capacity(list.len());
    for field in list {
        let field = field.as_str().filter(|f| FIELDS.contains(f))?;
        if fields.iter().any(|f| f == field) {
            return None;
        }
        fields.push(field.to_owned());
    }
    Some(fields)
}

/// The step function.
pub fn step(input: StepInput) -> StepOutput {
    match input.event {
        Event::Enter => match fields(&input.node.config) {
            Some(fields) => StepOutput::wait().with_action(Action::SecureCapture { fields }),
            // The schema rules this out; guessing which card data to collect
            // would be worse than failing. Nothing is logged, by design.
            None => StepOutput::exit("error"),
        },
        Event::SecureResult {
            ok: true,
            token,
            last4,
            brand,
        } => {
            let mut out = StepOutput::exit("captured");
            for (name, value) in [
                ("card_token", token),
                ("card_last4", last4),
                ("card_brand", brand),
            ] {
                if let Some(value) = value {
                    out = out.with_var(name, value);
                }
            }
            out
        }
        Event::SecureResult { ok: false, .. } => StepOutput::exit("failed"),
        // The window is still open: keep waiting for its result.
        _ => StepOutput::wait(),
    }
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_sdk::{guest::take_native_log, harness::Harness};

    fn capture(fields: &[&str]) -> Action {
        Action::SecureCapture {
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    fn result(ok: bool, token: Option<&str>, last4: Option<&str>, brand: Option<&str>) -> Event {
        Event::SecureResult {
            ok,
            token: token.map(str::to_owned),
            last4: last4.map(str::to_owned),
            brand: brand.map(str::to_owned),
        }
    }

    #[test]
    fn enter_opens_the_window_for_every_field_by_default() {
        let out = Harness::new(step).enter();
        assert_eq!(out.actions, vec![capture(&["number", "expiry", "cvv"])]);
        assert_eq!(out.exit, None);
        assert_eq!(out.state, Value::Null);
    }

    #[test]
    fn enter_asks_for_the_configured_fields_in_order() {
        let out = Harness::new(step)
            .config(json!({"fields": ["cvv", "number"]}))
            .enter();
        assert_eq!(out.actions, vec![capture(&["cvv", "number"])]);
    }

    #[test]
    fn bad_fields_are_an_error_not_a_guess() {
        for fields in [
            json!([]),
            json!(["number", "pin"]),
            json!(["number", "number"]),
            json!("number"),
            json!([1]),
        ] {
            let out = Harness::new(step)
                .config(json!({"fields": fields.clone()}))
                .enter();
            assert_eq!(out.exit.as_deref(), Some("error"), "{fields}");
            assert!(out.actions.is_empty());
        }
        assert!(take_native_log().is_empty());
    }

    #[test]
    fn a_good_result_is_captured_with_the_card_vars() {
        let mut node = Harness::new(step);
        node.enter();
        let out = node.send(result(true, Some("tok_1"), Some("4242"), Some("visa")));
        assert_eq!(out.exit.as_deref(), Some("captured"));
        assert!(out.actions.is_empty());
        assert_eq!(
            Value::Object(out.vars.unwrap()),
            json!({"card_token": "tok_1", "card_last4": "4242", "card_brand": "visa"})
        );
        assert_eq!(node.vars()["card_brand"], "visa");
    }

    #[test]
    fn only_the_parts_present_become_vars() {
        let mut node = Harness::new(step);
        node.enter();
        let out = node.send(result(true, Some("tok_1"), None, None));
        assert_eq!(out.exit.as_deref(), Some("captured"));
        assert_eq!(
            Value::Object(out.vars.unwrap()),
            json!({"card_token": "tok_1"})
        );
        node.enter();
        let out = node.send(result(true, None, None, None));
        assert_eq!(out.exit.as_deref(), Some("captured"));
        assert_eq!(out.vars, None);
    }

    #[test]
    fn a_failed_result_fails_without_vars() {
        let mut node = Harness::new(step);
        node.enter();
        let out = node.send(result(false, Some("tok_1"), Some("4242"), Some("visa")));
        assert_eq!(out.exit.as_deref(), Some("failed"));
        assert!(out.actions.is_empty());
        assert_eq!(out.vars, None);
        assert!(node.vars().is_empty());
    }

    #[test]
    fn other_events_keep_waiting_without_actions() {
        let mut node = Harness::new(step);
        node.enter();
        for event in [
            Event::Digits {
                digits: "4242".into(),
            },
            Event::Speech {
                text: "four two four two".into(),
                confidence: None,
            },
            Event::Timeout,
            Event::PromptDone,
            Event::Silence { ms: 500 },
            Event::Hangup,
        ] {
            assert_eq!(node.send(event), StepOutput::wait());
        }
    }

    #[test]
    fn never_says_or_logs_anything() {
        let mut node = Harness::new(step).config(json!({"fields": ["number"]}));
        let mut outputs = vec![node.enter()];
        outputs.push(node.send(Event::PromptDone));
        outputs.push(node.send(result(true, Some("t"), Some("1111"), Some("amex"))));
        node.enter();
        outputs.push(node.send(result(false, None, None, None)));
        for out in outputs {
            assert!(out.actions.iter().all(|a| a.kind() == "secure_capture"));
        }
        assert!(take_native_log().is_empty());
    }
}
