//! The boundary between a channel and the voice driver.
//!
//! A channel (a SIP dialog with its RTP socket, or a Twilio media stream)
//! hands the driver a [`MediaLeg`]: a stream of [`LegEvent`]s from the
//! caller's side and a sender for [`LegCommand`]s. Playback pacing belongs
//! to the channel: RTP sends a frame every 20 ms; a media stream sends the
//! audio at once and learns it was played from an echoed `mark`. Either way
//! the channel reports [`LegEvent::PlayoutDone`] when a prompt has been
//! heard to its end, and never when it was cleared.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::frame::Frame;
use crate::vad::{UtteranceConfig, UtteranceDetector, UtteranceEvent};

/// Which kind of channel a leg came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Sip,
    MediaStream,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Sip => "sip",
            ChannelKind::MediaStream => "media-stream",
        }
    }
}

/// Who is calling whom, as the channel learnt it.
#[derive(Debug, Clone)]
pub struct LegInfo {
    pub channel: ChannelKind,
    /// The caller's number or SIP URI (may be empty when withheld).
    pub from: String,
    /// The called number or SIP URI: what routing looks up.
    pub to: String,
    /// The channel's own id for the leg (SIP Call-ID, media stream's `streamSid`).
    pub channel_id: String,
}

/// How a DTMF key reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfSource {
    /// RFC 4733 telephone-event packets (or a media stream's `dtmf` message).
    Rfc4733,
    /// Detected in the audio itself (Goertzel).
    InBand,
    /// A SIP INFO request (`application/dtmf-relay` or `application/dtmf`).
    SipInfo,
}

/// Something that happened on the caller's side of the leg.
///
/// Frames are most of the traffic (50 a second per call), so they travel
/// by value: boxing them would cost an allocation per frame to save the
/// rare small events some bytes.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum LegEvent {
    /// 20 ms of the caller's audio, in order, at real-time pace; sent only
    /// while the leg's [`AudioDemand`] asks for raw audio.
    Audio(Frame),
    /// The voice-activity detector, run on the channel's task while the
    /// leg's [`AudioDemand`] asks for it, saw speech start or an utterance
    /// end.
    Speech(UtteranceEvent),
    /// One key, reported once when the key press is recognised.
    Dtmf { digit: char, source: DtmfSource },
    /// The prompt sent with [`LegCommand::Play`] `id` was played to its end.
    PlayoutDone { id: u64 },
    /// The far end put the call on hold (`true`) or resumed it (`false`).
    Hold(bool),
    /// The caller's side ended (BYE, CANCEL, `stop`, socket closed).
    Hangup { reason: String },
}

/// What the driver wants done on the leg.
#[derive(Debug)]
pub enum LegCommand {
    /// Play this audio after anything already queued; report
    /// [`LegEvent::PlayoutDone`] with `id` when it has been played.
    Play { id: u64, audio: Arc<[i16]> },
    /// Stop playback now and drop what is queued (barge-in). Prompts cut
    /// short are never reported as done.
    Clear,
    /// Hand the caller to `to` (a SIP URI or number); the answer says
    /// whether the transfer went through.
    Transfer {
        to: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// End the leg from our side (BYE, or closing the stream).
    Hangup,
}

/// One call's media, as the driver sees it.
#[derive(Debug)]
pub struct MediaLeg {
    pub info: LegInfo,
    pub events: mpsc::Receiver<LegEvent>,
    pub commands: mpsc::Sender<LegCommand>,
    /// What the driver wants of the caller's audio; the channel reads it
    /// at every frame.
    pub demand: Arc<AudioDemand>,
}

impl MediaLeg {
    /// A connected pair: the leg for the driver and the channel's ends.
    pub fn pair(info: LegInfo, depth: usize) -> (MediaLeg, ChannelEnds) {
        let (event_tx, event_rx) = mpsc::channel(depth);
        let (command_tx, command_rx) = mpsc::channel(depth);
        let demand = Arc::new(AudioDemand::default());
        (
            MediaLeg {
                info,
                events: event_rx,
                commands: command_tx,
                demand: demand.clone(),
            },
            ChannelEnds {
                events: event_tx,
                commands: command_rx,
                audio: CallerAudio::new(demand),
            },
        )
    }
}

/// The channel's side of a [`MediaLeg`].
#[derive(Debug)]
pub struct ChannelEnds {
    pub events: mpsc::Sender<LegEvent>,
    pub commands: mpsc::Receiver<LegCommand>,
    /// Where the channel hands each caller frame (see [`CallerAudio`]).
    pub audio: CallerAudio,
}

/// What the consumer of a leg wants of the caller's audio, changed by the
/// consumer at any time and read by the channel at every frame: raw
/// [`LegEvent::Audio`] frames (recording, answering-machine detection), the
/// VAD's [`LegEvent::Speech`] events (barge-in, speech input), both or
/// neither. A new leg asks for raw frames only.
#[derive(Debug)]
pub struct AudioDemand(AtomicU8);

const RAW: u8 = 1;
const SPEECH: u8 = 2;

impl Default for AudioDemand {
    fn default() -> Self {
        AudioDemand(AtomicU8::new(RAW))
    }
}

impl AudioDemand {
    /// Asks for raw frames (`raw`) and for the VAD's events (`speech`).
    pub fn set(&self, raw: bool, speech: bool) {
        let bits = if raw { RAW } else { 0 } | if speech { SPEECH } else { 0 };
        self.0.store(bits, Ordering::Relaxed);
    }

    /// Whether raw frames are wanted.
    pub fn raw(&self) -> bool {
        self.0.load(Ordering::Relaxed) & RAW != 0
    }

