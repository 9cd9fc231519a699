//! `recording-consent@1`: asks the runtime to disclose that the call may be
//! recorded, then waits for the caller's answer: `1` or a yes word takes
//! `granted`, `2` or a no word takes `declined`. Words are understood in the
//! call's language (from `call.locale`) and always in English. After silence
//! or an unclear answer it repeats the disclosure up to `retries` times, then
//! takes `timeout`.
//!
//! The plugin never says anything itself: the wording of the disclosure comes
//! from the call's compliance templates, in the call's locale, when the
//! runtime carries out the `disclose` action.
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let mut node = Harness::new(switchyard_plugin_recording_consent::step).locale("es-US");
//! let out = node.enter();
//! assert_eq!(out.actions[0], Action::Disclose { kind: DisclosureKind::Recording });
//! assert_eq!(out.exit, None);
//! let out = node.send(Event::Speech { text: "Sí, claro".into(), confidence: None });
//! assert_eq!(out.exit.as_deref(), Some("granted"));
//! ```

use serde_json::{Value, json};
use switchyard_sdk::prelude::*;

/// Yes and no words of one language. Phrases are whole words in order.
struct Language {
    /// The language subtag of a locale (`es` in `es-US`).
    code: &'static str,
    agree: &'static [&'static str],
    decline: &'static [&'static str],
}

const ENGLISH: Language = Language {
    code: "en",
    agree: &[
        "yes", "yeah", "yep", "sure", "okay", "ok", "agree", "i agree", "fine",
    ],
    decline: &[
        "no",
        "nope",
        "don't",
        "do not",
        "stop recording",
        "don't record me",
    ],
};

/// Every language understood; English is also always understood.
static LANGUAGES: [Language; 5] = [
    ENGLISH,
    Language {
        code: "es",
        agree: &["sí", "si", "claro", "de acuerdo", "vale"],
        decline: &["no", "no me grabe"],
    },
    Language {
        code: "de",
        agree: &["ja", "einverstanden", "okay"],
        decline: &["nein", "nicht"],
    },
    Language {
        code: "fr",
        agree: &["oui", "d'accord"],
        decline: &["non", "pas"],
    },
    Language {
        code: "hi",
        agree: &["हाँ", "हां", "haan", "han", "ji", "theek hai", "ठीक है"],
        decline: &["नहीं", "nahin", "nahi", "mat"],
    },
];

impl Language {
    /// The language of `locale` (`es-US`, `de_DE`, `fr`), English when it is
    /// not one of [`LANGUAGES`].
    fn of(locale: &str) -> &'static Language {
        let code = locale
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        LANGUAGES
            .iter()
            .find(|language| language.code == code)
            .unwrap_or(&LANGUAGES[0])
    }

    /// The languages whose words count on a call in this one: itself and English.
    fn understood(&'static self) -> Vec<&'static Language> {
        if self.code == ENGLISH.code {
            vec![self]
        } else {
            vec![self, &LANGUAGES[0]]
        }
    }

    /// Recogniser hints: this language's yes and no words, one spelling each.
    fn hints(&self) -> Vec<String> {
        let mut seen: Vec<Vec<String>> = Vec::new();
        let mut hints = Vec::new();
        for phrase in self.agree.iter().chain(self.decline) {
            let folded = words(phrase);
            if !seen.contains(&folded) {
                seen.push(folded);
                hints.push((*phrase).to_owned());
            }
        }
        hints
    }
}

/// The caller's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Granted,
    Declined,
}

impl Answer {
    fn outcome(self) -> &'static str {
        match self {
            Answer::Granted => "granted",
            Answer::Declined => "declined",
        }
    }
}

/// What an utterance answers, if anything. A no word anywhere wins over a yes
/// word ("yes, but don't record me", "je ne suis pas d'accord"): recording
/// without consent is the mistake to avoid.
fn understand(language: &'static Language, text: &str) -> Option<Answer> {
    let said = words(text);
    let languages = language.understood();
    let any = |pick: fn(&Language) -> &'static [&'static str]| {
        languages
            .iter()
            .flat_map(|language| pick(language))
            .any(|phrase| contains_phrase(&said, &words(phrase)))
    };
    if any(|language| language.decline) {
        Some(Answer::Declined)
    } else if any(|language| language.agree) {
        Some(Answer::Granted)
    } else {
        None
    }
}

