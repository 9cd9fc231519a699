//! Voice activity detection and end-of-utterance detection on 20 ms frames.
//!
//! Two layers:
//!
//! - [`Vad`] answers "is there voice in this frame?" for one 20 ms, 8 kHz
//!   [`Frame`].
//! - [`UtteranceDetector`] turns those per-frame answers into turn-taking
//!   events: [`UtteranceEvent::SpeechStarted`] as soon as the caller has
//!   spoken for a moment (what barge-in acts on), and
//!   [`UtteranceEvent::UtteranceEnded`] with the utterance's audio once the
//!   caller has been quiet long enough (what goes to the STT).
//!
//! # Why WebRTC's VAD (the `webrtc-vad` crate) and not `earshot`
//!
//! Both were tried here on espeak-ng speech at 8 kHz with added noise.
//! `earshot` (a small pure-Rust neural network) is the better classifier on
//! loud non-speech noise, but it works on 16 ms frames at 16 kHz, so every
//! telephone frame would first be upsampled and re-blocked, and it cost
//! 24–95 µs per 16 ms window on these machines: 1.5–6 ms of CPU per second
//! of audio, which alone would eat most of the two cores at the 1,000
//! concurrent streams the media core is sized for. WebRTC's GMM VAD (libfvad,
//! compiled from C by `webrtc-vad`'s build script with the system C
//! compiler) takes 8 kHz audio in exactly our 20 ms frames and costs about
//! 1.6 µs per frame (0.08 ms per second of audio), 20–60 times less. It is the
//! VAD most telephony stacks have used for a decade. Its weaknesses, and
//! what this module does about them:
//!
//! - It fires on the first few frames of any new background noise while its
//!   noise model adapts: decisions in the first [`VadConfig::warmup_ms`]
//!   are discarded.
//! - Very quiet frames can still be classed as voice: frames below
//!   [`VadConfig::energy_floor_dbfs`] are silence whatever the model says
//!   (telephone speech after the network's level control is far louder).
//! - Single-frame blips: the [`UtteranceDetector`] needs
//!   [`UtteranceConfig::onset_ms`] of consecutive voice before it reports
//!   speech.
//!
//! The crate's own handle holds a raw pointer and so is not `Send`; [`Vad`]
//! wraps it (see `Fvad` below for why that is sound) so a detector can live
//! in a task that moves between threads.

use std::collections::VecDeque;
use std::fmt;

use crate::frame::{FRAME_MS, Frame, SAMPLES_PER_FRAME};

/// How readily the WebRTC model calls a frame voice. Higher settings miss
/// more soft speech and pass less noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggressiveness {
    /// Mode 0: the most frames called voice.
    Quality,
    /// Mode 1.
    LowBitrate,
    /// Mode 2: the default; it rejected white noise up to −35 dBFS here
    /// while keeping every word of the test speech.
    #[default]
    Aggressive,
    /// Mode 3: the fewest frames called voice.
    VeryAggressive,
}

impl Aggressiveness {
    fn mode(self) -> webrtc_vad::VadMode {
        match self {
            Aggressiveness::Quality => webrtc_vad::VadMode::Quality,
            Aggressiveness::LowBitrate => webrtc_vad::VadMode::LowBitrate,
            Aggressiveness::Aggressive => webrtc_vad::VadMode::Aggressive,
            Aggressiveness::VeryAggressive => webrtc_vad::VadMode::VeryAggressive,
        }
    }
}

/// Settings of a [`Vad`].
#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    /// The WebRTC model's mode.
    pub aggressiveness: Aggressiveness,
    /// Frames whose RMS level is below this (dB relative to full scale) are
    /// silence without asking the model. Default −50 dBFS: line noise sits
    /// around −60 to −70, speech on a phone line around −30 to −15.
    pub energy_floor_dbfs: f32,
    /// Decisions in the first this many milliseconds after creation or
    /// [`Vad::reset`] are reported as silence while the model's noise
    /// estimate settles (it calls the first 4–6 frames of any steady noise
    /// voice). Default 120 ms.
    pub warmup_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            aggressiveness: Aggressiveness::Aggressive,
            energy_floor_dbfs: -50.0,
            warmup_ms: 120,
        }
    }
}

/// The WebRTC VAD handle, made `Send`.
struct Fvad(webrtc_vad::Vad);

