//! RTP (RFC 3550): parsing inbound packets and building outbound ones.
//!
//! Hand-written rather than taken from a crate. The parse is the hot path
//! (one per 20 ms per call in each direction) and has to be zero-copy and
//! panic-free on hostile input; the obvious candidate, `rtp-rs` 0.6, is
//! close, but it unwraps inside accessors, its error type has no
//! `Display`, its last release is from 2021, and the code we need is about
//! a hundred lines. [`RtpPacket::parse`] checks every length once up front,
//! so its accessors are plain field reads, and every way a packet can be
//! malformed has its own [`RtpError`].
//!
//! [`Packetizer`] numbers our outbound stream: one SSRC, sequence numbers
//! that wrap at 16 bits, timestamps that advance by the samples sent or
//! skipped, and the marker bit on the first packet of each talkspurt.
//!
//! ```
//! use switchyard_media::rtp::{Packetizer, RtpPacket};
//!
//! let mut packetizer = Packetizer::new(0x1234_5678, 0, 1000, 160_000);
//! let mut wire = Vec::new();
//! packetizer.packetize(&[0xFF; 160], 160, &mut wire);
//! let packet = RtpPacket::parse(&wire).unwrap();
//! assert_eq!((packet.sequence, packet.timestamp, packet.marker), (1000, 160_000, true));
//! assert_eq!(packet.payload.len(), 160);
//! ```

use thiserror::Error;

/// Length of the fixed RTP header (no CSRCs, no extension).
pub const HEADER_LEN: usize = 12;

/// Why bytes are not an RTP packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Fewer bytes than the 12-byte fixed header.
    #[error("packet of {len} bytes is shorter than the 12-byte RTP header")]
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// The version bits are not 2 (RTP from RFC 1889 on is version 2;
    /// STUN, DTLS and ZRTP multiplexed on the port show up here too).
    #[error("RTP version is {version}, expected 2")]
    BadVersion {
        /// The two version bits.
        version: u8,
    },
    /// The CSRC list runs past the end of the packet.
    #[error("{count} CSRCs need {needed} header bytes but the packet has {len}")]
    CsrcTruncated {
        /// The CC field.
        count: u8,
        /// Bytes the header needs with its CSRC list.
        needed: usize,
        /// Bytes received.
        len: usize,
    },
    /// The X bit is set but the extension header or its data is cut short.
    #[error("header extension needs {needed} bytes but the packet has {len}")]
    ExtensionTruncated {
        /// Bytes the header needs with its extension.
        needed: usize,
        /// Bytes received.
        len: usize,
    },
    /// The P bit is set but the packet has no room for the count octet.
    #[error("padding bit set but the packet ends with the header")]
    PaddingMissing,
    /// The padding count is zero (it counts itself, so it is at least 1).
    #[error("padding count is zero")]
    PaddingZero,
    /// The padding count is larger than what follows the header.
    #[error("padding of {padding} bytes is longer than the {available} bytes after the header")]
    PaddingTooLong {
        /// The last octet of the packet.
        padding: u8,
        /// Bytes between the header and the end of the packet.
        available: usize,
    },
}

/// A header extension (RFC 3550 §5.3.1): a profile-defined id and its
/// data, which we carry but do not interpret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The first 16 bits of the extension header ("defined by profile").
    pub profile: u16,
    /// The extension data, a multiple of 4 bytes.
    pub data: &'a [u8],
}

/// An inbound RTP packet, borrowed from the datagram it arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The M bit: for audio, the first packet of a talkspurt (and the
    /// first packet of an RFC 4733 event).
    pub marker: bool,
    /// The PT field.
    pub payload_type: u8,
    /// The sequence number, which wraps at 65,536.
    pub sequence: u16,
    /// The sampling instant of the first payload sample, in clock-rate
    /// units (8,000 per second for G.711 and telephone-event).
    pub timestamp: u32,
    /// The synchronisation source: which stream this is.
    pub ssrc: u32,
    /// The contributing sources, 4 bytes each, as on the wire.
    csrc_bytes: &'a [u8],
    /// The header extension, when the X bit is set.
    pub extension: Option<Extension<'a>>,
    /// The payload, without header and padding.
    pub payload: &'a [u8],
    /// Padding bytes removed from the end (0 when the P bit is clear).
    pub padding: u8,
}

