//! SDP offer/answer for the SIP channel (RFC 4566 syntax, RFC 3264 rules).
//!
//! Switchyard speaks G.711 only: PCMU (static payload type 0) and PCMA (8),
//! 20 ms packets, plus RFC 4733 `telephone-event` for keys. This module
//! reads a peer's session description ([`SessionDescription::parse`]),
//! picks what both sides can do ([`LocalSession::answer`]), writes our side
//! (answers, and [`Offer::ours`] for outbound calls), and recognises hold in
//! a re-INVITE ([`SessionDescription::is_hold`]). When nothing matches,
//! [`Rejection`] carries the reason for a `488 Not Acceptable Here`.
//!
//! Parsing uses the `sdp-types` crate (RFC 8866 syntax, by the GStreamer
//! RTSP maintainer): it is lenient about line order, accepts `\n` as well as
//! `\r\n`, and its errors give the line number, which we pass on. Its types
//! stay inside this module; the rest of Switchyard sees only the few facts a
//! call needs. Writing is a handful of fixed lines, so we format them here.
//!
//! ```
//! use switchyard_media::sdp::{Codec, LocalSession, SessionDescription};
//! let offer = SessionDescription::parse(
//!     b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
//!       m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
//! )
//! .unwrap();
//! let mut ours = LocalSession::new("192.0.2.9".parse().unwrap(), 10_000, 42);
//! let answer = ours.answer(&offer).unwrap();
//! assert_eq!(answer.negotiated.codec, Codec::Pcma); // the offer's first choice
//! assert_eq!(answer.negotiated.telephone_event, Some(101));
//! assert!(answer.sdp.contains("m=audio 10000 RTP/AVP 8 101\r\n"));
//! ```

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

/// The G.711 law of a stream (shared with the codec itself).
pub use crate::g711::Codec;

/// Our codec for an `a=rtpmap` encoding name and clock rate.
fn codec_for_encoding(name: &str, clock_rate: u32) -> Option<Codec> {
    if clock_rate != 8_000 {
        return None;
    }
    if name.eq_ignore_ascii_case("PCMU") {
        Some(Codec::Pcmu)
    } else if name.eq_ignore_ascii_case("PCMA") {
        Some(Codec::Pcma)
    } else {
        None
    }
}

/// Which way media flows, from the describing side's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Both ways (the default when no attribute says otherwise).
    #[default]
    SendRecv,
    /// The describing side only sends (e.g. music on hold).
    SendOnly,
    /// The describing side only receives.
    RecvOnly,
    /// No media either way.
    Inactive,
}

impl Direction {
    /// The attribute's name (`a=sendrecv` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Whether the describing side sends.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the describing side receives.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The answer's direction for an offer with this direction (RFC 3264
    /// §6.1): what they send we receive, and the other way round.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }

    fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    fn from_attribute(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// One payload format of the audio stream, from `m=` and `a=rtpmap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFormat {
    /// RTP payload type.
    pub payload_type: u8,
    /// Encoding name (`PCMU`, `opus` …); for static types without an
    /// `a=rtpmap`, the RFC 3551 name, or empty when unknown.
    pub encoding: String,
    /// Clock rate in Hz (0 when unknown).
    pub clock_rate: u32,
}

/// The peer's RFC 4733 telephone-event format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Its dynamic payload type.
    pub payload_type: u8,
    /// The events it takes, from `a=fmtp` (`0-15` is implied when absent,
    /// RFC 4733 §7.1.1), as a bit set of events 0–31.
    pub events: u32,
}

/// Why an SDP body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The text is not SDP; the message names the line.
    #[error("malformed SDP: {0}")]
    Syntax(String),
    /// There is no `m=audio` line.
    #[error("no audio stream (m=audio) in the SDP")]
    NoAudio,
    /// Neither the audio stream nor the session has a `c=` line.
    #[error("no connection address (c=) for the audio stream (m= line {media_index})")]
    NoConnection {
        /// 1-based position of the audio `m=` line among the media.
        media_index: usize,
    },
    /// The `c=` address is not an IP address.
    #[error("connection address {address:?} is not an IP address ({level} level)")]
    BadAddress {
        /// What the line said.
        address: String,
        /// `session` or `media`.
        level: &'static str,
    },
    /// The `m=audio` line's format list has something that is not a
    /// payload type.
    #[error("payload type {value:?} in the audio m= line is not a number 0-127")]
    BadPayloadType {
        /// What the line said.
        value: String,
    },
}

