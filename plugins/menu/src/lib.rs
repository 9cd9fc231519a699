//! `menu@1`: says `prompt`, then waits for the caller to pick one of
//! `options` by keypad or voice, and takes that option as its outcome.
//! After invalid input or silence it re-prompts up to `retries` times, then
//! takes `invalid` or `timeout`.
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let mut node = Harness::new(switchyard_plugin_menu::step).config(serde_json::json!({
//!     "prompt": "Say sales or support, or press 1 or 2.",
//!     "options": {"1": ["sales"], "2": ["support", "help"]},
//! }));
//! assert_eq!(node.enter().exit, None);
//! let out = node.send(Event::Speech { text: "I need help please".into(), confidence: None });
//! assert_eq!(out.exit.as_deref(), Some("2"));
//! ```

use serde_json::{Value, json};
use switchyard_sdk::prelude::*;

/// Spoken names of the digits, indexed by digit.
const DIGIT_WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// One choice: the digits that select it (also its outcome) and the
/// keywords, already split into lowercase words, that select it by voice.
struct Choice {
    digits: String,
    keywords: Vec<Vec<String>>,
}

/// The node's config with defaults applied.
struct Config {
    prompt: String,
    choices: Vec<Choice>,
    timeout_ms: u64,
    retries: u64,
    invalid_prompt: String,
    timeout_prompt: String,
}

impl Config {
    fn from(config: &Value) -> Self {
        let text = |key: &str, default: &str| config[key].as_str().unwrap_or(default).to_owned();
        Config {
            prompt: text("prompt", ""),
            choices: choices(&config["options"]),
            timeout_ms: config["timeout_ms"].as_u64().unwrap_or(5000),
            retries: config["retries"].as_u64().unwrap_or(0),
            invalid_prompt: text("invalid_prompt", "Sorry, that is not a valid choice."),
            timeout_prompt: text("timeout_prompt", "Sorry, I didn't hear anything."),
        }
    }

    /// The gather that waits for a choice: speech only when some option has
    /// keywords, so the recogniser is not opened for digit-only menus.
    fn gather(&self) -> Action {
        let hints: Vec<String> = self
            .choices
            .iter()
            .flat_map(|c| c.keywords.iter().map(|words| words.join(" ")))
            .collect();
        Action::Gather(Gather {
            digits: true,
            speech: !hints.is_empty(),
            timeout_ms: Some(self.timeout_ms),
            hints,
        })
    }

    /// The option a spoken utterance selects: the first whose keyword, or
    /// whose digit (as a numeral or a word), occurs as whole words.
    fn match_speech(&self, text: &str) -> Option<&str> {
        let said = words(text);
        self.choices.iter().find_map(|choice| {
            let by_keyword = choice
                .keywords
                .iter()
                .any(|phrase| contains_phrase(&said, phrase));
            let by_digit = said.iter().any(|word| {
                *word == choice.digits.to_lowercase()
                    || digit_word(&choice.digits).is_some_and(|name| word == name)
            });
            (by_keyword || by_digit).then_some(choice.digits.as_str())
        })
    }
}

/// Reads `options` in either of its two shapes; anything else gives no options,
/// which makes every input invalid rather than crashing.
fn choices(options: &Value) -> Vec<Choice> {
    match options {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|digits| Choice {
                digits: digits.to_owned(),
                keywords: Vec::new(),
            })
            .collect(),
        Value::Object(map) => map
            .iter()
            .map(|(digits, keywords)| {
                // Tolerate a lone string where a list of keywords was expected.
                let list: Vec<&str> = match keywords {
                    Value::String(one) => vec![one.as_str()],
                    other => other
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect(),
                };
                let keywords = list
                    .into_iter()
                    .map(words)
                    .filter(|w| !w.is_empty())
                    .collect();
                Choice {
                    digits: digits.clone(),
                    keywords,
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Lowercase words of `text`, with punctuation treated as a separator, so
/// "Sales, please!" gives `["sales", "please"]`.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether `phrase` occurs in `said` as consecutive whole words.
fn contains_phrase(said: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && said.windows(phrase.len()).any(|window| window == phrase)
}

/// The spoken name of a one-digit option.
fn digit_word(digits: &str) -> Option<&'static str> {
    let digit = digits.parse::<usize>().ok().filter(|_| digits.len() == 1)?;
    Some(DIGIT_WORDS[digit])
}

/// The step function.
pub fn step(input: StepInput) -> StepOutput {
    let config = Config::from(&input.node.config);
    let attempt = input.state["attempt"].as_u64().unwrap_or(0);
    match &input.event {
        Event::Enter => StepOutput::wait()
            .with_action(say(&config.prompt))
            .with_action(config.gather())
            .with_state(json!({"attempt": 0})),
        Event::Digits { digits } => match config.choices.iter().find(|c| c.digits == *digits) {
            Some(choice) => StepOutput::exit(choice.digits.clone()),
            None => retry(&config, attempt, &config.invalid_prompt, "invalid"),
        },
        Event::Speech { text, .. } => match config.match_speech(text) {
            Some(digits) => StepOutput::exit(digits),
            None => retry(&config, attempt, &config.invalid_prompt, "invalid"),
        },
        Event::Timeout => retry(&config, attempt, &config.timeout_prompt, "timeout"),
        // prompt_done and the like: the gather is still open, keep waiting.
        _ => StepOutput::wait().with_state(input.state),
    }
}

/// Re-prompts with `apology` while retries remain, else takes `outcome`.
fn retry(config: &Config, attempt: u64, apology: &str, outcome: &str) -> StepOutput {
    if attempt >= config.retries {
        return StepOutput::exit(outcome);
    }
    StepOutput::wait()
        .with_action(say(apology))
        .with_action(say(&config.prompt))
        .with_action(config.gather())
        .with_state(json!({"attempt": attempt + 1}))
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

    fn keyword_menu() -> Harness {
        Harness::new(step).config(json!({
            "prompt": "Sales or support?",
            "options": {"1": ["sales", "buy something"], "2": ["support"]},
            "retries": 1,
        }))
    }

    #[test]
    fn enter_says_the_prompt_and_gathers_digits_only_for_digit_options() {
        let out = Harness::new(step)
            .config(json!({"prompt": "Press 1", "options": ["1", "2"]}))
            .enter();
        assert_eq!(
            out.actions,
            vec![
                say("Press 1"),
                Action::Gather(Gather {
                    digits: true,
                    speech: false,
                    timeout_ms: Some(5000),
                    hints: vec![]
                }),
            ]
        );
        assert_eq!(out.exit, None);
        assert_eq!(out.state, json!({"attempt": 0}));
    }

    #[test]
    fn keywords_open_speech_with_hints() {
        let out = keyword_menu().enter();
        let Action::Gather(gather) = &out.actions[1] else {
            panic!("no gather")
        };
        assert!(gather.speech && gather.digits);
        assert_eq!(gather.hints, ["sales", "buy something", "support"]);
    }

    #[test]
    fn digits_select_an_option() {
        let mut node = keyword_menu();
        node.enter();
        assert_eq!(node.send(digits("2")).exit.as_deref(), Some("2"));
    }

    #[test]
    fn multi_digit_options_match_the_whole_string() {
        let mut node = Harness::new(step).config(json!({"prompt": "p", "options": ["1", "12"]}));
        node.enter();
        assert_eq!(node.send(digits("12")).exit.as_deref(), Some("12"));
    }

    #[test]
    fn speech_matches_whole_words_and_phrases_case_insensitively() {
        for (said, expected) in [
            ("SALES please", Some("1")),
            ("I want to buy something.", Some("1")),
            ("support!", Some("2")),
            ("wholesales", None),
            ("buy", None),
        ] {
            let mut node = keyword_menu();
            node.enter();
            let out = node.send(speech(said));
            assert_eq!(out.exit.as_deref(), expected, "{said}");
        }
    }

    #[test]
    fn spoken_digits_select_an_option() {
        for said in ["two", "option 2", "Two."] {
            let mut node = keyword_menu();
            node.enter();
            assert_eq!(node.send(speech(said)).exit.as_deref(), Some("2"), "{said}");
        }
    }

    #[test]
    fn the_first_matching_option_wins() {
        let mut node = keyword_menu();
        node.enter();
        assert_eq!(
            node.send(speech("sales or support")).exit.as_deref(),
            Some("1")
        );
    }

    #[test]
    fn invalid_input_reprompts_then_takes_invalid() {
        let mut node = keyword_menu();
        node.enter();
        let out = node.send(digits("9"));
        assert_eq!(out.exit, None);
        assert_eq!(out.actions[0], say("Sorry, that is not a valid choice."));
        assert_eq!(out.actions[1], say("Sales or support?"));
        assert!(matches!(out.actions[2], Action::Gather(_)));
        assert_eq!(out.state, json!({"attempt": 1}));
        assert_eq!(
            node.send(speech("weather")).exit.as_deref(),
            Some("invalid")
        );
    }

    #[test]
    fn timeout_reprompts_then_takes_timeout() {
        let mut node = Harness::new(step).config(json!({
            "prompt": "Press 1", "options": ["1"], "retries": 1, "timeout_prompt": "Hello?",
        }));
        node.enter();
        let out = node.send(Event::Timeout);
        assert_eq!(out.actions[0], say("Hello?"));
        assert_eq!(out.exit, None);
        assert_eq!(node.send(Event::Timeout).exit.as_deref(), Some("timeout"));
    }

    #[test]
    fn without_retries_the_first_failure_exits() {
        let mut node = Harness::new(step).config(json!({"prompt": "p", "options": ["1"]}));
        node.enter();
        assert_eq!(node.send(Event::Timeout).exit.as_deref(), Some("timeout"));
        node.enter();
        assert_eq!(node.send(digits("#")).exit.as_deref(), Some("invalid"));
    }

    #[test]
    fn one_retry_budget_covers_invalid_and_timeout() {
        let mut node = keyword_menu();
        node.enter();
        node.send(digits("7"));
        assert_eq!(node.send(Event::Timeout).exit.as_deref(), Some("timeout"));
    }

    #[test]
    fn other_events_keep_waiting_with_the_state() {
        let mut node = keyword_menu();
        node.enter();
        node.send(digits("7"));
        let out = node.send(Event::PromptDone);
        assert_eq!(out, StepOutput::wait().with_state(json!({"attempt": 1})));
    }

    #[test]
    fn odd_options_make_every_input_invalid_without_panicking() {
        let mut node = Harness::new(step).config(json!({"prompt": "p", "options": 42}));
        node.enter();
        assert_eq!(node.send(digits("1")).exit.as_deref(), Some("invalid"));
        let mut node = Harness::new(step).config(json!({"options": {"1": "sales", "2": 7}}));
        node.enter();
        assert_eq!(node.send(speech("sales")).exit.as_deref(), Some("1"));
    }
}
