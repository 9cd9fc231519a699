//! RTCP (RFC 3550 §6): sender and receiver reports, SDES CNAME, and
//! walking a compound packet.
//!
//! We send a sender report every few seconds for each leg (peers and
//! monitoring tools use them for round-trip time and to map RTP time to
//! wall-clock time) and read the reports a peer sends to learn its view of
//! our stream: loss and jitter. Anything else in a compound packet (SDES,
//! BYE, APP, feedback, XR) is handed back as [`RtcpPacket::Other`] so a
//! caller can skip it without this module having to understand it.
//!
//! Parsing borrows from the datagram and checks every length before it
//! reads; a malformed packet is an [`RtcpError`], never a panic.
//!
//! ```
//! use switchyard_media::rtcp::{self, NtpTimestamp, RtcpPacket, SenderInfo};
//!
//! let info = SenderInfo {
//!     ntp: NtpTimestamp::from_unix_micros(1_700_000_000_000_000),
//!     rtp_timestamp: 160_000,
//!     packet_count: 50,
//!     octet_count: 8_000,
//! };
//! let mut wire = Vec::new();
//! rtcp::write_sender_report(0xCAFE, &info, &[], &mut wire).unwrap();
//! rtcp::write_sdes_cname(0xCAFE, "switchyard@example", &mut wire).unwrap();
//! let mut packets = rtcp::packets(&wire);
//! let Some(Ok(RtcpPacket::SenderReport(sr))) = packets.next() else { panic!() };
//! assert_eq!(sr.info, info);
//! assert!(matches!(packets.next(), Some(Ok(RtcpPacket::Other { packet_type: 202, .. }))));
//! assert!(packets.next().is_none());
//! ```

use thiserror::Error;

/// Packet type of a sender report.
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// Packet type of source description items.
pub const PT_SDES: u8 = 202;
/// Packet type of a goodbye.
pub const PT_BYE: u8 = 203;

/// Length of one report block.
const BLOCK_LEN: usize = 24;
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Why bytes are not (a part of) an RTCP compound packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// Fewer than the 4 bytes of a common header remain.
    #[error("{len} bytes left at offset {offset}, fewer than an RTCP header")]
    TooShort {
        /// Where in the compound packet the packet starts.
        offset: usize,
        /// Bytes remaining from there.
        len: usize,
    },
    /// The version bits are not 2.
    #[error("RTCP version is {version} at offset {offset}, expected 2")]
    BadVersion {
        /// Where in the compound packet the packet starts.
        offset: usize,
        /// The two version bits.
        version: u8,
    },
    /// The length field claims more bytes than remain.
    #[error("packet at offset {offset} claims {claimed} bytes but {available} remain")]
    LengthOverrun {
        /// Where in the compound packet the packet starts.
        offset: usize,
        /// Bytes the length field claims, header included.
        claimed: usize,
        /// Bytes remaining from `offset`.
        available: usize,
    },
    /// The padding count is zero or eats into the header.
    #[error("packet at offset {offset} has an invalid padding count {padding}")]
    BadPadding {
        /// Where in the compound packet the packet starts.
        offset: usize,
        /// The last octet of the packet.
        padding: u8,
    },
    /// A report is shorter than its report count requires.
    #[error(
        "packet type {packet_type} with {count} report blocks needs {needed} bytes but has {len}"
    )]
    ReportTruncated {
        /// SR (200) or RR (201).
        packet_type: u8,
        /// The RC field.
        count: u8,
        /// Bytes the report needs, header included.
        needed: usize,
        /// Bytes the packet has, header included.
        len: usize,
    },
    /// More report blocks than the 5-bit count field can hold.
    #[error("{count} report blocks given, at most 31 fit in one report")]
    TooManyBlocks {
        /// Blocks passed in.
        count: usize,
    },
    /// A CNAME longer than the 255 bytes an SDES item can hold.
    #[error("CNAME of {len} bytes is longer than 255")]
    CnameTooLong {
        /// Its length in bytes.
        len: usize,
    },
}

