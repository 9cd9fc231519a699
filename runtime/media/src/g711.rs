//! ITU-T G.711: µ-law (PCMU) and A-law (PCMA) companding.
//!
//! Every SIP peer speaks at least one of the two, and Twilio media streams
//! carry µ-law, so these conversions sit on the hot path of every call: one
//! decode and one encode of 160 samples per 20 ms in each direction. Both
//! directions are table lookups: the decode tables hold 256 values and the
//! encode tables are indexed by the 14-bit (µ-law) or 13-bit (A-law) linear
//! value G.711 is defined on, 16 KiB and 8 KiB, built at compile time.
//!
//! G.711 itself starts from 14- or 13-bit linear PCM; how 16-bit samples
//! are reduced to that is left to the implementation. We round to nearest
//! (saturating at the top) rather than truncate, which halves the bias a
//! truncating encoder adds to every sample and matches SoX bit for bit:
//! `tests/it/g711.rs` compares all 65,536 inputs and all 256 codes of both
//! laws with vectors SoX produced (`tests/vectors/README.md`).
//!
//! ```
//! use switchyard_media::g711::Codec;
//! use switchyard_media::frame::Frame;
//!
//! let frame = Frame::from_samples(&[1000; 160]);
//! let bytes = Codec::Pcmu.encode(&frame);
//! let back = Codec::Pcmu.decode(&bytes);
//! assert_eq!(back.len(), 160);
//! assert!((back[0] - 1000).abs() < 40);
//! ```

use crate::frame::{Frame, SAMPLES_PER_FRAME};

/// The G.711 law a stream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, RTP static payload type 0 (North America, Japan, Twilio).
    Pcmu,
    /// A-law, RTP static payload type 8 (most of the rest of the world).
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551): 0 for PCMU, 8 for PCMA.
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec with this static RTP payload type, if it is one of ours.
    pub const fn from_payload_type(payload_type: u8) -> Option<Codec> {
        match payload_type {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The encoding name used in SDP `a=rtpmap` lines: `PCMU` or `PCMA`.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The code that decodes to silence (0), for filling gaps without
    /// decoding: 0xFF for µ-law, 0xD5 for A-law.
    pub const fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }

    /// Encodes one linear sample.
    #[inline]
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => ulaw_encode(sample),
            Codec::Pcma => alaw_encode(sample),
        }
    }

    /// Decodes one code to a linear sample.
    #[inline]
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_decode(code),
            Codec::Pcma => alaw_decode(code),
        }
    }

    /// Encodes a 20 ms frame into the 160-byte payload of one RTP packet.
    pub fn encode(self, frame: &Frame) -> [u8; SAMPLES_PER_FRAME] {
        let mut out = [0u8; SAMPLES_PER_FRAME];
        self.encode_into(frame.samples(), &mut out);
        out
    }

    /// Encodes `pcm` into `out`, sample by sample, and returns how many were
    /// written: the shorter of the two lengths. Allocates nothing.
    pub fn encode_into(self, pcm: &[i16], out: &mut [u8]) -> usize {
        let n = pcm.len().min(out.len());
        // One match outside the loop keeps the loop body a bare lookup.
        match self {
            Codec::Pcmu => {
                for (o, &s) in out[..n].iter_mut().zip(&pcm[..n]) {
                    *o = ulaw_encode(s);
                }
            }
            Codec::Pcma => {
                for (o, &s) in out[..n].iter_mut().zip(&pcm[..n]) {
                    *o = alaw_encode(s);
                }
            }
        }
        n
    }

    /// Decodes a payload of any length into linear samples.
    pub fn decode(self, payload: &[u8]) -> Vec<i16> {
        let mut out = vec![0i16; payload.len()];
        self.decode_into(payload, &mut out);
        out
    }

    /// Decodes `payload` into `out` and returns how many samples were
    /// written: the shorter of the two lengths. Allocates nothing.
    pub fn decode_into(self, payload: &[u8], out: &mut [i16]) -> usize {
        let n = payload.len().min(out.len());
        let table = match self {
            Codec::Pcmu => &ULAW_DECODE,
            Codec::Pcma => &ALAW_DECODE,
        };
        for (o, &b) in out[..n].iter_mut().zip(&payload[..n]) {
            *o = table[b as usize];
        }
        n
    }

    /// Decodes the payload of one 20 ms packet into a frame. A shorter
    /// payload is padded with silence and a longer one is cut at 160
    /// samples, so a misbehaving peer cannot make a frame of the wrong size.
    pub fn decode_frame(self, payload: &[u8]) -> Frame {
        let mut frame = Frame::silence();
        self.decode_into(payload, &mut frame.0);
        frame
    }
}

/// Encodes one 16-bit linear sample as µ-law.
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    // Round to the 14-bit value G.711 starts from; +8192 makes it an index.
    let q = ((i32::from(sample) + 2) >> 2).min(8191) + 8192;
    ULAW_ENCODE[q as usize]
}

/// Decodes one µ-law code to 16-bit linear.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// Encodes one 16-bit linear sample as A-law.
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    // Round to the 13-bit value G.711 starts from; +4096 makes it an index.
    let q = ((i32::from(sample) + 4) >> 3).min(4095) + 4096;
    ALAW_ENCODE[q as usize]
}

/// Decodes one A-law code to 16-bit linear.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// µ-law code → linear, scaled to 16 bits (the 14-bit value shifted left 2).
static ULAW_DECODE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_decode_reference(i as u8);
        i += 1;
    }
    table
};

/// A-law code → linear, scaled to 16 bits (the 13-bit value shifted left 3).
static ALAW_DECODE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_decode_reference(i as u8);
        i += 1;
    }
    table
};

