//! A native harness to unit-test a step function without any WebAssembly.
//!
//! It builds [`StepInput`]s the way the runtime does, carries the plugin's
//! `state` from one step to the next, and merges `vars` like the executor.
//!
//! ```
//! use switchyard_sdk::prelude::*;
//! use switchyard_sdk::harness::Harness;
//! use serde_json::json;
//!
//! fn step(input: StepInput) -> StepOutput {
//!     match input.event {
//!         Event::Enter => StepOutput::wait().with_action(Action::Gather(Gather::default())),
//!         Event::Digits { digits } => StepOutput::exit(digits),
//!         _ => StepOutput::exit("timeout"),
//!     }
//! }
//!
//! let mut node = Harness::new(step).config(json!({"prompt": "Press 1"}));
//! assert_eq!(node.enter().exit, None);
//! assert_eq!(node.send(Event::Digits { digits: "1".into() }).exit.as_deref(), Some("1"));
//! ```

use serde_json::Value;

use crate::protocol::{ABI_VERSION, CallInfo, Event, NodeInfo, StepInput, StepOutput, Vars};

/// Drives one node of a plugin through a sequence of events.
#[derive(Debug)]
pub struct Harness {
    step: fn(StepInput) -> StepOutput,
    node: NodeInfo,
    call: CallInfo,
    state: Value,
    steps: u64,
}

impl Harness {
    /// A harness for `step` on a node `test-node` with an empty config, at
    /// 2026-01-01T00:00:00Z, locale `en-US`.
    pub fn new(step: fn(StepInput) -> StepOutput) -> Self {
        Harness {
            step,
            node: NodeInfo {
                id: "test-node".to_owned(),
                config: Value::Object(Default::default()),
            },
            call: CallInfo {
                id: "test-call".to_owned(),
                locale: "en-US".to_owned(),
                jurisdiction: Vec::new(),
                vars: Vars::new(),
                now_ms: 1_767_225_600_000,
                seed: 0,
            },
            state: Value::Null,
            steps: 0,
        }
    }

    /// Sets the node's config (already interpolated, as the runtime passes it).
    pub fn config(mut self, config: Value) -> Self {
        self.node.config = config;
        self
    }

    /// Sets a call variable. (The runtime passes variables only to plugins
    /// whose manifest sets `reads_vars`; others see `call.vars` empty.)
    pub fn var(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.call.vars.insert(name.to_owned(), value.into());
        self
    }

    /// Sets the call's clock.
    pub fn now_ms(mut self, now_ms: i64) -> Self {
        self.call.now_ms = now_ms;
        self
    }

    /// Sets the call's locale.
    pub fn locale(mut self, locale: &str) -> Self {
        self.call.locale = locale.to_owned();
        self
    }

    /// The call variables as the executor would hold them now.
    pub fn vars(&self) -> &Vars {
        &self.call.vars
    }

    /// Enters the node afresh (state reset), as when the flow arrives at it.
    pub fn enter(&mut self) -> StepOutput {
        self.state = Value::Null;
        self.send(Event::Enter)
    }

    /// Sends one event with the state from the previous step.
    pub fn send(&mut self, event: Event) -> StepOutput {
        self.steps += 1;
        let input = StepInput {
            abi: ABI_VERSION,
            node: self.node.clone(),
            call: CallInfo {
                seed: self.steps,
                ..self.call.clone()
            },
            state: self.state.clone(),
            event,
        };
        let output = (self.step)(input);
        self.state = output.state.clone();
        if let Some(vars) = &output.vars {
            self.call.vars.extend(vars.clone());
        }
        output
    }
}

/// A `digits` event, for tests: the caller pressed `keys`.
pub fn digits(keys: &str) -> Event {
    Event::Digits {
        digits: keys.to_owned(),
    }
}

/// A `speech` event, for tests: the caller said `text`.
pub fn speech(text: &str) -> Event {
    Event::Speech {
        text: text.to_owned(),
        confidence: None,
    }
}