impl<'a> RtpPacket<'a> {
    /// Parses and checks a datagram.
    ///
    /// # Errors
    ///
    /// Every malformed length and a version other than 2 are an
    /// [`RtpError`] that names the problem; nothing in `buf` can panic.
    pub fn parse(buf: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        let len = buf.len();
        let Some(fixed) = buf.first_chunk::<HEADER_LEN>() else {
            return Err(RtpError::TooShort { len });
        };
        let version = fixed[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion { version });
        }
        let has_padding = fixed[0] & 0x20 != 0;
        let has_extension = fixed[0] & 0x10 != 0;
        let csrc_count = fixed[0] & 0x0F;
        let csrc_end = HEADER_LEN + 4 * usize::from(csrc_count);
        let csrc_bytes = buf
            .get(HEADER_LEN..csrc_end)
            .ok_or(RtpError::CsrcTruncated {
                count: csrc_count,
                needed: csrc_end,
                len,
            })?;

        let mut header_end = csrc_end;
        let extension = if has_extension {
            let ext_header =
                buf.get(csrc_end..csrc_end + 4)
                    .ok_or(RtpError::ExtensionTruncated {
                        needed: csrc_end + 4,
                        len,
                    })?;
            let profile = u16::from_be_bytes([ext_header[0], ext_header[1]]);
            let words = usize::from(u16::from_be_bytes([ext_header[2], ext_header[3]]));
            let data_end = csrc_end + 4 + 4 * words;
            let data = buf
                .get(csrc_end + 4..data_end)
                .ok_or(RtpError::ExtensionTruncated {
                    needed: data_end,
                    len,
                })?;
            header_end = data_end;
            Some(Extension { profile, data })
        } else {
            None
        };

        // `header_end <= len` holds here: every step above used `get`.
        let after_header = &buf[header_end..];
        let (payload, padding) = if has_padding {
            let Some(&padding) = after_header.last() else {
                return Err(RtpError::PaddingMissing);
            };
            if padding == 0 {
                return Err(RtpError::PaddingZero);
            }
            let Some(payload_len) = after_header.len().checked_sub(usize::from(padding)) else {
                return Err(RtpError::PaddingTooLong {
                    padding,
                    available: after_header.len(),
                });
            };
            (&after_header[..payload_len], padding)
        } else {
            (after_header, 0)
        };

        Ok(RtpPacket {
            marker: fixed[1] & 0x80 != 0,
            payload_type: fixed[1] & 0x7F,
            sequence: u16::from_be_bytes([fixed[2], fixed[3]]),
            timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
            csrc_bytes,
            extension,
            payload,
            padding,
        })
    }

    /// The contributing sources (CSRC list), usually empty for a call leg.
    pub fn csrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        self.csrc_bytes
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The header fields needed to send this packet on (without CSRCs,
    /// extension or padding).
    pub fn header(&self) -> RtpHeader {
        RtpHeader {
            marker: self.marker,
            payload_type: self.payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        }
    }
}

/// The fields of an outbound packet's fixed header. We never send CSRCs,
/// extensions or padding: a call leg is one source and G.711 needs no
/// alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// The M bit.
    pub marker: bool,
    /// The PT field (7 bits; higher bits are dropped).
    pub payload_type: u8,
    /// The sequence number.
    pub sequence: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// Our synchronisation source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// The 12 bytes of the fixed header.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = 0x80; // version 2, no padding, no extension, no CSRCs
        b[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        b[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        b[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        b
    }

    /// Appends the header and `payload` to `out` (which the caller clears
    /// and reuses between packets, so sending allocates nothing once its
    /// capacity has grown to one packet).
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.reserve(HEADER_LEN + payload.len());
        out.extend_from_slice(&self.to_bytes());
        out.extend_from_slice(payload);
    }
}

