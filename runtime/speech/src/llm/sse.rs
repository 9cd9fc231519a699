//! Server-sent events, as far as chat completions use them: `data:` lines,
//! events ended by a blank line, comments (`:`) and other fields ignored.

/// Splits a byte stream into the `data` of each event. Bytes may arrive cut
/// anywhere, even inside a UTF-8 character.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    pending: Vec<u8>,
    data: Option<String>,
}

impl SseParser {
    /// Feeds `bytes`; returns the data of every event they complete.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.pending.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.line(&String::from_utf8_lossy(&line), &mut events);
        }
        events
    }

    /// Ends the stream: an event not followed by its blank line still
    /// counts (some servers close right after the last `data:` line).
    pub(crate) fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        let mut events = Vec::new();
        if !rest.is_empty() {
            self.line(&String::from_utf8_lossy(&rest), &mut events);
        }
        events.extend(self.data.take());
        events.into_iter().next()
    }

    fn line(&mut self, line: &str, events: &mut Vec<String>) {
        if line.is_empty() {
            events.extend(self.data.take());
            return;
        }
        let Some(value) = line.strip_prefix("data:") else {
            // `event:`, `id:`, `retry:` and `: comments` carry nothing a
            // chat completion needs.
            return;
        };
        let value = value.strip_prefix(' ').unwrap_or(value);
        match &mut self.data {
            Some(data) => {
                data.push('\n');
                data.push_str(value);
            }
            None => self.data = Some(value.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_pushes_and_crlf_are_reassembled() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"data: {\"a\":").is_empty());
        assert!(parser.push(b"1}\r\n").is_empty());
        assert_eq!(
            parser.push(b"\r\n: keep-alive\n\ndata: [DONE]\n\n"),
            ["{\"a\":1}", "[DONE]"]
        );
    }

    #[test]
    fn multi_line_data_joins_and_a_cut_utf8_character_survives() {
        let mut parser = SseParser::default();
        let text = "data: é\ndata: x\n\n".as_bytes();
        let (first, second) = text.split_at(7); // inside the two bytes of é
        assert!(parser.push(first).is_empty());
        assert_eq!(parser.push(second), ["é\nx"]);
    }

    #[test]
    fn a_last_event_without_its_blank_line_is_kept() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"data: [DONE]").is_empty());
        assert_eq!(parser.finish().as_deref(), Some("[DONE]"));
    }
}