/// The facts Switchyard needs from a peer's session description (an offer
/// in an INVITE or re-INVITE, or the answer to our offer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=` session id, to tell a new session from a changed one.
    pub session_id: String,
    /// `o=` version; a re-INVITE with the same version changes nothing.
    pub session_version: u64,
    /// Where to send RTP: the audio stream's `c=` address, else the
    /// session's. `0.0.0.0` is the old (RFC 2543) way to say hold.
    pub address: IpAddr,
    /// Where to send RTP: the audio `m=` line's port (0 = stream refused).
    pub port: u16,
    /// The audio transport, e.g. `RTP/AVP`.
    pub protocol: String,
    /// The audio formats in the peer's order of preference.
    pub formats: Vec<PayloadFormat>,
    /// RFC 4733 events at 8 kHz, if offered.
    pub telephone_event: Option<TelephoneEvent>,
    /// The audio stream's direction (media level, else session level).
    pub direction: Direction,
    /// `a=ptime`, if given.
    pub ptime_ms: Option<u32>,
    /// Which `m=` line (0-based) is the audio stream.
    audio_index: usize,
    /// Every `m=` line's media, protocol and first format, to refuse the
    /// streams we do not take in the answer's matching lines.
    media_lines: Vec<(String, String, String)>,
}

impl SessionDescription {
    /// Reads an SDP body.
    ///
    /// # Errors
    /// [`SdpError::Syntax`] with the line number for text that is not SDP;
    /// the other [`SdpError`] variants when the audio stream is missing or
    /// has no usable address or formats.
    pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
        let session =
            sdp_types::Session::parse(body).map_err(|e| SdpError::Syntax(e.to_string()))?;
        let audio_index = session
            .medias
            .iter()
            .position(|m| m.media.eq_ignore_ascii_case("audio"))
            .ok_or(SdpError::NoAudio)?;
        let media = &session.medias[audio_index];

        let (connection, level) = match media.connections.first() {
            Some(c) => (c, "media"),
            None => (
                session.connection.as_ref().ok_or(SdpError::NoConnection {
                    media_index: audio_index + 1,
                })?,
                "session",
            ),
        };
        let address = connection
            .try_address()
            .map_err(|_| SdpError::BadAddress {
                address: connection.connection_address.clone(),
                level,
            })?
            .ip;

        let mut formats = Vec::new();
        for value in media.fmt.split_ascii_whitespace() {
            let payload_type =
                value
                    .parse::<u8>()
                    .ok()
                    .filter(|pt| *pt < 128)
                    .ok_or_else(|| SdpError::BadPayloadType {
                        value: value.chars().take(32).collect(),
                    })?;
            let (encoding, clock_rate) =
                rtpmap(media, payload_type).unwrap_or_else(|| static_format(payload_type));
            formats.push(PayloadFormat {
                payload_type,
                encoding,
                clock_rate,
            });
        }

        let telephone_event = formats
            .iter()
            .find(|f| f.encoding.eq_ignore_ascii_case("telephone-event") && f.clock_rate == 8_000)
            .map(|f| TelephoneEvent {
                payload_type: f.payload_type,
                events: fmtp(media, f.payload_type)
                    .and_then(parse_events)
                    .unwrap_or(DEFAULT_EVENTS),
            });

        let direction = direction_of(&media.attributes)
            .or_else(|| direction_of(&session.attributes))
            .unwrap_or_default();
        let ptime_ms = attribute(&media.attributes, "ptime")
            .or_else(|| attribute(&session.attributes, "ptime"))
            .and_then(|v| v.trim().parse().ok());

