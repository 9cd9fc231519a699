//! The jitter buffer for a leg's inbound RTP.
//!
//! Packets arrive late, early, twice, out of order or not at all; the rest
//! of the media path (VAD, in-band DTMF, recording, STT) wants exactly one
//! 20 ms frame every 20 ms. [`JitterBuffer`] sits between the two: the
//! channel pushes each audio packet as it arrives and pops one frame on
//! every 20 ms tick of its own clock.
//!
//! Samples are placed by RTP timestamp, not by packet, in a ring of 8,192
//! samples (about 1 s) indexed by the timestamp modulo the ring size.
//! Because 8,192 divides 2^32 that index survives timestamp wrap-around,
//! moving the playout point never moves data, and peers that packetise at
//! 10 or 30 ms (SIPp's own G.711 capture uses 30 ms) play as smoothly as
//! 20 ms ones. Sequence numbers, tracked as in RFC 3550 appendix A.1, find
//! duplicates and count losses.
//!
//! Playout starts `target_depth_ms` after the first packet arrives and then
//! advances one frame per pop. A missing frame becomes a concealment frame
//! (the last frame repeated, fading, then silence) and is counted; a packet
//! that arrives after its frame was played is dropped as late. At the start
//! of each talkspurt (marker bit) with nothing buffered, and after a jump
//! the ring cannot hold, playout re-anchors on the new packet, which also
//! absorbs a peer whose clock runs at a different rate. Depth above
//! `max_depth_ms` is trimmed back to the target.
//!
//! Time is an argument (microseconds on any monotonic clock): the buffer
//! reads no clock, so tests replay arrival patterns exactly.
//!
//! ```
//! use switchyard_media::frame::Frame;
//! use switchyard_media::jitter::{FrameKind, JitterBuffer, JitterConfig, PacketMeta};
//!
//! let mut jb = JitterBuffer::new(JitterConfig::default()); // 60 ms target
//! for i in 0..4u16 {
//!     let meta = PacketMeta { ssrc: 1, sequence: i, timestamp: u32::from(i) * 160, marker: i == 0 };
//!     jb.push_pcm(meta, &[100; 160], u64::from(i) * 20_000);
//! }
//! let mut out = Frame::silence();
//! assert_eq!(jb.pop_into(40_000, &mut out), FrameKind::Buffering);
//! assert_eq!(jb.pop_into(60_000, &mut out), FrameKind::Audio);
//! assert_eq!(out.0[0], 100);
//! ```

use crate::frame::{Frame, SAMPLES_PER_FRAME};
use crate::g711::Codec;
use crate::rtcp::ReportBlock;
use crate::rtp::RtpPacket;

/// Samples in the ring: a power of two, so `timestamp & MASK` is a
/// position that stays right when the 32-bit timestamp wraps.
const RING: usize = 8192;
const MASK: u32 = RING as u32 - 1;
const FRAME: u32 = SAMPLES_PER_FRAME as u32;
/// Samples per millisecond at 8 kHz.
const PER_MS: u32 = 8;
/// RFC 3550 A.1: a forward jump beyond this is a restart, not loss.
const MAX_DROPOUT: i32 = 3000;
/// RFC 3550 A.1: an older sequence number within this is a reordering.
const MAX_MISORDER: i32 = 100;
/// Consecutive late packets after which playout re-anchors: the path's
/// delay has grown for good (or the peer's timestamps went backwards).
const LATE_RESYNC: u32 = 5;

/// How a [`JitterBuffer`] trades latency for smoothness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// How long the first packet of a stream (or talkspurt) waits before it
    /// plays: packets delayed by up to this much still make their slot.
    pub target_depth_ms: u32,
    /// Buffered audio beyond this is dropped back to the target, so a burst
    /// or a fast peer clock cannot grow the latency without bound (never
    /// less than the target plus 40 ms).
    pub max_depth_ms: u32,
    /// Missing frames filled by fading repeats of the last frame before the
    /// concealment turns to silence (at most 50 count).
    pub conceal_repeats: u32,
}

impl Default for JitterConfig {
    /// 60 ms target, 160 ms maximum, two repeats.
    fn default() -> Self {
        Self {
            target_depth_ms: 60,
            max_depth_ms: 160,
            conceal_repeats: 2,
        }
    }
}

/// Calls `f(word, mask)` for each 64-bit word of the presence bitmap that
/// ring positions `from..from + len` (wrapping) touch, with the bits they
/// cover; `len` is at most the ring size.
fn for_each_word(from: u32, len: u32, mut f: impl FnMut(usize, u64)) {
    let mut pos = (from & MASK) as usize;
    let mut remaining = (len as usize).min(RING);
    while remaining > 0 {
        let bit = pos % 64;
        let n = (64 - bit).min(remaining);
        let mask = if n == 64 {
            u64::MAX
        } else {
            ((1u64 << n) - 1) << bit
        };
        f(pos / 64, mask);
        pos = (pos + n) & (RING - 1);
        remaining -= n;
    }
}

/// Where a packet's samples come from.
enum Source<'a> {
    /// A G.711 payload, decoded as it is stored.
    G711(Codec, &'a [u8]),
    /// Linear PCM.
    Pcm(&'a [i16]),
}

impl Source<'_> {
    /// Fills `out` with the samples from `offset` on.
    fn fill(&self, offset: usize, out: &mut [i16]) {
        match self {
            Source::G711(codec, payload) => {
                codec.decode_into(payload.get(offset..).unwrap_or_default(), out);
            }
            Source::Pcm(pcm) => {
                let src = pcm.get(offset..).unwrap_or_default();
                for (o, &s) in out.iter_mut().zip(src) {
                    *o = s;
                }
            }
        }
    }
}

