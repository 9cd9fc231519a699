//! DTMF: RFC 4733 telephone events in and out, in-band detection, and
//! masking tones out of recordings.
//!
//! Keys reach a call two ways. Most SIP peers and Twilio send them as RFC
//! 4733 telephone events: [`EventReceiver`] turns a peer's event packets
//! into one report per key, and [`event_packets`] produces the packets for
//! a key we send. Some peers only play the tones in the audio; for those
//! [`InbandDetector`] finds them with the Goertzel algorithm. During secure
//! card capture the digits must not reach a recording in any form, so
//! [`DtmfMasker`] silences every frame that carries a tone, or touches one.
//!
//! ```
//! use switchyard_media::dtmf::{InbandConfig, InbandDetector, dtmf_tone};
//! use switchyard_media::frame::frames_of;
//!
//! let mut audio = dtmf_tone('7', 100, 6000).unwrap();
//! audio.extend(std::iter::repeat_n(0, 800));
//! let mut detector = InbandDetector::new(InbandConfig::default());
//! let keys: Vec<char> = frames_of(&audio).iter().filter_map(|f| detector.process(f)).collect();
//! assert_eq!(keys, vec!['7']);
//! ```

use thiserror::Error;

use crate::frame::{Frame, SAMPLE_RATE, SAMPLES_PER_FRAME};

/// Why a DTMF request or payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DtmfError {
    /// A telephone-event payload is not a whole number of 4-byte events.
    #[error("telephone-event payload of {len} bytes, expected a multiple of 4 (at least 4)")]
    BadPayloadLength {
        /// Bytes in the payload.
        len: usize,
    },
    /// A character that is not one of `0-9 * # A-D`.
    #[error("{0:?} is not a DTMF key (0-9, *, #, A-D)")]
    UnknownDigit(char),
    /// A key duration outside what one event can carry.
    #[error("key duration of {0} ms is outside 1..=8000 ms")]
    DurationOutOfRange(u32),
    /// A volume outside the 6-bit field.
    #[error("volume {0} is outside 0..=63 (-dBm0)")]
    VolumeOutOfRange(u8),
}

/// The keys in RFC 4733 event order: events 0–9, then `*` (10), `#` (11),
/// and `A`–`D` (12–15).
const KEYS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// The RFC 4733 event code of a key, if it is one.
pub fn event_for_digit(digit: char) -> Option<u8> {
    let upper = digit.to_ascii_uppercase();
    KEYS.iter().position(|&k| k == upper).map(|i| i as u8)
}

/// The key of an RFC 4733 event code, if it is a DTMF event (0–15).
pub fn digit_for_event(event: u8) -> Option<char> {
    KEYS.get(usize::from(event)).copied()
}

/// One RFC 4733 telephone-event payload (§2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code: 0–15 for DTMF keys, higher for other signals.
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level of the tone, 0 to 63 in -dBm0.
    pub volume: u8,
    /// How long the event has lasted so far, in timestamp units (1/8000 s).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses a payload. A payload may hold several events (RFC 4733
    /// allows it); the first one is the one that counts for a key.
    ///
    /// # Errors
    ///
    /// [`DtmfError::BadPayloadLength`] unless the length is a non-zero
    /// multiple of 4.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let len = payload.len();
        match payload.first_chunk::<4>() {
            Some(b) if len.is_multiple_of(4) => Ok(Self {
                event: b[0],
                end: b[1] & 0x80 != 0,
                volume: b[1] & 0x3F,
                duration: u16::from_be_bytes([b[2], b[3]]),
            }),
            _ => Err(DtmfError::BadPayloadLength { len }),
        }
    }

    /// The 4-byte payload (the reserved bit is sent as 0).
    pub fn to_bytes(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }

    /// The key this event stands for, if it is a DTMF event.
    pub fn digit(&self) -> Option<char> {
        digit_for_event(self.event)
    }
}

/// How many recent event timestamps [`EventReceiver`] remembers, so that a
/// straggler of an earlier key arriving after a later one is not taken for
/// a new press.
const RECENT_EVENTS: usize = 8;

/// Turns a peer's RFC 4733 packets into one report per key press.
///
/// An event is identified by its RTP timestamp, which all its packets
/// share (RFC 4733 §2.5.1). The first packet seen with a new timestamp
/// reports the key at once, whether it is the start (marker) packet, an
/// update because the start was lost, or even an end packet. Everything
/// else with that timestamp (updates, the retransmitted end packets) is
/// ignored, so each press is reported exactly once and as early as
/// possible, which is what DTMF-to-prompt latency wants.
#[derive(Debug, Clone, Default)]
pub struct EventReceiver {
    recent: [Option<u32>; RECENT_EVENTS],
    next_slot: usize,
    /// The last event seen: timestamp, code, ended, longest duration.
    last: Option<(u32, u8, bool, u16)>,
}

impl EventReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one telephone-event packet (its RTP timestamp and payload)
    /// and returns the key if this packet is the first seen of a new press.
    ///
    /// # Errors
    ///
    /// [`DtmfError::BadPayloadLength`] for a malformed payload.
    pub fn receive(&mut self, timestamp: u32, payload: &[u8]) -> Result<Option<char>, DtmfError> {
        let event = TelephoneEvent::parse(payload)?;
        if self.recent.contains(&Some(timestamp)) {
            if let Some((ts, code, ended, duration)) = &mut self.last
                && *ts == timestamp
                && *code == event.event
            {
                *ended |= event.end;
                *duration = (*duration).max(event.duration);
            }
            return Ok(None);
        }
        // An event longer than the 16-bit duration field goes on in a new
        // segment with a new timestamp (RFC 4733 §2.5.1.3); that is the
        // same press, not another.
        let continues = matches!(
            self.last,
            Some((ts, code, false, duration))
                if code == event.event
                    && duration >= u16::MAX - 1600
                    && timestamp.wrapping_sub(ts) <= u32::from(u16::MAX) + 1600
        );
        self.recent[self.next_slot] = Some(timestamp);
        self.next_slot = (self.next_slot + 1) % RECENT_EVENTS;
        self.last = Some((timestamp, event.event, event.end, event.duration));
        if continues {
            return Ok(None);
        }
        Ok(event.digit())
    }
}

