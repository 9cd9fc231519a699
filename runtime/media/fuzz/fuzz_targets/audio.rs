//! Any bytes as 8 kHz 16-bit audio through the VAD, the end-of-utterance
//! detector and answering-machine detection: no panic, and the detectors'
//! invariants hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_media::amd::{AmdConfig, AnsweringMachineDetector};
use switchyard_media::frame::frames_of;
use switchyard_media::vad::{UtteranceConfig, UtteranceDetector, UtteranceEvent};

fuzz_target!(|data: &[u8]| {
    // Cap the work per input: 10 s of audio.
    let pcm: Vec<i16> = data
        .chunks_exact(2)
        .take(80_000)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mut utterances = UtteranceDetector::new(UtteranceConfig::default());
    let mut amd = AnsweringMachineDetector::new(AmdConfig::default());
    let mut verdicts = 0;
    for frame in frames_of(&pcm) {
        if let Some(UtteranceEvent::UtteranceEnded { pcm, .. }) = utterances.push(&frame) {
            assert!(!pcm.is_empty());
        }
        if amd.push(&frame).verdict.is_some() {
            verdicts += 1;
        }
    }
    assert!(verdicts <= 1, "one verdict per call");
});