/// A 64-bit NTP timestamp: seconds since 1900 in the high half, the
/// fraction of a second in the low half.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// The NTP time of a Unix time in microseconds. The seconds wrap in
    /// 2036 exactly as NTP's era does.
    pub fn from_unix_micros(micros: u64) -> Self {
        let seconds = (micros / 1_000_000).wrapping_add(NTP_UNIX_OFFSET) & 0xFFFF_FFFF;
        let fraction = ((micros % 1_000_000) << 32) / 1_000_000;
        Self((seconds << 32) | fraction)
    }

    /// The middle 32 bits (16.16 seconds): what report blocks carry as
    /// "last SR" and what round-trip time is computed in.
    pub fn middle(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// The sender-information section of a sender report (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// Wall-clock time when the report was sent.
    pub ntp: NtpTimestamp,
    /// The same instant in the stream's RTP timestamp units.
    pub rtp_timestamp: u32,
    /// Packets sent since the stream started (modulo 2^32).
    pub packet_count: u32,
    /// Payload octets sent since the stream started (modulo 2^32).
    pub octet_count: u32,
}

/// One reception report block: what the reporter saw of one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Packets lost since the previous report, as a fraction of 256.
    pub fraction_lost: u8,
    /// Packets lost since the start (24-bit signed: duplicates can make it
    /// negative).
    pub cumulative_lost: i32,
    /// The highest sequence number received, with the wrap count in the
    /// high 16 bits.
    pub highest_sequence: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// The middle 32 bits of the NTP time of the last SR received from the
    /// source, or 0 if none was.
    pub last_sr: u32,
    /// Delay between receiving that SR and sending this block, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn parse(b: &[u8; BLOCK_LEN]) -> Self {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        // Sign-extend the 24-bit cumulative count through the top byte.
        let cumulative_lost = (i32::from_be_bytes([b[5], b[6], b[7], 0])) >> 8;
        Self {
            ssrc: word(0),
            fraction_lost: b[4],
            cumulative_lost,
            highest_sequence: word(8),
            jitter: word(12),
            last_sr: word(16),
            delay_since_last_sr: word(20),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.push(self.fraction_lost);
        // Clamp to the 24-bit signed range, as RFC 3550 A.3 says to.
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF);
        out.extend_from_slice(&lost.to_be_bytes()[1..]);
        out.extend_from_slice(&self.highest_sequence.to_be_bytes());
        out.extend_from_slice(&self.jitter.to_be_bytes());
        out.extend_from_slice(&self.last_sr.to_be_bytes());
        out.extend_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }

    /// The round-trip time this block implies (RFC 3550 §6.4.1), given when
    /// it arrived, or `None` if the reporter has not yet seen an SR of ours.
    pub fn round_trip_ms(&self, arrival: NtpTimestamp) -> Option<f64> {
        if self.last_sr == 0 {
            return None;
        }
        let rtt = arrival
            .middle()
            .wrapping_sub(self.last_sr)
            .wrapping_sub(self.delay_since_last_sr);
        // A reply "before" the report was sent means clock trouble: give
        // nothing rather than a round trip of 18 hours.
        if rtt > 0x8000_0000 {
            return None;
        }
        Some(f64::from(rtt) * 1000.0 / 65536.0)
    }

    /// The jitter in milliseconds for a stream with an 8 kHz clock.
    pub fn jitter_ms_8khz(&self) -> f64 {
        f64::from(self.jitter) / 8.0
    }
}

/// Report blocks of an SR or RR, parsed as they are read.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a> {
    chunks: std::slice::ChunksExact<'a, u8>,
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        let chunk = self.chunks.next()?;
        chunk.first_chunk::<BLOCK_LEN>().map(ReportBlock::parse)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for ReportBlocks<'_> {}

/// A sender report, borrowed from its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// What the sender has sent.
    pub info: SenderInfo,
    blocks: &'a [u8],
}