/// Interval between the update packets of an event we send (RFC 4733
/// suggests 50 ms).
pub const EVENT_UPDATE_MS: u32 = 50;
/// How many times the end packet is sent (RFC 4733 §2.5.1.4: three).
pub const EVENT_END_REPEATS: u32 = 3;

/// One packet of an outbound telephone event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// The 4-byte payload.
    pub payload: [u8; 4],
    /// The marker bit: set on the first packet only.
    pub marker: bool,
    /// The RTP timestamp: the event's start, the same on every packet.
    pub timestamp: u32,
    /// When to send it, in milliseconds after the first packet.
    pub send_at_ms: u32,
}

/// The packets that send one key as an RFC 4733 event starting at
/// `timestamp` (the audio stream's current timestamp): a start packet with
/// the marker bit, updates every 50 ms carrying the duration so far, and
/// the end packet three times, 50 ms apart. Send them with
/// [`crate::rtp::Packetizer::packetize_at`] and advance the audio
/// timestamp by the key's duration with [`crate::rtp::Packetizer::skip`].
///
/// # Errors
///
/// An unknown key, a duration outside 1..=8000 ms (one event segment holds
/// at most 8.19 s), or a volume above 63.
pub fn event_packets(
    digit: char,
    duration_ms: u32,
    volume: u8,
    timestamp: u32,
) -> Result<Vec<EventPacket>, DtmfError> {
    let event = event_for_digit(digit).ok_or(DtmfError::UnknownDigit(digit))?;
    if !(1..=8000).contains(&duration_ms) {
        return Err(DtmfError::DurationOutOfRange(duration_ms));
    }
    if volume > 63 {
        return Err(DtmfError::VolumeOutOfRange(volume));
    }
    let per_ms = SAMPLE_RATE / 1000;
    let packet = |at_ms: u32, elapsed_ms: u32, end: bool| EventPacket {
        payload: TelephoneEvent {
            event,
            end,
            volume,
            // At most 8000 ms × 8 = 64,000: fits.
            duration: (elapsed_ms * per_ms) as u16,
        }
        .to_bytes(),
        marker: at_ms == 0,
        timestamp,
        send_at_ms: at_ms,
    };
    let updates = duration_ms.div_ceil(EVENT_UPDATE_MS);
    let mut packets = Vec::with_capacity((updates + EVENT_END_REPEATS) as usize);
    for k in 0..updates {
        let at = k * EVENT_UPDATE_MS;
        packets.push(packet(at, at, false));
    }
    for k in 0..EVENT_END_REPEATS {
        packets.push(packet(duration_ms + k * EVENT_UPDATE_MS, duration_ms, true));
    }
    Ok(packets)
}

/// Low-group (row) frequencies, Hz.
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies, Hz.
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad, row by column.
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The row and column frequencies of a key.
fn frequencies(digit: char) -> Option<(f32, f32)> {
    let upper = digit.to_ascii_uppercase();
    KEYPAD.iter().enumerate().find_map(|(r, row)| {
        row.iter()
            .position(|&k| k == upper)
            .map(|c| (ROWS[r], COLS[c]))
    })
}

/// The tone of a key: both frequencies, each at peak `amplitude`, for `ms`
/// milliseconds at 8 kHz. Used to play keys in-band to peers without
/// telephone-event, and to test the detector.
///
/// # Errors
///
/// [`DtmfError::UnknownDigit`] for anything but `0-9 * # A-D`.
pub fn dtmf_tone(digit: char, ms: u32, amplitude: i16) -> Result<Vec<i16>, DtmfError> {
    let (row, col) = frequencies(digit).ok_or(DtmfError::UnknownDigit(digit))?;
    Ok(dual_tone(row, amplitude, col, amplitude, ms))
}