/// Lowercase, accent-folded words of `text`, with punctuation treated as a
/// separator, so "¡SÍ, claro!" gives `["si", "claro"]`.
fn words(text: &str) -> Vec<String> {
    let folded: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .filter_map(fold)
        .collect();
    folded
        .split(|c: char| !is_word_char(c))
        .map(|word| word.trim_matches('\''))
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One lowercase character with its accent removed; `None` drops it
/// (combining accents, as in a decomposed "é").
fn fold(c: char) -> Option<char> {
    Some(match c {
        '\u{0300}'..='\u{036f}' => return None,
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'ē' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' => 'u',
        'ý' | 'ÿ' => 'y',
        // Typographic apostrophes, as in "don’t" and "d’accord".
        '\u{2018}' | '\u{2019}' | '\u{02bc}' | '`' | '´' => '\'',
        // Devanagari candrabindu spelled as anusvara: "हाँ" and "हां" are one word.
        '\u{0901}' => '\u{0902}',
        other => other,
    })
}

/// Letters, digits, apostrophes inside words, and every Devanagari sign
/// except the dandas (the virama and the nukta are not alphanumeric).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
        || c == '\''
        || (('\u{0900}'..='\u{097f}').contains(&c) && !matches!(c, '\u{0964}' | '\u{0965}'))
}

/// Whether `phrase` occurs in `said` as consecutive whole words.
fn contains_phrase(said: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && said.windows(phrase.len()).any(|window| window == phrase)
}

/// The node's config with defaults applied.
struct Config {
    timeout_ms: u64,
    retries: u64,
}

impl Config {
    fn from(config: &Value) -> Self {
        Config {
            timeout_ms: config["timeout_ms"].as_u64().unwrap_or(6000),
            retries: config["retries"].as_u64().unwrap_or(1).min(3),
        }
    }
}

/// The step function.
pub fn step(input: StepInput) -> StepOutput {
    let config = Config::from(&input.node.config);
    let language = Language::of(&input.call.locale);
    let attempt = input.state["attempt"].as_u64().unwrap_or(0);
    let answer = match &input.event {
        Event::Enter => return ask(&config, language, 0),
        Event::Digits { digits } => match digits.as_str() {
            "1" => Some(Answer::Granted),
            "2" => Some(Answer::Declined),
            _ => None,
        },
        Event::Speech { text, .. } => understand(language, text),
        Event::Timeout => None,
        // Nobody is left to consent.
        Event::Hangup => return StepOutput::exit("timeout"),
        // prompt_done and the like: the gather is still open, keep waiting.
        _ => return StepOutput::wait().with_state(input.state),
    };
    match answer {
        Some(answer) => StepOutput::exit(answer.outcome()),
        None if attempt < config.retries => ask(&config, language, attempt + 1),
        None => StepOutput::exit("timeout"),
    }
}

