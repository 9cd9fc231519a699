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

use tokio::sync::{mpsc, oneshot};

use crate::frame::Frame;

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
    /// 20 ms of the caller's audio, in order, at real-time pace.
    Audio(Frame),
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
}

impl MediaLeg {
    /// A connected pair: the leg for the driver and the channel's ends.
    pub fn pair(info: LegInfo, depth: usize) -> (MediaLeg, ChannelEnds) {
        let (event_tx, event_rx) = mpsc::channel(depth);
        let (command_tx, command_rx) = mpsc::channel(depth);
        (
            MediaLeg {
                info,
                events: event_rx,
                commands: command_tx,
            },
            ChannelEnds {
                events: event_tx,
                commands: command_rx,
            },
        )
    }
}

/// The channel's side of a [`MediaLeg`].
#[derive(Debug)]
pub struct ChannelEnds {
    pub events: mpsc::Sender<LegEvent>,
    pub commands: mpsc::Receiver<LegCommand>,
}
