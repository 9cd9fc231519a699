//! WAV in and out, and resampling to and from the ports' 8 kHz.

use std::io::Cursor;

use crate::{SAMPLE_RATE, SpeechError};

/// Mono 16-bit PCM and its sample rate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pcm {
    pub samples: Vec<i16>,
    pub rate_hz: u32,
}

/// Parses a WAV file into mono 16-bit PCM (channels are averaged; 8- to
/// 32-bit integer and 32-bit float samples are converted).
///
/// A WAV written to a pipe cannot seek back to fill in its sizes, so
/// espeak-ng's `--stdout` declares a RIFF and data length of about 2 GiB;
/// the declared data length is clamped to the bytes actually present before
/// `hound` reads it, or it would fail at the early end of file.
pub(crate) fn parse_wav(bytes: &[u8], provider: &'static str) -> Result<Pcm, SpeechError> {
    let bad = |message: String| SpeechError::Protocol { provider, message };
    let fixed = clamp_wav_sizes(bytes).ok_or_else(|| bad("the audio is not a WAV file".into()))?;
    let reader = hound::WavReader::new(Cursor::new(&fixed[..]))
        .map_err(|e| bad(format!("unreadable WAV: {e}")))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = 2f32.powi(i32::from(spec.bits_per_sample) - 1);
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|s| s as f32 / scale))
                .collect::<Result<_, _>>()
        }
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<Result<_, _>>(),
    }
    .map_err(|e| bad(format!("unreadable WAV samples: {e}")))?;
    let samples = interleaved
        .chunks(channels)
        .map(|frame| {
            let mean = frame.iter().sum::<f32>() / frame.len() as f32;
            (mean * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
        })
        .collect();
    Ok(Pcm {
        samples,
        rate_hz: spec.sample_rate,
    })
}

/// A copy of `bytes` whose RIFF and `data` chunk sizes do not run past the
/// end; `None` if it does not start like a WAV file.
fn clamp_wav_sizes(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut fixed = bytes.to_vec();
    let riff_len = u32::try_from(fixed.len() - 8).ok()?;
    fixed[4..8].copy_from_slice(&riff_len.to_le_bytes());
    let mut at = 12;
    while at + 8 <= fixed.len() {
        let size = u32::from_le_bytes(fixed[at + 4..at + 8].try_into().ok()?) as usize;
        let body = at + 8;
        if &fixed[at..at + 4] == b"data" {
            let present = (fixed.len() - body).min(size);
            // Whole samples only (at most 4 bytes × 8 channels per frame is
            // rare; 2-byte alignment is what RIFF itself requires).
            let present = present - present % 2;
            let present = u32::try_from(present).ok()?;
            fixed[at + 4..at + 8].copy_from_slice(&present.to_le_bytes());
            return Some(fixed);
        }
        at = body + size + size % 2;
    }
    Some(fixed)
}

/// A 16-bit mono WAV file of `pcm` at `rate_hz`.
pub(crate) fn wav_bytes(pcm: &[i16], rate_hz: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate_hz,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + pcm.len() * 2));
    // Writing to memory cannot fail for I/O reasons, and a 16-bit mono
    // spec is always valid; the only limit is the 4 GiB WAV size, far above
    // any utterance, so a failure here is a bug worth a loud panic.
    let mut writer = hound::WavWriter::new(&mut out, spec).expect("a valid 16-bit mono WAV spec");
    for &sample in pcm {
        writer.write_sample(sample).expect("writing WAV to memory");
    }
    writer.finalize().expect("finishing WAV in memory");
    out.into_inner()
}

/// Raw little-endian 16-bit PCM bytes as samples (an odd trailing byte is
/// dropped).
pub(crate) fn pcm_from_le_bytes(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Samples as little-endian bytes (Deepgram's `linear16`).
pub(crate) fn pcm_to_le_bytes(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// `pcm` at the ports' 8 kHz.
pub(crate) fn to_port_rate(pcm: &Pcm, provider: &'static str) -> Result<Vec<i16>, SpeechError> {
    switchyard_media::resample::try_resample(&pcm.samples, pcm.rate_hz, SAMPLE_RATE).map_err(|e| {
        SpeechError::Protocol {
            provider,
            message: format!("audio at an unusable rate: {e}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wav_round_trips() {
        let pcm: Vec<i16> = (0..800).map(|i| (i * 37 % 2000 - 1000) as i16).collect();
        let parsed = parse_wav(&wav_bytes(&pcm, 8_000), "test").unwrap();
        assert_eq!(parsed.rate_hz, 8_000);
        assert_eq!(parsed.samples, pcm);
    }

    #[test]
    fn a_streamed_wav_with_oversized_lengths_is_read_to_its_real_end() {
        let pcm = vec![1000i16; 441];
        let mut bytes = wav_bytes(&pcm, 22_050);
        // What espeak-ng --stdout writes when it cannot seek back.
        bytes[4..8].copy_from_slice(&0x7fff_f024u32.to_le_bytes());
        bytes[40..44].copy_from_slice(&0x7fff_f000u32.to_le_bytes());
        let parsed = parse_wav(&bytes, "test").unwrap();
        assert_eq!(parsed.samples, pcm);
        assert_eq!(parsed.rate_hz, 22_050);
    }

    #[test]
    fn stereo_is_mixed_down_and_garbage_is_refused() {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut out, spec).unwrap();
        for _ in 0..10 {
            writer.write_sample(1000i16).unwrap();
            writer.write_sample(3000i16).unwrap();
        }
        writer.finalize().unwrap();
        let parsed = parse_wav(&out.into_inner(), "test").unwrap();
        assert_eq!(parsed.samples, vec![2000; 10]);
        let error = parse_wav(b"not a wav at all", "test").unwrap_err();
        assert!(error.to_string().contains("not a WAV"), "{error}");
    }

    #[test]
    fn le_bytes_round_trip() {
        let pcm = vec![-2i16, 0, 300, i16::MAX, i16::MIN];
        assert_eq!(pcm_from_le_bytes(&pcm_to_le_bytes(&pcm)), pcm);
    }
}