/// Discloses and opens a gather for the answer.
fn ask(config: &Config, language: &Language, attempt: u64) -> StepOutput {
    StepOutput::wait()
        .with_action(Action::Disclose {
            kind: DisclosureKind::Recording,
        })
        .with_action(Action::Gather(Gather {
            digits: true,
            speech: true,
            timeout_ms: Some(config.timeout_ms),
            hints: language.hints(),
        }))
        .with_state(json!({"attempt": attempt}))
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::harness::{Harness, digits, speech};

    fn disclose() -> Action {
        Action::Disclose {
            kind: DisclosureKind::Recording,
        }
    }

    /// The outcome of answering the first disclosure with `event`, on a call in `locale`.
    fn answer(locale: &str, event: Event) -> Option<String> {
        let mut node = Harness::new(step)
            .locale(locale)
            .config(json!({"retries": 0}));
        node.enter();
        node.send(event).exit
    }

    fn said(locale: &str, text: &str) -> Option<String> {
        answer(locale, speech(text))
    }

    fn hints(locale: &str) -> Vec<String> {
        let out = Harness::new(step).locale(locale).enter();
        let Action::Gather(gather) = &out.actions[1] else {
            panic!("no gather")
        };
        gather.hints.clone()
    }

    #[test]
    fn enter_discloses_then_gathers_digits_and_speech() {
        let out = Harness::new(step).enter();
        assert_eq!(
            out.actions,
            vec![
                disclose(),
                Action::Gather(Gather {
                    digits: true,
                    speech: true,
                    timeout_ms: Some(6000),
                    hints: ENGLISH.hints(),
                }),
            ]
        );
        assert_eq!(out.exit, None);
        assert_eq!(out.state, json!({"attempt": 0}));
    }

    #[test]
    fn timeout_ms_is_configurable() {
        let out = Harness::new(step)
            .config(json!({"timeout_ms": 10000}))
            .enter();
        let Action::Gather(gather) = &out.actions[1] else {
            panic!("no gather")
        };
        assert_eq!(gather.timeout_ms, Some(10000));
    }

    #[test]
    fn hints_are_the_yes_and_no_words_of_the_call_locale() {
        assert_eq!(
            hints("en-US"),
            [
                "yes",
                "yeah",
                "yep",
                "sure",
                "okay",
                "ok",
                "agree",
                "i agree",
                "fine",
                "no",
                "nope",
                "don't",
                "do not",
                "stop recording",
                "don't record me"
            ]
        );
        assert_eq!(
            hints("es-US"),
            ["sí", "claro", "de acuerdo", "vale", "no", "no me grabe"]
        );
        assert_eq!(
            hints("de-DE"),
            ["ja", "einverstanden", "okay", "nein", "nicht"]
        );
        assert_eq!(hints("fr-FR"), ["oui", "d'accord", "non", "pas"]);
        assert_eq!(
            hints("hi-IN"),
            [
                "हाँ",
                "haan",
                "han",
                "ji",
                "theek hai",
                "ठीक है",
                "नहीं",
                "nahin",
                "nahi",
                "mat"
            ]
        );
        // A language without words of its own falls back to English.
        assert_eq!(hints("ja-JP"), hints("en-GB"));
        assert_eq!(hints(""), hints("en-US"));
    }

    #[test]
    fn one_grants_and_two_declines() {
        assert_eq!(answer("en-US", digits("1")).as_deref(), Some("granted"));
        assert_eq!(answer("en-US", digits("2")).as_deref(), Some("declined"));
        assert_eq!(answer("hi-IN", digits("1")).as_deref(), Some("granted"));
    }

    #[test]
    fn other_digits_are_no_answer() {
        for d in ["3", "12", "*", "#", "1#", ""] {
            assert_eq!(
                answer("en-US", digits(d)).as_deref(),
                Some("timeout"),
                "{d}"
            );
        }
    }

    #[test]
    fn english_yes_and_no() {
        for text in [
            "yes",
            "Yeah.",
            "yep",
            "sure",
            "Okay",
            "OK!",
            "agree",
            "I agree",
            "fine",
            "yes please",
        ] {
            assert_eq!(said("en-US", text).as_deref(), Some("granted"), "{text}");
        }
        for text in [
            "no",
            "Nope.",
            "don't",
            "Do not.",
            "please stop recording",
            "Don't record me!",
            "no thanks",
        ] {
            assert_eq!(said("en-US", text).as_deref(), Some("declined"), "{text}");
        }
    }

    #[test]
    fn a_no_word_wins_over_a_yes_word() {
        for (locale, text) in [
            ("en-US", "I don't agree"),
            ("en-US", "yes, but don't record me"),
            ("en-US", "okay no"),
            ("es-US", "sí, pero no me grabe"),
            ("de-DE", "ja, aber nicht aufnehmen"),
            ("fr-FR", "je ne suis pas d'accord"),
            ("hi-IN", "haan, record mat karo"),
        ] {
            assert_eq!(said(locale, text).as_deref(), Some("declined"), "{text}");
        }
    }

    #[test]
    fn words_match_whole_words_only() {
        for text in ["yesterday", "nobody knows", "notable", "okayish", "finest"] {
            assert_eq!(said("en-US", text).as_deref(), Some("timeout"), "{text}");
        }
    }

    #[test]
    fn spanish_yes_and_no() {
        for text in [
            "Sí",
            "si",
            "SÍ, CLARO",
            "de acuerdo",
            "Vale.",
            "¡Claro que sí!",
        ] {
            assert_eq!(said("es-US", text).as_deref(), Some("granted"), "{text}");
        }
        for text in ["No", "no me grabe", "¡No!"] {
            assert_eq!(said("es-MX", text).as_deref(), Some("declined"), "{text}");
        }
    }

    #[test]
    fn german_yes_and_no() {
        for text in ["Ja", "ja, einverstanden", "Okay"] {
            assert_eq!(said("de-DE", text).as_deref(), Some("granted"), "{text}");
        }
        for text in ["Nein", "nein danke", "bitte nicht"] {
            assert_eq!(said("de-AT", text).as_deref(), Some("declined"), "{text}");
        }
    }

    #[test]
    fn french_yes_and_no() {
        for text in ["Oui", "D'accord", "d’accord", "oui, d'accord."] {
            assert_eq!(said("fr-FR", text).as_deref(), Some("granted"), "{text}");
        }
        for text in ["Non", "non merci", "pas question"] {
            assert_eq!(said("fr-CA", text).as_deref(), Some("declined"), "{text}");
        }
    }

    #[test]
    fn hindi_yes_and_no() {
        for text in ["हाँ", "हां", "हाँ जी", "Haan", "han ji", "theek hai", "ठीक है।"]
        {
            assert_eq!(said("hi-IN", text).as_deref(), Some("granted"), "{text}");
        }
        for text in ["नहीं", "nahin", "Nahi.", "record mat karo", "जी नहीं"] {
            assert_eq!(said("hi-IN", text).as_deref(), Some("declined"), "{text}");
        }
    }

    #[test]
    fn accents_and_case_do_not_matter() {
        // "sí" with a combining acute accent, and without any accent.
        assert_eq!(said("es-US", "si\u{301}").as_deref(), Some("granted"));
        assert_eq!(said("es-US", "SI").as_deref(), Some("granted"));
        assert_eq!(said("fr-FR", "D’ACCORD").as_deref(), Some("granted"));
        assert_eq!(said("fr-FR", "nón").as_deref(), Some("declined"));
    }

    #[test]
    fn english_is_always_understood() {
        for locale in ["es-US", "de-DE", "fr-FR", "hi-IN", "ja-JP"] {
            assert_eq!(said(locale, "yes").as_deref(), Some("granted"), "{locale}");
            assert_eq!(
                said(locale, "don't record me").as_deref(),
                Some("declined"),
                "{locale}"
            );
        }
    }

    #[test]
    fn other_languages_are_not_understood() {
        for (locale, text) in [
            ("en-US", "ja"),
            ("en-US", "oui"),
            ("es-US", "oui"),
            ("de-DE", "sí"),
            ("fr-FR", "haan"),
            ("en-IN", "नहीं"),
        ] {
            assert_eq!(
                said(locale, text).as_deref(),
                Some("timeout"),
                "{locale} {text}"
            );
        }
    }

    #[test]
    fn no_answer_rediscloses_while_retries_remain_then_times_out() {
        let mut node = Harness::new(step).config(json!({"retries": 2}));
        node.enter();
        for (attempt, event) in [(1, Event::Timeout), (2, speech("what?"))] {
            let out = node.send(event);
            assert_eq!(out.exit, None);
            assert_eq!(out.actions[0], disclose());
            assert!(matches!(out.actions[1], Action::Gather(_)));
            assert_eq!(out.actions.len(), 2);
            assert_eq!(out.state, json!({"attempt": attempt}));
        }
        assert_eq!(node.send(digits("9")).exit.as_deref(), Some("timeout"));
    }

    #[test]
    fn one_retry_by_default() {
        let mut node = Harness::new(step);
        node.enter();
        assert_eq!(node.send(Event::Timeout).exit, None);
        assert_eq!(node.send(Event::Timeout).exit.as_deref(), Some("timeout"));
    }

    #[test]
    fn an_answer_after_a_retry_still_counts() {
        let mut node = Harness::new(step).locale("de-DE");
        node.enter();
        node.send(Event::Timeout);
        assert_eq!(node.send(speech("Ja")).exit.as_deref(), Some("granted"));
    }

    #[test]
    fn without_retries_the_first_no_answer_times_out() {
        assert_eq!(answer("en-US", Event::Timeout).as_deref(), Some("timeout"));
        assert_eq!(answer("en-US", speech("hmm")).as_deref(), Some("timeout"));
    }

    #[test]
    fn retries_are_capped_at_three() {
        let mut node = Harness::new(step).config(json!({"retries": 50}));
        node.enter();
        for _ in 0..3 {
            assert_eq!(node.send(Event::Timeout).exit, None);
        }
        assert_eq!(node.send(Event::Timeout).exit.as_deref(), Some("timeout"));
    }

    #[test]
    fn hangup_times_out() {
        let mut node = Harness::new(step).config(json!({"retries": 3}));
        node.enter();
        let out = node.send(Event::Hangup);
        assert_eq!(out.exit.as_deref(), Some("timeout"));
        assert!(out.actions.is_empty());
    }

    #[test]
    fn other_events_keep_waiting_with_the_state() {
        let mut node = Harness::new(step).config(json!({"retries": 1}));
        node.enter();
        node.send(Event::Timeout);
        for event in [
            Event::PromptDone,
            Event::Silence { ms: 800 },
            Event::SecureResult {
                ok: true,
                token: None,
                last4: None,
                brand: None,
            },
        ] {
            let out = node.send(event);
            assert_eq!(out, StepOutput::wait().with_state(json!({"attempt": 1})));
        }
        // The retry used before the other events is still used.
        assert_eq!(node.send(Event::Timeout).exit.as_deref(), Some("timeout"));
    }

    #[test]
    fn never_says_anything_of_its_own() {
        for locale in ["en-US", "es-US", "de-DE", "fr-FR", "hi-IN", "ja-JP"] {
            let mut node = Harness::new(step)
                .locale(locale)
                .config(json!({"retries": 3}));
            let mut outputs = vec![node.enter()];
            for event in [
                Event::Timeout,
                speech("eh?"),
                digits("5"),
                Event::PromptDone,
                speech("yes"),
            ] {
                outputs.push(node.send(event));
            }
            for out in outputs {
                assert!(
                    out.actions
                        .iter()
                        .all(|a| matches!(a.kind(), "disclose" | "gather")),
                    "{locale}: {:?}",
                    out.actions
                );
            }
        }
    }
}
