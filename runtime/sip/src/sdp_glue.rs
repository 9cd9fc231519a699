//! The few SDP facts a call's media needs, taken from
//! `switchyard_media::sdp`'s offer/answer.

use std::net::SocketAddr;

use switchyard_media::g711::Codec;
use switchyard_media::sdp::{self, LocalSession, Negotiated, SessionDescription};

/// Where and how to send the peer RTP, as the last offer/answer settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteMedia {
    pub codec: Codec,
    /// The codec's payload type on the wire (normally the static one).
    pub payload_type: u8,
    /// The payload type of telephone-event, when the peer does RFC 4733.
    pub telephone_event: Option<u8>,
    /// `None` until known, and for the old hold form (`c=0.0.0.0`).
    pub rtp: Option<SocketAddr>,
    pub rtcp: Option<SocketAddr>,
    /// Whether our direction lets us send.
    pub sends: bool,
    /// Whether the peer has put the call on hold.
    pub on_hold: bool,
}

impl Default for RemoteMedia {
    fn default() -> Self {
        Self {
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event: None,
            rtp: None,
            rtcp: None,
            sends: true,
            on_hold: false,
        }
    }
}

impl RemoteMedia {
    pub(crate) fn we_send(&self) -> bool {
        self.sends
    }
}

impl From<&Negotiated> for RemoteMedia {
    fn from(n: &Negotiated) -> Self {
        let rtp = (!n.remote.ip().is_unspecified() && n.remote.port() != 0).then_some(n.remote);
        Self {
            codec: match n.codec {
                sdp::Codec::Pcmu => Codec::Pcmu,
                sdp::Codec::Pcma => Codec::Pcma,
            },
            payload_type: n.payload_type,
            telephone_event: n.telephone_event,
            rtp,
            // RFC 3550 §11: RTCP on the next port up (we do not read a=rtcp).
            rtcp: rtp.map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1))),
            sends: n.direction.sends(),
            on_hold: n.on_hold,
        }
    }
}

/// Parses an SDP body; the error is a reason for a `488`'s Warning.
pub(crate) fn parse(body: &[u8]) -> Result<SessionDescription, String> {
    SessionDescription::parse(body).map_err(|e| e.to_string())
}

/// Whether we could answer this offer (checked before the application
/// hears of the call, so an offer without G.711 gets `488` at once).
pub(crate) fn check_offer(offer: &SessionDescription) -> Result<(), String> {
    let mut probe = LocalSession::new(std::net::Ipv4Addr::LOCALHOST.into(), 9, 1);
    probe.answer(offer).map(|_| ()).map_err(|r| r.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(direction: &str, address: &str) -> SessionDescription {
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n\
             m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na={direction}\r\n"
        );
        parse(sdp.as_bytes()).unwrap()
    }

    fn negotiate(offer: &SessionDescription) -> RemoteMedia {
        let mut ours = LocalSession::new("127.0.0.1".parse().unwrap(), 20_000, 7);
        RemoteMedia::from(&ours.answer(offer).unwrap().negotiated)
    }

    #[test]
    fn a_plain_offer_gives_the_address_codec_and_events() {
        let remote = negotiate(&offer("sendrecv", "192.0.2.1"));
        assert_eq!(remote.codec, Codec::Pcma);
        assert_eq!(remote.payload_type, 8);
        assert_eq!(remote.telephone_event, Some(101));
        assert_eq!(remote.rtp, Some("192.0.2.1:4000".parse().unwrap()));
        assert_eq!(remote.rtcp, Some("192.0.2.1:4001".parse().unwrap()));
        assert!(remote.we_send());
        assert!(!remote.on_hold);
    }

    #[test]
    fn hold_offers_stop_our_sending() {
        let sendonly = negotiate(&offer("sendonly", "192.0.2.1"));
        assert!(sendonly.on_hold && !sendonly.we_send());
        let inactive = negotiate(&offer("inactive", "192.0.2.1"));
        assert!(inactive.on_hold && !inactive.we_send());
        let old_style = negotiate(&offer("sendrecv", "0.0.0.0"));
        assert!(old_style.on_hold && !old_style.we_send());
        assert_eq!(old_style.rtp, None);
    }

    #[test]
    fn offers_without_g711_are_refused_with_a_reason() {
        let sdp = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n";
        let reason = check_offer(&parse(sdp).unwrap()).unwrap_err();
        assert!(reason.contains("no common codec"), "{reason}");
        assert!(parse(b"not sdp").is_err());
    }
}