/// The RTP header fields the buffer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta {
    /// The stream; a new SSRC restarts the buffer.
    pub ssrc: u32,
    /// The sequence number.
    pub sequence: u16,
    /// The timestamp of the first sample (8 kHz units).
    pub timestamp: u32,
    /// The marker bit: first packet of a talkspurt.
    pub marker: bool,
}

impl From<&RtpPacket<'_>> for PacketMeta {
    fn from(p: &RtpPacket<'_>) -> Self {
        Self {
            ssrc: p.ssrc,
            sequence: p.sequence,
            timestamp: p.timestamp,
            marker: p.marker,
        }
    }
}

/// What became of a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout.
    Accepted,
    /// Stored, after playout re-anchored on it (new talkspurt, new stream,
    /// or a jump the ring could not hold).
    Reanchored,
    /// Its sequence number was already received; dropped.
    Duplicate,
    /// Its audio was due before now and has been played (or concealed)
    /// already; dropped.
    Late,
    /// A sequence number far from the stream's, not (yet) confirmed by the
    /// next packet as a restart, or a payload longer than the ring; dropped.
    Invalid,
}

/// What a popped frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Received audio.
    Audio,
    /// A hole with later audio already buffered (a lost or late packet),
    /// filled by concealment.
    Concealed,
    /// Nothing buffered at all (the peer paused, or packets are all late),
    /// filled by concealment.
    Underrun,
    /// Playout has not started (no packet yet, or waiting for the target
    /// depth); silence.
    Buffering,
}

/// Counters for the leg's statistics; they cover the whole leg, across
/// SSRC changes and restarts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JitterStats {
    /// Distinct packets received (late ones included: they were not lost).
    pub received: u64,
    /// Packets expected from the sequence numbers seen.
    pub expected: u64,
    /// `expected - received`, never below zero: packets the network lost.
    pub lost: u64,
    /// Packets received again.
    pub duplicates: u64,
    /// Packets that arrived after their audio was due.
    pub late: u64,
    /// Packets dropped as invalid.
    pub invalid: u64,
    /// Frames popped with received audio.
    pub played: u64,
    /// Frames concealed because of a hole.
    pub concealed: u64,
    /// Frames concealed because nothing was buffered.
    pub underruns: u64,
    /// Frames dropped to bring the depth back to the target.
    pub trimmed: u64,
    /// Times playout re-anchored on a new stream or after a jump (not
    /// counting ordinary talkspurt starts).
    pub resyncs: u64,
    /// RFC 3550 interarrival jitter, in milliseconds.
    pub jitter_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No packet since the buffer was made or the stream restarted.
    Idle,
    /// Anchored; playout starts at this time.
    Waiting {
        start_at_us: u64,
    },
    Playing,
}

/// RFC 3550 appendix A.1 sequence tracking, with a bitmap of the last 128
/// sequence numbers to find duplicates among reordered packets.
#[derive(Debug, Clone, Default)]
struct Sequence {
    started: bool,
    max_seq: u16,
    /// Wraps seen, times 65,536.
    cycles: u64,
    base: u64,
    /// Bit `i` set: sequence `extended_max - i` was received.
    seen: u128,
    bad_seq: Option<u16>,
    /// Expected counts of earlier runs (before a restart or new SSRC).
    expected_before: u64,
    /// Report state (RFC 3550 A.3).
    expected_prior: u64,
    received_prior: u64,
}

enum SeqVerdict {
    New,
    Duplicate,
    Probation,
    Restarted,
}

impl Sequence {
    fn extended_max(&self) -> u64 {
        self.cycles + u64::from(self.max_seq)
    }

    fn expected(&self) -> u64 {
        let current = if self.started {
            self.extended_max() + 1 - self.base
        } else {
            0
        };
        self.expected_before + current
    }

    fn restart(&mut self, seq: u16) {
        if self.started {
            self.expected_before = self.expected();
        }
        self.started = true;
        self.max_seq = seq;
        self.cycles = 0;
        self.base = u64::from(seq);
        self.seen = 1;
        self.bad_seq = None;
    }

    fn update(&mut self, seq: u16) -> SeqVerdict {
        if !self.started {
            self.restart(seq);
            return SeqVerdict::New;
        }
        let delta = i32::from(seq.wrapping_sub(self.max_seq) as i16);
        if delta == 0 {
            return SeqVerdict::Duplicate;
        }
        if delta > 0 && delta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += 1 << 16;
            }
            self.seen = if delta >= 128 { 0 } else { self.seen << delta };
            self.seen |= 1;
            self.max_seq = seq;
            self.bad_seq = None;
            return SeqVerdict::New;
        }
        if (-MAX_MISORDER..0).contains(&delta) {
            let bit = 1u128 << -delta;
            if self.seen & bit != 0 {
                return SeqVerdict::Duplicate;
            }
            self.seen |= bit;
            return SeqVerdict::New;
        }
        // A big jump: the source restarted, or this is a stray. Believe it
        // when the next packet follows on from it.
        if self.bad_seq == Some(seq) {
            self.restart(seq);
            SeqVerdict::Restarted
        } else {
            self.bad_seq = Some(seq.wrapping_add(1));
            SeqVerdict::Probation
        }
    }
}

