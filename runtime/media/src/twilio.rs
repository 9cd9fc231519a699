//! The Twilio Media Streams wire format, and the mark bookkeeping that
//! barge-in depends on.
//!
//! A bidirectional stream (`<Connect><Stream url="wss://…">`) carries one
//! JSON text frame per message. Twilio sends `connected`, `start`, `media`
//! (20 ms of base64 µ-law at 8 kHz), `dtmf`, `mark` and `stop`; we send
//! `media`, `mark` and `clear`. [`parse_inbound`] reads the first kind and
//! never panics: whatever a socket delivers either parses or becomes a
//! [`TwilioError`] that says what was wrong and where. The `outbound_*`
//! functions write the second kind.
//!
//! Playback is learnt from marks: we send a prompt's audio followed by a
//! `mark`, and Twilio echoes the mark when the audio before it has played.
//! But it *also* echoes every pending mark when a `clear` drops the audio
//! (barge-in), so an echo alone does not prove the caller heard the prompt
//! (the bug behind openai/openai-agents-js#1184 and
//! jambonz-feature-server#811). [`MarkTracker`] remembers which marks were
//! outstanding when we sent `clear` and reports their echoes as
//! [`MarkOutcome::Cleared`], never as played.
//!
//! ```
//! use switchyard_media::twilio::{Inbound, parse_inbound};
//! let message = parse_inbound(
//!     r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1",
//!         "media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/////w=="}}"#,
//! )
//! .unwrap();
//! let Inbound::Media(media) = message else { panic!() };
//! assert_eq!(media.payload, vec![0xFF; 4]); // µ-law silence
//! assert_eq!(media.pcm(), vec![0; 4]);
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::frame::Frame;
use crate::g711;

/// A message from Twilio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// The WebSocket is connected (first message).
    Connected(Connected),
    /// The stream started: who is calling and how the audio is encoded.
    Start(Start),
    /// 20 ms of the caller's audio.
    Media(Media),
    /// The caller pressed a key.
    Dtmf(Dtmf),
    /// A mark we sent was reached, or dropped by a `clear`.
    Mark(Mark),
    /// The stream ended (the call hung up or the stream was stopped).
    Stop(Stop),
}

impl Inbound {
    /// The message's `event` name.
    pub fn event(&self) -> &'static str {
        match self {
            Inbound::Connected(_) => "connected",
            Inbound::Start(_) => "start",
            Inbound::Media(_) => "media",
            Inbound::Dtmf(_) => "dtmf",
            Inbound::Mark(_) => "mark",
            Inbound::Stop(_) => "stop",
        }
    }

    /// The `streamSid` (every message but `connected` has one).
    pub fn stream_sid(&self) -> Option<&str> {
        match self {
            Inbound::Connected(_) => None,
            Inbound::Start(m) => Some(&m.stream_sid),
            Inbound::Media(m) => Some(&m.stream_sid),
            Inbound::Dtmf(m) => Some(&m.stream_sid),
            Inbound::Mark(m) => Some(&m.stream_sid),
            Inbound::Stop(m) => Some(&m.stream_sid),
        }
    }
}

/// `{"event":"connected","protocol":"Call","version":"1.0.0"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// Always `Call` today.
    pub protocol: String,
    /// The protocol version, e.g. `1.0.0`.
    pub version: String,
}

/// The `start` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// Twilio's count of messages on this stream.
    pub sequence_number: Option<u64>,
    /// The stream's id (`MZ…`): every later message and every reply
    /// carries it.
    pub stream_sid: String,
    /// The account (`AC…`).
    pub account_sid: String,
    /// The call (`CA…`).
    pub call_sid: String,
    /// Which tracks are streamed (`inbound`, `outbound`).
    pub tracks: Vec<String>,
    /// `<Parameter>` values from the TwiML: how a stream names its tenant,
    /// flow and token.
    pub custom_parameters: BTreeMap<String, String>,
    /// How the audio is encoded.
    pub media_format: MediaFormat,
}

/// `start.mediaFormat`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    /// `audio/x-mulaw` on Twilio.
    pub encoding: String,
    /// 8000 on Twilio.
    pub sample_rate: u32,
    /// 1 on Twilio.
    pub channels: u16,
}

impl MediaFormat {
    /// Whether this is the only format Twilio streams: 8 kHz mono µ-law.
    pub fn is_mulaw_8k_mono(&self) -> bool {
        self.encoding.eq_ignore_ascii_case("audio/x-mulaw")
            && self.sample_rate == 8_000
            && self.channels == 1
    }
}

