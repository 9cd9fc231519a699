//! The modules together, as a SIP leg uses them: our packetizer on one
//! side, a jittery network, and the parser, jitter buffer, DTMF detectors
//! and recorder on the other.

use switchyard_media::dtmf::{
    EventReceiver, InbandConfig, InbandDetector, dtmf_tone, event_packets,
};
use switchyard_media::frame::{Frame, frames_of};
use switchyard_media::g711::Codec;
use switchyard_media::jitter::{FrameKind, JitterBuffer, JitterConfig};
use switchyard_media::rtp::{Packetizer, RtpPacket};
use switchyard_media::wav::DualChannelRecorder;

const TELEPHONE_EVENT: u8 = 101;

/// Deterministic delays (xorshift), so the test always sees one network.
struct Network(u64);
impl Network {
    /// A delay of 5 to 44 ms.
    fn delay_us(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        5_000 + self.0 % 40_000
    }
}

struct Sent {
    arrival_us: u64,
    bytes: Vec<u8>,
}

#[test]
fn keys_and_audio_cross_a_jittery_network_intact() {
    // The caller's side: keys 1, 2, 3 in-band, then key 9 as RFC 4733.
    let mut audio = Vec::new();
    for key in ['1', '2', '3'] {
        audio.extend(dtmf_tone(key, 80, 3000).unwrap());
        audio.extend(vec![0; 480]);
    }
    audio.extend(vec![0; 1600]);
    let frames = frames_of(&audio);

    let mut packetizer = Packetizer::new(0xABCD, Codec::Pcmu.payload_type(), 65_500, 4_294_960_000);
    let mut network = Network(0x9E37_79B9_7F4A_7C15);
    let mut sent = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let send_us = i as u64 * 20_000;
        let mut bytes = Vec::new();
        packetizer.packetize(&Codec::Pcmu.encode(frame), 160, &mut bytes);
        sent.push(Sent {
            arrival_us: send_us + network.delay_us(),
            bytes,
        });
    }
    let event_start_us = frames.len() as u64 * 20_000;
    let event_ts = packetizer.next_timestamp();
    for packet in event_packets('9', 100, 10, event_ts).unwrap() {
        let mut bytes = Vec::new();
        packetizer.packetize_at(
            TELEPHONE_EVENT,
            packet.timestamp,
            packet.marker,
            &packet.payload,
            &mut bytes,
        );
        sent.push(Sent {
            arrival_us: event_start_us + u64::from(packet.send_at_ms) * 1000 + network.delay_us(),
            bytes,
        });
    }
    // One audio packet arrives twice.
    let copy = Sent {
        arrival_us: sent[10].arrival_us + 3_000,
        bytes: sent[10].bytes.clone(),
    };
    sent.push(copy);
    sent.sort_by_key(|s| s.arrival_us);

    // Our side: every packet as it arrives, one frame out per 20 ms tick.
    let mut jitter = JitterBuffer::new(JitterConfig::default());
    let mut events = EventReceiver::new();
    let mut detector = InbandDetector::new(InbandConfig::default());
    let mut recorder = DualChannelRecorder::new();
    let mut keys = Vec::new();
    let mut played = Vec::new();
    let mut buffering_ticks = 0;
    let mut arrivals = sent.iter().peekable();
    for tick in 0..(frames.len() as u64 + 20) {
        let now_us = tick * 20_000;
        while let Some(packet) = arrivals.next_if(|s| s.arrival_us <= now_us) {
            let rtp = RtpPacket::parse(&packet.bytes).unwrap();
            if rtp.payload_type == TELEPHONE_EVENT {
                keys.extend(events.receive(rtp.timestamp, rtp.payload).unwrap());
            } else {
                jitter.push_g711(&rtp, Codec::Pcmu, packet.arrival_us);
            }
        }
        let (kind, frame) = jitter.pop(now_us);
        keys.extend(detector.process(&frame));
        recorder.push(&frame, &Frame::silence());
        if kind == FrameKind::Buffering {
            buffering_ticks += 1;
        }
        if kind == FrameKind::Audio {
            played.extend_from_slice(frame.samples());
        }
    }

    assert_eq!(keys, vec!['1', '2', '3', '9']);
    let stats = jitter.stats();
    assert_eq!(
        (stats.lost, stats.late, stats.concealed),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.duplicates, 1);
    assert_eq!(stats.played, frames.len() as u64);
    // Playout started after the 60 ms target depth (plus the first delay).
    assert!(
        (3..=6).contains(&buffering_ticks),
        "{buffering_ticks} ticks buffering"
    );
    // Every sample came through, in order, as G.711 left it.
    let expected: Vec<i16> = audio
        .iter()
        .map(|&s| Codec::Pcmu.decode_sample(Codec::Pcmu.encode_sample(s)))
        .collect();
    assert_eq!(played.len(), expected.len());
    let first_difference = played.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(
        first_difference, None,
        "played audio differs from what was sent"
    );

    // The recording holds what was played on the left channel.
    let wav = recorder.finish();
    let mut reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    assert_eq!(reader.spec().channels, 2);
    let left: Vec<i16> = reader
        .samples::<i16>()
        .step_by(2)
        .collect::<Result<_, _>>()
        .unwrap();
    let start = buffering_ticks * 160;
    assert!(
        left[start..start + expected.len()] == expected[..],
        "the recording's left channel differs from the played audio"
    );
}
