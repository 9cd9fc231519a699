//! The dual-channel call recorder: caller on the left, agent on the right.
//!
//! Two channels rather than a mix, so a reviewer (or an STT pass) can tell
//! who said what, and so each side can be processed alone. Both sides are
//! 8 kHz 16-bit, like the rest of the core. They are aligned by frame
//! index: the n-th caller frame and the n-th agent frame share 20 ms of
//! the file, and whichever side has fewer frames is padded with silence.
//! The channel calls [`DualChannelRecorder::push`] once per tick with both
//! sides, or pushes each side on its own.
//!
//! The recording is held in memory as interleaved samples (32 KiB per
//! second) and written as a WAV file by `hound` when it ends; the caller
//! seals those bytes in the recording store. Nothing here touches a disk.
//!
//! ```
//! use switchyard_media::frame::Frame;
//! use switchyard_media::wav::DualChannelRecorder;
//!
//! let mut recorder = DualChannelRecorder::new();
//! recorder.push(&Frame::from_samples(&[100; 160]), &Frame::silence());
//! let wav = recorder.finish();
//! let reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
//! assert_eq!(reader.spec().channels, 2);
//! assert_eq!(reader.duration(), 160);
//! ```

use std::io::Cursor;

use crate::frame::{Frame, SAMPLE_RATE, SAMPLES_PER_FRAME};

/// The longest recording kept: 24 hours. A WAV file's sizes are 32-bit, so
/// about 37 hours of 8 kHz stereo is the format's own limit; frames beyond
/// this one are dropped (and counted) rather than overflow it.
pub const MAX_FRAMES: usize = 24 * 3600 * 50;

/// Samples per frame in the file: two channels.
const STEREO_FRAME: usize = 2 * SAMPLES_PER_FRAME;

/// Records the two sides of a call into a stereo WAV file.
#[derive(Debug, Clone, Default)]
pub struct DualChannelRecorder {
    /// Interleaved samples: caller, agent, caller, agent, ...
    interleaved: Vec<i16>,
    caller_frames: usize,
    agent_frames: usize,
    dropped_frames: u64,
}

/// Which side of the call a frame is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Caller = 0,
    Agent = 1,
}

impl DualChannelRecorder {
    /// An empty recording.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one tick: the caller's frame and the agent's frame.
    pub fn push(&mut self, caller: &Frame, agent: &Frame) {
        self.push_caller(caller);
        self.push_agent(agent);
    }

    /// Appends the caller's next frame (left channel).
    pub fn push_caller(&mut self, frame: &Frame) {
        self.caller_frames = self.put(Side::Caller, self.caller_frames, frame);
    }

    /// Appends the agent's next frame (right channel).
    pub fn push_agent(&mut self, frame: &Frame) {
        self.agent_frames = self.put(Side::Agent, self.agent_frames, frame);
    }

    /// Writes `frame` as frame `index` of one side; returns the side's new
    /// frame count.
    fn put(&mut self, side: Side, index: usize, frame: &Frame) -> usize {
        if index >= MAX_FRAMES {
            self.dropped_frames += 1;
            return index;
        }
        let start = index * STEREO_FRAME;
        if self.interleaved.len() < start + STEREO_FRAME {
            // The other side has not reached this frame: it reads as silence
            // until it does.
            self.interleaved.resize(start + STEREO_FRAME, 0);
        }
        let slots = self.interleaved[start..start + STEREO_FRAME]
            .iter_mut()
            .skip(side as usize)
            .step_by(2);
        for (slot, &sample) in slots.zip(frame.samples()) {
            *slot = sample;
        }
        index + 1
    }

    /// Frames in the recording so far: the longer side's count.
    pub fn frames(&self) -> usize {
        self.caller_frames.max(self.agent_frames)
    }

    /// Length of the recording so far.
    pub fn duration_ms(&self) -> u64 {
        self.frames() as u64 * 20
    }

    /// Frames dropped because the recording reached [`MAX_FRAMES`].
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }

    /// The recording as a WAV file: 2 channels, 8 kHz, 16-bit PCM.
    pub fn finish(self) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cursor = Cursor::new(Vec::with_capacity(44 + self.interleaved.len() * 2));
        // Writing to memory cannot fail, and `MAX_FRAMES` keeps the sizes
        // inside what a WAV header holds, so hound has no error left to
        // report. Should one appear anyway, the bytes written so far are
        // returned rather than losing the recording.
        let _ = write_wav(&mut cursor, spec, &self.interleaved);
        cursor.into_inner()
    }
}