    /// Whether the VAD's events are wanted.
    pub fn speech(&self) -> bool {
        self.0.load(Ordering::Relaxed) & SPEECH != 0
    }
}

/// The channel's handling of caller audio, on the task where each frame
/// arrives: the voice-activity detector runs here, so a frame nobody needs
/// raw costs no channel send and no wake-up of the consumer's task (50 of
/// each a second per call were a third of a media stream's CPU). Only the
/// VAD's rare events travel, and raw frames while they are asked for.
///
/// ```
/// use std::sync::Arc;
/// use switchyard_media::frame::Frame;
/// use switchyard_media::leg::{AudioDemand, CallerAudio};
///
/// let demand = Arc::new(AudioDemand::default());
/// let mut audio = CallerAudio::new(demand.clone());
/// // A new leg passes raw frames on and runs no VAD.
/// let out = audio.push(Frame::silence());
/// assert!(out.raw.is_some() && out.speech.is_none());
/// // A consumer that wants only speech events gets nothing for silence.
/// demand.set(false, true);
/// let out = audio.push(Frame::silence());
/// assert!(out.raw.is_none() && out.speech.is_none());
/// ```
pub struct CallerAudio {
    demand: Arc<AudioDemand>,
    /// Created when speech events are first asked for, dropped (with any
    /// utterance in progress) when they no longer are: audio heard while
    /// nobody listens, such as card digits read aloud during secure
    /// capture, is not kept.
    vad: Option<Box<UtteranceDetector>>,
}

/// What one caller frame produced, to be sent to the leg's consumer.
#[derive(Debug)]
pub struct CallerFrame {
    /// The VAD's event on this frame, if it had one; never to be dropped.
    pub speech: Option<UtteranceEvent>,
    /// The frame itself, when raw frames are wanted; may be dropped when
    /// the consumer falls behind.
    pub raw: Option<Frame>,
}

impl CallerAudio {
    /// Caller audio for a leg whose consumer states its wishes in `demand`.
    pub fn new(demand: Arc<AudioDemand>) -> Self {
        CallerAudio { demand, vad: None }
    }

    /// Handles one 20 ms frame of the caller's audio, in order.
    pub fn push(&mut self, frame: Frame) -> CallerFrame {
        let speech = if self.demand.speech() {
            self.vad
                .get_or_insert_with(|| Box::new(UtteranceDetector::new(UtteranceConfig::default())))
                .push(&frame)
        } else {
            self.vad = None;
            None
        };
        let raw = self.demand.raw().then_some(frame);
        CallerFrame { speech, raw }
    }
}

impl std::fmt::Debug for CallerAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerAudio")
            .field("demand", &self.demand)
            .field("vad", &self.vad.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vad::test_audio::{BALANCE, frames, silence, wav_samples};

    /// The events and raw frames `pcm` produces under `demand`'s wishes.
    fn run(audio: &mut CallerAudio, pcm: &[i16]) -> (Vec<UtteranceEvent>, usize) {
        let mut speech = Vec::new();
        let mut raw = 0;
        for frame in frames(pcm) {
            let out = audio.push(frame);
            speech.extend(out.speech);
            raw += usize::from(out.raw.is_some());
        }
        (speech, raw)
    }

    fn spoken() -> Vec<i16> {
        let mut pcm = silence(400);
        pcm.extend(wav_samples(BALANCE));
        pcm.extend(silence(1_500));
        pcm
    }

    #[test]
    fn a_new_leg_passes_raw_frames_and_runs_no_vad() {
        let demand = Arc::new(AudioDemand::default());
        let mut audio = CallerAudio::new(demand.clone());
        let pcm = spoken();
        let (speech, raw) = run(&mut audio, &pcm);
        assert!(speech.is_empty(), "{speech:?}");
        assert_eq!(raw, pcm.len().div_ceil(160));
        assert!(demand.raw() && !demand.speech());
    }

    #[test]
    fn speech_events_come_from_the_channel_side_without_raw_frames() {
        let demand = Arc::new(AudioDemand::default());
        demand.set(false, true);
        let mut audio = CallerAudio::new(demand);
        let (speech, raw) = run(&mut audio, &spoken());
        assert_eq!(raw, 0);
        assert!(
            matches!(speech.first(), Some(UtteranceEvent::SpeechStarted { .. })),
            "{speech:?}"
        );
        let ended = speech
            .iter()
            .filter_map(|e| match e {
                UtteranceEvent::UtteranceEnded { pcm, .. } => Some(pcm.len()),
                UtteranceEvent::SpeechStarted { .. } => None,
            })
            .collect::<Vec<_>>();
        assert_eq!(ended.len(), 1, "{speech:?}");
        // The utterance holds the request (3.16 s), not the silence around it.
        assert!((20_000..32_000).contains(&ended[0]), "{} samples", ended[0]);
    }

    #[test]
    fn turning_speech_off_drops_the_utterance_in_progress() {
        let demand = Arc::new(AudioDemand::default());
        demand.set(true, true);
        let mut audio = CallerAudio::new(demand.clone());
        let pcm = spoken();
        let half = 160 * (pcm.len() / 320);
        let (first, raw_first) = run(&mut audio, &pcm[..half]);
        assert!(matches!(
            first.as_slice(),
            [UtteranceEvent::SpeechStarted { .. }]
        ));
        // A secure capture begins mid-sentence: what was heard is gone, and
        // no utterance ever ends with it.
        demand.set(true, false);
        let (during, raw_during) = run(&mut audio, &pcm[half..]);
        assert!(during.is_empty(), "{during:?}");
        demand.set(true, true);
        let (after, _) = run(&mut audio, &silence(2_000));
        assert!(after.is_empty(), "{after:?}");
        assert_eq!(raw_first + raw_during, pcm.len().div_ceil(160));
    }
}