/// Numbers the packets of one outbound stream.
///
/// RFC 3550 wants the first sequence number and timestamp random, so the
/// caller supplies them with the SSRC (the crate reads no clock and no
/// random source). Audio and RFC 4733 events of the same leg share one
/// `Packetizer`: they are one RTP stream with one sequence space.
#[derive(Debug, Clone)]
pub struct Packetizer {
    ssrc: u32,
    payload_type: u8,
    next_sequence: u16,
    next_timestamp: u32,
    talkspurt_pending: bool,
    packets_sent: u32,
    octets_sent: u32,
}

impl Packetizer {
    /// A stream with this SSRC and audio payload type, starting at the
    /// given sequence number and timestamp. The first packet carries the
    /// marker bit.
    pub fn new(ssrc: u32, payload_type: u8, first_sequence: u16, first_timestamp: u32) -> Self {
        Self {
            ssrc,
            payload_type: payload_type & 0x7F,
            next_sequence: first_sequence,
            next_timestamp: first_timestamp,
            talkspurt_pending: true,
            packets_sent: 0,
            octets_sent: 0,
        }
    }

    /// The header for the next audio packet, which carries `samples`
    /// samples; consumes a sequence number and advances the timestamp.
    pub fn next_header(&mut self, samples: u32) -> RtpHeader {
        let header = RtpHeader {
            marker: std::mem::take(&mut self.talkspurt_pending),
            payload_type: self.payload_type,
            sequence: self.next_sequence,
            timestamp: self.next_timestamp,
            ssrc: self.ssrc,
        };
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.next_timestamp = self.next_timestamp.wrapping_add(samples);
        header
    }

    /// Appends the next audio packet (`payload` holding `samples` samples,
    /// 160 for a 20 ms G.711 frame) to `out` and returns its header.
    pub fn packetize(&mut self, payload: &[u8], samples: u32, out: &mut Vec<u8>) -> RtpHeader {
        let header = self.next_header(samples);
        header.write(payload, out);
        self.count(payload.len());
        header
    }