impl<'a> SenderReport<'a> {
    /// What the sender received from the sources it reports on.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks {
            chunks: self.blocks.chunks_exact(BLOCK_LEN),
        }
    }
}

/// A receiver report, borrowed from its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    /// The reporter's SSRC.
    pub ssrc: u32,
    blocks: &'a [u8],
}

impl<'a> ReceiverReport<'a> {
    /// What the reporter received from the sources it reports on.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks {
            chunks: self.blocks.chunks_exact(BLOCK_LEN),
        }
    }
}

/// One packet of a compound RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// PT 200.
    SenderReport(SenderReport<'a>),
    /// PT 201.
    ReceiverReport(ReceiverReport<'a>),
    /// Any other type, uninterpreted: SDES, BYE, APP, feedback, XR.
    Other {
        /// The PT field.
        packet_type: u8,
        /// The 5-bit count field (its meaning depends on the type).
        count: u8,
        /// The packet after its 4-byte header, without padding.
        body: &'a [u8],
    },
}

/// Iterates over the packets of a compound RTCP packet; made by [`packets`].
///
/// After the first error it yields nothing more: the remaining bytes have
/// no trustworthy boundaries.
#[derive(Debug, Clone)]
pub struct Packets<'a> {
    buf: &'a [u8],
    offset: usize,
    failed: bool,
}

/// The packets of a compound RTCP packet (one UDP datagram), in order.
pub fn packets(buf: &[u8]) -> Packets<'_> {
    Packets {
        buf,
        offset: 0,
        failed: false,
    }
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.buf.len() {
            return None;
        }
        let result = self.parse_one();
        self.failed = result.is_err();
        Some(result)
    }
}

impl<'a> Packets<'a> {
    fn parse_one(&mut self) -> Result<RtcpPacket<'a>, RtcpError> {
        let offset = self.offset;
        let rest = &self.buf[offset..];
        let Some(header) = rest.first_chunk::<4>() else {
            return Err(RtcpError::TooShort {
                offset,
                len: rest.len(),
            });
        };
        let version = header[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion { offset, version });
        }
        let has_padding = header[0] & 0x20 != 0;
        let count = header[0] & 0x1F;
        let packet_type = header[1];
        let claimed = (usize::from(u16::from_be_bytes([header[2], header[3]])) + 1) * 4;
        let Some(packet) = rest.get(..claimed) else {
            return Err(RtcpError::LengthOverrun {
                offset,
                claimed,
                available: rest.len(),
            });
        };
        self.offset += claimed;

        let mut body = &packet[4..];
        if has_padding {
            // `packet` is at least 4 bytes, so it has a last byte.
            let padding = packet[claimed - 1];
            match body.len().checked_sub(usize::from(padding)) {
                Some(len) if padding != 0 => body = &body[..len],
                _ => return Err(RtcpError::BadPadding { offset, padding }),
            }
        }

        let truncated = |needed: usize| RtcpError::ReportTruncated {
            packet_type,
            count,
            needed,
            len: body.len() + 4,
        };
        let blocks_len = usize::from(count) * BLOCK_LEN;
        match packet_type {
            PT_SR => {
                let needed = 4 + 24 + blocks_len;
                let (Some(fixed), Some(blocks)) =
                    (body.first_chunk::<24>(), body.get(24..24 + blocks_len))
                else {
                    return Err(truncated(needed));
                };
                let word = |i: usize| {
                    u32::from_be_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]])
                };
                Ok(RtcpPacket::SenderReport(SenderReport {
                    ssrc: word(0),
                    info: SenderInfo {
                        ntp: NtpTimestamp((u64::from(word(4)) << 32) | u64::from(word(8))),
                        rtp_timestamp: word(12),
                        packet_count: word(16),
                        octet_count: word(20),
                    },
                    blocks,
                }))
            }
            PT_RR => {
                let needed = 4 + 4 + blocks_len;
                let (Some(ssrc), Some(blocks)) =
                    (body.first_chunk::<4>(), body.get(4..4 + blocks_len))
                else {
                    return Err(truncated(needed));
                };
                Ok(RtcpPacket::ReceiverReport(ReceiverReport {
                    ssrc: u32::from_be_bytes(*ssrc),
                    blocks,
                }))
            }
            _ => Ok(RtcpPacket::Other {
                packet_type,
                count,
                body,
            }),
        }
    }
}