// SAFETY: `webrtc_vad::Vad` owns a heap-allocated `Fvad` C struct that only
// it points to; libfvad keeps no global or thread-local state (its sources
// have no mutable statics) and every call takes the instance explicitly.
// The handle is only reached through `&mut self`, so moving it to another
// thread cannot create shared access. It is deliberately not `Sync`.
unsafe impl Send for Fvad {}

/// Voice activity detection on 20 ms, 8 kHz frames (WebRTC's GMM model).
pub struct Vad {
    fvad: Fvad,
    config: VadConfig,
    /// Sum of squares of a frame exactly at the energy floor.
    floor_energy: u64,
    warmup_frames_left: u32,
}

impl Vad {
    /// A detector with `config`.
    pub fn new(config: VadConfig) -> Self {
        let fvad = webrtc_vad::Vad::new_with_rate_and_mode(
            webrtc_vad::SampleRate::Rate8kHz,
            config.aggressiveness.mode(),
        );
        let floor_amplitude = 32_768.0 * 10f64.powf(f64::from(config.energy_floor_dbfs) / 20.0);
        let floor_energy = (floor_amplitude * floor_amplitude * SAMPLES_PER_FRAME as f64) as u64;
        let warmup_frames_left = config.warmup_ms.div_ceil(FRAME_MS);
        Self {
            fvad: Fvad(fvad),
            config,
            floor_energy,
            warmup_frames_left,
        }
    }

    /// Whether `frame` holds voice.
    pub fn is_voiced(&mut self, frame: &Frame) -> bool {
        // The model sees every frame, warm-up included, so that its noise
        // estimate follows the line.
        let model_says_voice = self.fvad.0.is_voice_segment(frame.samples()) == Ok(true);
        if self.warmup_frames_left > 0 {
            self.warmup_frames_left -= 1;
            return false;
        }
        model_says_voice && frame_energy(frame.samples()) >= self.floor_energy
    }

    /// Forgets the line's noise estimate (a new call, or the far end
    /// changed), starting a new warm-up.
    pub fn reset(&mut self) {
        self.fvad.0.reset();
        // `reset` puts libfvad back to its defaults (8 kHz, mode 0).
        self.fvad.0.set_mode(self.config.aggressiveness.mode());
        self.fvad
            .0
            .set_sample_rate(webrtc_vad::SampleRate::Rate8kHz);
        self.warmup_frames_left = self.config.warmup_ms.div_ceil(FRAME_MS);
    }

    /// The settings this detector was made with.
    pub fn config(&self) -> &VadConfig {
        &self.config
    }
}

impl Default for Vad {
    fn default() -> Self {
        Self::new(VadConfig::default())
    }
}

impl fmt::Debug for Vad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vad")
            .field("config", &self.config)
            .field("warmup_frames_left", &self.warmup_frames_left)
            .finish_non_exhaustive()
    }
}

/// Sum of squares of the samples (fits: 160 × 2³⁰ < 2⁶³).
pub(crate) fn frame_energy(samples: &[i16]) -> u64 {
    samples
        .iter()
        .map(|&s| {
            let s = i64::from(s);
            (s * s) as u64
        })
        .sum()
}

/// RMS level of `samples` in dB relative to full scale (−∞ for silence).
pub fn level_dbfs(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return f32::NEG_INFINITY;
    }
    let mean_square = frame_energy(samples) as f64 / samples.len() as f64;
    (10.0 * (mean_square / (32_768.0 * 32_768.0)).log10()) as f32
}

/// Settings of an [`UtteranceDetector`].
#[derive(Debug, Clone, PartialEq)]
pub struct UtteranceConfig {
    /// The frame classifier's settings.
    pub vad: VadConfig,
    /// Consecutive voice needed before speech counts as started (default
    /// 60 ms, three frames; at most [`MAX_LEAD_IN_MS`]): shorter blips (a
    /// click, a cough's edge) are ignored.
    pub onset_ms: u32,
    /// Silence after speech that ends the utterance (default 700 ms: long
    /// enough for the pause between two sentences of one turn, short enough
    /// that the caller does not wait for the reply).
    pub end_silence_ms: u32,
    /// An utterance is cut here even if the caller keeps talking (default
    /// 20 s), so that a television in the background cannot hold the STT
    /// open forever.
    pub max_utterance_ms: u32,
    /// Audio kept from before the detected onset (default 200 ms, at most
    /// [`MAX_LEAD_IN_MS`]): the onset is decided a few frames late, and soft
    /// word starts ("f", "s") are often below the VAD's threshold.
    pub lead_in_ms: u32,
    /// Silence kept after the last voiced frame (default 200 ms); recognisers
    /// do better with a little trailing silence than with a hard cut.
    pub trailing_ms: u32,
}