        Ok(SessionDescription {
            session_id: session.origin.sess_id.clone(),
            session_version: session.origin.sess_version,
            address,
            port: media.port,
            protocol: media.proto.clone(),
            formats,
            telephone_event,
            direction,
            ptime_ms,
            audio_index,
            media_lines: session
                .medias
                .iter()
                .map(|m| {
                    let first = m.fmt.split_ascii_whitespace().next().unwrap_or("0");
                    (m.media.clone(), m.proto.clone(), first.to_owned())
                })
                .collect(),
        })
    }

    /// Whether this description puts the call on hold: the peer does not
    /// want to receive (`a=sendonly` or `a=inactive`, RFC 3264 §8.4), or
    /// uses the old `c=0.0.0.0` form (RFC 2543).
    pub fn is_hold(&self) -> bool {
        !self.direction.receives() || self.address.is_unspecified()
    }

    /// Where to send RTP.
    pub fn rtp_address(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }

    /// The first format we support, in the peer's order, with its payload
    /// type (normally the static one, but a peer may map PCMU to a dynamic
    /// type with `a=rtpmap`).
    pub fn preferred_codec(&self) -> Option<(Codec, u8)> {
        self.formats.iter().find_map(|f| {
            codec_for_encoding(&f.encoding, f.clock_rate).map(|c| (c, f.payload_type))
        })
    }

    /// What both sides will use, or why not.
    fn negotiate(&self) -> Result<Negotiated, Rejection> {
        if self.port == 0 {
            return Err(Rejection::new("the audio stream is refused (port 0)"));
        }
        if !self.protocol.eq_ignore_ascii_case("RTP/AVP") {
            return Err(Rejection::new(format!(
                "audio transport {} is not supported (only RTP/AVP)",
                self.protocol
            )));
        }
        let Some((codec, payload_type)) = self.preferred_codec() else {
            let offered: Vec<String> = self
                .formats
                .iter()
                .map(|f| {
                    if f.encoding.is_empty() {
                        format!("{}", f.payload_type)
                    } else {
                        format!("{} ({}/{})", f.payload_type, f.encoding, f.clock_rate)
                    }
                })
                .collect();
            return Err(Rejection::new(format!(
                "no common codec: offered {}; we take PCMU (0) and PCMA (8)",
                if offered.is_empty() {
                    "none".to_owned()
                } else {
                    offered.join(", ")
                }
            )));
        };
        // With the old hold form there is nowhere to send to.
        let sendable = !self.address.is_unspecified();
        let ours = self.direction.reverse();
        let direction = Direction::from_flags(ours.sends() && sendable, ours.receives());
        Ok(Negotiated {
            codec,
            payload_type,
            telephone_event: self.telephone_event.as_ref().map(|t| t.payload_type),
            telephone_events: self
                .telephone_event
                .as_ref()
                .map_or(0, |t| t.events & OUR_EVENTS),
            remote: self.rtp_address(),
            direction,
            on_hold: self.is_hold(),
        })
    }
}

/// RFC 4733 events 0–15 (digits, `*`, `#`, A–D), implied without `a=fmtp`.
const DEFAULT_EVENTS: u32 = 0xFFFF;
/// The events we send and take: 0–16 (16 is flash).
const OUR_EVENTS: u32 = 0x1_FFFF;

/// What `a=rtpmap` says of `payload_type`: encoding name and clock rate.
fn rtpmap(media: &sdp_types::Media, payload_type: u8) -> Option<(String, u32)> {
    media
        .attributes
        .iter()
        .filter(|a| a.attribute.eq_ignore_ascii_case("rtpmap"))
        .filter_map(|a| a.value.as_deref())
        .find_map(|value| {
            let (pt, rest) = value.trim().split_once(' ')?;
            if pt.parse::<u8>().ok()? != payload_type {
                return None;
            }
            let mut parts = rest.trim().split('/');
            let name = parts.next()?.to_owned();
            let clock_rate = parts.next()?.trim().parse().ok()?;
            Some((name, clock_rate))
        })
}

/// RFC 3551's static audio types, for offers that omit `a=rtpmap`.
fn static_format(payload_type: u8) -> (String, u32) {
    let (name, rate) = match payload_type {
        0 => ("PCMU", 8_000),
        3 => ("GSM", 8_000),
        4 => ("G723", 8_000),
        8 => ("PCMA", 8_000),
        9 => ("G722", 8_000),
        13 => ("CN", 8_000),
        18 => ("G729", 8_000),
        _ => ("", 0),
    };
    (name.to_owned(), rate)
}

/// The `a=fmtp` parameters for `payload_type`.
fn fmtp(media: &sdp_types::Media, payload_type: u8) -> Option<&str> {
    media
        .attributes
        .iter()
        .filter(|a| a.attribute.eq_ignore_ascii_case("fmtp"))
        .filter_map(|a| a.value.as_deref())
        .find_map(|value| {
            let (pt, params) = value.trim().split_once(' ')?;
            (pt.parse::<u8>().ok()? == payload_type).then_some(params.trim())
        })
}

/// Parses an RFC 4733 event list (`0-11,16`) into a bit set of events 0–31
/// (higher events are ignored: we use none of them).
fn parse_events(list: &str) -> Option<u32> {
    let mut set = 0u32;
    for item in list.split(',') {
        let item = item.trim();
        let (low, high) = match item.split_once('-') {
            Some((low, high)) => (
                low.trim().parse::<u32>().ok()?,
                high.trim().parse::<u32>().ok()?,
            ),
            None => {
                let event = item.parse::<u32>().ok()?;
                (event, event)
            }
        };
        if low > high {
            return None;
        }
        for event in low..=high.min(31) {
            set |= 1 << event;
        }
    }
    Some(set)
}

