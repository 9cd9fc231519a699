//! Cutting a streamed model reply into sentences for text to speech.
//!
//! A voice agent should start speaking as soon as the model has finished
//! its first sentence, not when it has finished the reply; and it should
//! not speak half-sentences, which sound wrong (TTS intonation is decided
//! per sentence). `llm-agent` feeds each text delta to a
//! [`SentenceSplitter`] and synthesizes each sentence it returns.

/// Abbreviations after which a full stop does not end a sentence
/// (compared lowercase, without the final dot). Deliberately short:
/// a wrong split only adds a pause, a missed one adds latency.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "e.g", "i.e", "cf", "a.m",
    "p.m", "approx", "dept", "no", "inc", "ltd", "co", "corp",
];

/// The longest a sentence may grow before it is cut at a clause boundary
/// anyway, so a reply with no full stops (a long list) still starts
/// playing.
pub const DEFAULT_MAX_CHARS: usize = 300;

/// Turns streamed text deltas into whole sentences.
///
/// A sentence ends at `.`, `?`, `!` or `…` (with any closing quotes or
/// brackets after them) once whitespace follows, at a line break, and
/// right after a Chinese or Japanese full stop (`。` `？` `！`). A
/// full stop does not end one after a common abbreviation (`Dr.`, `e.g.`),
/// a single capital initial (`J. Smith`), or between digits (`3.5`, where
/// no whitespace follows). Because the character after a terminator
/// decides, the last sentence of a delta may wait for the next delta;
/// [`SentenceSplitter::finish`] returns whatever remains at the end.
///
/// ```
/// use switchyard_speech::sentences::SentenceSplitter;
/// let mut splitter = SentenceSplitter::new();
/// assert!(splitter.push("Dr. Smith is in").is_empty());
/// assert_eq!(splitter.push(" today. Your balance is $3.50! Anything"), [
///     "Dr. Smith is in today.",
///     "Your balance is $3.50!",
/// ]);
/// assert_eq!(splitter.finish().as_deref(), Some("Anything"));
/// ```
#[derive(Debug, Clone)]
pub struct SentenceSplitter {
    pending: String,
    max_chars: usize,
}

impl Default for SentenceSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl SentenceSplitter {
    /// A splitter cutting over-long sentences at [`DEFAULT_MAX_CHARS`].
    pub fn new() -> Self {
        Self::with_max_chars(DEFAULT_MAX_CHARS)
    }

    /// A splitter cutting sentences longer than `max_chars` at their last
    /// clause boundary (`,` `;` `:`), else their last space.
    pub fn with_max_chars(max_chars: usize) -> Self {
        Self {
            pending: String::new(),
            max_chars: max_chars.max(1),
        }
    }