impl Default for UtteranceConfig {
    fn default() -> Self {
        Self {
            vad: VadConfig::default(),
            onset_ms: 60,
            end_silence_ms: 700,
            max_utterance_ms: 20_000,
            lead_in_ms: 200,
            trailing_ms: 200,
        }
    }
}

/// The longest lead-in an [`UtteranceDetector`] keeps; its buffer is
/// allocated up front, so a larger setting is cut to this.
pub const MAX_LEAD_IN_MS: u32 = 2_000;

/// Why an utterance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UtteranceEnd {
    /// The caller was quiet for [`UtteranceConfig::end_silence_ms`].
    Silence,
    /// The utterance reached [`UtteranceConfig::max_utterance_ms`].
    MaxLength,
}

/// A turn-taking event. Frame numbers count the frames given to the
/// detector, from 0; frame `n` starts at `n × 20` ms.
#[derive(Clone, PartialEq, Eq)]
pub enum UtteranceEvent {
    /// The caller started speaking: act on barge-in now.
    SpeechStarted {
        /// The first voiced frame of the onset.
        at_frame: u64,
        /// The frame on which the onset was confirmed (this event's frame).
        detected_at_frame: u64,
    },
    /// The caller finished an utterance.
    UtteranceEnded {
        /// 8 kHz PCM from [`UtteranceConfig::lead_in_ms`] before the onset
        /// to [`UtteranceConfig::trailing_ms`] after the last voiced frame.
        pcm: Vec<i16>,
        /// The first voiced frame of the utterance (as in `SpeechStarted`).
        started_at_frame: u64,
        /// The last voiced frame of the utterance.
        last_voiced_frame: u64,
        /// Why it ended.
        reason: UtteranceEnd,
    },
}

impl fmt::Debug for UtteranceEvent {
    // The utterance is caller audio: its debug form shows its length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UtteranceEvent::SpeechStarted {
                at_frame,
                detected_at_frame,
            } => f
                .debug_struct("SpeechStarted")
                .field("at_frame", at_frame)
                .field("detected_at_frame", detected_at_frame)
                .finish(),
            UtteranceEvent::UtteranceEnded {
                pcm,
                started_at_frame,
                last_voiced_frame,
                reason,
            } => f
                .debug_struct("UtteranceEnded")
                .field("samples", &pcm.len())
                .field("started_at_frame", started_at_frame)
                .field("last_voiced_frame", last_voiced_frame)
                .field("reason", reason)
                .finish(),
        }
    }
}

/// The utterance being heard.
struct Speech {
    started_at_frame: u64,
    last_voiced_frame: u64,
    silence_run: u32,
    pcm: Vec<i16>,
}

/// End-of-utterance state machine over a [`Vad`], fed one frame at a time.
///
/// ```
/// use switchyard_media::frame::Frame;
/// use switchyard_media::vad::{UtteranceConfig, UtteranceDetector};
/// let mut detector = UtteranceDetector::new(UtteranceConfig::default());
/// for _ in 0..50 {
///     assert!(detector.push(&Frame::silence()).is_none());
/// }
/// ```
pub struct UtteranceDetector {
    vad: Vad,
    onset_frames: u32,
    end_frames: u32,
    max_frames: u64,
    trailing_frames: u32,
    /// The most recent frames while no one speaks: the lead-in plus the
    /// onset run, so an utterance can start before its detection. Its
    /// capacity is fixed at creation; pushing never allocates.
    recent: VecDeque<Frame>,
    recent_capacity: usize,
    voiced_run: u32,
    speech: Option<Speech>,
    next_frame: u64,
}

