//! Any text as a Twilio Media Streams message: it parses or gives an
//! error, never a panic; media payloads decode to as many samples as bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_media::twilio::{Inbound, MarkTracker, parse_inbound};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_inbound(text) {
        Ok(Inbound::Media(media)) => {
            assert_eq!(media.pcm().len(), media.payload.len());
            let _ = media.frame();
        }
        Ok(Inbound::Mark(mark)) => {
            let mut marks = MarkTracker::new();
            marks.sent(mark.name.clone());
            marks.cleared();
            let _ = marks.echoed(&mark.name);
        }
        Ok(other) => {
            let _ = (other.event(), other.stream_sid());
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