/// Two sines summed and clamped to 16 bits.
fn dual_tone(f1: f32, a1: i16, f2: f32, a2: i16, ms: u32) -> Vec<i16> {
    let n = (ms * SAMPLE_RATE / 1000) as usize;
    let w1 = std::f64::consts::TAU * f64::from(f1) / f64::from(SAMPLE_RATE);
    let w2 = std::f64::consts::TAU * f64::from(f2) / f64::from(SAMPLE_RATE);
    (0..n)
        .map(|i| {
            let t = i as f64;
            let v = f64::from(a1) * (w1 * t).sin() + f64::from(a2) * (w2 * t).sin();
            v.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Thresholds of the in-band detector. The defaults follow common
/// practice (ITU-T Q.24, spandsp): accept keys from about -35 dBm0 per
/// tone, twist within 8 dB normal and 4 dB reverse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InbandConfig {
    /// Smallest peak amplitude (16-bit units) of each tone. 400 is about
    /// -35 dBm0 on a G.711 path.
    pub min_tone_amplitude: f32,
    /// Most the low (row) tone may exceed the high (column) tone by, dB:
    /// "normal" twist, the usual direction after a long line.
    pub max_normal_twist_db: f32,
    /// Most the high (column) tone may exceed the low (row) tone by, dB.
    pub max_reverse_twist_db: f32,
    /// How far the strongest tone of each group must stand above the
    /// group's other three, dB.
    pub min_dominance_db: f32,
    /// Share of the block's energy the two tones must hold (each tone
    /// measured at its nominal frequency and 1.5% either side, keeping the
    /// strongest, so senders off by the 1.5% Q.24 allows lose nothing).
    /// This is what rejects speech, music and noise, whose energy is spread
    /// out: a synthetic /a/, whose formants sit next to DTMF rows and
    /// columns, stays below 0.8 in every block.
    pub min_tone_share: f32,
}

impl Default for InbandConfig {
    fn default() -> Self {
        Self {
            min_tone_amplitude: 400.0,
            max_normal_twist_db: 8.0,
            max_reverse_twist_db: 4.0,
            min_dominance_db: 8.0,
            min_tone_share: 0.85,
        }
    }
}

/// Samples in one Goertzel block: 20 ms gives 50 Hz resolution, enough to
/// separate rows 73 Hz apart.
const BLOCK: usize = SAMPLES_PER_FRAME;
/// Blocks start every 10 ms (half a frame), so a 40 ms tone always fills
/// at least two blocks whatever its alignment with our frames.
const HOP: usize = BLOCK / 2;
/// Consecutive blocks a key must be seen in. A block counts when the tone
/// fills at least `min_tone_share` (0.85) of it, so with a 10 ms hop a
/// 40 ms tone always gives two and a 20 ms tone at most one.
const MIN_HITS: u32 = 2;
/// Consecutive blocks without the key before the same key can be reported
/// again. An interruption of 10 ms spoils at most three blocks, so it does
/// not split a press (Q.24); a 40 ms gap between presses gives five.
const MIN_GAP_BLOCKS: u32 = 4;
/// A block "looks like" DTMF, for masking, at this share with looser twist
/// (12 dB) and dominance (3 dB): a tone of 25 ms or more always gives such a
/// block, and the masker silences the frames around it too.
const MASK_TONE_SHARE: f32 = 0.8;
/// How far either side of a nominal frequency the probes sit (1.5%).
const PROBE_OFFSET: f32 = 0.015;
/// Half a block: blocks are built from consecutive halves.
const HALF: usize = HOP;

/// What one block looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlockVerdict {
    /// Passed every check: this key.
    key: Option<char>,
    /// Looked enough like a DTMF tone to mask (looser checks).
    tone_like: bool,
}

impl BlockVerdict {
    const NONE: Self = Self {
        key: None,
        tone_like: false,
    };
}

fn db_ratio(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// In-band DTMF detection on 20 ms frames of 8 kHz audio.
///
/// Each frame is analysed as two 160-sample blocks, 10 ms apart (the
/// previous frame's second half with this frame's first, then this frame).
/// In each block the Goertzel algorithm measures the eight DTMF
/// frequencies; a block shows a key when the strongest row and column
/// tones are both loud enough, within the twist limits, each well above
/// the rest of its group, and together hold most of the block's energy. A
/// key is reported once when it has shown in two blocks running (a tone of
/// 40 ms always does, one of 20 ms never), and the same key again only
/// after a gap of four blocks without it. Silent blocks cost an energy sum;
/// the sixteen probe filters run only for blocks that might be a tone.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    analyser: Analyser,
    /// The second half of the previous frame.
    previous: Half,
    candidate: Option<char>,
    run: u32,
    reported: Option<char>,
    misses: u32,
    /// Whether the last frame's blocks looked like DTMF.
    tone_in_last_frame: bool,
}

/// Frequencies analysed: the eight DTMF frequencies (rows first), then
/// each 1.5% below, then each 1.5% above.
const FREQS: usize = 24;

/// Σ x[n]·e^(-jωn) over one half-block at `N` frequencies, as (re, im).
type Spectrum<const N: usize> = [[f32; 2]; N];

/// Half a block of samples and what has been worked out about it. Each
/// half belongs to two blocks, so its spectra are kept for the second.
#[derive(Debug, Clone)]
struct Half {
    samples: [f32; HALF],
    energy: f32,
    /// At the eight DTMF frequencies.
    nominal: Option<Spectrum<8>>,
    /// At the sixteen probes; worked out only for blocks that might be a
    /// tone, as speech rarely is.
    probes: Option<Spectrum<16>>,
}

impl Half {
    fn new(samples: [f32; HALF]) -> Self {
        // Eight running sums rather than one: float addition is not
        // reassociated by the compiler, and one sum is a chain of 80
        // dependent additions.
        let mut sums = [0.0f32; 8];
        for chunk in samples.chunks_exact(8) {
            for (sum, &x) in sums.iter_mut().zip(chunk) {
                *sum += x * x;
            }
        }
        Self {
            samples,
            energy: sums.iter().sum(),
            nominal: None,
            probes: None,
        }
    }
}

/// The fixed part of the detector: filter coefficients and thresholds.
#[derive(Debug, Clone)]
struct Analyser {
    config: InbandConfig,
    /// Goertzel coefficients 2·cos(ω) of the analysed frequencies.
    coefficients: [f32; FREQS],
    /// Per frequency, e^(-jω·79) and e^(-jω·80): the first turns a filter's
    /// final state into the half's spectrum, the second shifts a half's
    /// spectrum by 80 samples so two halves add up to a block's.
    end_phase: [[f32; 2]; FREQS],
    shift: [[f32; 2]; FREQS],
    /// Thresholds as energy ratios, worked out once.
    min_tone_energy: f32,
    normal_twist: f32,
    reverse_twist: f32,
    dominance: f32,
    mask_twist: f32,
    mask_dominance: f32,
}

impl Analyser {
    fn new(config: InbandConfig) -> Self {
        let mut coefficients = [0.0; FREQS];
        let mut end_phase = [[0.0; 2]; FREQS];
        let mut shift = [[0.0; 2]; FREQS];
        let nominal = ROWS.iter().chain(COLS.iter());
        let scales = [1.0, 1.0 - PROBE_OFFSET, 1.0 + PROBE_OFFSET];
        let frequencies = scales
            .iter()
            .flat_map(|m| nominal.clone().map(move |f| f * m));
        for (i, f) in frequencies.enumerate() {
            let w = std::f32::consts::TAU * f / SAMPLE_RATE as f32;
            coefficients[i] = 2.0 * w.cos();
            let last = (HALF - 1) as f32;
            end_phase[i] = [(w * last).cos(), -(w * last).sin()];
            shift[i] = [(w * HALF as f32).cos(), -(w * HALF as f32).sin()];
        }
        Self {
            config,
            coefficients,
            end_phase,
            shift,
            // A tone of peak A holds N·A²/2 of energy in a block.
            min_tone_energy: BLOCK as f32 * config.min_tone_amplitude.powi(2) / 2.0,
            normal_twist: db_ratio(config.max_normal_twist_db),
            reverse_twist: db_ratio(config.max_reverse_twist_db),
            dominance: db_ratio(config.min_dominance_db),
            mask_twist: db_ratio(12.0),
            mask_dominance: db_ratio(3.0),
        }
    }

    /// The spectra of two halves at `N` frequencies from `first`: 2·N
    /// Goertzel filters in one pass, independent of each other, which the
    /// compiler runs as vector code.
    fn spectra<const N: usize>(
        &self,
        first: usize,
        a: &[f32; HALF],
        b: &[f32; HALF],
    ) -> (Spectrum<N>, Spectrum<N>) {
        let mut c = [0.0f32; N];
        c.copy_from_slice(&self.coefficients[first..first + N]);
        let (mut a1, mut a2) = ([0.0f32; N], [0.0f32; N]);
        let (mut b1, mut b2) = ([0.0f32; N], [0.0f32; N]);
        for (&xa, &xb) in a.iter().zip(b) {
            for k in 0..N {
                let sa = xa + c[k] * a1[k] - a2[k];
                a2[k] = a1[k];
                a1[k] = sa;
                let sb = xb + c[k] * b1[k] - b2[k];
                b2[k] = b1[k];
                b1[k] = sb;
            }
        }
        // Σ x[n]e^(-jωn) = e^(-jω·79)·s[79] − e^(-jω·80)·s[78].
        let finish = |s1: [f32; N], s2: [f32; N]| {
            let mut d = [[0.0f32; 2]; N];
            for k in 0..N {
                let (p, q) = (self.end_phase[first + k], self.shift[first + k]);
                d[k] = [p[0] * s1[k] - q[0] * s2[k], p[1] * s1[k] - q[1] * s2[k]];
            }
            d
        };
        (finish(a1, a2), finish(b1, b2))
    }

    /// Fills in whichever spectra of two consecutive halves are missing,
    /// two halves per pass where both are.
    fn fill<const N: usize>(
        &self,
        first: usize,
        a: &mut Half,
        b: &mut Half,
        slot: fn(&mut Half) -> &mut Option<Spectrum<N>>,
    ) {
        const SILENT: [f32; HALF] = [0.0; HALF];
        match (slot(a).is_some(), slot(b).is_some()) {
            (true, true) => {}
            (false, false) => {
                let (da, db) = self.spectra::<N>(first, &a.samples, &b.samples);
                *slot(a) = Some(da);
                *slot(b) = Some(db);
            }
            (false, true) => *slot(a) = Some(self.spectra::<N>(first, &a.samples, &SILENT).0),
            (true, false) => *slot(b) = Some(self.spectra::<N>(first, &b.samples, &SILENT).0),
        }
    }

    /// Power of the block made of two halves from their spectra at the
    /// analysed frequency `k`, scaled so a pure tone's equals its energy in
    /// the block: 2·|X|²/N.
    fn power(&self, a: &[f32; 2], b: &[f32; 2], k: usize) -> f32 {
        // The block's spectrum is the first half's plus the second's
        // shifted by 80 samples.
        let [sr, si] = self.shift[k];
        let re = a[0] + sr * b[0] - si * b[1];
        let im = a[1] + sr * b[1] + si * b[0];
        2.0 * (re * re + im * im) / BLOCK as f32
    }

    /// Judges the block made of halves `a` then `b`.
    fn judge(&self, a: &mut Half, b: &mut Half) -> BlockVerdict {
        let energy = a.energy + b.energy;
        // Silence and quiet noise, most of any call, stop here.
        let min = self.min_tone_energy;
        if energy < 2.0 * min {
            return BlockVerdict::NONE;
        }
        self.fill::<8>(0, a, b, |h| &mut h.nominal);
        let (Some(na), Some(nb)) = (&a.nominal, &b.nominal) else {
            return BlockVerdict::NONE;
        };
        let mut tone = [0.0f32; 8];
        for (k, t) in tone.iter_mut().enumerate() {
            *t = self.power(&na[k], &nb[k], k);
        }
        let best = |group: &[f32]| {
            let mut i = 0;
            for j in 1..group.len() {
                if group[j] > group[i] {
                    i = j;
                }
            }
            i
        };
        let (rows, cols) = tone.split_at(4);
        let (r, c) = (best(rows), best(cols));
        // A tone 1.5% off its nominal frequency shows at most about 4 dB
        // (×2.5) weaker in the nominal bin than at a probe. A block that
        // could not pass even with that back needs no probes.
        let (row, col) = (rows[r], cols[c]);
        if row * 2.5 < min || col * 2.5 < min || (row + col) * 2.5 < MASK_TONE_SHARE * energy {
            return BlockVerdict::NONE;
        }
        self.fill::<16>(8, a, b, |h| &mut h.probes);
        let (Some(pa), Some(pb)) = (&a.probes, &b.probes) else {
            return BlockVerdict::NONE;
        };
        // A tone's level: the strongest of its nominal bin and its probes.
        let level = |k: usize, nominal: f32| {
            let below = self.power(&pa[k], &pb[k], 8 + k);
            let above = self.power(&pa[8 + k], &pb[8 + k], 16 + k);
            nominal.max(below).max(above)
        };
        let row = level(r, row);
        let col = level(4 + c, col);
        if row < min || col < min {
            return BlockVerdict::NONE;
        }
        let dominant = |group: &[f32], i: usize, level: f32, ratio: f32| {
            group
                .iter()
                .enumerate()
                .all(|(j, &e)| j == i || level >= e * ratio)
        };
        let share = (row + col) / energy;
        let tone_like = share >= MASK_TONE_SHARE
            && row <= col * self.mask_twist
            && col <= row * self.mask_twist
            && dominant(rows, r, row, self.mask_dominance)
            && dominant(cols, c, col, self.mask_dominance);
        let strict = share >= self.config.min_tone_share
            && row <= col * self.normal_twist
            && col <= row * self.reverse_twist
            && dominant(rows, r, row, self.dominance)
            && dominant(cols, c, col, self.dominance);
        BlockVerdict {
            key: strict.then_some(KEYPAD[r][c]),
            tone_like: tone_like || strict,
        }
    }
}

impl InbandDetector {
    /// A detector with these thresholds.
    pub fn new(config: InbandConfig) -> Self {
        Self {
            analyser: Analyser::new(config),
            previous: Half::new([0.0; HALF]),
            candidate: None,
            run: 0,
            reported: None,
            misses: 0,
            tone_in_last_frame: false,
        }
    }

    /// Takes the next frame; returns a key when a press is recognised.
    /// Allocates nothing.
    ///
    /// The two blocks of a frame share halves (the straddling block is the
    /// previous frame's second half and this frame's first; the aligned one
    /// is this frame's two halves), so each half's spectrum is worked out
    /// once and a block's is the sum of its halves'.
    pub fn process(&mut self, frame: &Frame) -> Option<char> {
        let mut halves = [[0.0f32; HALF]; 2];
        for (half, samples) in halves.iter_mut().zip(frame.0.chunks_exact(HALF)) {
            for (h, &s) in half.iter_mut().zip(samples) {
                *h = f32::from(s);
            }
        }
        let [first, second] = halves;
        let (mut first, mut second) = (Half::new(first), Half::new(second));
        // Work out the current frame's spectra first, both halves in one
        // pass, and only then reach back to the previous half.
        let aligned = self.analyser.judge(&mut first, &mut second);
        let straddling = self.analyser.judge(&mut self.previous, &mut first);
        self.previous = second;

        self.tone_in_last_frame = straddling.tone_like || aligned.tone_like;
        let first_key = self.step(straddling.key);
        let second_key = self.step(aligned.key);
        first_key.or(second_key)
    }

    /// Whether the last frame processed looked like it carried a DTMF tone
    /// (checks looser than a detection, for masking).
    pub fn tone_in_last_frame(&self) -> bool {
        self.tone_in_last_frame
    }

    /// Advances the press state machine by one block.
    fn step(&mut self, key: Option<char>) -> Option<char> {
        if key.is_some() && key == self.reported {
            self.misses = 0;
        } else if self.reported.is_some() {
            self.misses += 1;
            if self.misses >= MIN_GAP_BLOCKS {
                self.reported = None;
            }
        }
        if key.is_some() && key == self.candidate {
            self.run += 1;
        } else {
            self.candidate = key;
            self.run = u32::from(key.is_some());
        }
        if self.reported.is_none() && self.run >= MIN_HITS {
            self.reported = self.candidate;
            self.misses = 0;
            return self.candidate;
        }
        None
    }
}

/// Silences DTMF in audio bound for a recording, one frame late.
///
/// Used during secure card capture: a frame is replaced by silence when it,
/// the frame before it or the frame after it looked like a DTMF tone
/// (looser checks than a detection, so even the first and last few
/// milliseconds of a tone, which no block fully holds, are silenced). To
/// know about the frame after, the masker holds each frame back by one
/// tick (20 ms of delay on the recording, which nobody hears live). It runs
/// an [`InbandDetector`] and hands back the keys it recognises, so one
/// analysis serves both.
#[derive(Debug, Clone)]
pub struct DtmfMasker {
    detector: InbandDetector,
    held: Frame,
    /// Tone flags of the frame before the held one and of the held one.
    before: bool,
    held_tone: bool,
    masked_frames: u64,
}

/// What [`DtmfMasker::process`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaskOutcome {
    /// The frame handed back was silenced.
    pub masked: bool,
    /// A key recognised in the frame just taken in.
    pub key: Option<char>,
}