impl UtteranceDetector {
    /// A detector with `config` (zero durations are raised to one frame).
    pub fn new(config: UtteranceConfig) -> Self {
        let frames = |ms: u32| ms.div_ceil(FRAME_MS);
        let onset_frames = frames(config.onset_ms).max(1);
        let onset_frames = onset_frames.min(frames(MAX_LEAD_IN_MS));
        let lead_in_frames = frames(config.lead_in_ms.min(MAX_LEAD_IN_MS));
        let recent_capacity = (lead_in_frames + onset_frames) as usize;
        Self {
            vad: Vad::new(config.vad.clone()),
            onset_frames,
            end_frames: frames(config.end_silence_ms).max(1),
            max_frames: u64::from(frames(config.max_utterance_ms).max(onset_frames)),
            trailing_frames: frames(config.trailing_ms),
            recent: VecDeque::with_capacity(recent_capacity),
            recent_capacity,
            voiced_run: 0,
            speech: None,
            next_frame: 0,
        }
    }

    /// Classifies `frame` with the VAD and advances the state machine.
    pub fn push(&mut self, frame: &Frame) -> Option<UtteranceEvent> {
        let voiced = self.vad.is_voiced(frame);
        self.push_classified(frame, voiced)
    }

    /// Advances the state machine with a voice decision made elsewhere (a
    /// shared VAD, or a test); the VAD inside is not consulted.
    pub fn push_classified(&mut self, frame: &Frame, voiced: bool) -> Option<UtteranceEvent> {
        let index = self.next_frame;
        self.next_frame += 1;
        match self.speech.as_mut() {
            None => {
                if self.recent.len() == self.recent_capacity {
                    self.recent.pop_front();
                }
                self.recent.push_back(frame.clone());
                self.voiced_run = if voiced { self.voiced_run + 1 } else { 0 };
                if self.voiced_run < self.onset_frames {
                    return None;
                }
                let at_frame = index + 1 - u64::from(self.voiced_run);
                // Room for the lead-in and about two seconds of speech, so a
                // typical answer ("yes", "billing") never reallocates.
                let mut pcm = Vec::with_capacity((self.recent.len() + 100) * SAMPLES_PER_FRAME);
                for recent in self.recent.drain(..) {
                    pcm.extend_from_slice(recent.samples());
                }
                self.voiced_run = 0;
                self.speech = Some(Speech {
                    started_at_frame: at_frame,
                    last_voiced_frame: index,
                    silence_run: 0,
                    pcm,
                });
                Some(UtteranceEvent::SpeechStarted {
                    at_frame,
                    detected_at_frame: index,
                })
            }
            Some(speech) => {
                speech.pcm.extend_from_slice(frame.samples());
                if voiced {
                    speech.silence_run = 0;
                    speech.last_voiced_frame = index;
                } else {
                    speech.silence_run += 1;
                }
                let reason = if speech.silence_run >= self.end_frames {
                    UtteranceEnd::Silence
                } else if index + 1 - speech.started_at_frame >= self.max_frames {
                    UtteranceEnd::MaxLength
                } else {
                    return None;
                };
                let excess_silence = speech.silence_run.saturating_sub(self.trailing_frames);
                let keep = speech
                    .pcm
                    .len()
                    .saturating_sub(excess_silence as usize * SAMPLES_PER_FRAME);
                let Speech {
                    started_at_frame,
                    last_voiced_frame,
                    mut pcm,
                    ..
                } = self.speech.take()?;
                pcm.truncate(keep);
                Some(UtteranceEvent::UtteranceEnded {
                    pcm,
                    started_at_frame,
                    last_voiced_frame,
                    reason,
                })
            }
        }
    }

    /// Whether an utterance is in progress (speech started, not yet ended).
    pub fn in_speech(&self) -> bool {
        self.speech.is_some()
    }

    /// How many frames have been pushed (the next frame's number).
    pub fn frames_seen(&self) -> u64 {
        self.next_frame
    }

    /// Drops any utterance in progress and the lead-in, keeping the VAD's
    /// noise estimate and the frame count (e.g. when a new prompt starts and
    /// what came before should not reach the STT).
    pub fn discard(&mut self) {
        self.speech = None;
        self.recent.clear();
        self.voiced_run = 0;
    }
}

impl fmt::Debug for UtteranceDetector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UtteranceDetector")
            .field("vad", &self.vad)
            .field("in_speech", &self.in_speech())
            .field("frames_seen", &self.next_frame)
            .finish_non_exhaustive()
    }
}