    /// Appends a packet with its own payload type, timestamp and marker
    /// (an RFC 4733 event, whose packets all carry the event's start
    /// timestamp) to `out`. It takes the next sequence number but leaves
    /// the audio timestamp alone: advance that with [`Packetizer::skip`]
    /// for the audio frames the event replaced.
    pub fn packetize_at(
        &mut self,
        payload_type: u8,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> RtpHeader {
        let header = RtpHeader {
            marker,
            payload_type: payload_type & 0x7F,
            sequence: self.next_sequence,
            timestamp,
            ssrc: self.ssrc,
        };
        self.next_sequence = self.next_sequence.wrapping_add(1);
        header.write(payload, out);
        self.count(payload.len());
        header
    }

    /// Lets `samples` of time pass without sending (silence suppression,
    /// hold, or audio replaced by an event). The next audio packet starts
    /// a new talkspurt and carries the marker bit.
    pub fn skip(&mut self, samples: u32) {
        self.next_timestamp = self.next_timestamp.wrapping_add(samples);
        self.talkspurt_pending = true;
    }

    /// Marks the next audio packet as the start of a talkspurt without
    /// moving the timestamp (a prompt starting right after another).
    pub fn start_talkspurt(&mut self) {
        self.talkspurt_pending = true;
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.next_sequence
    }

    /// The timestamp the next audio packet will carry.
    pub fn next_timestamp(&self) -> u32 {
        self.next_timestamp
    }

    /// Packets sent so far (wraps, as RTCP's sender packet count does).
    pub fn packets_sent(&self) -> u32 {
        self.packets_sent
    }

    /// Payload octets sent so far (wraps, as RTCP's sender octet count does).
    pub fn octets_sent(&self) -> u32 {
        self.octets_sent
    }

    fn count(&mut self, payload_len: usize) {
        self.packets_sent = self.packets_sent.wrapping_add(1);
        // Truncation is the RTCP semantics: the count is modulo 2^32.
        self.octets_sent = self.octets_sent.wrapping_add(payload_len as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(first: u8, rest: &[u8]) -> Vec<u8> {
        let mut b = vec![
            first, 0x00, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xDE, 0xAD, 0xBE, 0xEF,
        ];
        b.extend_from_slice(rest);
        b
    }

    #[test]
    fn parses_the_fixed_header() {
        let mut b = packet(0x80, &[1, 2, 3]);
        b[1] = 0x80 | 8;
        let p = RtpPacket::parse(&b).unwrap();
        assert!(p.marker);
        assert_eq!(p.payload_type, 8);
        assert_eq!(p.sequence, 0x1234);
        assert_eq!(p.timestamp, 320);
        assert_eq!(p.ssrc, 0xDEAD_BEEF);
        assert_eq!(p.payload, &[1, 2, 3]);
        assert_eq!(p.csrcs().len(), 0);
        assert_eq!(p.extension, None);
        assert_eq!(p.padding, 0);
    }

    #[test]
    fn parses_csrcs_extension_and_padding_together() {
        let mut rest = vec![0, 0, 0, 1, 0, 0, 0, 2]; // two CSRCs
        rest.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 9, 9, 9, 9]); // one-word extension
        rest.extend_from_slice(&[7, 7]); // payload
        rest.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let b = packet(0x80 | 0x20 | 0x10 | 2, &rest);
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(
            p.extension,
            Some(Extension {
                profile: 0xBEDE,
                data: &[9, 9, 9, 9]
            })
        );
        assert_eq!(p.payload, &[7, 7]);
        assert_eq!(p.padding, 3);
    }

    #[test]
    fn every_malformed_length_is_a_named_error() {
        assert_eq!(
            RtpPacket::parse(&[0x80; 11]),
            Err(RtpError::TooShort { len: 11 })
        );
        assert_eq!(
            RtpPacket::parse(&packet(0x40, &[])),
            Err(RtpError::BadVersion { version: 1 })
        );
        assert_eq!(
            RtpPacket::parse(&packet(0x80 | 3, &[0; 8])),
            Err(RtpError::CsrcTruncated {
                count: 3,
                needed: 24,
                len: 20
            })
        );
        assert_eq!(
            RtpPacket::parse(&packet(0x90, &[0xBE, 0xDE])),
            Err(RtpError::ExtensionTruncated {
                needed: 16,
                len: 14
            })
        );
        assert_eq!(
            RtpPacket::parse(&packet(0x90, &[0xBE, 0xDE, 0x00, 0x02, 1, 2, 3, 4])),
            Err(RtpError::ExtensionTruncated {
                needed: 24,
                len: 20
            })
        );
        assert_eq!(
            RtpPacket::parse(&packet(0xA0, &[])),
            Err(RtpError::PaddingMissing)
        );
        assert_eq!(
            RtpPacket::parse(&packet(0xA0, &[1, 0])),
            Err(RtpError::PaddingZero)
        );
        assert_eq!(
            RtpPacket::parse(&packet(0xA0, &[1, 5])),
            Err(RtpError::PaddingTooLong {
                padding: 5,
                available: 2
            })
        );
        // Padding that eats the whole payload is legal.
        assert_eq!(
            RtpPacket::parse(&packet(0xA0, &[0, 2])).unwrap().payload,
            &[] as &[u8]
        );
        assert_eq!(
            RtpError::CsrcTruncated {
                count: 3,
                needed: 24,
                len: 20
            }
            .to_string(),
            "3 CSRCs need 24 header bytes but the packet has 20"
        );
    }

    #[test]
    fn no_prefix_of_a_valid_packet_panics() {
        let mut rest = vec![0, 0, 0, 1];
        rest.extend_from_slice(&[0x10, 0x00, 0x00, 0x01, 9, 9, 9, 9, 7, 7, 0, 3]);
        let b = packet(0x80 | 0x20 | 0x10 | 1, &rest);
        assert!(RtpPacket::parse(&b).is_ok());
        for n in 0..b.len() {
            let _ = RtpPacket::parse(&b[..n]);
        }
        // Every first byte over a short body: no panics, only errors or packets.
        for first in 0..=255u8 {
            for n in 0..40 {
                let mut p = packet(first, &vec![0xFF; n]);
                p[1] = first;
                let _ = RtpPacket::parse(&p);
            }
        }
    }

    #[test]
    fn header_round_trips() {
        let h = RtpHeader {
            marker: true,
            payload_type: 101,
            sequence: 65535,
            timestamp: u32::MAX,
            ssrc: 7,
        };
        let mut out = Vec::new();
        h.write(&[1, 2], &mut out);
        let p = RtpPacket::parse(&out).unwrap();
        assert_eq!(p.header(), h);
        assert_eq!(p.payload, &[1, 2]);
    }

    #[test]
    fn packetizer_wraps_sequence_and_advances_timestamps() {
        let mut pk = Packetizer::new(42, 0, 65534, u32::MAX - 159);
        let mut out = Vec::new();
        let headers: Vec<RtpHeader> = (0..3)
            .map(|_| {
                out.clear();
                pk.packetize(&[0xFF; 160], 160, &mut out)
            })
            .collect();
        assert_eq!(
            headers.iter().map(|h| h.sequence).collect::<Vec<_>>(),
            vec![65534, 65535, 0]
        );
        assert_eq!(
            headers.iter().map(|h| h.timestamp).collect::<Vec<_>>(),
            vec![u32::MAX - 159, 0, 160]
        );
        assert_eq!(
            headers.iter().map(|h| h.marker).collect::<Vec<_>>(),
            vec![true, false, false]
        );
        assert_eq!(pk.packets_sent(), 3);
        assert_eq!(pk.octets_sent(), 480);
        assert_eq!(out.len(), HEADER_LEN + 160);
    }

    #[test]
    fn a_silence_gap_moves_the_timestamp_and_marks_the_next_talkspurt() {
        let mut pk = Packetizer::new(1, 8, 10, 1000);
        let mut out = Vec::new();
        pk.packetize(&[0xD5; 160], 160, &mut out);
        pk.skip(160 * 5);
        let h = pk.next_header(160);
        assert_eq!(
            (h.sequence, h.timestamp, h.marker),
            (11, 1000 + 160 * 6, true)
        );
        let h = pk.next_header(160);
        assert!(!h.marker);
        pk.start_talkspurt();
        assert!(pk.next_header(160).marker);
    }

    #[test]
    fn events_share_the_sequence_space_but_keep_their_timestamp() {
        let mut pk = Packetizer::new(1, 0, 100, 5000);
        let mut out = Vec::new();
        let e1 = pk.packetize_at(101, 5000, true, &[1, 0, 0, 0], &mut out);
        let e2 = pk.packetize_at(101, 5000, false, &[1, 0, 1, 0x90], &mut out);
        assert_eq!((e1.sequence, e2.sequence), (100, 101));
        assert_eq!((e1.timestamp, e2.timestamp), (5000, 5000));
        assert_eq!(e1.payload_type, 101);
        assert_eq!(pk.next_timestamp(), 5000);
        pk.skip(800);
        let a = pk.next_header(160);
        assert_eq!((a.sequence, a.timestamp, a.marker), (102, 5800, true));
    }
}