/// Appends a sender report to `out`.
///
/// # Errors
///
/// [`RtcpError::TooManyBlocks`] for more than 31 blocks; `out` is then
/// left as it was.
pub fn write_sender_report(
    ssrc: u32,
    info: &SenderInfo,
    blocks: &[ReportBlock],
    out: &mut Vec<u8>,
) -> Result<(), RtcpError> {
    let count = block_count(blocks)?;
    let words = 1 + 5 + 6 * blocks.len(); // SSRC, sender info, blocks
    out.reserve(4 + words * 4);
    write_header(count, PT_SR, words, out);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&info.ntp.0.to_be_bytes());
    out.extend_from_slice(&info.rtp_timestamp.to_be_bytes());
    out.extend_from_slice(&info.packet_count.to_be_bytes());
    out.extend_from_slice(&info.octet_count.to_be_bytes());
    for block in blocks {
        block.write(out);
    }
    Ok(())
}

/// Appends a receiver report to `out` (for a leg that receives but has
/// sent nothing since the last report).
///
/// # Errors
///
/// [`RtcpError::TooManyBlocks`] for more than 31 blocks; `out` is then
/// left as it was.
pub fn write_receiver_report(
    ssrc: u32,
    blocks: &[ReportBlock],
    out: &mut Vec<u8>,
) -> Result<(), RtcpError> {
    let count = block_count(blocks)?;
    let words = 1 + 6 * blocks.len();
    out.reserve(4 + words * 4);
    write_header(count, PT_RR, words, out);
    out.extend_from_slice(&ssrc.to_be_bytes());
    for block in blocks {
        block.write(out);
    }
    Ok(())
}

/// Appends an SDES packet with one chunk holding our CNAME. RFC 3550
/// §6.1 requires one in every compound packet, after the report.
///
/// # Errors
///
/// [`RtcpError::CnameTooLong`] for a CNAME over 255 bytes; `out` is then
/// left as it was.
pub fn write_sdes_cname(ssrc: u32, cname: &str, out: &mut Vec<u8>) -> Result<(), RtcpError> {
    let Ok(len) = u8::try_from(cname.len()) else {
        return Err(RtcpError::CnameTooLong { len: cname.len() });
    };
    // SSRC, item type and length, the text, then at least one zero octet
    // ending the item list, padded to a 32-bit boundary.
    let chunk_len = (4 + 2 + cname.len() + 1).next_multiple_of(4);
    write_header(1, PT_SDES, chunk_len / 4, out);
    let start = out.len();
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.push(1); // CNAME
    out.push(len);
    out.extend_from_slice(cname.as_bytes());
    out.resize(start + chunk_len, 0);
    Ok(())
}

/// Appends a BYE for our SSRC (sent when a leg ends).
pub fn write_bye(ssrc: u32, out: &mut Vec<u8>) {
    write_header(1, PT_BYE, 1, out);
    out.extend_from_slice(&ssrc.to_be_bytes());
}

fn block_count(blocks: &[ReportBlock]) -> Result<u8, RtcpError> {
    match u8::try_from(blocks.len()) {
        Ok(n) if n <= 31 => Ok(n),
        _ => Err(RtcpError::TooManyBlocks {
            count: blocks.len(),
        }),
    }
}