/// Audio helpers shared by this crate's tests: the committed espeak-ng
/// fixtures, deterministic noise and tones.
#[cfg(test)]
pub(crate) mod test_audio {
    use crate::frame::{Frame, frames_of};

    /// "Hello?" (0.72 s).
    pub const HELLO: &[u8] = include_bytes!("../tests/fixtures/hello-8k.wav");
    /// A voicemail greeting (5.02 s).
    pub const GREETING: &[u8] = include_bytes!("../tests/fixtures/voicemail-greeting-8k.wav");
    /// A caller's request (3.16 s).
    pub const BALANCE: &[u8] = include_bytes!("../tests/fixtures/balance-8k.wav");

    /// The samples of a mono 16-bit PCM WAV, walking its RIFF chunks.
    pub fn wav_samples(bytes: &[u8]) -> Vec<i16> {
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(&bytes[8..12], b"WAVE");
        let mut at = 12;
        while at + 8 <= bytes.len() {
            let id = &bytes[at..at + 4];
            let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
            if id == b"fmt " {
                assert_eq!(u16::from_le_bytes([body[0], body[1]]), 1, "PCM");
                assert_eq!(u16::from_le_bytes([body[2], body[3]]), 1, "mono");
                assert_eq!(u32::from_le_bytes(body[4..8].try_into().unwrap()), 8_000);
                assert_eq!(u16::from_le_bytes([body[14], body[15]]), 16, "16-bit");
            }
            if id == b"data" {
                return body
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
            }
            at += 8 + len + (len & 1);
        }
        panic!("no data chunk");
    }

    /// Uniform white noise of peak `amplitude` (RMS ≈ amplitude / √3),
    /// from a fixed linear congruential generator.
    pub fn noise(samples: usize, amplitude: i32, seed: u32) -> Vec<i16> {
        let mut state = seed;
        (0..samples)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                ((state >> 16) as i32 % (2 * amplitude + 1) - amplitude) as i16
            })
            .collect()
    }

    /// A sine at `freq_hz` and peak `amplitude`, `ms` long, at 8 kHz.
    pub fn tone(freq_hz: f64, ms: u32, amplitude: f64) -> Vec<i16> {
        (0..ms as usize * 8)
            .map(|i| {
                let t = i as f64 / 8_000.0;
                (amplitude * (2.0 * std::f64::consts::PI * freq_hz * t).sin()) as i16
            })
            .collect()
    }

    /// `ms` of silence.
    pub fn silence(ms: u32) -> Vec<i16> {
        vec![0; ms as usize * 8]
    }

    /// Adds `noise` under `signal` (both 8 kHz), saturating.
    pub fn mix(signal: &[i16], noise: &[i16]) -> Vec<i16> {
        signal
            .iter()
            .zip(noise.iter().chain(std::iter::repeat(&0)))
            .map(|(&a, &b)| a.saturating_add(b))
            .collect()
    }

    /// The PCM cut into frames.
    pub fn frames(pcm: &[i16]) -> Vec<Frame> {
        frames_of(pcm)
    }
}

#[cfg(test)]
mod tests {
    use super::test_audio::*;
    use super::*;

    /// Runs `pcm` through a fresh detector and collects its events.
    fn events(pcm: &[i16], config: UtteranceConfig) -> Vec<UtteranceEvent> {
        let mut detector = UtteranceDetector::new(config);
        frames(pcm)
            .iter()
            .filter_map(|frame| detector.push(frame))
            .collect()
    }

    /// Frame numbers of the events, and the utterances' lengths in samples.
    fn summary(events: &[UtteranceEvent]) -> Vec<(char, u64, u64, usize)> {
        events
            .iter()
            .map(|event| match event {
                UtteranceEvent::SpeechStarted {
                    at_frame,
                    detected_at_frame,
                } => ('S', *at_frame, *detected_at_frame, 0),
                UtteranceEvent::UtteranceEnded {
                    pcm,
                    started_at_frame,
                    last_voiced_frame,
                    ..
                } => ('E', *started_at_frame, *last_voiced_frame, pcm.len()),
            })
            .collect()
    }

    /// Speech surrounded by `before_ms` and 1.5 s of low line noise
    /// (−50 dBFS RMS), the speech itself lightly noisy too.
    fn in_line_noise(speech: &[i16], before_ms: u32) -> Vec<i16> {
        let mut pcm = noise(before_ms as usize * 8, 180, 1);
        pcm.extend(mix(speech, &noise(speech.len(), 180, 2)));
        pcm.extend(noise(12_000, 180, 3));
        pcm
    }