/// The `media` message: audio from the caller.
#[derive(Clone, PartialEq, Eq)]
pub struct Media {
    /// Twilio's count of messages on this stream.
    pub sequence_number: Option<u64>,
    /// The stream's id.
    pub stream_sid: String,
    /// `inbound` (the caller) or `outbound`.
    pub track: String,
    /// The chunk's number on its track, from 1.
    pub chunk: u64,
    /// Milliseconds since the stream started.
    pub timestamp_ms: u64,
    /// The audio, µ-law bytes (decoded from base64).
    pub payload: Vec<u8>,
}

impl Media {
    /// The audio as 16-bit linear PCM.
    pub fn pcm(&self) -> Vec<i16> {
        let mut pcm = Vec::with_capacity(self.payload.len());
        self.decode_into(&mut pcm);
        pcm
    }

    /// Appends the audio, as 16-bit linear PCM, to `pcm` (reuse one buffer
    /// per stream to avoid an allocation per message).
    pub fn decode_into(&self, pcm: &mut Vec<i16>) {
        pcm.extend(self.payload.iter().map(|&code| g711::ulaw_decode(code)));
    }

    /// The audio as one frame: a 160-byte payload exactly fills it; a
    /// shorter one is padded with silence and a longer one cut.
    pub fn frame(&self) -> Frame {
        g711::Codec::Pcmu.decode_frame(&self.payload)
    }
}

impl std::fmt::Debug for Media {
    // Audio is caller data: the debug form gives the payload's size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("sequence_number", &self.sequence_number)
            .field("stream_sid", &self.stream_sid)
            .field("track", &self.track)
            .field("chunk", &self.chunk)
            .field("timestamp_ms", &self.timestamp_ms)
            .field("payload_bytes", &self.payload.len())
            .finish()
    }
}

/// The `dtmf` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dtmf {
    /// Twilio's count of messages on this stream.
    pub sequence_number: Option<u64>,
    /// The stream's id.
    pub stream_sid: String,
    /// `inbound_track` on Twilio.
    pub track: String,
    /// The key: `0`–`9`, `*`, `#` (or `A`–`D`).
    pub digit: char,
}

/// The `mark` message: Twilio echoing a mark we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Twilio's count of messages on this stream.
    pub sequence_number: Option<u64>,
    /// The stream's id.
    pub stream_sid: String,
    /// The name we gave the mark.
    pub name: String,
}

/// The `stop` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// Twilio's count of messages on this stream.
    pub sequence_number: Option<u64>,
    /// The stream's id.
    pub stream_sid: String,
    /// The account (`AC…`), when given.
    pub account_sid: Option<String>,
    /// The call (`CA…`), when given.
    pub call_sid: Option<String>,
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwilioError {
    /// Not JSON, not an object, or a field of the wrong type; serde_json's
    /// message gives the line and column.
    #[error("malformed message: {0}")]
    Json(String),
    /// The object has no `event` field.
    #[error("message without \"event\"")]
    NoEvent,
    /// An `event` we do not know.
    #[error("unknown event {0:?} (expected connected, start, media, dtmf, mark or stop)")]
    UnknownEvent(String),
    /// A field the event needs is missing.
    #[error("{event} message without {field}")]
    MissingField {
        /// The message's event.
        event: &'static str,
        /// The missing field's path, e.g. `media.payload`.
        field: &'static str,
    },
    /// A numeric field (Twilio sends them as strings) is not a number.
    #[error("{field} is not a whole number: {value:?}")]
    BadNumber {
        /// The field's path, e.g. `media.chunk`.
        field: &'static str,
        /// What it held (at most 32 characters of it).
        value: String,
    },
    /// `media.payload` is not base64.
    #[error("media.payload is not valid base64: {0}")]
    BadPayload(String),
    /// `dtmf.digit` is not one key.
    #[error("dtmf.digit {0:?} is not one key (0-9, *, #, A-D)")]
    BadDigit(String),
}

