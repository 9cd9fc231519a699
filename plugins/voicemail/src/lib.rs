//! `voicemail@1`: says `prompt`, beeps, records and transcribes the caller
//! until `max_silence_ms` of silence, `max_length_ms` or hang-up, then stops
//! recording, stores the transcript in `var` and takes `done` (or `empty`
//! when nothing was said).
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let mut node = Harness::new(switchyard_plugin_voicemail::step);
//! node.enter();
//! node.send(Event::Speech { text: "Call me back.".into(), confidence: None });
//! let out = node.send(Event::Timeout);
//! assert_eq!(out.exit.as_deref(), Some("done"));
//! assert_eq!(node.vars()["voicemail_transcript"], "Call me back.");
//! ```

use serde_json::{Value, json};
use switchyard_sdk::prelude::*;

const DEFAULT_VAR: &str = "voicemail_transcript";

/// The step function.
pub fn step(input: StepInput) -> StepOutput {
    let config = &input.node.config;
    let max_silence_ms = config["max_silence_ms"].as_u64().unwrap_or(5000);
    let listen = Action::Listen {
        timeout_ms: Some(max_silence_ms),
    };
    match input.event {
        Event::Enter => {
            let mut out = StepOutput::wait();
            let prompt = config["prompt"]
                .as_str()
                .unwrap_or("Please leave a message after the tone.");
            if !prompt.trim().is_empty() {
                out = out.with_action(Action::Say {
                    text: prompt.to_owned(),
                    barge_in: true,
                });
            }
            if config["beep"].as_bool().unwrap_or(true) {
                out = out.with_action(Action::Play {
                    url: "tone:beep".to_owned(),
                    barge_in: false,
                });
            }
            out.with_action(Action::Record {
                op: RecordOp::Start,
            })
            .with_action(listen)
            .with_state(json!({"started_ms": input.call.now_ms, "transcript": ""}))
        }
        Event::Speech { text, .. } => {
            let started_ms = input.state["started_ms"]
                .as_i64()
                .unwrap_or(input.call.now_ms);
            let mut transcript = transcript(&input.state);
            let text = text.trim();
            if !text.is_empty() {
                if !transcript.is_empty() {
                    transcript.push(' ');
                }
                transcript.push_str(text);
            }
            let max_length_ms = config["max_length_ms"].as_u64().unwrap_or(120_000);
            let elapsed_ms = input.call.now_ms.saturating_sub(started_ms);
            if u64::try_from(elapsed_ms).unwrap_or(0) >= max_length_ms {
                return finish(config, transcript);
            }
            StepOutput::wait()
                .with_action(listen)
                .with_state(json!({"started_ms": started_ms, "transcript": transcript}))
        }
        // Silence ends the message, and so does hang-up: what was said is kept.
        Event::Timeout | Event::Silence { .. } | Event::Hangup => {
            finish(config, transcript(&input.state))
        }
        _ => StepOutput::wait().with_state(input.state),
    }
}

fn transcript(state: &Value) -> String {
    state["transcript"].as_str().unwrap_or_default().to_owned()
}

/// Stops recording (even after hang-up, so the recording is closed) and
/// hands over the transcript.
fn finish(config: &Value, transcript: String) -> StepOutput {
    let var = config["var"]
        .as_str()
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_VAR);
    let outcome = if transcript.is_empty() {
        "empty"
    } else {
        "done"
    };
    StepOutput::exit(outcome)
        .with_action(Action::Record { op: RecordOp::Stop })
        .with_var(var, transcript)
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::harness::{Harness, speech};

    const START: i64 = 1_767_225_600_000;

    #[test]
    fn enter_prompts_beeps_records_and_listens() {
        let out = Harness::new(step).enter();
        assert_eq!(
            out.actions,
            vec![
                Action::Say {
                    text: "Please leave a message after the tone.".into(),
                    barge_in: true
                },
                Action::Play {
                    url: "tone:beep".into(),
                    barge_in: false
                },
                Action::Record {
                    op: RecordOp::Start
                },
                Action::Listen {
                    timeout_ms: Some(5000)
                },
            ]
        );
        assert_eq!(out.exit, None);
        assert_eq!(out.state, json!({"started_ms": START, "transcript": ""}));
    }

    #[test]
    fn no_prompt_and_no_beep_when_configured_off() {
        let config = json!({"prompt": "", "beep": false, "max_silence_ms": 3000});
        let out = Harness::new(step).config(config).enter();
        assert_eq!(
            out.actions,
            vec![
                Action::Record {
                    op: RecordOp::Start
                },
                Action::Listen {
                    timeout_ms: Some(3000)
                }
            ]
        );
    }

    #[test]
    fn utterances_are_joined_until_silence() {
        let mut node = Harness::new(step).config(json!({"var": "message"}));
        node.enter();
        let out = node.send(speech("Hi, it's Ada."));
        assert_eq!(
            out.actions,
            vec![Action::Listen {
                timeout_ms: Some(5000)
            }]
        );
        assert_eq!(out.exit, None);
        node.send(speech("  "));
        node.send(speech("Please call back."));
        assert_eq!(node.send(Event::PromptDone).exit, None);
        let out = node.send(Event::Silence { ms: 5000 });
        assert_eq!(out.actions, vec![Action::Record { op: RecordOp::Stop }]);
        assert_eq!(out.exit.as_deref(), Some("done"));
        assert_eq!(node.vars()["message"], "Hi, it's Ada. Please call back.");
    }

    #[test]
    fn the_length_cap_ends_the_message() {
        let mut node = Harness::new(step).config(json!({"max_length_ms": 10_000}));
        node.enter();
        node = node.now_ms(START + 9_999);
        assert_eq!(node.send(speech("one")).exit, None);
        node = node.now_ms(START + 10_000);
        let out = node.send(speech("two"));
        assert_eq!(out.exit.as_deref(), Some("done"));
        assert_eq!(node.vars()["voicemail_transcript"], "one two");
    }

    #[test]
    fn nothing_said_is_empty() {
        let mut node = Harness::new(step);
        node.enter();
        let out = node.send(Event::Timeout);
        assert_eq!(out.exit.as_deref(), Some("empty"));
        assert_eq!(node.vars()["voicemail_transcript"], "");
    }

    #[test]
    fn hang_up_still_stops_the_recording_and_keeps_the_message() {
        let mut node = Harness::new(step);
        node.enter();
        node.send(speech("Bye"));
        let out = node.send(Event::Hangup);
        assert_eq!(out.actions, vec![Action::Record { op: RecordOp::Stop }]);
        assert_eq!(out.exit.as_deref(), Some("done"));
        assert_eq!(node.vars()["voicemail_transcript"], "Bye");
    }
}
