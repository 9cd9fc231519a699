//! Shared set-up for the benchmarks.

use switchyard_sdk::protocol::{ABI_VERSION, CallInfo, Event, NodeInfo, StepInput};

/// A `say` step input as the executor builds it: `say` does not declare
/// `reads_vars`, so the call's variables are left out (about 250 bytes).
pub fn say_input() -> StepInput {
    StepInput {
        call: CallInfo {
            vars: Default::default(),
            ..say_input_with_vars().call
        },
        ..say_input_with_vars()
    }
}

/// The same with five call variables (about 430 bytes of JSON), as a
/// plugin that reads variables would get it.
pub fn say_input_with_vars() -> StepInput {
    let vars = serde_json::json!({
        "business": "Acme Plumbing", "caller_number": "+14155550100", "called_number": "+18005550199",
        "sales": "sip:sales@acme.example", "support": "sip:support@acme.example"
    });
    StepInput {
        abi: ABI_VERSION,
        node: NodeInfo {
            id: "welcome".into(),
            config: serde_json::json!({"text": "Thanks for calling Acme Plumbing. For sales, press 1. For support, press 2."}),
        },
        call: CallInfo {
            id: "bench-call-0001".into(),
            locale: "en-US".into(),
            jurisdiction: vec!["US-CA".into()],
            vars: vars.as_object().cloned().unwrap_or_default(),
            now_ms: 1_790_000_000_000,
            seed: 42,
        },
        state: serde_json::Value::Null,
        event: Event::Enter,
    }
}