/// Reads one message from Twilio.
///
/// Unknown fields are ignored (Twilio adds fields over time); numbers are
/// accepted as strings (as Twilio sends them) or as JSON numbers.
///
/// # Errors
/// A [`TwilioError`] naming the problem: malformed JSON (with line and
/// column), no or an unknown `event`, a missing field (with its path), a
/// non-numeric number, bad base64, or a `digit` that is not one key.
pub fn parse_inbound(text: &str) -> Result<Inbound, TwilioError> {
    // serde would also read a struct from a JSON array, by position; a
    // Twilio message is always an object.
    if !text.trim_start().starts_with('{') {
        return Err(TwilioError::Json("expected a JSON object".to_owned()));
    }
    let wire: Wire = serde_json::from_str(text).map_err(|e| TwilioError::Json(e.to_string()))?;
    let event = wire.event.ok_or(TwilioError::NoEvent)?;
    let missing = |event, field| TwilioError::MissingField { event, field };
    Ok(match &*event {
        "connected" => Inbound::Connected(Connected {
            protocol: wire.protocol.ok_or(missing("connected", "protocol"))?,
            version: wire.version.ok_or(missing("connected", "version"))?,
        }),
        "start" => {
            let sequence_number = number(wire.sequence_number, "sequenceNumber")?;
            let start = wire.start.ok_or(missing("start", "start"))?;
            // Twilio repeats the streamSid inside `start`; either will do.
            let stream_sid = wire
                .stream_sid
                .or(start.stream_sid)
                .ok_or(missing("start", "streamSid"))?;
            Inbound::Start(Start {
                sequence_number,
                stream_sid,
                account_sid: start
                    .account_sid
                    .ok_or(missing("start", "start.accountSid"))?,
                call_sid: start.call_sid.ok_or(missing("start", "start.callSid"))?,
                tracks: start.tracks.unwrap_or_default(),
                custom_parameters: start.custom_parameters.unwrap_or_default(),
                media_format: start
                    .media_format
                    .ok_or(missing("start", "start.mediaFormat"))?,
            })
        }
        "media" => {
            let sequence_number = number(wire.sequence_number, "sequenceNumber")?;
            let stream_sid = wire.stream_sid.ok_or(missing("media", "streamSid"))?;
            let media = wire.media.ok_or(missing("media", "media"))?;
            let payload = media.payload.ok_or(missing("media", "media.payload"))?;
            let payload = BASE64
                .decode(payload.as_bytes())
                .map_err(|e| TwilioError::BadPayload(e.to_string()))?;
            Inbound::Media(Media {
                sequence_number,
                stream_sid,
                track: media
                    .track
                    .map_or_else(|| "inbound".to_owned(), Cow::into_owned),
                chunk: number(media.chunk, "media.chunk")?
                    .ok_or(missing("media", "media.chunk"))?,
                timestamp_ms: number(media.timestamp, "media.timestamp")?
                    .ok_or(missing("media", "media.timestamp"))?,
                payload,
            })
        }
        "dtmf" => {
            let sequence_number = number(wire.sequence_number, "sequenceNumber")?;
            let stream_sid = wire.stream_sid.ok_or(missing("dtmf", "streamSid"))?;
            let dtmf = wire.dtmf.ok_or(missing("dtmf", "dtmf"))?;
            let digit_text = dtmf.digit.ok_or(missing("dtmf", "dtmf.digit"))?;
            let mut chars = digit_text.chars();
            let digit = match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_digit() || "*#ABCDabcd".contains(c) => {
                    c.to_ascii_uppercase()
                }
                _ => {
                    return Err(TwilioError::BadDigit(digit_text.chars().take(32).collect()));
                }
            };
            Inbound::Dtmf(Dtmf {
                sequence_number,
                stream_sid,
                track: dtmf.track.unwrap_or_else(|| "inbound_track".to_owned()),
                digit,
            })
        }
        "mark" => Inbound::Mark(Mark {
            sequence_number: number(wire.sequence_number, "sequenceNumber")?,
            stream_sid: wire.stream_sid.ok_or(missing("mark", "streamSid"))?,
            name: wire
                .mark
                .and_then(|m| m.name)
                .ok_or(missing("mark", "mark.name"))?,
        }),
        "stop" => {
            let stop = wire.stop.unwrap_or_default();
            Inbound::Stop(Stop {
                sequence_number: number(wire.sequence_number, "sequenceNumber")?,
                stream_sid: wire.stream_sid.ok_or(missing("stop", "streamSid"))?,
                account_sid: stop.account_sid,
                call_sid: stop.call_sid,
            })
        }
        _ => return Err(TwilioError::UnknownEvent(event.chars().take(64).collect())),
    })
}

/// A string or a number on the wire (Twilio sends counters as strings),
/// borrowed from the message where it can be. Read by hand rather than as
/// an untagged enum, which would buffer every counter of every `media`
/// message (three per 20 ms frame) before trying each variant.
enum Numberish<'a> {
    Text(Cow<'a, str>),
    Number(u64),
}