fn write_wav(
    cursor: &mut Cursor<Vec<u8>>,
    spec: hound::WavSpec,
    samples: &[i16],
) -> hound::Result<()> {
    let mut writer = hound::WavWriter::new(cursor, spec)?;
    // One buffered writer per second of audio keeps hound's buffer small.
    for chunk in samples.chunks(SAMPLE_RATE as usize * 2) {
        let mut block = writer.get_i16_writer(chunk.len() as u32);
        for &s in chunk {
            block.write_sample(s);
        }
        block.flush()?;
    }
    writer.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(wav: Vec<u8>) -> (hound::WavSpec, Vec<i16>) {
        let mut reader = hound::WavReader::new(Cursor::new(wav)).unwrap();
        let spec = reader.spec();
        let samples = reader.samples::<i16>().collect::<Result<_, _>>().unwrap();
        (spec, samples)
    }

    fn ramp(start: i16) -> Frame {
        let samples: Vec<i16> = (0..160).map(|i| start + i).collect();
        Frame::from_samples(&samples)
    }

    #[test]
    fn caller_is_left_and_agent_is_right() {
        let mut rec = DualChannelRecorder::new();
        rec.push(&ramp(0), &ramp(-1000));
        rec.push(&ramp(160), &ramp(-840));
        assert_eq!(rec.duration_ms(), 40);
        let (spec, samples) = read(rec.finish());
        assert_eq!(spec.channels, 2);
        assert_eq!(spec.sample_rate, 8000);
        assert_eq!(spec.bits_per_sample, 16);
        assert_eq!(spec.sample_format, hound::SampleFormat::Int);
        assert_eq!(samples.len(), 2 * 320);
        let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
        let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
        assert_eq!(left, (0..320).collect::<Vec<i16>>());
        assert_eq!(right, (-1000..-680).collect::<Vec<i16>>());
    }

    #[test]
    fn the_shorter_side_is_padded_with_silence() {
        let mut rec = DualChannelRecorder::new();
        for _ in 0..3 {
            rec.push_caller(&ramp(1));
        }
        rec.push_agent(&ramp(500));
        assert_eq!(rec.frames(), 3);
        let (_, samples) = read(rec.finish());
        assert_eq!(samples.len(), 3 * 320);
        let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
        assert_eq!(&right[..160], ramp(500).samples());
        assert!(right[160..].iter().all(|&s| s == 0));
        let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
        assert_eq!(&left[320..], ramp(1).samples());
    }

    #[test]
    fn sides_are_aligned_by_frame_index_whatever_the_push_order() {
        let mut rec = DualChannelRecorder::new();
        rec.push_agent(&ramp(10));
        rec.push_agent(&ramp(20));
        rec.push_caller(&ramp(30));
        rec.push_caller(&ramp(40));
        let (_, samples) = read(rec.finish());
        // Frame 1: caller's second frame beside the agent's second frame.
        assert_eq!((samples[320], samples[321]), (40, 20));
    }

    #[test]
    fn an_empty_recording_is_a_valid_empty_file() {
        let (spec, samples) = read(DualChannelRecorder::new().finish());
        assert_eq!(spec.channels, 2);
        assert!(samples.is_empty());
    }

    #[test]
    fn a_long_recording_reads_back_whole() {
        let mut rec = DualChannelRecorder::new();
        for i in 0..3000 {
            rec.push(
                &Frame::from_samples(&[i as i16; 160]),
                &Frame::from_samples(&[-(i as i16); 160]),
            );
        }
        let wav = rec.finish();
        assert_eq!(wav.len(), 44 + 3000 * 640);
        let reader = hound::WavReader::new(Cursor::new(wav)).unwrap();
        assert_eq!(reader.duration(), 3000 * 160);
        let (_, samples) = read_all(reader);
        assert_eq!(
            (samples[2 * 160 * 2999], samples[2 * 160 * 2999 + 1]),
            (2999, -2999)
        );
    }

    #[test]
    fn frames_past_the_limit_are_dropped_and_counted() {
        let mut rec = DualChannelRecorder::new();
        rec.caller_frames = MAX_FRAMES;
        rec.push_caller(&ramp(0));
        assert_eq!(rec.dropped_frames(), 1);
        assert_eq!(rec.caller_frames, MAX_FRAMES);
    }

    fn read_all(mut reader: hound::WavReader<Cursor<Vec<u8>>>) -> (hound::WavSpec, Vec<i16>) {
        let spec = reader.spec();
        (spec, reader.samples::<i16>().map(Result::unwrap).collect())
    }
}