/// The common header for a packet whose body is `words` 32-bit words.
fn write_header(count: u8, packet_type: u8, words: usize, out: &mut Vec<u8>) {
    out.push(0x80 | (count & 0x1F));
    out.push(packet_type);
    // Callers bound `words` (31 blocks, 255-byte CNAME): it fits in 16 bits.
    out.extend_from_slice(&(words as u16).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ssrc: u32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 64,
            cumulative_lost: -3,
            highest_sequence: 0x0001_0005,
            jitter: 80,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 0x0001_0000,
        }
    }

    #[test]
    fn ntp_time_of_a_known_unix_instant() {
        // 2024-01-01T00:00:00.5Z: 3,913,056,000 s after 1900, half a second.
        let t = NtpTimestamp::from_unix_micros(1_704_067_200_500_000);
        assert_eq!(t.0 >> 32, 3_913_056_000);
        assert_eq!(t.0 & 0xFFFF_FFFF, 0x8000_0000);
        assert_eq!(
            t.middle(),
            ((3_913_056_000u64 & 0xFFFF) << 16) as u32 | 0x8000
        );
    }

    #[test]
    fn sender_report_has_the_rfc_layout() {
        let info = SenderInfo {
            ntp: NtpTimestamp(0x0102_0304_0506_0708),
            rtp_timestamp: 0x0A0B_0C0D,
            packet_count: 3,
            octet_count: 480,
        };
        let mut out = Vec::new();
        write_sender_report(0x1122_3344, &info, &[block(9)], &mut out).unwrap();
        assert_eq!(out.len(), 28 + 24);
        assert_eq!(&out[..4], &[0x81, 200, 0, 12]);
        assert_eq!(&out[4..8], &[0x11, 0x22, 0x33, 0x44]);
        assert_eq!(&out[8..16], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            &out[16..28],
            &[0x0A, 0x0B, 0x0C, 0x0D, 0, 0, 0, 3, 0, 0, 1, 0xE0]
        );
        // The block: SSRC, fraction 64, cumulative -3 as 24-bit two's complement.
        assert_eq!(&out[28..36], &[0, 0, 0, 9, 64, 0xFF, 0xFF, 0xFD]);
    }

    #[test]
    fn reports_round_trip_through_the_parser() {
        let info = SenderInfo {
            ntp: NtpTimestamp::from_unix_micros(1),
            rtp_timestamp: 1,
            packet_count: 2,
            octet_count: 3,
        };
        let mut out = Vec::new();
        write_sender_report(1, &info, &[block(5), block(6)], &mut out).unwrap();
        write_receiver_report(2, &[block(7)], &mut out).unwrap();
        write_bye(1, &mut out);
        let parsed: Vec<_> = packets(&out).collect::<Result<_, _>>().unwrap();
        let [
            RtcpPacket::SenderReport(sr),
            RtcpPacket::ReceiverReport(rr),
            RtcpPacket::Other {
                packet_type: PT_BYE,
                count: 1,
                body,
            },
        ] = parsed.as_slice()
        else {
            panic!("unexpected packets {parsed:?}");
        };
        assert_eq!(sr.info, info);
        assert_eq!(
            sr.report_blocks().collect::<Vec<_>>(),
            vec![block(5), block(6)]
        );
        assert_eq!(rr.ssrc, 2);
        assert_eq!(rr.report_blocks().collect::<Vec<_>>(), vec![block(7)]);
        assert_eq!(body, &[0, 0, 0, 1]);
    }

    #[test]
    fn sdes_cname_is_padded_to_a_word() {
        let mut out = Vec::new();
        write_sdes_cname(0xAABB_CCDD, "ab", &mut out).unwrap();
        // Header, SSRC, CNAME item "ab", then the terminating zero padded to 4.
        assert_eq!(
            out,
            vec![
                0x81, 202, 0, 3, 0xAA, 0xBB, 0xCC, 0xDD, 1, 2, b'a', b'b', 0, 0, 0, 0
            ]
        );
        // A name that fills the word exactly still gets its terminating zero.
        out.clear();
        write_sdes_cname(1, "abcdef", &mut out).unwrap();
        assert_eq!(out.len(), 4 + 16);
        assert_eq!(*out.last().unwrap(), 0);
        assert_eq!(
            write_sdes_cname(1, &"x".repeat(256), &mut out),
            Err(RtcpError::CnameTooLong { len: 256 })
        );
    }

    #[test]
    fn malformed_packets_are_named_errors_and_stop_the_walk() {
        let err = |bytes: &[u8]| packets(bytes).find_map(Result::err);
        assert_eq!(
            err(&[0x80, 200]),
            Some(RtcpError::TooShort { offset: 0, len: 2 })
        );
        assert_eq!(
            err(&[0x40, 200, 0, 0]),
            Some(RtcpError::BadVersion {
                offset: 0,
                version: 1
            })
        );
        assert_eq!(
            err(&[0x80, 203, 0, 5, 0, 0, 0, 0]),
            Some(RtcpError::LengthOverrun {
                offset: 0,
                claimed: 24,
                available: 8
            })
        );
        // An SR whose count promises a block it does not carry.
        let mut sr = vec![0x81, 200, 0, 6];
        sr.extend_from_slice(&[0; 24]);
        assert_eq!(
            err(&sr),
            Some(RtcpError::ReportTruncated {
                packet_type: 200,
                count: 1,
                needed: 52,
                len: 28
            })
        );
        assert_eq!(
            err(&[0xA0, 204, 0, 1, 0, 0, 0, 9]),
            Some(RtcpError::BadPadding {
                offset: 0,
                padding: 9
            })
        );
        // After an error the iterator ends.
        let mut bad = vec![0x80, 203, 0, 0];
        bad.extend_from_slice(&[0x80, 203, 0, 9]);
        let mut walk = packets(&bad);
        assert!(matches!(walk.next(), Some(Ok(_))));
        assert!(matches!(walk.next(), Some(Err(_))));
        assert!(walk.next().is_none());
        assert!(packets(&[]).next().is_none());
    }

    #[test]
    fn padding_is_removed_from_the_last_packet() {
        // An APP packet with 4 bytes of body and 4 of padding.
        let bytes = [0xA0, 204, 0, 2, 1, 2, 3, 4, 0, 0, 0, 4];
        let Some(Ok(RtcpPacket::Other { body, .. })) = packets(&bytes).next() else {
            panic!()
        };
        assert_eq!(body, &[1, 2, 3, 4]);
    }

    #[test]
    fn no_input_panics() {
        let mut valid = Vec::new();
        write_sender_report(
            1,
            &SenderInfo {
                ntp: NtpTimestamp(1),
                rtp_timestamp: 2,
                packet_count: 3,
                octet_count: 4,
            },
            &[block(1)],
            &mut valid,
        )
        .unwrap();
        write_sdes_cname(1, "abc", &mut valid).unwrap();
        for n in 0..=valid.len() {
            let _ = packets(&valid[..n]).count();
        }
        for first in 0..=255u8 {
            for len_word in [0u8, 1, 6, 7, 255] {
                let mut b = vec![first, 200, 0, len_word];
                b.extend_from_slice(&[0xFF; 40]);
                for pt in [200u8, 201, 202] {
                    b[1] = pt;
                    let _ = packets(&b).count();
                }
            }
        }
    }

    #[test]
    fn round_trip_time_from_a_report_block() {
        let arrival = NtpTimestamp(((0x1234u64 << 16) | 0x8000) << 16);
        let b = ReportBlock {
            last_sr: 0x1234_0000,
            delay_since_last_sr: 0x4000,
            ..ReportBlock::default()
        };
        // Arrived 0.5 s after the SR; the peer held it 0.25 s: 250 ms round trip.
        assert_eq!(b.round_trip_ms(arrival), Some(250.0));
        assert_eq!(ReportBlock::default().round_trip_ms(arrival), None);
        assert_eq!(block(1).jitter_ms_8khz(), 10.0);
    }

    #[test]
    fn too_many_blocks_is_an_error() {
        let blocks = vec![ReportBlock::default(); 32];
        let mut out = Vec::new();
        assert_eq!(
            write_receiver_report(1, &blocks, &mut out),
            Err(RtcpError::TooManyBlocks { count: 32 })
        );
        assert!(out.is_empty());
        assert!(write_receiver_report(1, &blocks[..31], &mut out).is_ok());
    }
}