impl<'de: 'a, 'a> Deserialize<'de> for Numberish<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Numberish<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a whole number, or a string holding one")
            }
            fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
                Ok(Numberish::Number(n))
            }
            // Negative and fractional numbers are kept as text, so the
            // error names the field and the value.
            fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
                Ok(match u64::try_from(n) {
                    Ok(n) => Numberish::Number(n),
                    Err(_) => Numberish::Text(Cow::Owned(n.to_string())),
                })
            }
            fn visit_f64<E>(self, n: f64) -> Result<Self::Value, E> {
                Ok(Numberish::Text(Cow::Owned(n.to_string())))
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Numberish::Text(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Numberish::Text(Cow::Owned(text.to_owned())))
            }
        }
        deserializer.deserialize_any(Visitor(std::marker::PhantomData))
    }
}

fn number(value: Option<Numberish<'_>>, field: &'static str) -> Result<Option<u64>, TwilioError> {
    match value {
        None => Ok(None),
        Some(Numberish::Number(n)) => Ok(Some(n)),
        Some(Numberish::Text(text)) => {
            text.trim()
                .parse()
                .map(Some)
                .map_err(|_| TwilioError::BadNumber {
                    field,
                    value: text.chars().take(32).collect(),
                })
        }
    }
}

/// Every field any inbound message has, all optional, so one pass of
/// serde_json reads any of them and the checks above can say exactly which
/// field an event is missing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    // Borrowed from the message where no escape forces a copy: a `media`
    // message, 50 a second per stream, then allocates only what it keeps.
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sequence_number: Option<Numberish<'a>>,
    stream_sid: Option<String>,
    protocol: Option<String>,
    version: Option<String>,
    start: Option<WireStart>,
    #[serde(borrow)]
    media: Option<WireMedia<'a>>,
    dtmf: Option<WireDtmf>,
    mark: Option<WireMark>,
    stop: Option<WireStop>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStart {
    account_sid: Option<String>,
    stream_sid: Option<String>,
    call_sid: Option<String>,
    tracks: Option<Vec<String>>,
    custom_parameters: Option<BTreeMap<String, String>>,
    media_format: Option<MediaFormat>,
}

#[derive(Deserialize)]
struct WireMedia<'a> {
    #[serde(borrow)]
    track: Option<Cow<'a, str>>,
    #[serde(borrow)]
    chunk: Option<Numberish<'a>>,
    #[serde(borrow)]
    timestamp: Option<Numberish<'a>>,
    #[serde(borrow)]
    payload: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireDtmf {
    track: Option<String>,
    digit: Option<String>,
}

#[derive(Deserialize)]
struct WireMark {
    name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireStop {
    account_sid: Option<String>,
    call_sid: Option<String>,
}

#[derive(Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum OutboundWire<'a> {
    Media {
        #[serde(rename = "streamSid")]
        stream_sid: &'a str,
        media: OutboundMedia,
    },
    Mark {
        #[serde(rename = "streamSid")]
        stream_sid: &'a str,
        mark: OutboundMark<'a>,
    },
    Clear {
        #[serde(rename = "streamSid")]
        stream_sid: &'a str,
    },
}

#[derive(Serialize)]
struct OutboundMedia {
    payload: String,
}

#[derive(Serialize)]
struct OutboundMark<'a> {
    name: &'a str,
}

fn to_json(message: &OutboundWire<'_>) -> String {
    // Serialising these plain structs to a string cannot fail.
    serde_json::to_string(message).unwrap_or_default()
}

/// `{"event":"media","streamSid":…,"media":{"payload":…}}` carrying µ-law
/// bytes.
pub fn outbound_media(stream_sid: &str, mulaw: &[u8]) -> String {
    to_json(&OutboundWire::Media {
        stream_sid,
        media: OutboundMedia {
            payload: BASE64.encode(mulaw),
        },
    })
}

/// An outbound `media` message carrying 8 kHz linear PCM, encoded to µ-law.
pub fn outbound_media_pcm(stream_sid: &str, pcm: &[i16]) -> String {
    let mulaw: Vec<u8> = pcm.iter().map(|&s| g711::ulaw_encode(s)).collect();
    outbound_media(stream_sid, &mulaw)
}

/// `{"event":"mark","streamSid":…,"mark":{"name":…}}`: Twilio echoes it
/// once the audio sent before it has played (or was cleared).
pub fn outbound_mark(stream_sid: &str, name: &str) -> String {
    to_json(&OutboundWire::Mark {
        stream_sid,
        mark: OutboundMark { name },
    })
}

/// `{"event":"clear","streamSid":…}`: drop all audio not yet played
/// (barge-in). Tell the [`MarkTracker`] too.
pub fn outbound_clear(stream_sid: &str) -> String {
    to_json(&OutboundWire::Clear { stream_sid })
}