/// Writes a bit set of events as an RFC 4733 list (`0-11,16`).
fn format_events(set: u32) -> String {
    let mut out = String::new();
    let mut event = 0;
    while event < 32 {
        if set & (1 << event) == 0 {
            event += 1;
            continue;
        }
        let start = event;
        while event + 1 < 32 && set & (1 << (event + 1)) != 0 {
            event += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == event {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{event}");
        }
        event += 1;
    }
    out
}

fn attribute<'a>(attributes: &'a [sdp_types::Attribute], name: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|a| a.attribute.eq_ignore_ascii_case(name))
        .and_then(|a| a.value.as_deref())
}

fn direction_of(attributes: &[sdp_types::Attribute]) -> Option<Direction> {
    attributes
        .iter()
        .find_map(|a| Direction::from_attribute(&a.attribute.to_ascii_lowercase()))
}

/// What offer/answer settled for the call's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec both sides use.
    pub codec: Codec,
    /// Its payload type on the wire (normally the static one).
    pub payload_type: u8,
    /// The RFC 4733 payload type, if the peer takes telephone-events.
    pub telephone_event: Option<u8>,
    /// The events both sides take, as a bit set of events 0–31.
    pub telephone_events: u32,
    /// Where to send RTP.
    pub remote: SocketAddr,
    /// Our direction: whether we may send and should expect to receive.
    pub direction: Direction,
    /// Whether the peer has put the call on hold.
    pub on_hold: bool,
}

/// An offer we cannot accept: answer `488 Not Acceptable Here` with the
/// reason in a `Warning` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Rejection {
    /// What was wrong, for the `Warning` header and the logs.
    pub reason: String,
}

impl Rejection {
    /// The SIP status for a refused offer (RFC 3261 §21.4.26).
    pub const STATUS: u16 = 488;

    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// Our answer to an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The SDP body to send (CRLF line ends).
    pub sdp: String,
    /// What was agreed.
    pub negotiated: Negotiated,
}

/// Our side of one call's SDP session: the address and port we receive RTP
/// on, and the `o=` line's id and version, which must grow with every
/// change we describe (RFC 3264 §8). Keep one per call leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSession {
    address: IpAddr,
    port: u16,
    session_id: u64,
    version: u64,
}

impl LocalSession {
    /// A session receiving RTP on `address:port`; `session_id` goes in the
    /// `o=` line (any number unique enough per host, e.g. from a clock).
    pub fn new(address: IpAddr, port: u16, session_id: u64) -> Self {
        Self {
            address,
            port,
            session_id,
            version: session_id,
        }
    }

    /// The `o=` version of the last description we wrote.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Answers an offer (an INVITE's, or a re-INVITE's: hold and resume
    /// are answered the same way, with the direction reversed).
    ///
    /// The answer keeps the offer's `m=` lines in order, taking the first
    /// audio stream with the first of PCMU or PCMA in the offer's order and
    /// telephone-event if offered, and refusing the other streams with port
    /// 0, as RFC 3264 §6 requires.
    ///
    /// # Errors
    /// A [`Rejection`] (for a 488) when the audio stream is refused, uses a
    /// transport other than RTP/AVP, or offers neither PCMU nor PCMA.
    pub fn answer(&mut self, offer: &SessionDescription) -> Result<Answer, Rejection> {
        let negotiated = offer.negotiate()?;
        self.version += 1;
        let mut sdp = self.session_lines();
        for (index, (media, protocol, first_format)) in offer.media_lines.iter().enumerate() {
            if index == offer.audio_index {
                self.audio_lines(
                    &mut sdp,
                    &[(negotiated.codec, negotiated.payload_type)],
                    negotiated
                        .telephone_event
                        .map(|pt| (pt, negotiated.telephone_events)),
                    negotiated.direction,
                );
            } else {
                let _ = write!(sdp, "m={media} 0 {protocol} {first_format}\r\n");
            }
        }
        Ok(Answer { sdp, negotiated })
    }

    /// A new offer from our side (a re-INVITE), e.g. `SendOnly` to put the
    /// peer on hold or `SendRecv` to resume.
    pub fn offer(&mut self, direction: Direction) -> Offer {
        self.version += 1;
        let mut sdp = self.session_lines();
        self.audio_lines(
            &mut sdp,
            &[(Codec::Pcmu, 0), (Codec::Pcma, 8)],
            Some((OUR_TELEPHONE_EVENT_PT, OUR_EVENTS)),
            direction,
        );
        Offer {
            sdp,
            session: self.clone(),
        }
    }