    /// Adds a delta; returns the sentences it completed, trimmed, in order.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.pending.push_str(delta);
        let mut sentences = Vec::new();
        while let Some(end) = self.sentence_end().or_else(|| self.overflow_cut()) {
            let rest = self.pending.split_off(end);
            let sentence = std::mem::replace(&mut self.pending, rest);
            let sentence = sentence.trim();
            if !sentence.is_empty() {
                sentences.push(sentence.to_owned());
            }
        }
        sentences
    }

    /// The pending text, if it is a sentence that whitespace after it
    /// would end: for a stream that has stalled right after a terminator
    /// (a model pausing between sentences, whose next token would bring
    /// the space), so the sentence is spoken without waiting for the next
    /// one to begin. A full stop after a digit still waits (`3.` may become
    /// `3.5`), as does one after an abbreviation or an initial.
    pub fn flush_at_pause(&mut self) -> Option<String> {
        let mut probe = self.clone();
        probe.pending.push(' ');
        if probe.sentence_end()? != self.pending.len() {
            return None;
        }
        let closers: &[char] = &['"', '\'', '”', '’', ')', ']'];
        let before = self.pending.trim_end_matches(closers);
        if before.ends_with('.')
            && before
                .trim_end_matches('.')
                .ends_with(|c: char| c.is_ascii_digit())
        {
            return None;
        }
        self.finish()
    }

    /// Ends the reply: the text still pending, if any.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        let rest = rest.trim();
        (!rest.is_empty()).then(|| rest.to_owned())
    }

    /// The byte offset just past the first complete sentence.
    fn sentence_end(&self) -> Option<usize> {
        let text = &self.pending;
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut i = 0;
        while i < chars.len() {
            let (at, c) = chars[i];
            if c == '\n' {
                return Some(at + 1);
            }
            // Chinese and Japanese full stops need no space after them
            // (those scripts use none) and never sit inside a number.
            if matches!(c, '。' | '？' | '！') {
                let mut j = i + 1;
                while j < chars.len()
                    && matches!(chars[j].1, '。' | '？' | '！' | '」' | '』' | '）')
                {
                    j += 1;
                }
                return Some(chars.get(j).map_or(text.len(), |&(next_at, _)| next_at));
            }
            if matches!(c, '.' | '?' | '!' | '…') {
                // The run of terminators and closers: `?!`, `...`, `."`, `!)`.
                let mut j = i + 1;
                while j < chars.len()
                    && matches!(
                        chars[j].1,
                        '.' | '?' | '!' | '…' | '"' | '\'' | '”' | '’' | ')' | ']'
                    )
                {
                    j += 1;
                }
                let Some(&(next_at, next)) = chars.get(j) else {
                    // Nothing after it yet: `3.` may become `3.5`.
                    return None;
                };
                let run = &text[at..next_at];
                if next.is_whitespace() && !(run == "." && self.abbreviation_before(at)) {
                    return Some(next_at);
                }
                i = j;
                continue;
            }
            i += 1;
        }
        None
    }

    /// Whether the word ending at byte `dot` (a lone `.`) is an
    /// abbreviation or an initial.
    fn abbreviation_before(&self, dot: usize) -> bool {
        let word_start = self.pending[..dot]
            .rfind(char::is_whitespace)
            .map_or(0, |i| i + 1);
        let word = self.pending[word_start..dot].trim_start_matches(['(', '"', '\'', '“', '‘']);
        let mut letters = word.chars();
        if let (Some(first), None) = (letters.next(), letters.next())
            && first.is_uppercase()
        {
            return true;
        }
        let lower = word.to_lowercase();
        ABBREVIATIONS.contains(&lower.as_str())
    }

    /// Where to cut pending text that has grown past the limit without a
    /// sentence end.
    fn overflow_cut(&self) -> Option<usize> {
        if self.pending.chars().count() <= self.max_chars {
            return None;
        }
        let limit = self
            .pending
            .char_indices()
            .nth(self.max_chars)
            .map_or(self.pending.len(), |(i, _)| i);
        let head = &self.pending[..limit];
        let clause = head
            .char_indices()
            .filter(|&(i, c)| {
                matches!(c, ',' | ';' | ':')
                    && head[i + c.len_utf8()..].starts_with(char::is_whitespace)
            })
            .map(|(i, c)| i + c.len_utf8())
            .next_back();
        clause
            .or_else(|| head.rfind(char::is_whitespace).filter(|&i| i > 0))
            .or(Some(limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `deltas` and returns every sentence, the final flush included.
    fn split(deltas: &[&str]) -> Vec<String> {
        let mut splitter = SentenceSplitter::new();
        let mut out: Vec<String> = deltas.iter().flat_map(|d| splitter.push(d)).collect();
        out.extend(splitter.finish());
        out
    }

    #[test]
    fn sentences_end_at_terminators_followed_by_space() {
        assert_eq!(
            split(&["Hello there. How can I", " help? Great! Bye"]),
            ["Hello there.", "How can I help?", "Great!", "Bye"]
        );
    }

    #[test]
    fn a_sentence_is_returned_as_soon_as_the_next_character_arrives() {
        let mut splitter = SentenceSplitter::new();
        assert!(splitter.push("Thanks for calling.").is_empty());
        assert_eq!(splitter.push(" "), ["Thanks for calling."]);
        assert!(splitter.push("One").is_empty());
    }

    #[test]
    fn a_stream_stalled_after_a_terminator_ends_the_sentence() {
        let mut splitter = SentenceSplitter::new();
        assert!(splitter.push("We are open from nine to five").is_empty());
        assert_eq!(splitter.flush_at_pause(), None, "no terminator yet");
        assert!(splitter.push(".").is_empty());
        assert_eq!(
            splitter.flush_at_pause().as_deref(),
            Some("We are open from nine to five.")
        );
        assert_eq!(splitter.flush_at_pause(), None, "nothing is left");
        assert!(splitter.push(" Please call").is_empty());
        assert_eq!(splitter.push(" again?\"").len(), 0);
        assert_eq!(
            splitter.flush_at_pause().as_deref(),
            Some("Please call again?\"")
        );
        for waits in ["It costs $3.", "Ask Dr.", "Ask J.", "Ask for Mr. Smith"] {
            let mut splitter = SentenceSplitter::new();
            assert!(splitter.push(waits).is_empty());
            assert_eq!(splitter.flush_at_pause(), None, "{waits}");
            assert_eq!(splitter.finish().as_deref(), Some(waits));
        }
    }

    #[test]
    fn abbreviations_initials_and_decimals_do_not_end_sentences() {
        assert_eq!(
            split(&[
                "Dr. Jones, e.g. the one on St. Mark's, is in. ",
                "It costs 3.5 dollars. J. Smith too."
            ]),
            [
                "Dr. Jones, e.g. the one on St. Mark's, is in.",
                "It costs 3.5 dollars.",
                "J. Smith too."
            ]
        );
    }

    #[test]
    fn a_decimal_split_across_deltas_is_not_cut() {
        assert_eq!(
            split(&["Your balance is 3.", "50 dollars. Thanks"]),
            ["Your balance is 3.50 dollars.", "Thanks"]
        );
    }

    #[test]
    fn ellipses_newlines_quotes_and_runs_of_marks() {
        assert_eq!(
            split(&[
                "Well… let me see... ",
                "Really?! He said \"yes.\" Then\n- item one\n\n- item two"
            ]),
            [
                "Well…",
                "let me see...",
                "Really?!",
                "He said \"yes.\"",
                "Then",
                "- item one",
                "- item two"
            ]
        );
    }

    #[test]
    fn an_over_long_sentence_is_cut_at_its_last_clause_boundary() {
        let mut splitter = SentenceSplitter::with_max_chars(30);
        let out = splitter.push("We have apples, pears, plums and many other fruits in the shop");
        assert_eq!(
            out,
            ["We have apples, pears,", "plums and many other fruits"]
        );
        assert_eq!(splitter.finish().as_deref(), Some("in the shop"));
    }

    #[test]
    fn multi_byte_text_is_cut_on_character_boundaries() {
        assert_eq!(
            split(&["¿Qué tal? ", "Muy bien. 好的。还有"]),
            ["¿Qué tal?", "Muy bien.", "好的。", "还有"]
        );
    }
}