impl DtmfMasker {
    /// A masker whose detector uses these thresholds.
    pub fn new(config: InbandConfig) -> Self {
        Self {
            detector: InbandDetector::new(config),
            held: Frame::silence(),
            before: false,
            held_tone: false,
            masked_frames: 0,
        }
    }

    /// Takes the newest frame and, in its place, hands back the frame of
    /// one tick earlier, silenced if it carried or touched a tone. The
    /// first call hands back silence.
    pub fn process(&mut self, frame: &mut Frame) -> MaskOutcome {
        let key = self.detector.process(frame);
        let after = self.detector.tone_in_last_frame();
        let masked = self.before || self.held_tone || after;
        std::mem::swap(&mut self.held, frame);
        if masked {
            *frame = Frame::silence();
            self.masked_frames += 1;
        }
        self.before = self.held_tone;
        self.held_tone = after;
        MaskOutcome { masked, key }
    }

    /// The frame still held back, at the end of a recording (silenced if
    /// needed).
    pub fn flush(&mut self) -> Frame {
        let mut last = std::mem::replace(&mut self.held, Frame::silence());
        if self.before || self.held_tone {
            last = Frame::silence();
            self.masked_frames += 1;
        }
        self.before = false;
        self.held_tone = false;
        last
    }

    /// Frames silenced so far.
    pub fn masked_frames(&self) -> u64 {
        self.masked_frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::frames_of;

    fn detect(audio: &[i16]) -> Vec<char> {
        detect_with(audio, InbandConfig::default())
    }

    fn detect_with(audio: &[i16], config: InbandConfig) -> Vec<char> {
        let mut d = InbandDetector::new(config);
        let mut padded = audio.to_vec();
        padded.extend(std::iter::repeat_n(0, 480));
        frames_of(&padded)
            .iter()
            .filter_map(|f| d.process(f))
            .collect()
    }

    fn silence(ms: u32) -> Vec<i16> {
        vec![0; (ms * 8) as usize]
    }

    /// Deterministic pseudo-random numbers (xorshift), so tests need no
    /// crate and always see the same noise.
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        }
    }

    #[test]
    fn event_codes_map_to_keys() {
        assert_eq!(event_for_digit('0'), Some(0));
        assert_eq!(event_for_digit('*'), Some(10));
        assert_eq!(event_for_digit('#'), Some(11));
        assert_eq!(event_for_digit('d'), Some(15));
        assert_eq!(event_for_digit('E'), None);
        assert_eq!(digit_for_event(11), Some('#'));
        assert_eq!(digit_for_event(16), None);
    }

    #[test]
    fn telephone_event_payload_round_trips() {
        let e = TelephoneEvent {
            event: 5,
            end: true,
            volume: 10,
            duration: 2240,
        };
        assert_eq!(e.to_bytes(), [0x05, 0x8A, 0x08, 0xC0]);
        assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Ok(e));
        // The reserved bit is ignored on input.
        assert_eq!(
            TelephoneEvent::parse(&[5, 0x4A, 8, 0xC0]).unwrap().volume,
            10
        );
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::BadPayloadLength { len: 3 })
        );
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3, 4, 5]),
            Err(DtmfError::BadPayloadLength { len: 5 })
        );
        assert!(TelephoneEvent::parse(&[]).is_err());
        assert_eq!(
            TelephoneEvent::parse(&[11, 0, 0, 0, 12, 0, 0, 0])
                .unwrap()
                .digit(),
            Some('#')
        );
    }

    /// The ten packets SIPp's `dtmf_2833_5.pcap` plays for key 5 (all with
    /// timestamp 43200): a start with the marker, six updates, and the end
    /// packet three times.
    const SIPP_KEY_5: [[u8; 4]; 10] = [
        [0x05, 0x0A, 0x00, 0x00],
        [0x05, 0x0A, 0x01, 0x40],
        [0x05, 0x0A, 0x02, 0x80],
        [0x05, 0x0A, 0x03, 0xC0],
        [0x05, 0x0A, 0x05, 0x00],
        [0x05, 0x0A, 0x06, 0x40],
        [0x05, 0x0A, 0x07, 0x80],
        [0x05, 0x8A, 0x08, 0xC0],
        [0x05, 0x8A, 0x08, 0xC0],
        [0x05, 0x8A, 0x08, 0xC0],
    ];

    #[test]
    fn a_sipp_key_press_is_reported_once_on_its_first_packet() {
        let mut rx = EventReceiver::new();
        let reports: Vec<_> = SIPP_KEY_5
            .iter()
            .map(|p| rx.receive(43_200, p).unwrap())
            .collect();
        assert_eq!(reports[0], Some('5'));
        assert!(reports[1..].iter().all(Option::is_none));
    }

    #[test]
    fn a_press_whose_start_packets_were_lost_is_still_reported_once() {
        let mut rx = EventReceiver::new();
        let reports: Vec<_> = SIPP_KEY_5[3..]
            .iter()
            .map(|p| rx.receive(43_200, p).unwrap())
            .collect();
        assert_eq!(reports.iter().flatten().collect::<Vec<_>>(), vec![&'5']);
        // Only the end packets arrived: still one report.
        let mut rx = EventReceiver::new();
        let reports: Vec<_> = SIPP_KEY_5[7..]
            .iter()
            .map(|p| rx.receive(1, p).unwrap())
            .collect();
        assert_eq!(reports, vec![Some('5'), None, None]);
    }

    #[test]
    fn the_same_key_pressed_twice_is_two_reports() {
        let mut rx = EventReceiver::new();
        let mut keys = Vec::new();
        for ts in [1000u32, 3000] {
            for p in &SIPP_KEY_5 {
                keys.extend(rx.receive(ts, p).unwrap());
            }
        }
        assert_eq!(keys, vec!['5', '5']);
    }

    #[test]
    fn a_straggler_of_an_earlier_key_is_not_a_new_press() {
        let mut rx = EventReceiver::new();
        assert_eq!(rx.receive(1000, &[1, 0, 0, 0]).unwrap(), Some('1'));
        assert_eq!(rx.receive(2000, &[2, 0, 0, 0]).unwrap(), Some('2'));
        assert_eq!(rx.receive(1000, &[1, 0x80, 3, 0]).unwrap(), None);
    }

    #[test]
    fn non_dtmf_events_report_nothing() {
        let mut rx = EventReceiver::new();
        assert_eq!(rx.receive(1, &[16, 0, 0, 0]).unwrap(), None); // hook flash
        assert_eq!(
            rx.receive(2, &[1, 2]),
            Err(DtmfError::BadPayloadLength { len: 2 })
        );
    }

    #[test]
    fn a_segmented_long_event_is_one_press() {
        let mut rx = EventReceiver::new();
        assert_eq!(rx.receive(0, &[9, 0, 0xFF, 0xFF]).unwrap(), Some('9'));
        // The next segment starts where the first one's duration ran out.
        assert_eq!(rx.receive(65_535, &[9, 0, 0x01, 0x40]).unwrap(), None);
        assert_eq!(rx.receive(65_535, &[9, 0x80, 0x03, 0x20]).unwrap(), None);
        assert_eq!(rx.receive(80_000, &[9, 0, 0, 0]).unwrap(), Some('9'));
    }

    #[test]
    fn the_sender_produces_start_updates_and_three_ends() {
        let packets = event_packets('#', 120, 10, 48_000).unwrap();
        let summary: Vec<_> = packets
            .iter()
            .map(|p| {
                let e = TelephoneEvent::parse(&p.payload).unwrap();
                (p.send_at_ms, p.marker, e.end, e.duration)
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, true, false, 0),
                (50, false, false, 400),
                (100, false, false, 800),
                (120, false, true, 960),
                (170, false, true, 960),
                (220, false, true, 960),
            ]
        );
        assert!(packets.iter().all(|p| p.timestamp == 48_000));
        assert!(
            packets
                .iter()
                .all(|p| p.payload[0] == 11 && p.payload[1] & 0x3F == 10)
        );
    }

    #[test]
    fn sent_events_are_received_as_one_key() {
        let mut rx = EventReceiver::new();
        let keys: Vec<char> = "19#"
            .chars()
            .enumerate()
            .flat_map(|(i, d)| event_packets(d, 100, 10, i as u32 * 4000).unwrap())
            .filter_map(|p| rx.receive(p.timestamp, &p.payload).unwrap())
            .collect();
        assert_eq!(keys, vec!['1', '9', '#']);
    }

    #[test]
    fn the_sender_refuses_what_it_cannot_send() {
        assert_eq!(
            event_packets('x', 100, 10, 0),
            Err(DtmfError::UnknownDigit('x'))
        );
        assert_eq!(
            event_packets('1', 0, 10, 0),
            Err(DtmfError::DurationOutOfRange(0))
        );
        assert_eq!(
            event_packets('1', 9000, 10, 0),
            Err(DtmfError::DurationOutOfRange(9000))
        );
        assert_eq!(
            event_packets('1', 100, 64, 0),
            Err(DtmfError::VolumeOutOfRange(64))
        );
        let longest = event_packets('1', 8000, 0, 0).unwrap();
        assert_eq!(
            TelephoneEvent::parse(&longest.last().unwrap().payload)
                .unwrap()
                .duration,
            64_000
        );
    }

    #[test]
    fn the_tone_generator_makes_the_two_frequencies() {
        let tone = dtmf_tone('5', 50, 5000).unwrap();
        assert_eq!(tone.len(), 400);
        // 770 + 1336 Hz at 5000 each: peaks near 10,000, never clipped.
        let peak = tone.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((9000..=10_000).contains(&peak), "peak {peak}");
        assert_eq!(frequencies('5'), Some((770.0, 1336.0)));
        assert_eq!(dtmf_tone('z', 50, 5000), Err(DtmfError::UnknownDigit('z')));
    }

    #[test]
    fn every_key_is_detected_once() {
        for key in KEYS {
            let mut audio = dtmf_tone(key, 80, 4000).unwrap();
            audio.extend(silence(60));
            assert_eq!(detect(&audio), vec![key], "key {key}");
        }
    }

    #[test]
    fn a_dialled_sequence_comes_out_in_order() {
        let mut audio = silence(30);
        for key in "4111111111111111#".chars() {
            audio.extend(dtmf_tone(key, 70, 3000).unwrap());
            audio.extend(silence(50));
        }
        let keys: String = detect(&audio).into_iter().collect();
        assert_eq!(keys, "4111111111111111#");
    }

    #[test]
    fn forty_ms_tones_at_any_alignment_are_detected_and_twenty_ms_never() {
        for offset in (0..160).step_by(8) {
            let mut audio = silence(0);
            audio.extend(vec![0; offset]);
            audio.extend(dtmf_tone('8', 40, 4000).unwrap());
            audio.extend(silence(40));
            audio.extend(dtmf_tone('3', 20, 4000).unwrap());
            assert_eq!(detect(&audio), vec!['8'], "offset {offset}");
        }
    }

    #[test]
    fn a_short_dropout_inside_a_tone_is_not_a_second_press() {
        let mut audio = dtmf_tone('6', 60, 4000).unwrap();
        audio.extend(vec![0; 40]); // 5 ms
        audio.extend(dtmf_tone('6', 60, 4000).unwrap());
        assert_eq!(detect(&audio), vec!['6']);
    }

    #[test]
    fn an_interruption_of_10_ms_does_not_split_a_press() {
        for offset in (0..160).step_by(20) {
            let mut audio = vec![0; offset];
            audio.extend(dtmf_tone('B', 60, 4000).unwrap());
            audio.extend(silence(10));
            audio.extend(dtmf_tone('B', 60, 4000).unwrap());
            assert_eq!(detect(&audio), vec!['B'], "offset {offset}");
        }
    }

    #[test]
    fn keys_survive_a_g711_round_trip() {
        use crate::g711::Codec;
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut audio = Vec::new();
            for key in "159D".chars() {
                audio.extend(dtmf_tone(key, 60, 2000).unwrap());
                audio.extend(silence(60));
            }
            let mut coded = vec![0u8; audio.len()];
            codec.encode_into(&audio, &mut coded);
            let keys: String = detect(&codec.decode(&coded)).into_iter().collect();
            assert_eq!(keys, "159D", "{codec:?}");
        }
    }

    #[test]
    fn tones_in_noise_are_detected() {
        let mut noise = Noise(7);
        let mut audio = dtmf_tone('0', 100, 3000).unwrap();
        // White noise about 20 dB below the tones.
        for s in &mut audio {
            *s = (f64::from(*s) + noise.next() * 520.0) as i16;
        }
        assert_eq!(detect(&audio), vec!['0']);
    }

    #[test]
    fn quiet_tones_are_ignored() {
        assert_eq!(detect(&dtmf_tone('2', 100, 300).unwrap()), vec![]);
        assert_eq!(detect(&dtmf_tone('2', 100, 500).unwrap()), vec!['2']);
    }

    #[test]
    fn twist_beyond_the_limits_is_rejected() {
        let db = |d: f64| (4000.0 * 10f64.powf(-d / 20.0)) as i16;
        // Row louder than column ("normal" twist): 6 dB passes, 10 dB does not.
        assert_eq!(
            detect(&dual_tone(852.0, 4000, 1477.0, db(6.0), 100)),
            vec!['9']
        );
        assert_eq!(
            detect(&dual_tone(852.0, 4000, 1477.0, db(10.0), 100)),
            vec![]
        );
        // Column louder than row ("reverse" twist): 3 dB passes, 6 dB does not.
        assert_eq!(
            detect(&dual_tone(852.0, db(3.0), 1477.0, 4000, 100)),
            vec!['9']
        );
        assert_eq!(
            detect(&dual_tone(852.0, db(6.0), 1477.0, 4000, 100)),
            vec![]
        );
    }

    #[test]
    fn single_tones_and_non_dtmf_pairs_do_not_trigger() {
        for f in ROWS
            .iter()
            .chain(COLS.iter())
            .chain(&[440.0, 1000.0, 2000.0])
        {
            assert_eq!(detect(&dual_tone(*f, 8000, 0.0, 0, 500)), vec![], "{f} Hz");
        }
        // Dial tone (350 + 440 Hz) and a pair halfway between DTMF rows/columns.
        assert_eq!(detect(&dual_tone(350.0, 6000, 440.0, 6000, 500)), vec![]);
        assert_eq!(detect(&dual_tone(733.0, 6000, 1272.0, 6000, 500)), vec![]);
    }

    #[test]
    fn frequencies_off_by_more_than_the_tolerance_do_not_trigger() {
        // 1.5% off must still be accepted; 6% off is another signal.
        assert_eq!(
            detect(&dual_tone(697.0 * 1.015, 4000, 1209.0 * 0.985, 4000, 100)),
            vec!['1']
        );
        assert_eq!(
            detect(&dual_tone(697.0 * 1.06, 4000, 1209.0 * 1.06, 4000, 100)),
            vec![]
        );
    }

    /// Vowel-like audio made the way a formant synthesiser (Klatt) makes
    /// it: a glottal pulse train with a gliding pitch, shaped by a glottal
    /// low-pass, three formant resonators and lip radiation, plus breath
    /// noise. The formants are those of /a/ (700, 1220, 2600 Hz), the vowel
    /// whose first two sit nearest DTMF tones, so it is a hard case.
    fn speech_like(seconds: u32, seed: u64) -> Vec<i16> {
        vowel(seconds, seed, [700.0, 1220.0, 2600.0])
    }

    /// A vowel with these three formants; see [`speech_like`].
    fn vowel(seconds: u32, seed: u64, formants: [f64; 3]) -> Vec<i16> {
        /// A Klatt second-order resonator.
        struct Resonator {
            a: f64,
            b: f64,
            c: f64,
            y1: f64,
            y2: f64,
        }
        impl Resonator {
            fn new(f: f64, bw: f64) -> Self {
                let t = 1.0 / 8000.0;
                let c = -(-std::f64::consts::TAU * bw * t).exp();
                let b = 2.0
                    * (-std::f64::consts::PI * bw * t).exp()
                    * (std::f64::consts::TAU * f * t).cos();
                Self {
                    a: 1.0 - b - c,
                    b,
                    c,
                    y1: 0.0,
                    y2: 0.0,
                }
            }
            fn run(&mut self, x: f64) -> f64 {
                let y = self.a * x + self.b * self.y1 + self.c * self.y2;
                self.y2 = self.y1;
                self.y1 = y;
                y
            }
        }
        let mut noise = Noise(seed);
        let mut chain = [
            Resonator::new(0.0, 100.0), // glottal pulse shape, -12 dB/octave
            Resonator::new(formants[0], 90.0),
            Resonator::new(formants[1], 110.0),
            Resonator::new(formants[2], 170.0),
        ];
        let mut previous = 0.0;
        let mut phase = 0.0f64;
        let n = (seconds * SAMPLE_RATE) as usize;
        let mut out: Vec<f64> = (0..n)
            .map(|i| {
                let t = i as f64 / 8000.0;
                let f0 = 120.0 + 50.0 * (t * 1.7 + seed as f64).sin() + 15.0 * (t * 5.3).sin();
                phase += f0 / 8000.0;
                let pulse = if phase >= 1.0 {
                    phase -= 1.0;
                    1.0
                } else {
                    0.0
                };
                let mut v = pulse + noise.next() * 0.002;
                for r in &mut chain {
                    v = r.run(v);
                }
                let radiated = v - previous; // lip radiation, +6 dB/octave
                previous = v;
                radiated * (0.6 + 0.4 * (t * 3.0).sin())
            })
            .collect();
        // Normalise to a loud talker: peaks at about -6 dBFS.
        let peak = out.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        out.iter_mut().for_each(|v| *v *= 16_000.0 / peak);
        out.into_iter().map(|v| v as i16).collect()
    }

    #[test]
    fn speech_like_audio_and_noise_do_not_trigger() {
        for seed in 1..4 {
            assert_eq!(detect(&speech_like(5, seed)), vec![], "seed {seed}");
        }
        // /o/ (both formants near rows), /u/, /i/, /e/.
        let vowels = [
            [570.0, 840.0, 2410.0],
            [300.0, 870.0, 2240.0],
            [270.0, 2290.0, 3010.0],
            [530.0, 1840.0, 2480.0],
            [760.0, 1330.0, 2500.0],
        ];
        for (i, formants) in vowels.into_iter().enumerate() {
            assert_eq!(
                detect(&vowel(3, i as u64, formants)),
                vec![],
                "{formants:?}"
            );
        }
        let mut noise = Noise(99);
        let white: Vec<i16> = (0..40_000)
            .map(|_| (noise.next() * 12_000.0) as i16)
            .collect();
        assert_eq!(detect(&white), vec![]);
    }

    #[test]
    fn keys_are_found_between_speech() {
        let mut audio = speech_like(1, 5);
        audio.extend(dtmf_tone('5', 80, 5000).unwrap());
        audio.extend(speech_like(1, 6));
        assert_eq!(detect(&audio), vec!['5']);
    }

    #[test]
    fn the_masker_silences_every_frame_a_tone_touches() {
        // Speech, a key that starts and ends mid-frame, then speech.
        let mut audio = speech_like(1, 8);
        audio.truncate(8000 - 37);
        let tone_start = audio.len();
        audio.extend(dtmf_tone('4', 90, 4000).unwrap());
        let tone_end = audio.len();
        audio.extend(speech_like(1, 9));
        let mut masker = DtmfMasker::new(InbandConfig::default());
        let mut out = Vec::new();
        let mut keys = Vec::new();
        for mut frame in frames_of(&audio) {
            let outcome = masker.process(&mut frame);
            keys.extend(outcome.key);
            out.extend_from_slice(frame.samples());
        }
        out.extend_from_slice(masker.flush().samples());
        assert_eq!(keys, vec!['4']);
        // Output is one frame late.
        let out = &out[SAMPLES_PER_FRAME..];
        assert!(
            out[tone_start..tone_end].iter().all(|&s| s == 0),
            "tone samples leaked into the masked audio"
        );
        // Speech well away from the tone is untouched.
        assert_eq!(&out[..6000], &audio[..6000]);
        assert_eq!(
            &out[tone_end + 400..tone_end + 6000],
            &audio[tone_end + 400..tone_end + 6000]
        );
        assert!(masker.masked_frames() >= 5 && masker.masked_frames() <= 9);
    }

    #[test]
    fn the_masker_silences_short_tones_at_any_alignment() {
        for offset in (0..160).step_by(16) {
            let mut audio = speech_like(1, 2);
            audio.truncate(4000 + offset);
            let start = audio.len();
            audio.extend(dtmf_tone('9', 30, 3000).unwrap());
            let end = audio.len();
            audio.extend(silence(100));
            let mut masker = DtmfMasker::new(InbandConfig::default());
            let mut out = Vec::new();
            for mut frame in frames_of(&audio) {
                masker.process(&mut frame);
                out.extend_from_slice(frame.samples());
            }
            out.extend_from_slice(masker.flush().samples());
            let out = &out[SAMPLES_PER_FRAME..];
            assert!(out[start..end].iter().all(|&s| s == 0), "offset {offset}");
        }
    }

    #[test]
    fn the_masker_passes_clean_audio_unchanged() {
        let audio = speech_like(2, 3);
        let mut masker = DtmfMasker::new(InbandConfig::default());
        let mut out = Vec::new();
        for mut frame in frames_of(&audio) {
            assert!(!masker.process(&mut frame).masked);
            out.extend_from_slice(frame.samples());
        }
        out.extend_from_slice(masker.flush().samples());
        assert_eq!(&out[SAMPLES_PER_FRAME..], &audio[..]);
    }
}
