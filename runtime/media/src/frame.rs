//! The unit of audio inside Switchyard: 20 ms of 8 kHz mono linear PCM.
//!
//! Every channel is narrowband telephony (G.711 on SIP, µ-law on media
//! streams), so the core works at 8 kHz throughout and converts only at the
//! edges (TTS output, STT input).

/// Samples per second of every audio path in the core.
pub const SAMPLE_RATE: u32 = 8_000;
/// Milliseconds of audio in one frame (the RTP packetisation interval).
pub const FRAME_MS: u32 = 20;
/// Samples in one frame.
pub const SAMPLES_PER_FRAME: usize = (SAMPLE_RATE / 1000 * FRAME_MS) as usize;

/// 20 ms of 16-bit linear PCM at 8 kHz.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame(pub [i16; SAMPLES_PER_FRAME]);

impl Frame {
    pub fn silence() -> Self {
        Self([0; SAMPLES_PER_FRAME])
    }

    pub fn samples(&self) -> &[i16] {
        &self.0
    }

    /// Builds a frame from up to 160 samples, padding with silence.
    pub fn from_samples(samples: &[i16]) -> Self {
        let mut frame = Self::silence();
        let n = samples.len().min(SAMPLES_PER_FRAME);
        frame.0[..n].copy_from_slice(&samples[..n]);
        frame
    }
}

impl std::fmt::Debug for Frame {
    // Audio is caller data: a frame's debug form never shows samples.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Frame(20ms)")
    }
}

/// Splits PCM into frames, the last one padded with silence.
pub fn frames_of(pcm: &[i16]) -> Vec<Frame> {
    pcm.chunks(SAMPLES_PER_FRAME)
        .map(Frame::from_samples)
        .collect()
}