    #[test]
    fn the_vad_hears_the_fixtures_speech_and_not_the_silence_around_it() {
        let speech = wav_samples(BALANCE);
        let mut pcm = silence(1_000);
        pcm.extend(&speech);
        pcm.extend(silence(1_000));
        let mut vad = Vad::default();
        let voiced: Vec<bool> = frames(&pcm).iter().map(|f| vad.is_voiced(f)).collect();
        // Frames where the clean recording is plainly audible (above −35
        // dBFS) are speech; the pauses between words and espeak's quiet
        // tail are not counted either way.
        let loud: Vec<usize> = frames(&speech)
            .iter()
            .enumerate()
            .filter(|(_, f)| level_dbfs(f.samples()) > -35.0)
            .map(|(i, _)| 50 + i)
            .collect();
        let heard = loud.iter().filter(|&&i| voiced[i]).count();
        assert!(loud.len() > 100);
        assert!(
            heard * 100 >= loud.len() * 95,
            "only {heard} of {} loud frames voiced",
            loud.len()
        );
        assert!(
            voiced[..50].iter().all(|&v| !v),
            "voice in the leading silence"
        );
        // WebRTC's own hangover may hold a few frames past the last word.
        let last_loud = loud[loud.len() - 1];
        assert!(voiced[last_loud + 15..].iter().all(|&v| !v));
    }

    #[test]
    fn silence_and_low_noise_never_start_speech() {
        let cases: [(&str, Vec<i16>); 4] = [
            ("digital silence", silence(10_000)),
            ("noise at -60 dBFS", noise(80_000, 60, 7)),
            ("noise at -45 dBFS", noise(80_000, 320, 8)),
            ("noise at -35 dBFS", noise(80_000, 1_000, 9)),
        ];
        for (name, pcm) in cases {
            assert_eq!(events(&pcm, UtteranceConfig::default()), vec![], "{name}");
        }
    }

    #[test]
    fn the_energy_floor_and_warm_up_mute_the_model() {
        // Noise at −45 dBFS: the raw model calls its first frames voice.
        let pcm = noise(8_000, 320, 4);
        let raw = VadConfig {
            energy_floor_dbfs: -100.0,
            warmup_ms: 0,
            ..VadConfig::default()
        };
        let mut vad = Vad::new(raw);
        let voiced = frames(&pcm).iter().filter(|f| vad.is_voiced(f)).count();
        assert!(
            voiced >= 3,
            "the raw model should blip at the start: {voiced}"
        );
        let mut vad = Vad::default();
        assert_eq!(frames(&pcm).iter().filter(|f| vad.is_voiced(f)).count(), 0);
        // A floor above the noise silences it even without the warm-up.
        let floored = VadConfig {
            energy_floor_dbfs: -40.0,
            warmup_ms: 0,
            ..VadConfig::default()
        };
        let mut vad = Vad::new(floored);
        assert_eq!(frames(&pcm).iter().filter(|f| vad.is_voiced(f)).count(), 0);
    }

    #[test]
    fn a_sentence_in_line_noise_is_one_utterance_with_onset_and_end_in_bounds() {
        let speech = wav_samples(BALANCE);
        let speech_frames = speech.len() as u64 / 160; // 158
        let pcm = in_line_noise(&speech, 1_000);
        let got = summary(&events(&pcm, UtteranceConfig::default()));
        assert_eq!(got.len(), 2, "{got:?}");
        let (kind, at, detected, _) = got[0];
        assert_eq!(kind, 'S');
        // Speech begins at frame 50 (1 s); onset needs 3 voiced frames.
        assert!((50..=54).contains(&at), "onset at frame {at}");
        assert!(detected - at == 2, "detected at {detected}");
        let (kind, started, last_voiced, samples) = got[1];
        assert_eq!(kind, 'E');
        assert_eq!(started, at);
        // The audio's last word ends 20 frames before the file does (espeak
        // pads); allow WebRTC's hangover after it.
        let speech_end = 50 + speech_frames;
        assert!(
            last_voiced + 30 >= speech_end && last_voiced <= speech_end + 10,
            "last voiced frame {last_voiced}, speech ends at {speech_end}"
        );
        // Lead-in 10 frames + speech + 10 frames of trailing silence.
        assert_eq!(samples as u64, (last_voiced + 1 - started + 20) * 160);
    }