    fn session_lines(&self) -> String {
        let ip = if self.address.is_ipv4() { "IP4" } else { "IP6" };
        format!(
            "v=0\r\no=switchyard {id} {version} IN {ip} {address}\r\ns=switchyard\r\n\
             c=IN {ip} {address}\r\nt=0 0\r\n",
            id = self.session_id,
            version = self.version,
            address = self.address,
        )
    }

    fn audio_lines(
        &self,
        sdp: &mut String,
        codecs: &[(Codec, u8)],
        telephone_event: Option<(u8, u32)>,
        direction: Direction,
    ) {
        let _ = write!(sdp, "m=audio {} RTP/AVP", self.port);
        for (_, pt) in codecs {
            let _ = write!(sdp, " {pt}");
        }
        if let Some((pt, _)) = telephone_event {
            let _ = write!(sdp, " {pt}");
        }
        sdp.push_str("\r\n");
        for (codec, pt) in codecs {
            let _ = write!(sdp, "a=rtpmap:{pt} {}/8000\r\n", codec.encoding_name());
        }
        if let Some((pt, events)) = telephone_event {
            let _ = write!(sdp, "a=rtpmap:{pt} telephone-event/8000\r\n");
            if events != 0 {
                let _ = write!(sdp, "a=fmtp:{pt} {}\r\n", format_events(events));
            }
        }
        let _ = write!(sdp, "a=ptime:20\r\na={}\r\n", direction.as_str());
    }
}

/// The payload type we offer telephone-event on (the common choice).
const OUR_TELEPHONE_EVENT_PT: u8 = 101;

/// An offer we made (outbound calls, or our re-INVITE), kept until the
/// answer arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The SDP body to send (CRLF line ends).
    pub sdp: String,
    session: LocalSession,
}

impl Offer {
    /// Our offer for a new outbound call, receiving RTP on `address:port`:
    /// PCMU and PCMA (in that order), telephone-event 0–16 on payload type
    /// 101, 20 ms packets, send and receive. The `o=` session id comes from
    /// the clock.
    pub fn ours(address: IpAddr, port: u16) -> Offer {
        let session_id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs());
        LocalSession::new(address, port, session_id).offer(Direction::SendRecv)
    }

    /// Reads the peer's answer to this offer.
    ///
    /// # Errors
    /// A [`Rejection`] when the answer refuses the audio stream or picks a
    /// codec we did not offer (the call should then be ended with a BYE,
    /// giving the reason).
    pub fn accept_answer(&self, answer: &SessionDescription) -> Result<Negotiated, Rejection> {
        // We offered both G.711 laws and events 0-16, so whatever of ours
        // the answer kept is acceptable.
        answer.negotiate()
    }

    /// Our session, for describing later changes (re-INVITEs) with a
    /// growing version.
    pub fn into_session(self) -> LocalSession {
        self.session
    }
}

