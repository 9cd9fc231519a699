//! DTMF on a call's inbound media, on top of `switchyard_media::dtmf`.

use switchyard_media::dtmf::{EventReceiver, InbandConfig};
use switchyard_media::frame::Frame;
use switchyard_media::rtp::RtpPacket;

/// RFC 4733 events of one call: one key per press.
pub(crate) struct DtmfIn {
    receiver: EventReceiver,
}

impl DtmfIn {
    pub(crate) fn new() -> Self {
        Self {
            receiver: EventReceiver::new(),
        }
    }

    /// The key this telephone-event packet starts, if it is a new press.
    /// Malformed payloads are ignored.
    pub(crate) fn on_packet(&mut self, packet: &RtpPacket<'_>) -> Option<char> {
        self.receiver
            .receive(packet.timestamp, packet.payload)
            .ok()
            .flatten()
    }
}

/// Goertzel detection on the decoded audio, for peers without RFC 4733.
pub(crate) struct InbandDetector {
    detector: switchyard_media::dtmf::InbandDetector,
}

impl InbandDetector {
    pub(crate) fn new() -> Self {
        Self {
            detector: switchyard_media::dtmf::InbandDetector::new(InbandConfig::default()),
        }
    }

    pub(crate) fn on_frame(&mut self, frame: &Frame) -> Option<char> {
        self.detector.process(frame)
    }
}