    #[test]
    fn the_utterance_audio_contains_the_speech_from_its_start() {
        let speech = wav_samples(HELLO);
        let mut pcm = silence(500);
        pcm.extend(&speech);
        pcm.extend(silence(1_500));
        let got = events(&pcm, UtteranceConfig::default());
        let Some(UtteranceEvent::UtteranceEnded { pcm: heard, .. }) = got.last() else {
            panic!("no utterance: {got:?}");
        };
        // The lead-in reaches back before the first voiced frame, so the
        // whole "Hello?" (which starts the file) is in the utterance.
        let position = heard
            .windows(speech.len().min(400))
            .position(|w| w == &speech[..400]);
        assert!(position.is_some(), "the start of the word is missing");
    }

    #[test]
    fn end_of_utterance_waits_for_the_configured_silence() {
        let speech = wav_samples(HELLO);
        let mut pcm = silence(400);
        pcm.extend(&speech);
        pcm.extend(silence(3_000));
        let end_frame = |end_silence_ms: u32| {
            let mut detector = UtteranceDetector::new(UtteranceConfig {
                end_silence_ms,
                ..UtteranceConfig::default()
            });
            frames(&pcm)
                .iter()
                .enumerate()
                .find_map(|(i, frame)| match detector.push(frame) {
                    Some(UtteranceEvent::UtteranceEnded {
                        last_voiced_frame, ..
                    }) => Some((i as u64, last_voiced_frame)),
                    _ => None,
                })
                .expect("utterance ends")
        };
        let (short, last_a) = end_frame(300);
        let (long, last_b) = end_frame(1_200);
        assert_eq!(last_a, last_b);
        assert_eq!(short - last_a, 15);
        assert_eq!(long - last_b, 60);
    }

    #[test]
    fn a_short_pause_stays_inside_one_utterance_and_a_long_one_splits_it() {
        let hello = wav_samples(HELLO);
        let balance = wav_samples(BALANCE);
        let with_gap = |gap_ms: u32| {
            let mut pcm = silence(500);
            pcm.extend(&hello);
            pcm.extend(silence(gap_ms));
            pcm.extend(&balance);
            pcm.extend(silence(2_000));
            summary(&events(&pcm, UtteranceConfig::default()))
                .iter()
                .filter(|e| e.0 == 'E')
                .count()
        };
        assert_eq!(with_gap(300), 1);
        assert_eq!(with_gap(1_500), 2);
    }

    #[test]
    fn an_endless_talker_is_cut_at_the_maximum_length() {
        let mut pcm = Vec::new();
        let balance = wav_samples(BALANCE);
        for _ in 0..4 {
            pcm.extend(&balance); // about 12.6 s without a long pause
        }
        let config = UtteranceConfig {
            max_utterance_ms: 4_000,
            ..UtteranceConfig::default()
        };
        let got = events(&pcm, config);
        let reasons: Vec<UtteranceEnd> = got
            .iter()
            .filter_map(|e| match e {
                UtteranceEvent::UtteranceEnded { reason, pcm, .. } => {
                    assert!(pcm.len() <= (4_000 + 200) * 8, "{}", pcm.len());
                    Some(*reason)
                }
                _ => None,
            })
            .collect();
        assert!(
            reasons
                .iter()
                .filter(|&&r| r == UtteranceEnd::MaxLength)
                .count()
                >= 2,
            "{got:?}"
        );
    }

