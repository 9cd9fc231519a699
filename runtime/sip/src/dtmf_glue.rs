//! DTMF on a call's inbound media, on top of `switchyard_media::dtmf`.

use switchyard_media::dtmf::{EventReceiver, InbandConfig};
use switchyard_media::frame::Frame;
use switchyard_media::rtp::RtpPacket;

/// RFC 4733 events of one call: one key per press.
pub(crate) struct DtmfIn {
    receiver: EventReceiver,
}

impl DtmfIn {
    pub(crate) fn new() -> Self {
        Self {
            receiver: EventReceiver::new(),
        }
    }

    /// The key this telephone-event packet starts, if it is a new press.
    /// Malformed payloads are ignored.
    pub(crate) fn on_packet(&mut self, packet: &RtpPacket<'_>) -> Option<char> {
        self.receiver
            .receive(packet.timestamp, packet.payload)
            .ok()
            .flatten()
    }
}

/// Goertzel detection on the decoded audio, for peers without RFC 4733.
pub(crate) struct InbandDetector {
    detector: switchyard_media::dtmf::InbandDetector,
}

impl InbandDetector {
    pub(crate) fn new() -> Self {
        Self {
            detector: switchyard_media::dtmf::InbandDetector::new(InbandConfig::default()),
        }
    }

    pub(crate) fn on_frame(&mut self, frame: &Frame) -> Option<char> {
        self.detector.process(frame)
    }
}

/// What the body of an in-dialog INFO says about a key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InfoKey {
    /// A key pressed.
    Key(char),
    /// A DTMF body that names no valid key; the reason goes in the 400.
    Malformed(String),
    /// Not a DTMF INFO (another package, or no body).
    NotDtmf,
}

/// Reads a key from an INFO body, in the two formats trunks and PBXs send
/// when they do not use RFC 4733: `application/dtmf-relay` (Cisco's
/// `Signal=5` / `Duration=160` lines) and `application/dtmf` (the key
/// alone). Media types and the `Signal` name are matched case-insensitively;
/// the key is one of `0-9 * # A-D`, and `10`/`11` are read as `*`/`#`, as
/// some gateways send the RFC 4733 event numbers.
pub(crate) fn info_key(content_type: Option<&str>, body: &[u8]) -> InfoKey {
    let Some(media_type) = content_type.map(|t| {
        t.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }) else {
        return InfoKey::NotDtmf;
    };
    let Ok(body) = std::str::from_utf8(body) else {
        return match media_type.as_str() {
            "application/dtmf-relay" | "application/dtmf" => {
                InfoKey::Malformed("the DTMF body is not text".into())
            }
            _ => InfoKey::NotDtmf,
        };
    };
    let signal = match media_type.as_str() {
        "application/dtmf-relay" => body.lines().find_map(|line| {
            let (name, value) = line.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| value.trim())
        }),
        "application/dtmf" => Some(body.trim()),
        _ => return InfoKey::NotDtmf,
    };
    let Some(signal) = signal else {
        return InfoKey::Malformed(format!("{media_type} body has no Signal= line"));
    };
    let key = match signal {
        "10" => Some('*'),
        "11" => Some('#'),
        s if s.chars().count() == 1 => s
            .chars()
            .next()
            .map(|c| c.to_ascii_uppercase())
            .filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')),
        _ => None,
    };
    match key {
        Some(key) => InfoKey::Key(key),
        None => InfoKey::Malformed(format!(
            "{signal:?} is not a key (expected one of 0-9 * # A-D)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_relay_bodies_give_their_key() {
        let relay = Some("application/dtmf-relay");
        assert_eq!(
            info_key(relay, b"Signal=5\r\nDuration=160\r\n"),
            InfoKey::Key('5')
        );
        assert_eq!(
            info_key(relay, b"signal = #\nduration=100"),
            InfoKey::Key('#')
        );
        assert_eq!(info_key(relay, b"Signal=11\r\n"), InfoKey::Key('#'));
        assert_eq!(info_key(relay, b"Signal=10\r\n"), InfoKey::Key('*'));
        assert_eq!(info_key(relay, b"Signal=d\r\n"), InfoKey::Key('D'));
        assert_eq!(
            info_key(Some("Application/DTMF-Relay; charset=utf-8"), b"Signal=0"),
            InfoKey::Key('0')
        );
    }

    #[test]
    fn plain_dtmf_bodies_give_their_key() {
        assert_eq!(
            info_key(Some("application/dtmf"), b"7\r\n"),
            InfoKey::Key('7')
        );
        assert_eq!(info_key(Some("application/dtmf"), b"*"), InfoKey::Key('*'));
    }

    #[test]
    fn bad_dtmf_bodies_say_what_is_wrong() {
        let relay = Some("application/dtmf-relay");
        assert!(matches!(
            info_key(relay, b"Signal=55\r\n"),
            InfoKey::Malformed(m) if m.contains("\"55\" is not a key")
        ));
        assert!(matches!(
            info_key(relay, b"Duration=160\r\n"),
            InfoKey::Malformed(m) if m.contains("no Signal= line")
        ));
        assert!(matches!(
            info_key(Some("application/dtmf"), b"E"),
            InfoKey::Malformed(_)
        ));
        assert!(matches!(
            info_key(relay, &[0xff, 0xfe]),
            InfoKey::Malformed(m) if m.contains("not text")
        ));
    }

    #[test]
    fn other_info_packages_are_not_keys() {
        assert_eq!(
            info_key(Some("application/media_control+xml"), b"<media_control/>"),
            InfoKey::NotDtmf
        );
        assert_eq!(info_key(None, b""), InfoKey::NotDtmf);
    }
}