/// A jitter buffer for one inbound audio stream at 8 kHz.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    config: JitterConfig,
    samples: Box<[i16]>,
    /// Bit per ring position: a received sample not yet played.
    present: Box<[u64]>,
    state: State,
    ssrc: Option<u32>,
    /// Timestamp of the next sample to play.
    play_ts: u32,
    /// One past the newest sample stored.
    newest_end: u32,
    sequence: Sequence,
    /// Arrival time (µs) and timestamp of the previous packet, for jitter.
    previous_arrival: Option<(u64, u32)>,
    /// RFC 3550 A.8 jitter in timestamp units.
    jitter: f64,
    late_streak: u32,
    /// Frames concealed in a row, for the fade.
    concealing: u32,
    last_frame: Frame,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer. Allocates its ring (17 KiB) here and never again.
    pub fn new(config: JitterConfig) -> Self {
        Self {
            config,
            samples: vec![0; RING].into_boxed_slice(),
            present: vec![0; RING / 64].into_boxed_slice(),
            state: State::Idle,
            ssrc: None,
            play_ts: 0,
            newest_end: 0,
            sequence: Sequence::default(),
            previous_arrival: None,
            jitter: 0.0,
            late_streak: 0,
            concealing: 0,
            last_frame: Frame::silence(),
            stats: JitterStats::default(),
        }
    }

    /// The configuration this buffer was made with.
    pub fn config(&self) -> JitterConfig {
        self.config
    }

    /// Pushes a G.711 packet, decoding its payload straight into the ring.
    pub fn push_g711(
        &mut self,
        packet: &RtpPacket<'_>,
        codec: Codec,
        arrival_us: u64,
    ) -> PushOutcome {
        let payload = packet.payload;
        self.push_with(
            packet.into(),
            payload.len(),
            arrival_us,
            Source::G711(codec, payload),
        )
    }

    /// Pushes a packet of linear PCM (a codec already decoded, or a test).
    pub fn push_pcm(&mut self, meta: PacketMeta, pcm: &[i16], arrival_us: u64) -> PushOutcome {
        self.push_with(meta, pcm.len(), arrival_us, Source::Pcm(pcm))
    }

    fn push_with(
        &mut self,
        meta: PacketMeta,
        len: usize,
        arrival_us: u64,
        source: Source<'_>,
    ) -> PushOutcome {
        if len > RING - SAMPLES_PER_FRAME {
            self.stats.invalid += 1;
            return PushOutcome::Invalid;
        }
        let len32 = len as u32;
        if self.ssrc != Some(meta.ssrc) {
            if self.ssrc.is_some() {
                // A new source: keep what the old one was expected to send
                // and let `update` below start counting the new one.
                self.stats.resyncs += 1;
                self.sequence.expected_before = self.sequence.expected();
                self.sequence.started = false;
            }
            self.ssrc = Some(meta.ssrc);
            self.state = State::Idle;
            self.previous_arrival = None;
        }
        match self.sequence.update(meta.sequence) {
            SeqVerdict::New => {}
            SeqVerdict::Duplicate => {
                self.stats.duplicates += 1;
                return PushOutcome::Duplicate;
            }
            SeqVerdict::Probation => {
                self.stats.invalid += 1;
                return PushOutcome::Invalid;
            }
            SeqVerdict::Restarted => {
                self.stats.resyncs += 1;
                self.state = State::Idle;
                self.previous_arrival = None;
            }
        }
        self.stats.received += 1;
        self.update_jitter(meta.timestamp, arrival_us);

        let start = meta.timestamp;
        let mut skip = 0u32; // leading samples already due
        match self.state {
            State::Idle => {
                self.anchor(start, arrival_us);
                self.write(start, len32, 0, &source);
                return PushOutcome::Reanchored;
            }
            State::Waiting { .. } | State::Playing => {
                let dist = start.wrapping_sub(self.play_ts) as i32;
                let playing = self.state == State::Playing;
                if meta.marker && playing && self.buffered() == 0 {
                    self.anchor(start, arrival_us);
                    self.write(start, len32, 0, &source);
                    return PushOutcome::Reanchored;
                }
                if dist < 0 {
                    let end_dist = dist + len32 as i32;
                    let span = self.newest_end.wrapping_sub(start) as i32;
                    if !playing && span <= (RING - SAMPLES_PER_FRAME) as i32 {
                        // Reordered ahead of the anchor while we still wait:
                        // start playout earlier instead of losing it.
                        self.play_ts = start;
                    } else if end_dist <= 0 {
                        self.stats.late += 1;
                        self.late_streak += 1;
                        if self.late_streak < LATE_RESYNC {
                            return PushOutcome::Late;
                        }
                        self.stats.resyncs += 1;
                        self.anchor(start, arrival_us);
                        self.write(start, len32, 0, &source);
                        return PushOutcome::Reanchored;
                    } else {
                        skip = dist.unsigned_abs();
                    }
                } else if dist as u32 + len32 > RING as u32 {
                    // Further ahead than the ring reaches: the peer jumped.
                    self.stats.resyncs += 1;
                    self.anchor(start, arrival_us);
                    self.write(start, len32, 0, &source);
                    return PushOutcome::Reanchored;
                }
            }
        }
        self.late_streak = 0;
        self.write(start, len32, skip, &source);
        PushOutcome::Accepted
    }

    /// Starts playout over at `timestamp`, `target_depth_ms` after `arrival_us`.
    fn anchor(&mut self, timestamp: u32, arrival_us: u64) {
        self.present.fill(0);
        self.play_ts = timestamp;
        self.newest_end = timestamp;
        self.late_streak = 0;
        self.state = State::Waiting {
            start_at_us: arrival_us.saturating_add(u64::from(self.config.target_depth_ms) * 1000),
        };
    }

    /// Stores samples `skip..len` of a packet whose first sample has
    /// timestamp `start`: at most two contiguous runs of the ring.
    fn write(&mut self, start: u32, len: u32, skip: u32, source: &Source<'_>) {
        let from = start.wrapping_add(skip);
        let count = (len - skip) as usize;
        let pos = (from & MASK) as usize;
        let first = count.min(RING - pos);
        source.fill(skip as usize, &mut self.samples[pos..pos + first]);
        source.fill(skip as usize + first, &mut self.samples[..count - first]);
        for_each_word(from, len - skip, |word, mask| self.present[word] |= mask);
        let end = start.wrapping_add(len);
        if end.wrapping_sub(self.newest_end) as i32 > 0 {
            self.newest_end = end;
        }
    }

    /// RFC 3550 A.8, in floating point: J += (|D| - J) / 16.
    fn update_jitter(&mut self, timestamp: u32, arrival_us: u64) {
        if let Some((previous_us, previous_ts)) = self.previous_arrival {
            let arrival_delta =
                (arrival_us as f64 - previous_us as f64) * f64::from(PER_MS) / 1000.0;
            let send_delta = f64::from(timestamp.wrapping_sub(previous_ts) as i32);
            let d = (arrival_delta - send_delta).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.previous_arrival = Some((arrival_us, timestamp));
    }

    /// Samples stored beyond the playout point.
    fn buffered(&self) -> u32 {
        let ahead = self.newest_end.wrapping_sub(self.play_ts) as i32;
        ahead.max(0) as u32
    }

    /// The audio buffered beyond the playout point, in milliseconds.
    pub fn depth_ms(&self) -> u32 {
        match self.state {
            State::Idle => 0,
            _ => self.buffered() / PER_MS,
        }
    }

    /// Pops the next 20 ms frame into `out`; call once per 20 ms tick.
    pub fn pop_into(&mut self, now_us: u64, out: &mut Frame) -> FrameKind {
        match self.state {
            State::Idle => {
                *out = Frame::silence();
                return FrameKind::Buffering;
            }
            State::Waiting { start_at_us } if now_us < start_at_us => {
                *out = Frame::silence();
                return FrameKind::Buffering;
            }
            State::Waiting { .. } => self.state = State::Playing,
            State::Playing => {}
        }

        // Whatever the configuration says, keep the frame due now and allow
        // two frames of slack above the target before trimming.
        let target =
            (self.config.target_depth_ms.saturating_mul(PER_MS)).clamp(FRAME, RING as u32 / 2);
        let max = (self.config.max_depth_ms.saturating_mul(PER_MS)).max(target + 2 * FRAME);
        if self.buffered() > max {
            let new_play = self.newest_end.wrapping_sub(target);
            let dropped = new_play.wrapping_sub(self.play_ts);
            self.clear(self.play_ts, dropped);
            self.stats.trimmed += u64::from(dropped.div_ceil(FRAME));
            self.play_ts = new_play;
        }

        let mut received = 0;
        for_each_word(self.play_ts, FRAME, |word, mask| {
            received += (self.present[word] & mask).count_ones();
        });
        if received == FRAME {
            // The usual case: the whole frame is there, in one or two runs.
            self.copy_frame(out);
        } else if received > 0 {
            for (i, sample) in out.0.iter_mut().enumerate() {
                let pos = (self.play_ts.wrapping_add(i as u32) & MASK) as usize;
                let present = self.present[pos / 64] & (1 << (pos % 64)) != 0;
                *sample = if present { self.samples[pos] } else { 0 };
            }
        }
        self.clear(self.play_ts, FRAME);
        self.play_ts = self.play_ts.wrapping_add(FRAME);

        if received > 0 {
            self.stats.played += 1;
            self.concealing = 0;
            self.last_frame.0.copy_from_slice(&out.0);
            return FrameKind::Audio;
        }
        let kind = if self.buffered() > 0 {
            self.stats.concealed += 1;
            FrameKind::Concealed
        } else {
            self.stats.underruns += 1;
            FrameKind::Underrun
        };
        self.conceal(out);
        kind
    }

    /// Pops the next frame into `out` now if all of it has arrived, without
    /// waiting for the target depth; false (and nothing taken) otherwise.
    ///
    /// The depth is there for a listener's ear: audio played to a person
    /// must come out evenly. Audio that is analysed (voice activity, in-band
    /// keys, speech recognition, a recording) only needs its frames in
    /// order, and every millisecond the depth adds is a millisecond later
    /// that a caller's barge-in is noticed. Such a consumer takes frames
    /// with this as they arrive, and calls [`JitterBuffer::pop_into`] on its
    /// clock only when a frame is missing and [`JitterBuffer::gap_waited`]
    /// says it has waited long enough, which conceals it.
    pub fn pop_ready_into(&mut self, out: &mut Frame) -> bool {
        if self.state == State::Idle {
            return false;
        }
        let mut received = 0;
        for_each_word(self.play_ts, FRAME, |word, mask| {
            received += (self.present[word] & mask).count_ones();
        });
        if received != FRAME {
            return false;
        }
        self.state = State::Playing;
        self.copy_frame(out);
        self.clear(self.play_ts, FRAME);
        self.play_ts = self.play_ts.wrapping_add(FRAME);
        self.stats.played += 1;
        self.concealing = 0;
        self.last_frame.0.copy_from_slice(&out.0);
        true
    }

    /// Whether audio newer than the next, incomplete frame has been held
    /// for the target depth: what a playout buffer would have waited for a
    /// late packet before concealing it.
    pub fn gap_waited(&self) -> bool {
        self.state != State::Idle
            && self.buffered()
                >= self
                    .config
                    .target_depth_ms
                    .saturating_mul(PER_MS)
                    .max(FRAME)
    }

    /// Copies the frame at the playout point (all of it present) into `out`.
    fn copy_frame(&self, out: &mut Frame) {
        let pos = (self.play_ts & MASK) as usize;
        let first = SAMPLES_PER_FRAME.min(RING - pos);
        out.0[..first].copy_from_slice(&self.samples[pos..pos + first]);
        out.0[first..].copy_from_slice(&self.samples[..SAMPLES_PER_FRAME - first]);
    }

    /// Pops the next frame; see [`JitterBuffer::pop_into`].
    pub fn pop(&mut self, now_us: u64) -> (FrameKind, Frame) {
        let mut frame = Frame::silence();
        let kind = self.pop_into(now_us, &mut frame);
        (kind, frame)
    }

    /// Fading repeats of the last frame, then silence: a repeat hides one
    /// lost packet well, and repeating longer turns into a buzz.
    fn conceal(&mut self, out: &mut Frame) {
        self.concealing += 1;
        // More than a second of repeats would be a drone, not concealment.
        let repeats = self.config.conceal_repeats.min(50);
        if self.concealing > repeats {
            *out = Frame::silence();
            return;
        }
        let gain = (repeats + 1 - self.concealing) as i32;
        let scale = (repeats + 1) as i32;
        for (o, &s) in out.0.iter_mut().zip(self.last_frame.0.iter()) {
            *o = (i32::from(s) * gain / scale) as i16;
        }
    }

    fn clear(&mut self, from: u32, len: u32) {
        if len as usize >= RING {
            self.present.fill(0);
            return;
        }
        for_each_word(from, len, |word, mask| self.present[word] &= !mask);
    }

    /// The counters so far.
    pub fn stats(&self) -> JitterStats {
        let expected = self.sequence.expected();
        JitterStats {
            expected,
            lost: expected.saturating_sub(self.stats.received),
            jitter_ms: self.jitter / f64::from(PER_MS),
            ..self.stats
        }
    }

    /// The interarrival jitter in RTP timestamp units, as RTCP reports it.
    pub fn jitter_rtp_units(&self) -> u32 {
        self.jitter as u32
    }

    /// A reception report block on the current stream for our next RTCP
    /// report (RFC 3550 A.3), or `None` before any packet. Each call starts
    /// the next reporting interval for the fraction lost.
    pub fn report_block(&mut self, last_sr: u32, delay_since_last_sr: u32) -> Option<ReportBlock> {
        let ssrc = self.ssrc?;
        let expected = self.sequence.expected();
        let received = self.stats.received;
        let expected_interval = expected.saturating_sub(self.sequence.expected_prior);
        let received_interval = received.saturating_sub(self.sequence.received_prior);
        self.sequence.expected_prior = expected;
        self.sequence.received_prior = received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction_lost = (lost_interval << 8)
            .checked_div(expected_interval)
            .map_or(0, |f| f.min(255) as u8);
        let cumulative = expected as i64 - received as i64;
        Some(ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: cumulative.clamp(-0x80_0000, 0x7F_FFFF) as i32,
            highest_sequence: self.sequence.extended_max() as u32,
            jitter: self.jitter_rtp_units(),
            last_sr,
            delay_since_last_sr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    fn meta(seq: u16, ts: u32) -> PacketMeta {
        PacketMeta {
            ssrc: 7,
            sequence: seq,
            timestamp: ts,
            marker: false,
        }
    }

    /// A 20 ms packet whose samples all carry its sequence number.
    fn push(jb: &mut JitterBuffer, seq: u16, ts: u32, at_ms: u64) -> PushOutcome {
        jb.push_pcm(meta(seq, ts), &[seq as i16; 160], at_ms * MS)
    }

    fn pop(jb: &mut JitterBuffer, at_ms: u64) -> (FrameKind, i16) {
        let (kind, frame) = jb.pop(at_ms * MS);
        (kind, frame.0[0])
    }

    #[test]
    fn frames_for_analysis_come_as_they_arrive_and_a_gap_waits_the_depth() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut frame = Frame::silence();
        assert!(!jb.pop_ready_into(&mut frame), "nothing yet");
        push(&mut jb, 1, 160, 0);
        assert!(jb.pop_ready_into(&mut frame), "no depth to wait for");
        assert_eq!(frame.0[0], 1);
        assert!(!jb.pop_ready_into(&mut frame));
        // Packet 2 is lost: 3 and 4 wait behind the gap for the depth.
        push(&mut jb, 3, 480, 40);
        assert!(!jb.pop_ready_into(&mut frame));
        assert!(!jb.gap_waited());
        push(&mut jb, 4, 640, 60);
        assert!(jb.gap_waited(), "60 ms held behind the gap");
        assert_eq!(pop(&mut jb, 60).0, FrameKind::Concealed);
        assert!(jb.pop_ready_into(&mut frame));
        assert_eq!(frame.0[0], 3, "then in order");
        assert!(jb.pop_ready_into(&mut frame));
        assert_eq!(frame.0[0], 4);
        // A reordered packet fills its gap before the depth runs out.
        push(&mut jb, 6, 960, 100);
        assert!(!jb.pop_ready_into(&mut frame), "5 is missing");
        assert!(!jb.gap_waited());
        push(&mut jb, 5, 800, 105);
        assert!(jb.pop_ready_into(&mut frame));
        assert_eq!(frame.0[0], 5);
        assert!(jb.pop_ready_into(&mut frame));
        assert_eq!(frame.0[0], 6);
        assert_eq!(jb.stats().concealed, 1);
    }

    #[test]
    fn waits_for_the_target_depth_then_plays_in_order() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        assert_eq!(pop(&mut jb, 0), (FrameKind::Buffering, 0));
        assert_eq!(push(&mut jb, 1, 160, 0), PushOutcome::Reanchored);
        assert_eq!(push(&mut jb, 2, 320, 20), PushOutcome::Accepted);
        assert_eq!(pop(&mut jb, 40), (FrameKind::Buffering, 0));
        assert_eq!(jb.depth_ms(), 40);
        assert_eq!(push(&mut jb, 3, 480, 40), PushOutcome::Accepted);
        assert_eq!(pop(&mut jb, 60), (FrameKind::Audio, 1));
        assert_eq!(pop(&mut jb, 80), (FrameKind::Audio, 2));
        assert_eq!(pop(&mut jb, 100), (FrameKind::Audio, 3));
        assert_eq!(pop(&mut jb, 120).0, FrameKind::Underrun);
        let s = jb.stats();
        assert_eq!((s.received, s.played, s.underruns, s.lost), (3, 3, 1, 0));
    }

    #[test]
    fn reorders_by_timestamp_and_drops_duplicates() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        push(&mut jb, 10, 1600, 0);
        assert_eq!(push(&mut jb, 12, 1920, 20), PushOutcome::Accepted);
        assert_eq!(push(&mut jb, 11, 1760, 25), PushOutcome::Accepted);
        assert_eq!(push(&mut jb, 11, 1760, 30), PushOutcome::Duplicate);
        assert_eq!(push(&mut jb, 12, 1920, 30), PushOutcome::Duplicate);
        let played: Vec<_> = (0..3).map(|i| pop(&mut jb, 60 + 20 * i)).collect();
        assert_eq!(
            played,
            vec![
                (FrameKind::Audio, 10),
                (FrameKind::Audio, 11),
                (FrameKind::Audio, 12)
            ]
        );
        assert_eq!(jb.stats().duplicates, 2);
    }

    #[test]
    fn an_earlier_packet_arriving_before_playout_moves_the_start_back() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        push(&mut jb, 6, 960, 0);
        push(&mut jb, 5, 800, 10);
        assert_eq!(pop(&mut jb, 60), (FrameKind::Audio, 5));
        assert_eq!(pop(&mut jb, 80), (FrameKind::Audio, 6));
    }

    #[test]
    fn sequence_and_timestamp_wrap_cleanly() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let ts0 = u32::MAX - 319; // two frames before the timestamp wraps
        let seqs = [65534u16, 65535, 0, 1, 2];
        for (i, &seq) in seqs.iter().enumerate() {
            let ts = ts0.wrapping_add(160 * i as u32);
            jb.push_pcm(meta(seq, ts), &[i as i16 + 1; 160], i as u64 * 20 * MS);
        }
        let played: Vec<_> = (0..5).map(|i| pop(&mut jb, 80 + 20 * i)).collect();
        assert!(played.iter().all(|(k, _)| *k == FrameKind::Audio));
        assert_eq!(
            played.iter().map(|p| p.1).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        let s = jb.stats();
        assert_eq!((s.expected, s.received, s.lost), (5, 5, 0));
        let block = jb.report_block(0, 0).unwrap();
        assert_eq!(block.highest_sequence, 0x0001_0002);
    }

    #[test]
    fn a_lost_packet_is_concealed_by_a_fading_repeat_and_counted() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push_pcm(meta(1, 0), &[900; 160], 0);
        // Sequence 2 is lost.
        jb.push_pcm(meta(3, 320), &[300; 160], 40 * MS);
        assert_eq!(pop(&mut jb, 60), (FrameKind::Audio, 900));
        assert_eq!(pop(&mut jb, 80), (FrameKind::Concealed, 600)); // 2/3 of the last frame
        assert_eq!(pop(&mut jb, 100), (FrameKind::Audio, 300));
        let s = jb.stats();
        assert_eq!((s.expected, s.received, s.lost, s.concealed), (3, 2, 1, 1));
    }

    #[test]
    fn concealment_fades_to_silence() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push_pcm(meta(1, 0), &[900; 160], 0);
        let values: Vec<_> = (0..5).map(|i| pop(&mut jb, 60 + 20 * i)).collect();
        assert_eq!(
            values,
            vec![
                (FrameKind::Audio, 900),
                (FrameKind::Underrun, 600),
                (FrameKind::Underrun, 300),
                (FrameKind::Underrun, 0),
                (FrameKind::Underrun, 0)
            ]
        );
    }

    #[test]
    fn a_packet_after_its_playout_time_is_late() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        push(&mut jb, 1, 0, 0);
        push(&mut jb, 3, 320, 40);
        pop(&mut jb, 60);
        pop(&mut jb, 80); // frame 2 concealed
        assert_eq!(push(&mut jb, 2, 160, 85), PushOutcome::Late);
        assert_eq!(pop(&mut jb, 100), (FrameKind::Audio, 3));
        let s = jb.stats();
        assert_eq!((s.late, s.lost, s.received), (1, 0, 3));
    }

    #[test]
    fn thirty_ms_packets_play_as_twenty_ms_frames() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        // A ramp, so every sample says where it came from.
        for k in 0..4u32 {
            let pcm: Vec<i16> = (0..240).map(|i| (k * 240 + i) as i16).collect();
            jb.push_pcm(meta(k as u16, k * 240), &pcm, u64::from(k) * 30 * MS);
        }
        let mut all = Vec::new();
        for i in 0..6 {
            let (kind, frame) = jb.pop((60 + 20 * i) * MS);
            assert_eq!(kind, FrameKind::Audio);
            all.extend_from_slice(frame.samples());
        }
        assert_eq!(all, (0..960).map(|i| i as i16).collect::<Vec<_>>());
    }

    #[test]
    fn frames_across_the_ring_end_and_half_filled_frames_play_right() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        // 30 ms packets starting 92 samples before the ring wraps; the
        // second one is lost, so frames 1 and 2 are half there.
        let ramp = |k: u32| -> Vec<i16> { (0..240).map(|i| (k * 240 + i) as i16 + 1).collect() };
        let ts0 = 8100u32;
        for k in [0u32, 2, 3] {
            let outcome = jb.push_pcm(
                meta(k as u16, ts0 + k * 240),
                &ramp(k),
                u64::from(k) * 30 * MS,
            );
            assert_ne!(outcome, PushOutcome::Late);
        }
        let popped: Vec<(FrameKind, Frame)> = (0..4).map(|i| jb.pop((100 + 20 * i) * MS)).collect();
        let kinds: Vec<FrameKind> = popped.iter().map(|p| p.0).collect();
        use FrameKind::{Audio, Concealed};
        // Frame 2 (samples 320..480) lies wholly in the lost packet.
        assert_eq!(kinds, vec![Audio, Audio, Concealed, Audio]);
        let expected = |range: std::ops::Range<i32>| -> Vec<i16> {
            range
                .map(|i| {
                    if (240..480).contains(&i) {
                        0
                    } else {
                        i as i16 + 1
                    }
                })
                .collect()
        };
        assert_eq!(popped[0].1.samples(), &expected(0..160)[..]);
        assert_eq!(popped[1].1.samples(), &expected(160..320)[..]);
        assert_eq!(popped[3].1.samples(), &expected(480..640)[..]);
    }

    #[test]
    fn a_marker_after_silence_reanchors_playout() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        push(&mut jb, 1, 0, 0);
        assert_eq!(pop(&mut jb, 60).0, FrameKind::Audio);
        for t in [80, 100, 120] {
            assert_eq!(pop(&mut jb, t).0, FrameKind::Underrun);
        }
        // The peer suppressed silence and kept its timestamps at the old
        // value; the new talkspurt starts "in the past".
        let outcome = jb.push_pcm(
            PacketMeta {
                marker: true,
                ..meta(2, 160)
            },
            &[2; 160],
            130 * MS,
        );
        assert_eq!(outcome, PushOutcome::Reanchored);
        assert_eq!(pop(&mut jb, 140).0, FrameKind::Buffering);
        assert_eq!(pop(&mut jb, 190), (FrameKind::Audio, 2));
        assert_eq!(jb.stats().resyncs, 0, "a talkspurt start is no resync");
    }

    #[test]
    fn a_new_ssrc_restarts_the_stream() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        push(&mut jb, 100, 5000, 0);
        assert_eq!(pop(&mut jb, 60), (FrameKind::Audio, 100));
        let other = PacketMeta {
            ssrc: 99,
            ..meta(7, 123_456)
        };
        assert_eq!(
            jb.push_pcm(other, &[7; 160], 70 * MS),
            PushOutcome::Reanchored
        );
        assert_eq!(pop(&mut jb, 80).0, FrameKind::Buffering);
        assert_eq!(pop(&mut jb, 140), (FrameKind::Audio, 7));
        assert_eq!(jb.stats().resyncs, 1);
        assert_eq!(jb.report_block(0, 0).unwrap().ssrc, 99);
    }

    #[test]
    fn a_sequence_jump_needs_a_second_packet_to_be_believed() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        push(&mut jb, 10, 0, 0);
        assert_eq!(push(&mut jb, 20_000, 160, 20), PushOutcome::Invalid);
        assert_eq!(push(&mut jb, 11, 160, 20), PushOutcome::Accepted);
        assert_eq!(push(&mut jb, 30_000, 320, 40), PushOutcome::Invalid);
        assert_eq!(push(&mut jb, 30_001, 480, 60), PushOutcome::Reanchored);
        let s = jb.stats();
        assert_eq!((s.invalid, s.resyncs), (2, 1));
    }

    #[test]
    fn persistent_lateness_reanchors() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        push(&mut jb, 0, 0, 0);
        for i in 0..10 {
            pop(&mut jb, 60 + 20 * i);
        }
        // The path delay grew by 300 ms: every packet is now late.
        let outcomes: Vec<_> = (1..=5u16)
            .map(|seq| {
                push(
                    &mut jb,
                    seq,
                    u32::from(seq) * 160,
                    320 + u64::from(seq) * 20,
                )
            })
            .collect();
        assert_eq!(&outcomes[..4], &[PushOutcome::Late; 4]);
        assert_eq!(outcomes[4], PushOutcome::Reanchored);
        push(&mut jb, 6, 960, 440);
        assert_eq!(pop(&mut jb, 480), (FrameKind::Audio, 5));
        assert_eq!(pop(&mut jb, 500), (FrameKind::Audio, 6));
    }

    #[test]
    fn a_jump_beyond_the_ring_reanchors() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        push(&mut jb, 0, 0, 0);
        pop(&mut jb, 60);
        assert_eq!(push(&mut jb, 1, 80_000, 70), PushOutcome::Reanchored);
        assert_eq!(pop(&mut jb, 130), (FrameKind::Audio, 1));
    }

    #[test]
    fn depth_beyond_the_maximum_is_trimmed_to_the_target() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        push(&mut jb, 0, 0, 0);
        // A burst: 300 ms of packets arrive at once before playout starts.
        for seq in 1..15u16 {
            push(&mut jb, seq, u32::from(seq) * 160, 1);
        }
        assert_eq!(jb.depth_ms(), 300);
        let (kind, first) = pop(&mut jb, 60);
        assert_eq!(kind, FrameKind::Audio);
        // 300 ms buffered > 160 ms maximum: keep the newest 60 ms.
        assert_eq!(first, 12);
        assert_eq!(jb.stats().trimmed, 12);
        assert_eq!(jb.depth_ms(), 40);
    }

    #[test]
    fn interarrival_jitter_follows_rfc_3550() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        // Perfectly paced packets: no jitter.
        for seq in 0..50u16 {
            push(&mut jb, seq, u32::from(seq) * 160, u64::from(seq) * 20);
        }
        assert_eq!(jb.stats().jitter_ms, 0.0);
        // Alternating 10 ms early/late: |D| = 20 ms each time, and the
        // estimate converges on 20 ms.
        let mut jb = JitterBuffer::new(JitterConfig::default());
        for seq in 0..400u16 {
            let wobble = if seq % 2 == 0 { 0 } else { 20 };
            push(
                &mut jb,
                seq,
                u32::from(seq) * 160,
                u64::from(seq) * 20 + wobble,
            );
        }
        let j = jb.stats().jitter_ms;
        assert!((j - 20.0).abs() < 0.01, "jitter {j}");
        assert_eq!(jb.jitter_rtp_units(), 159);
    }

    #[test]
    fn report_blocks_give_the_fraction_lost_per_interval() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        for seq in (0..100u16).filter(|s| s % 4 != 3) {
            push(&mut jb, seq, u32::from(seq) * 160, u64::from(seq) * 20);
        }
        let b = jb.report_block(0x1234, 99).unwrap();
        // 99 expected (0..=98), 75 received: 24 lost = 62 of 256.
        assert_eq!((b.fraction_lost, b.cumulative_lost), (62, 24));
        assert_eq!((b.last_sr, b.delay_since_last_sr, b.ssrc), (0x1234, 99, 7));
        for seq in 100..110u16 {
            push(&mut jb, seq, u32::from(seq) * 160, u64::from(seq) * 20);
        }
        // 99 turned out lost too: 1 of the 11 expected in this interval.
        let b = jb.report_block(0, 0).unwrap();
        assert_eq!((b.fraction_lost, b.cumulative_lost), (23, 25));
        assert_eq!(
            JitterBuffer::new(JitterConfig::default()).report_block(0, 0),
            None
        );
    }

    #[test]
    fn g711_packets_decode_into_the_ring() {
        let mut wire = Vec::new();
        let mut pk = crate::rtp::Packetizer::new(5, 0, 0, 0);
        pk.packetize(&[Codec::Pcmu.encode_sample(1000); 160], 160, &mut wire);
        let packet = RtpPacket::parse(&wire).unwrap();
        let mut jb = JitterBuffer::new(JitterConfig {
            target_depth_ms: 0,
            ..JitterConfig::default()
        });
        assert_eq!(
            jb.push_g711(&packet, Codec::Pcmu, 0),
            PushOutcome::Reanchored
        );
        let (kind, frame) = jb.pop(0);
        assert_eq!(kind, FrameKind::Audio);
        assert_eq!(
            frame.0[159],
            Codec::Pcmu.decode_sample(Codec::Pcmu.encode_sample(1000))
        );
    }

    #[test]
    fn extreme_configurations_and_clocks_do_not_panic() {
        let mut jb = JitterBuffer::new(JitterConfig {
            target_depth_ms: u32::MAX,
            max_depth_ms: u32::MAX,
            conceal_repeats: u32::MAX,
        });
        push(&mut jb, 0, 0, 0);
        jb.push_pcm(meta(1, 160), &[1; 160], u64::MAX);
        assert_eq!(jb.pop(1_000_000).0, FrameKind::Buffering);
        assert_eq!(jb.pop(u64::MAX).0, FrameKind::Audio);
        assert_eq!(jb.pop(u64::MAX).0, FrameKind::Audio);
        assert_eq!(
            jb.pop(u64::MAX),
            (FrameKind::Underrun, Frame::from_samples(&[0; 160]))
        );
        let mut jb = JitterBuffer::new(JitterConfig {
            target_depth_ms: 0,
            max_depth_ms: 0,
            conceal_repeats: 0,
        });
        push(&mut jb, 0, 0, 0);
        push(&mut jb, 1, 160, 0);
        assert_eq!(pop(&mut jb, 0), (FrameKind::Audio, 0));
        assert_eq!(pop(&mut jb, 20), (FrameKind::Audio, 1));
        assert_eq!(pop(&mut jb, 40), (FrameKind::Underrun, 0));
    }

    #[test]
    fn oversized_payloads_are_invalid_not_a_panic() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        assert_eq!(
            jb.push_pcm(meta(0, 0), &vec![1; RING], 0),
            PushOutcome::Invalid
        );
        assert_eq!(jb.push_pcm(meta(1, 0), &[], 0), PushOutcome::Reanchored);
        assert_eq!(jb.pop(60 * MS).0, FrameKind::Underrun);
    }
}