/// 14-bit linear value + 8192 → µ-law code.
static ULAW_ENCODE: [u8; 16384] = {
    let mut table = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        table[i] = ulaw_encode_14(i as i32 - 8192);
        i += 1;
    }
    table
};

/// 13-bit linear value + 4096 → A-law code.
static ALAW_ENCODE: [u8; 8192] = {
    let mut table = [0u8; 8192];
    let mut i = 0;
    while i < 8192 {
        table[i] = alaw_encode_13(i as i32 - 4096);
        i += 1;
    }
    table
};

/// The first segment whose end is at least `value`, or 8 when none is.
const fn segment(value: i32, ends: &[i32; 8]) -> i32 {
    let mut seg = 0;
    while seg < 8 {
        if value <= ends[seg] {
            return seg as i32;
        }
        seg += 1;
    }
    8
}

/// G.711 µ-law from a 14-bit linear value (the classic Sun reference
/// algorithm, which follows the standard's tables).
const fn ulaw_encode_14(linear: i32) -> u8 {
    const BIAS: i32 = 0x84 >> 2;
    const CLIP: i32 = 8159;
    const SEGMENT_ENDS: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
    let (mut magnitude, mask) = if linear < 0 {
        (-linear, 0x7F)
    } else {
        (linear, 0xFF)
    };
    if magnitude > CLIP {
        magnitude = CLIP;
    }
    magnitude += BIAS;
    let seg = segment(magnitude, &SEGMENT_ENDS);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    (((seg << 4) | ((magnitude >> (seg + 1)) & 0xF)) ^ mask) as u8
}

/// G.711 A-law from a 13-bit linear value.
const fn alaw_encode_13(linear: i32) -> u8 {
    const SEGMENT_ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    // A-law has no negative zero: -1 shares the code of 0 mirrored.
    let (magnitude, mask) = if linear >= 0 {
        (linear, 0xD5)
    } else {
        (-linear - 1, 0x55)
    };
    let seg = segment(magnitude, &SEGMENT_ENDS);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mantissa = if seg < 2 {
        (magnitude >> 1) & 0xF
    } else {
        (magnitude >> seg) & 0xF
    };
    (((seg << 4) | mantissa) ^ mask) as u8
}

const fn ulaw_decode_reference(code: u8) -> i16 {
    const BIAS: i32 = 0x84;
    let u = !code as i32;
    let mut t = ((u & 0x0F) << 3) + BIAS;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 { BIAS - t } else { t - BIAS }) as i16
}

const fn alaw_decode_reference(code: u8) -> i16 {
    let a = (code ^ 0x55) as i32;
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_types_are_the_static_ones() {
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(101), None);
        assert_eq!(Codec::Pcmu.encoding_name(), "PCMU");
    }

    #[test]
    fn known_codes_decode_to_the_standard_values() {
        // Extremes and zeros of both laws (G.711 tables, scaled to 16 bits).
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
    }

    #[test]
    fn silence_bytes_decode_to_near_zero() {
        assert_eq!(Codec::Pcmu.decode_sample(Codec::Pcmu.silence_byte()), 0);
        assert_eq!(Codec::Pcma.decode_sample(Codec::Pcma.silence_byte()), 8);
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            // µ-law has two zeros (0x7F and 0xFF); both decode to 0, which
            // encodes as 0xFF.
            let expected = if code == 0x7F { 0xFF } else { code };
            assert_eq!(
                ulaw_encode(ulaw_decode(code)),
                expected,
                "µ-law {code:#04x}"
            );
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    #[test]
    fn encoding_is_monotonic_in_the_decoded_domain() {
        let mut last = (i16::MIN, i16::MIN);
        for s in i16::MIN..=i16::MAX {
            let u = ulaw_decode(ulaw_encode(s));
            let a = alaw_decode(alaw_encode(s));
            assert!(u >= last.0 && a >= last.1, "not monotonic at {s}");
            last = (u, a);
        }
    }

    #[test]
    fn quantisation_error_stays_within_half_a_step() {
        // The largest µ-law step is 1024 (16-bit units) and A-law's 1024 as
        // well; inside the clip range the error is at most half of that.
        for s in -32000i16..=32000 {
            let eu = (i32::from(ulaw_decode(ulaw_encode(s))) - i32::from(s)).abs();
            let ea = (i32::from(alaw_decode(alaw_encode(s))) - i32::from(s)).abs();
            assert!(eu <= 512 + 2, "µ-law error {eu} at {s}");
            assert!(ea <= 512 + 4, "A-law error {ea} at {s}");
        }
        // Small signals keep fine resolution: µ-law's first step is 8.
        assert!((i32::from(ulaw_decode(ulaw_encode(100))) - 100).abs() <= 4);
    }

    #[test]
    fn frame_helpers_handle_every_length() {
        let frame = Frame::from_samples(&[-1234; 160]);
        let bytes = Codec::Pcma.encode(&frame);
        assert!(bytes.iter().all(|&b| b == alaw_encode(-1234)));
        let decoded = Codec::Pcma.decode_frame(&bytes[..100]);
        assert_eq!(decoded.0[99], alaw_decode(bytes[0]));
        assert_eq!(decoded.0[100], 0, "short payloads are padded with silence");
        let long = [0x00u8; 400];
        assert_eq!(Codec::Pcmu.decode_frame(&long).0[159], -32124);
        assert_eq!(Codec::Pcmu.decode(&[]), Vec::<i16>::new());
        let mut out = [0u8; 3];
        assert_eq!(Codec::Pcmu.encode_into(&[0, 0, 0, 0, 0], &mut out), 3);
    }
}