impl fmt::Display for Offer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sdp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SIPp 3.6.1's built-in `uac_pcap` scenario sends (captured from
    /// `sipp -sn uac_pcap`): PCMA only, events 0-11 and 16.
    const SIPP_UAC_PCAP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    /// SIPp's `uac` scenario: PCMU, no telephone-event.
    const SIPP_UAC: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    /// baresip 1.0.0's INVITE (captured from `baresip -e "/dial ..."` with
    /// the g711 module).
    const BARESIP: &str = "v=0\r\no=- 226431470 291480424 IN IP4 192.0.2.2\r\ns=-\r\n\
        c=IN IP4 192.0.2.2\r\nt=0 0\r\na=tool:baresip 1.0.0\r\n\
        m=audio 32632 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=label:1\r\n\
        a=rtcp-rsize\r\na=ssrc:2321024622 cname:sip:tester@127.0.0.1\r\na=minptime:20\r\n\
        a=ptime:20\r\n";

    /// The shape of a Twilio Elastic SIP Trunking INVITE (addresses made up).
    const TWILIO_LIKE: &str = "v=0\r\no=root 1936375553 1936375553 IN IP4 203.0.113.60\r\n\
        s=Twilio Media Gateway\r\nc=IN IP4 203.0.113.60\r\nt=0 0\r\n\
        m=audio 17266 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n\
        a=maxptime:150\r\na=sendrecv\r\n";

    /// A WebRTC-style gateway offering Opus first, G.722, then PCMA, with a
    /// 48 kHz telephone-event before the 8 kHz one, plus a video stream;
    /// media-level connection and LF line ends.
    const RICH: &str = "v=0\no=- 4611731400430051336 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n\
        m=audio 49170 RTP/AVP 111 9 8 110 126\nc=IN IP4 203.0.113.5\n\
        a=rtpmap:111 opus/48000/2\na=rtpmap:9 G722/8000\na=rtpmap:8 PCMA/8000\n\
        a=rtpmap:110 telephone-event/48000\na=rtpmap:126 telephone-event/8000\n\
        a=fmtp:126 0-15\na=ptime:20\nm=video 49172 RTP/AVP 96\nc=IN IP4 203.0.113.5\n\
        a=rtpmap:96 VP8/90000\n";

    fn parse(sdp: &str) -> SessionDescription {
        SessionDescription::parse(sdp.as_bytes()).expect("parses")
    }

    fn ours() -> LocalSession {
        LocalSession::new("198.51.100.7".parse().unwrap(), 20_000, 1_000)
    }

    #[test]
    fn sipp_uac_pcap_offer_gets_pcma_and_its_events() {
        let offer = parse(SIPP_UAC_PCAP);
        assert_eq!(offer.rtp_address(), "127.0.0.1:6000".parse().unwrap());
        assert_eq!(offer.direction, Direction::SendRecv);
        assert!(!offer.is_hold());
        let event = offer.telephone_event.clone().unwrap();
        assert_eq!(event.payload_type, 101);
        assert_eq!(format_events(event.events), "0-11,16");

        let answer = ours().answer(&offer).unwrap();
        assert_eq!(answer.negotiated.codec, Codec::Pcma);
        assert_eq!(answer.negotiated.payload_type, 8);
        assert_eq!(answer.negotiated.telephone_event, Some(101));
        assert_eq!(
            answer.sdp,
            "v=0\r\no=switchyard 1000 1001 IN IP4 198.51.100.7\r\ns=switchyard\r\n\
             c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 20000 RTP/AVP 8 101\r\n\
             a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-11,16\r\na=ptime:20\r\na=sendrecv\r\n"
        );
    }

    #[test]
    fn sipp_uac_offer_gets_pcmu_without_telephone_event() {
        let answer = ours().answer(&parse(SIPP_UAC)).unwrap();
        assert_eq!(answer.negotiated.codec, Codec::Pcmu);
        assert_eq!(answer.negotiated.telephone_event, None);
        assert!(answer.sdp.contains("m=audio 20000 RTP/AVP 0\r\n"));
        assert!(!answer.sdp.contains("telephone-event"));
    }

    #[test]
    fn baresip_offer_prefers_pcmu_as_listed() {
        let offer = parse(BARESIP);
        assert_eq!(offer.rtp_address(), "192.0.2.2:32632".parse().unwrap());
        assert_eq!(offer.ptime_ms, Some(20));
        assert_eq!(offer.session_version, 291_480_424);
        let answer = ours().answer(&offer).unwrap();
        assert_eq!(answer.negotiated.codec, Codec::Pcmu);
        assert_eq!(answer.negotiated.telephone_event, Some(101));
        assert!(answer.sdp.contains("a=fmtp:101 0-15\r\n"));
    }

    #[test]
    fn twilio_like_offer_gets_pcmu_and_events_0_to_16() {
        let answer = ours().answer(&parse(TWILIO_LIKE)).unwrap();
        assert_eq!(answer.negotiated.codec, Codec::Pcmu);
        assert_eq!(
            answer.negotiated.remote,
            "203.0.113.60:17266".parse().unwrap()
        );
        assert!(answer.sdp.contains("a=fmtp:101 0-16\r\n"));
        assert_eq!(answer.negotiated.direction, Direction::SendRecv);
    }

    #[test]
    fn offer_order_decides_between_pcmu_and_pcma() {
        let pcma_first = SIPP_UAC.replace("RTP/AVP 0", "RTP/AVP 8 0");
        assert_eq!(parse(&pcma_first).preferred_codec(), Some((Codec::Pcma, 8)));
        let pcmu_first = SIPP_UAC.replace("RTP/AVP 0", "RTP/AVP 0 8");
        assert_eq!(parse(&pcmu_first).preferred_codec(), Some((Codec::Pcmu, 0)));
    }

    #[test]
    fn a_rich_offer_is_answered_line_for_line() {
        let offer = parse(RICH);
        assert_eq!(offer.address, "203.0.113.5".parse::<IpAddr>().unwrap());
        assert_eq!(offer.formats[0].encoding, "opus");
        let event = offer.telephone_event.clone().unwrap();
        assert_eq!(event.payload_type, 126, "the 8 kHz telephone-event");
        let answer = ours().answer(&offer).unwrap();
        assert_eq!(answer.negotiated.codec, Codec::Pcma);
        assert_eq!(answer.negotiated.telephone_event, Some(126));
        assert!(
            answer.sdp.contains("m=audio 20000 RTP/AVP 8 126\r\n"),
            "{}",
            answer.sdp
        );
        assert!(
            answer
                .sdp
                .ends_with("a=sendrecv\r\nm=video 0 RTP/AVP 96\r\n"),
            "{}",
            answer.sdp
        );
    }

    #[test]
    fn a_dynamic_payload_type_for_pcmu_is_kept() {
        let sdp = SIPP_UAC.replace(
            "RTP/AVP 0\r\na=rtpmap:0 PCMU",
            "RTP/AVP 97\r\na=rtpmap:97 pcmu",
        );
        let answer = ours().answer(&parse(&sdp)).unwrap();
        assert_eq!(answer.negotiated.codec, Codec::Pcmu);
        assert_eq!(answer.negotiated.payload_type, 97);
        assert!(
            answer
                .sdp
                .contains("m=audio 20000 RTP/AVP 97\r\na=rtpmap:97 PCMU/8000\r\n")
        );
    }

    #[test]
    fn static_types_without_rtpmap_are_understood() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                   m=audio 5004 RTP/AVP 18 0\r\n";
        let offer = parse(sdp);
        assert_eq!(offer.formats[0].encoding, "G729");
        assert_eq!(offer.preferred_codec(), Some((Codec::Pcmu, 0)));
    }

    #[test]
    fn no_common_codec_is_a_488_with_the_offered_list() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                   m=audio 5004 RTP/AVP 18 111\r\na=rtpmap:111 opus/48000/2\r\n";
        let rejection = ours().answer(&parse(sdp)).unwrap_err();
        assert_eq!(Rejection::STATUS, 488);
        assert_eq!(
            rejection.reason,
            "no common codec: offered 18 (G729/8000), 111 (opus/48000); we take PCMU (0) and PCMA (8)"
        );
    }

    #[test]
    fn refused_or_secure_audio_is_rejected() {
        let refused = SIPP_UAC.replace("m=audio 6000", "m=audio 0");
        assert_eq!(
            ours().answer(&parse(&refused)).unwrap_err().reason,
            "the audio stream is refused (port 0)"
        );
        let srtp = SIPP_UAC.replace("RTP/AVP", "RTP/SAVP");
        assert_eq!(
            ours().answer(&parse(&srtp)).unwrap_err().reason,
            "audio transport RTP/SAVP is not supported (only RTP/AVP)"
        );
    }

    #[test]
    fn hold_reinvites_are_recognised_in_all_three_forms() {
        let mut session = ours();
        let first = session.answer(&parse(BARESIP)).unwrap();
        assert!(!first.negotiated.on_hold);

        let sendonly = BARESIP.replace("a=sendrecv", "a=sendonly");
        let answer = session.answer(&parse(&sendonly)).unwrap();
        assert!(answer.negotiated.on_hold);
        assert_eq!(answer.negotiated.direction, Direction::RecvOnly);
        assert!(answer.sdp.contains("a=recvonly\r\n"));

        let inactive = BARESIP.replace("a=sendrecv", "a=inactive");
        let answer = session.answer(&parse(&inactive)).unwrap();
        assert!(answer.negotiated.on_hold);
        assert!(answer.sdp.contains("a=inactive\r\n"));

        // RFC 2543 hold: c=0.0.0.0, often with no direction attribute.
        let old = SIPP_UAC_PCAP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        let answer = session.answer(&parse(&old)).unwrap();
        assert!(answer.negotiated.on_hold);
        assert_eq!(
            answer.negotiated.direction,
            Direction::RecvOnly,
            "nowhere to send"
        );

        // Resume: sendrecv again, and our version kept growing.
        let answer = session.answer(&parse(BARESIP)).unwrap();
        assert!(!answer.negotiated.on_hold);
        assert!(answer.sdp.contains("o=switchyard 1000 1005 IN IP4"));
    }

    #[test]
    fn session_level_direction_applies_unless_the_media_says_otherwise() {
        let session_level = SIPP_UAC.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
        assert!(parse(&session_level).is_hold());
        let overridden = format!("{session_level}a=sendrecv\r\n");
        assert!(!parse(&overridden).is_hold());
    }

    #[test]
    fn our_offer_and_its_answer() {
        let offer = Offer::ours("192.0.2.10".parse().unwrap(), 30_000);
        let sdp = offer.to_string();
        assert!(sdp.starts_with("v=0\r\no=switchyard "));
        assert!(sdp.contains("c=IN IP4 192.0.2.10\r\n"));
        assert!(sdp.contains(
            "m=audio 30000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        ));
        // Our own offer parses back to what we meant.
        let reparsed = parse(&sdp);
        assert_eq!(reparsed.preferred_codec(), Some((Codec::Pcmu, 0)));
        assert_eq!(reparsed.telephone_event.unwrap().events, 0x1_FFFF);

        // The peer answers PCMA.
        let peer = LocalSession::new("203.0.113.9".parse().unwrap(), 7_000, 5)
            .answer(&parse(&sdp.replace("RTP/AVP 0 8 101", "RTP/AVP 8 101")))
            .unwrap();
        let negotiated = offer.accept_answer(&parse(&peer.sdp)).unwrap();
        assert_eq!(negotiated.codec, Codec::Pcma);
        assert_eq!(negotiated.remote, "203.0.113.9:7000".parse().unwrap());
        assert_eq!(negotiated.telephone_event, Some(101));

        // Later we put the peer on hold: same id, higher version.
        let mut session = offer.into_session();
        let before = session.version();
        let hold = session.offer(Direction::SendOnly);
        assert_eq!(session.version(), before + 1);
        assert!(hold.sdp.contains("a=sendonly\r\n"));
    }

    #[test]
    fn ipv6_addresses_are_read_and_written() {
        let sdp = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n\
                   m=audio 5004 RTP/AVP 0\r\n";
        assert_eq!(
            parse(sdp).rtp_address(),
            "[2001:db8::1]:5004".parse().unwrap()
        );
        let offer =
            LocalSession::new("2001:db8::2".parse().unwrap(), 4_000, 1).offer(Direction::SendRecv);
        assert!(offer.sdp.contains("c=IN IP6 2001:db8::2\r\n"));
    }

    #[test]
    fn errors_say_what_is_wrong_and_where() {
        let cases: [(&str, &str); 7] = [
            ("", "malformed SDP: No version line"),
            (
                "hello world",
                "malformed SDP: Invalid formatted line 1: \"Line not in key=value format\"",
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nm=audio notaport RTP/AVP 0\r\n",
                "malformed SDP: Invalid field formatting in line 3 at Media port",
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 5 RTP/AVP 96\r\n",
                "no audio stream (m=audio) in the SDP",
            ),
            (
                "v=0\r\ns=-\r\nt=0 0\r\nm=audio 5 RTP/AVP 0\r\n",
                "no connection address (c=) for the audio stream (m= line 1)",
            ),
            (
                "v=0\r\ns=-\r\nc=IN IP4 pbx.example.com\r\nt=0 0\r\nm=audio 5 RTP/AVP 0\r\n",
                "connection address \"pbx.example.com\" is not an IP address (session level)",
            ),
            (
                "v=0\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5 RTP/AVP 0 x9\r\n",
                "payload type \"x9\" in the audio m= line is not a number 0-127",
            ),
        ];
        for (sdp, message) in cases {
            let error = SessionDescription::parse(sdp.as_bytes()).unwrap_err();
            assert_eq!(error.to_string(), message, "{sdp:?}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x1234_5678u32;
        let base = BARESIP.as_bytes();
        for round in 0..2_000 {
            let mut bytes = base.to_vec();
            for _ in 0..(round % 16 + 1) {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let at = (seed >> 8) as usize % bytes.len();
                bytes[at] = (seed >> 24) as u8;
            }
            if let Ok(offer) = SessionDescription::parse(&bytes) {
                let _ = ours().answer(&offer);
            }
        }
        for garbage in [
            &b"\xff\xfe\x00"[..],
            b"v=0",
            b"v=0\r\nm=",
            b"v=0\r\nm=audio 1 RTP/AVP 1 2 300",
        ] {
            let _ = SessionDescription::parse(garbage);
        }
    }

    #[test]
    fn event_lists_round_trip() {
        for list in ["0-15", "0-11,16", "0", "1,3,5-7", "0-16"] {
            assert_eq!(format_events(parse_events(list).unwrap()), list);
        }
        assert_eq!(parse_events("5-2"), None);
        assert_eq!(parse_events("a"), None);
        assert_eq!(format_events(parse_events("0-255").unwrap()), "0-31");
    }
}