/// What an echoed mark means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkOutcome {
    /// The audio before the mark was played to the caller.
    Played(String),
    /// The mark was outstanding when we sent `clear`: its audio was dropped
    /// (or, if it had just finished, we cannot tell, and say not played).
    Cleared(String),
    /// A mark we did not send or already had the echo of.
    Unknown(String),
}

/// Whether a sent mark's echo will mean "played" or "cleared".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MarkState {
    Pending,
    Cleared,
}

/// Tells played marks from cleared ones (see the module docs).
///
/// Call [`sent`](Self::sent) when sending a mark, [`cleared`](Self::cleared)
/// when sending `clear`, and [`echoed`](Self::echoed) for each `mark`
/// message from Twilio.
#[derive(Debug, Default)]
pub struct MarkTracker {
    /// Marks sent and not yet echoed, oldest first (Twilio echoes in order).
    outstanding: VecDeque<(String, MarkState)>,
}

/// Marks kept at most: a peer that never echoes cannot grow the tracker
/// without bound. Far beyond any real queue of prompts.
const MAX_OUTSTANDING: usize = 1_024;

impl MarkTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// We sent a mark named `name` after some audio.
    pub fn sent(&mut self, name: impl Into<String>) {
        if self.outstanding.len() == MAX_OUTSTANDING {
            self.outstanding.pop_front();
        }
        self.outstanding
            .push_back((name.into(), MarkState::Pending));
    }

    /// We sent `clear`: every mark outstanding now will be echoed as
    /// dropped, whenever its echo arrives.
    pub fn cleared(&mut self) {
        for (_, state) in &mut self.outstanding {
            *state = MarkState::Cleared;
        }
    }

    /// Twilio echoed the mark `name`.
    pub fn echoed(&mut self, name: &str) -> MarkOutcome {
        let Some(index) = self.outstanding.iter().position(|(n, _)| n == name) else {
            return MarkOutcome::Unknown(name.to_owned());
        };
        // Twilio echoes in order, so anything older than this mark will not
        // be echoed any more; forget it.
        let mut taken = self.outstanding.drain(..=index);
        let (name, state) = taken
            .next_back()
            .unwrap_or_else(|| (name.to_owned(), MarkState::Cleared));
        drop(taken);
        match state {
            MarkState::Pending => MarkOutcome::Played(name),
            MarkState::Cleared => MarkOutcome::Cleared(name),
        }
    }

    /// How many marks are waiting for their echo (played or cleared).
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Whether audio we sent may still be playing: some mark not covered by
    /// a `clear` is unechoed.
    pub fn is_playing(&self) -> bool {
        self.outstanding
            .iter()
            .any(|(_, s)| *s == MarkState::Pending)
    }
}

/// The mark name we use for the prompt with [`crate::leg::LegCommand::Play`]
/// id `id`.
pub fn prompt_mark_name(id: u64) -> String {
    format!("prompt-{id}")
}

