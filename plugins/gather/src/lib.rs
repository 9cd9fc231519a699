//! `gather@1`: collects a keypad entry (or, with `input`, an utterance) into
//! the variable `var`. Digits end with the `terminator` key, at `max_length`,
//! or at an inter-digit timeout; an entry shorter than `min_length` or longer
//! than `max_length` is invalid. It re-prompts up to `retries` times, then
//! takes `invalid` or `timeout`.
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let mut node = Harness::new(switchyard_plugin_gather::step).config(serde_json::json!({
//!     "prompt": "Enter your account number, then press pound.",
//!     "var": "account",
//! }));
//! node.enter();
//! assert_eq!(node.send(Event::Digits { digits: "12".into() }).exit, None);
//! assert_eq!(node.send(Event::Digits { digits: "34#".into() }).exit.as_deref(), Some("done"));
//! assert_eq!(node.vars()["account"], "1234");
//! ```

use serde_json::{Value, json};
use switchyard_sdk::prelude::*;

/// The node's config with defaults applied.
struct Config {
    prompt: Option<String>,
    var: String,
    digits: bool,
    speech: bool,
    min_length: usize,
    max_length: usize,
    terminator: String,
    timeout_ms: u64,
    retries: u64,
    invalid_prompt: String,
}

impl Config {
    fn from(config: &Value) -> Self {
        let input = config["input"].as_str().unwrap_or("digits");
        // An unknown `input` falls back to the default, digits only.
        let (digits, speech) = match input {
            "speech" => (false, true),
            "both" => (true, true),
            _ => (true, false),
        };
        let count = |key: &str, default: usize| {
            config[key]
                .as_u64()
                .map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX))
        };
        Config {
            prompt: config["prompt"]
                .as_str()
                .filter(|p| !p.trim().is_empty())
                .map(str::to_owned),
            var: config["var"].as_str().unwrap_or_default().to_owned(),
            digits,
            speech,
            min_length: count("min_length", 1),
            max_length: count("max_length", 32),
            terminator: config["terminator"].as_str().unwrap_or("#").to_owned(),
            timeout_ms: config["timeout_ms"].as_u64().unwrap_or(5000),
            retries: config["retries"].as_u64().unwrap_or(0),
            invalid_prompt: config["invalid_prompt"]
                .as_str()
                .unwrap_or("Sorry, that is not valid.")
                .to_owned(),
        }
    }

    fn gather(&self) -> Action {
        Action::Gather(Gather {
            digits: self.digits,
            speech: self.speech,
            timeout_ms: Some(self.timeout_ms),
            hints: Vec::new(),
        })
    }

    /// The prompt (if any) and a fresh gather.
    fn prompt(&self, mut out: StepOutput) -> StepOutput {
        if let Some(prompt) = &self.prompt {
            out = out.with_action(say(prompt));
        }
        out.with_action(self.gather())
    }
}

/// The plugin's state between steps.
struct State {
    attempt: u64,
    buffer: String,
}

impl State {
    fn from(state: &Value) -> Self {
        State {
            attempt: state["attempt"].as_u64().unwrap_or(0),
            buffer: state["buffer"].as_str().unwrap_or_default().to_owned(),
        }
    }

    fn to_json(&self) -> Value {
        json!({"attempt": self.attempt, "buffer": self.buffer})
    }
}

/// The step function.
pub fn step(input: StepInput) -> StepOutput {
    let config = Config::from(&input.node.config);
    let mut state = State::from(&input.state);
    match input.event {
        Event::Enter => {
            // Without a valid variable name there is nowhere to put the entry.
            if !is_var_name(&config.var) {
                log(
                    Level::Error,
                    &format!("gather: `var` {:?} is not a variable name", config.var),
                );
                return StepOutput::exit("error");
            }
            config.prompt(StepOutput::wait()).with_state(
                State {
                    attempt: 0,
                    buffer: String::new(),
                }
                .to_json(),
            )
        }
        Event::Digits { digits } if config.digits => {
            state.buffer.push_str(&digits);
            if let Some(end) = terminator_at(&state.buffer, &config.terminator) {
                state.buffer.truncate(end);
                return finish(&config, state);
            }
            if state.buffer.chars().count() >= config.max_length {
                return finish(&config, state);
            }
            // More digits may follow: keep listening without re-prompting.
            StepOutput::wait()
                .with_action(config.gather())
                .with_state(state.to_json())
        }
        Event::Speech { text, .. } if config.speech => {
            let text = text.trim();
            if text.is_empty() {
                return retry(&config, state, Some(&config.invalid_prompt), "invalid");
            }
            StepOutput::exit("done").with_var(config.var, text)
        }
        // Input of a kind the node does not accept counts as an invalid entry.
        Event::Digits { .. } | Event::Speech { .. } => {
            retry(&config, state, Some(&config.invalid_prompt), "invalid")
        }
        Event::Timeout => {
            let typed = state.buffer.chars().count();
            if typed > 0 && typed >= config.min_length {
                // An inter-digit timeout submits what was typed.
                finish(&config, state)
            } else {
                retry(&config, state, None, "timeout")
            }
        }
        _ => StepOutput::wait().with_state(input.state),
    }
}

/// Where the terminator starts in `buffer`, if there is one.
fn terminator_at(buffer: &str, terminator: &str) -> Option<usize> {
    if terminator.is_empty() {
        None
    } else {
        buffer.find(terminator)
    }
}

/// Submits the buffered digits if their length is within bounds.
fn finish(config: &Config, state: State) -> StepOutput {
    let len = state.buffer.chars().count();
    if (config.min_length..=config.max_length).contains(&len) {
        StepOutput::exit("done").with_var(config.var.clone(), state.buffer)
    } else {
        retry(config, state, Some(&config.invalid_prompt), "invalid")
    }
}

/// Re-prompts (after `apology`, if any) while retries remain, else takes
/// `outcome`. A retry starts the entry afresh.
fn retry(config: &Config, state: State, apology: Option<&str>, outcome: &str) -> StepOutput {
    if state.attempt >= config.retries {
        return StepOutput::exit(outcome);
    }
    let mut out = StepOutput::wait();
    if let Some(apology) = apology {
        out = out.with_action(say(apology));
    }
    config.prompt(out).with_state(
        State {
            attempt: state.attempt + 1,
            buffer: String::new(),
        }
        .to_json(),
    )
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn say(text: &str) -> Action {
    Action::Say {
        text: text.to_owned(),
        barge_in: true,
    }
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::harness::{Harness, digits, speech};

    fn pin(extra: Value) -> Harness {
        let mut config =
            json!({"prompt": "Enter your PIN.", "var": "pin", "min_length": 4, "max_length": 6});
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Harness::new(step).config(config)
    }

    fn gather(digits: bool, speech: bool) -> Action {
        Action::Gather(Gather {
            digits,
            speech,
            timeout_ms: Some(5000),
            hints: vec![],
        })
    }

    #[test]
    fn enter_prompts_and_gathers_per_input_kind() {
        let out = pin(json!({})).enter();
        assert_eq!(
            out.actions,
            vec![say("Enter your PIN."), gather(true, false)]
        );
        assert_eq!(out.exit, None);
        for (input, d, s) in [
            ("speech", false, true),
            ("both", true, true),
            ("bogus", true, false),
        ] {
            let out = Harness::new(step)
                .config(json!({"var": "x", "input": input}))
                .enter();
            assert_eq!(out.actions, vec![gather(d, s)], "{input}");
        }
    }

    #[test]
    fn digits_accumulate_until_the_terminator() {
        let mut node = pin(json!({}));
        node.enter();
        let out = node.send(digits("1"));
        assert_eq!(out.actions, vec![gather(true, false)]);
        assert_eq!(out.exit, None);
        node.send(digits("23"));
        let out = node.send(digits("4#99"));
        assert_eq!(out.exit.as_deref(), Some("done"));
        assert_eq!(node.vars()["pin"], "1234");
    }

    #[test]
    fn reaching_max_length_submits() {
        let mut node = pin(json!({}));
        node.enter();
        node.send(digits("123"));
        assert_eq!(node.send(digits("456")).exit.as_deref(), Some("done"));
        assert_eq!(node.vars()["pin"], "123456");
    }

    #[test]
    fn overshooting_max_length_at_once_is_invalid() {
        let mut node = pin(json!({}));
        node.enter();
        assert_eq!(
            node.send(digits("1234567")).exit.as_deref(),
            Some("invalid")
        );
    }

    #[test]
    fn too_short_an_entry_is_invalid_and_retried_from_scratch() {
        let mut node = pin(json!({"retries": 1}));
        node.enter();
        let out = node.send(digits("12#"));
        assert_eq!(
            out.actions,
            vec![
                say("Sorry, that is not valid."),
                say("Enter your PIN."),
                gather(true, false)
            ]
        );
        assert_eq!(out.state, json!({"attempt": 1, "buffer": ""}));
        node.send(digits("9"));
        assert_eq!(node.send(digits("#")).exit.as_deref(), Some("invalid"));
        assert_eq!(node.vars().get("pin"), None);
    }

    #[test]
    fn without_a_terminator_hash_is_just_a_digit() {
        let mut node =
            Harness::new(step).config(json!({"var": "code", "terminator": "", "max_length": 3}));
        node.enter();
        assert_eq!(node.send(digits("1#*")).exit.as_deref(), Some("done"));
        assert_eq!(node.vars()["code"], "1#*");
    }

    #[test]
    fn an_inter_digit_timeout_submits_a_long_enough_entry() {
        let mut node = pin(json!({}));
        node.enter();
        node.send(digits("12345"));
        assert_eq!(node.send(Event::Timeout).exit.as_deref(), Some("done"));
        assert_eq!(node.vars()["pin"], "12345");
    }

    #[test]
    fn a_timeout_with_nothing_or_too_little_typed_retries_then_times_out() {
        let mut node = pin(json!({"retries": 1}));
        node.enter();
        let out = node.send(Event::Timeout);
        assert_eq!(
            out.actions,
            vec![say("Enter your PIN."), gather(true, false)]
        );
        node.send(digits("12"));
        assert_eq!(node.send(Event::Timeout).exit.as_deref(), Some("timeout"));
    }

    #[test]
    fn speech_is_trimmed_into_the_var_when_allowed() {
        let mut node = Harness::new(step).config(json!({"var": "name", "input": "both"}));
        node.enter();
        assert_eq!(
            node.send(speech("  Ada Lovelace ")).exit.as_deref(),
            Some("done")
        );
        assert_eq!(node.vars()["name"], "Ada Lovelace");
    }

    #[test]
    fn blank_speech_is_invalid() {
        let mut node = Harness::new(step).config(json!({"var": "name", "input": "speech"}));
        node.enter();
        assert_eq!(node.send(speech("   ")).exit.as_deref(), Some("invalid"));
    }

    #[test]
    fn speech_on_a_digits_gather_and_digits_on_a_speech_gather_are_invalid() {
        let mut node = pin(json!({}));
        node.enter();
        assert_eq!(
            node.send(speech("one two three four")).exit.as_deref(),
            Some("invalid")
        );
        let mut node = Harness::new(step).config(json!({"var": "name", "input": "speech"}));
        node.enter();
        assert_eq!(node.send(digits("1")).exit.as_deref(), Some("invalid"));
    }

    #[test]
    fn other_events_keep_the_buffer() {
        let mut node = pin(json!({}));
        node.enter();
        node.send(digits("12"));
        let out = node.send(Event::PromptDone);
        assert_eq!(
            out,
            StepOutput::wait().with_state(json!({"attempt": 0, "buffer": "12"}))
        );
        node.send(digits("34"));
        assert_eq!(node.send(digits("#")).exit.as_deref(), Some("done"));
        assert_eq!(node.vars()["pin"], "1234");
    }

    #[test]
    fn a_bad_var_name_is_an_error() {
        let out = Harness::new(step).config(json!({"var": "9lives"})).enter();
        assert_eq!(out.exit.as_deref(), Some("error"));
        let out = Harness::new(step).enter();
        assert_eq!(out.exit.as_deref(), Some("error"));
    }
}