    #[test]
    fn push_classified_drives_the_state_machine_exactly() {
        let mut detector = UtteranceDetector::new(UtteranceConfig {
            onset_ms: 60,
            end_silence_ms: 100,
            lead_in_ms: 40,
            trailing_ms: 20,
            ..UtteranceConfig::default()
        });
        let frame = Frame::from_samples(&[7; 160]);
        let pattern = "..#.##.###.....###......";
        let mut log = String::new();
        for (i, c) in pattern.chars().enumerate() {
            match detector.push_classified(&frame, c == '#') {
                Some(UtteranceEvent::SpeechStarted {
                    at_frame,
                    detected_at_frame,
                }) => {
                    assert_eq!(detected_at_frame, i as u64);
                    log += &format!("S{at_frame}@{i} ");
                }
                Some(UtteranceEvent::UtteranceEnded {
                    pcm,
                    started_at_frame,
                    last_voiced_frame,
                    reason,
                }) => {
                    assert_eq!(reason, UtteranceEnd::Silence);
                    log += &format!(
                        "E{started_at_frame}-{last_voiced_frame}@{i}:{} ",
                        pcm.len() / 160
                    );
                }
                None => {}
            }
        }
        // Blips of one and two frames do nothing. Onset at 7..=9 (a run of
        // three); five silent frames (100 ms) from 10 end it at 14. Its audio:
        // 2 lead-in frames + 7..=9 + 1 frame of trailing silence = 6 frames.
        // The second run, 15..=17, has no lead-in left (the frames before it
        // were the first utterance's tail): 3 + 1 = 4 frames.
        assert_eq!(log, "S7@9 E7-9@14:6 S15@17 E15-17@22:4 ");
    }

    #[test]
    fn huge_settings_are_capped_not_allocated() {
        let mut detector = UtteranceDetector::new(UtteranceConfig {
            onset_ms: u32::MAX,
            lead_in_ms: u32::MAX,
            end_silence_ms: u32::MAX,
            max_utterance_ms: u32::MAX,
            trailing_ms: u32::MAX,
            ..UtteranceConfig::default()
        });
        let frame = Frame::silence();
        let started = (0..200).find_map(|_| detector.push_classified(&frame, true));
        assert!(matches!(
            started,
            Some(UtteranceEvent::SpeechStarted {
                at_frame: 0,
                detected_at_frame: 99
            })
        ));
        let zero = UtteranceConfig {
            onset_ms: 0,
            lead_in_ms: 0,
            end_silence_ms: 0,
            max_utterance_ms: 0,
            trailing_ms: 0,
            ..UtteranceConfig::default()
        };
        let mut detector = UtteranceDetector::new(zero);
        assert!(detector.push_classified(&frame, true).is_some());
        let ended = detector.push_classified(&frame, false);
        assert!(
            matches!(ended, Some(UtteranceEvent::UtteranceEnded { .. })),
            "{ended:?}"
        );
    }

    #[test]
    fn discard_drops_the_utterance_in_progress() {
        let mut detector = UtteranceDetector::new(UtteranceConfig::default());
        let frame = Frame::silence();
        for _ in 0..3 {
            detector.push_classified(&frame, true);
        }
        assert!(detector.in_speech());
        detector.discard();
        assert!(!detector.in_speech());
        for _ in 0..100 {
            assert_eq!(detector.push_classified(&frame, false), None);
        }
        assert_eq!(detector.frames_seen(), 103);
    }

    #[test]
    fn reset_restarts_the_warm_up() {
        let loud = Frame::from_samples(&wav_samples(BALANCE)[4_000..4_160]);
        let mut vad = Vad::default();
        for _ in 0..6 {
            assert!(!vad.is_voiced(&loud), "warm-up reports silence");
        }
        vad.reset();
        assert!(!vad.is_voiced(&loud));
        assert_eq!(vad.config().aggressiveness, Aggressiveness::Aggressive);
    }

    #[test]
    fn levels_are_in_dbfs() {
        assert_eq!(level_dbfs(&[]), f32::NEG_INFINITY);
        assert_eq!(level_dbfs(&[0; 160]), f32::NEG_INFINITY);
        let full = level_dbfs(&[i16::MIN; 160]);
        assert!(full.abs() < 0.01, "{full}");
        let tone = level_dbfs(&tone(1_000.0, 20, 16_384.0));
        assert!((tone - -9.03).abs() < 0.1, "{tone}"); // half scale sine: −6 − 3
    }

    #[test]
    fn debug_output_never_shows_audio() {
        let event = UtteranceEvent::UtteranceEnded {
            pcm: vec![1234; 320],
            started_at_frame: 1,
            last_voiced_frame: 2,
            reason: UtteranceEnd::Silence,
        };
        let shown = format!("{event:?}");
        assert!(shown.contains("samples: 320"), "{shown}");
        assert!(!shown.contains("1234"), "{shown}");
    }

    #[test]
    fn a_detector_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Vad>();
        assert_send::<UtteranceDetector>();
    }
}