/// The prompt id in a mark name made by [`prompt_mark_name`].
pub fn prompt_id(mark_name: &str) -> Option<u64> {
    mark_name.strip_prefix("prompt-")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    // The messages as REFERENCE.md quotes Twilio's documentation.
    const CONNECTED: &str = r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#;
    const START: &str = r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","start":{"accountSid":"AC0123","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","callSid":"CA0456","tracks":["inbound"],"customParameters":{"tenant":"acme","flow":"receptionist","token":"t.sig"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#;
    const MEDIA: &str = r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"AP9/gA=="}}"#;
    const DTMF: &str = r#"{"event":"dtmf","sequenceNumber":"5","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"1"}}"#;
    const MARK: &str =
        r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"utt-3"}}"#;
    const STOP: &str = r#"{"event":"stop","sequenceNumber":"5","streamSid":"MZ1","stop":{"accountSid":"AC0123","callSid":"CA0456"}}"#;

    #[test]
    fn parses_every_inbound_message() {
        assert_eq!(
            parse_inbound(CONNECTED).unwrap(),
            Inbound::Connected(Connected {
                protocol: "Call".into(),
                version: "1.0.0".into()
            })
        );

        let Inbound::Start(start) = parse_inbound(START).unwrap() else {
            panic!("start")
        };
        assert_eq!(start.sequence_number, Some(1));
        assert_eq!(start.stream_sid, "MZ18ad3ab5a668481ce02b83e7395059f0");
        assert_eq!(start.account_sid, "AC0123");
        assert_eq!(start.call_sid, "CA0456");
        assert_eq!(start.tracks, vec!["inbound"]);
        assert_eq!(start.custom_parameters["flow"], "receptionist");
        assert_eq!(start.custom_parameters.len(), 3);
        assert!(start.media_format.is_mulaw_8k_mono());

        let Inbound::Media(media) = parse_inbound(MEDIA).unwrap() else {
            panic!("media")
        };
        assert_eq!(media.sequence_number, Some(3));
        assert_eq!((media.chunk, media.timestamp_ms), (1, 5));
        assert_eq!(media.track, "inbound");
        assert_eq!(media.payload, vec![0x00, 0xFF, 0x7F, 0x80]);

        assert_eq!(
            parse_inbound(DTMF).unwrap(),
            Inbound::Dtmf(Dtmf {
                sequence_number: Some(5),
                stream_sid: "MZ1".into(),
                track: "inbound_track".into(),
                digit: '1'
            })
        );
        assert_eq!(
            parse_inbound(MARK).unwrap(),
            Inbound::Mark(Mark {
                sequence_number: Some(4),
                stream_sid: "MZ1".into(),
                name: "utt-3".into()
            })
        );
        let stop = parse_inbound(STOP).unwrap();
        assert_eq!(stop.event(), "stop");
        assert_eq!(stop.stream_sid(), Some("MZ1"));
        assert_eq!(
            stop,
            Inbound::Stop(Stop {
                sequence_number: Some(5),
                stream_sid: "MZ1".into(),
                account_sid: Some("AC0123".into()),
                call_sid: Some("CA0456".into())
            })
        );
    }

    #[test]
    fn media_payload_decodes_to_pcm_with_g711() {
        let Inbound::Media(media) = parse_inbound(MEDIA).unwrap() else {
            panic!()
        };
        // µ-law 0x00 and 0x80 are the extremes, 0xFF and 0x7F are zero.
        assert_eq!(media.pcm(), vec![-32_124, 0, 0, 32_124]);
        let frame = media.frame();
        assert_eq!(&frame.samples()[..4], &[-32_124, 0, 0, 32_124]);
        assert!(frame.samples()[4..].iter().all(|&s| s == 0));
        let mut buffer = vec![1];
        media.decode_into(&mut buffer);
        assert_eq!(buffer.len(), 5);
    }

    #[test]
    fn a_full_frame_round_trips_through_outbound_and_inbound() {
        let pcm: Vec<i16> = (0..160)
            .map(|i| ((i * 397) % 16_000 - 8_000) as i16)
            .collect();
        let out = outbound_media_pcm("MZ9", &pcm);
        // Twilio's inbound media has the same `media.payload`; reuse it.
        let value: Value = serde_json::from_str(&out).unwrap();
        let inbound = json!({"event":"media","streamSid":"MZ9","media":{
            "track":"inbound","chunk":"2","timestamp":"20","payload":value["media"]["payload"]}});
        let Inbound::Media(media) = parse_inbound(&inbound.to_string()).unwrap() else {
            panic!()
        };
        assert_eq!(media.payload.len(), 160);
        for (a, b) in pcm.iter().zip(media.frame().samples()) {
            // µ-law's step at these levels is at most 256.
            assert!((a - b).abs() <= 256, "{a} vs {b}");
        }
    }

    #[test]
    fn outbound_messages_have_twilios_exact_shape() {
        assert_eq!(
            outbound_media("MZ1", &[0xFF, 0x00]),
            r#"{"event":"media","streamSid":"MZ1","media":{"payload":"/wA="}}"#
        );
        assert_eq!(
            outbound_mark("MZ1", "utt-3"),
            r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"utt-3"}}"#
        );
        assert_eq!(
            outbound_clear("MZ1"),
            r#"{"event":"clear","streamSid":"MZ1"}"#
        );
        // Names are escaped, not spliced.
        let tricky = outbound_mark("MZ1", "a\"}b");
        let value: Value = serde_json::from_str(&tricky).unwrap();
        assert_eq!(value["mark"]["name"], "a\"}b");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cases: [(&str, &str); 17] = [
            ("", "malformed message: expected a JSON object"),
            (
                "[\"connected\",null,null,\"Call\",\"1\"]",
                "malformed message: expected a JSON object",
            ),
            (
                r#"{"event":"media""#,
                "malformed message: EOF while parsing an object at line 1 column 16",
            ),
            (r#"{"streamSid":"MZ1"}"#, "message without \"event\""),
            (
                r#"{"event":"hangup"}"#,
                "unknown event \"hangup\" (expected connected, start, media, dtmf, mark or stop)",
            ),
            (
                r#"{"event":"media","streamSid":"MZ1"}"#,
                "media message without media",
            ),
            (
                r#"{"event":"media","streamSid":"MZ1","media":{"chunk":"1","timestamp":"0"}}"#,
                "media message without media.payload",
            ),
            (
                r#"{"event":"media","media":{"chunk":"1","timestamp":"0","payload":""}}"#,
                "media message without streamSid",
            ),
            (
                r#"{"event":"media","streamSid":"MZ1","media":{"chunk":"1","timestamp":"0","payload":"@@@"}}"#,
                "media.payload is not valid base64: Invalid symbol 64, offset 0.",
            ),
            (
                r#"{"event":"media","streamSid":"MZ1","media":{"chunk":"one","timestamp":"0","payload":""}}"#,
                "media.chunk is not a whole number: \"one\"",
            ),
            (
                r#"{"event":"dtmf","streamSid":"MZ1","dtmf":{"digit":"12"}}"#,
                "dtmf.digit \"12\" is not one key (0-9, *, #, A-D)",
            ),
            (
                r#"{"event":"start","streamSid":"MZ1","start":{"accountSid":"AC","callSid":"CA"}}"#,
                "start message without start.mediaFormat",
            ),
            (
                r#"{"event":"mark","streamSid":"MZ1","mark":{}}"#,
                "mark message without mark.name",
            ),
            (
                r#"{"event":"mark","streamSid":5,"mark":{"name":"x"}}"#,
                "malformed message: invalid type: integer `5`, expected a string at line 1 column 29",
            ),
            (
                r#"{"event":"mark","sequenceNumber":-3,"streamSid":"MZ1","mark":{"name":"x"}}"#,
                "sequenceNumber is not a whole number: \"-3\"",
            ),
            (
                r#"{"event":"media","streamSid":"MZ1","media":{"chunk":1.5,"timestamp":"0","payload":""}}"#,
                "media.chunk is not a whole number: \"1.5\"",
            ),
            (
                r#"{"event":"media","streamSid":"MZ1","media":{"chunk":[1],"timestamp":"0","payload":""}}"#,
                "malformed message: invalid type: sequence, expected a whole number, or a string holding one at line 1 column 53",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(
                parse_inbound(text).unwrap_err().to_string(),
                message,
                "{text}"
            );
        }
    }

    #[test]
    fn lenient_where_peers_differ() {
        // Numbers as JSON numbers, extra fields, no `stop` body, lower-case
        // DTMF letters, the streamSid only inside `start`.
        let media = r#"{"event":"media","sequenceNumber":7,"streamSid":"MZ1","extra":{"x":[1]},
            "media":{"track":"inbound","chunk":9,"timestamp":180,"payload":""}}"#;
        let Inbound::Media(m) = parse_inbound(media).unwrap() else {
            panic!()
        };
        assert_eq!(
            (m.sequence_number, m.chunk, m.timestamp_ms),
            (Some(7), 9, 180)
        );
        assert!(m.payload.is_empty());
        // Escapes (here `\/` and `\u0031`) make serde copy a string rather
        // than borrow it; the message reads the same.
        let escaped = r#"{"event":"media","sequenceNumber":"\u0037","streamSid":"MZ1",
            "media":{"track":"in\/bound","chunk":"9","timestamp":"1\u00380","payload":"\/w=="}}"#;
        let Inbound::Media(m) = parse_inbound(escaped).unwrap() else {
            panic!()
        };
        assert_eq!(
            (m.sequence_number, m.chunk, m.timestamp_ms, m.track.as_str()),
            (Some(7), 9, 180, "in/bound")
        );
        assert_eq!(m.payload, [0xff]);
        assert!(matches!(
            parse_inbound(r#"{"event":"stop","streamSid":"MZ1"}"#).unwrap(),
            Inbound::Stop(Stop { call_sid: None, .. })
        ));
        let Inbound::Dtmf(d) =
            parse_inbound(r#"{"event":"dtmf","streamSid":"MZ1","dtmf":{"digit":"d"}}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(d.digit, 'D');
        let start = r#"{"event":"start","start":{"streamSid":"MZ2","accountSid":"AC","callSid":"CA",
            "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#;
        assert_eq!(parse_inbound(start).unwrap().stream_sid(), Some("MZ2"));
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 99u32;
        for base in [CONNECTED, START, MEDIA, DTMF, MARK, STOP] {
            for round in 0..500 {
                let mut bytes = base.as_bytes().to_vec();
                for _ in 0..(round % 8 + 1) {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    let at = (seed >> 8) as usize % bytes.len();
                    let alphabet = b" {}[]\":,0aZ\\/=+";
                    bytes[at] = alphabet[(seed >> 24) as usize % alphabet.len()];
                }
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    let _ = parse_inbound(text);
                }
            }
        }
    }

    #[test]
    fn debug_output_never_shows_audio() {
        let Inbound::Media(media) = parse_inbound(MEDIA).unwrap() else {
            panic!()
        };
        let shown = format!("{media:?}");
        assert!(shown.contains("payload_bytes: 4"), "{shown}");
        assert!(!shown.contains("255"), "{shown}");
    }

    #[test]
    fn marks_echoed_after_playback_count_as_played() {
        let mut marks = MarkTracker::new();
        marks.sent("prompt-1");
        marks.sent("prompt-2");
        assert!(marks.is_playing());
        assert_eq!(
            marks.echoed("prompt-1"),
            MarkOutcome::Played("prompt-1".into())
        );
        assert_eq!(
            marks.echoed("prompt-2"),
            MarkOutcome::Played("prompt-2".into())
        );
        assert!(!marks.is_playing());
        assert_eq!(marks.outstanding(), 0);
    }

    #[test]
    fn marks_echoed_because_of_a_clear_are_not_played() {
        let mut marks = MarkTracker::new();
        marks.sent("prompt-1");
        marks.sent("prompt-2");
        assert_eq!(
            marks.echoed("prompt-1"),
            MarkOutcome::Played("prompt-1".into())
        );
        // Barge-in during prompt 2: we clear, and Twilio echoes prompt-2
        // straight away although the caller never heard it.
        marks.cleared();
        assert!(!marks.is_playing());
        assert_eq!(
            marks.echoed("prompt-2"),
            MarkOutcome::Cleared("prompt-2".into())
        );
        // The next prompt plays normally.
        marks.sent("prompt-3");
        assert!(marks.is_playing());
        assert_eq!(
            marks.echoed("prompt-3"),
            MarkOutcome::Played("prompt-3".into())
        );
    }

    #[test]
    fn an_echo_racing_the_clear_is_not_counted_as_played() {
        // prompt-1 finished and its echo is on the wire when we send clear:
        // it was outstanding at the clear, so it is reported cleared.
        let mut marks = MarkTracker::new();
        marks.sent("prompt-1");
        marks.cleared();
        marks.sent("prompt-2");
        assert_eq!(
            marks.echoed("prompt-1"),
            MarkOutcome::Cleared("prompt-1".into())
        );
        assert_eq!(
            marks.echoed("prompt-2"),
            MarkOutcome::Played("prompt-2".into())
        );
    }

    #[test]
    fn a_reused_name_after_a_clear_is_matched_in_order() {
        let mut marks = MarkTracker::new();
        marks.sent("greeting");
        marks.cleared();
        marks.sent("greeting");
        assert_eq!(
            marks.echoed("greeting"),
            MarkOutcome::Cleared("greeting".into())
        );
        assert_eq!(
            marks.echoed("greeting"),
            MarkOutcome::Played("greeting".into())
        );
    }

    #[test]
    fn unknown_and_skipped_marks() {
        let mut marks = MarkTracker::new();
        assert_eq!(marks.echoed("nope"), MarkOutcome::Unknown("nope".into()));
        marks.sent("a");
        marks.sent("b");
        // An echo for b means a's echo will never come: a is forgotten.
        assert_eq!(marks.echoed("b"), MarkOutcome::Played("b".into()));
        assert_eq!(marks.outstanding(), 0);
        assert_eq!(marks.echoed("a"), MarkOutcome::Unknown("a".into()));
    }

    #[test]
    fn the_tracker_is_bounded() {
        let mut marks = MarkTracker::new();
        for i in 0..5_000 {
            marks.sent(prompt_mark_name(i));
        }
        assert_eq!(marks.outstanding(), 1_024);
        assert_eq!(
            marks.echoed("prompt-0"),
            MarkOutcome::Unknown("prompt-0".into())
        );
        assert_eq!(
            marks.echoed("prompt-4999"),
            MarkOutcome::Played("prompt-4999".into())
        );
    }

    #[test]
    fn prompt_marks_carry_the_prompt_id() {
        assert_eq!(prompt_mark_name(42), "prompt-42");
        assert_eq!(prompt_id("prompt-42"), Some(42));
        assert_eq!(prompt_id("utt-3"), None);
        assert_eq!(prompt_id("prompt-x"), None);
    }
}
