//! Hostile input: random bytes and random header fields must give errors
//! or sane output, never a panic. Deterministic (a fixed xorshift seed).

use switchyard_media::dtmf::{EventReceiver, TelephoneEvent};
use switchyard_media::frame::SAMPLES_PER_FRAME;
use switchyard_media::g711::Codec;
use switchyard_media::jitter::{JitterBuffer, JitterConfig, PacketMeta};
use switchyard_media::rtcp;
use switchyard_media::rtp::RtpPacket;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_datagrams_never_panic_the_parsers() {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let mut events = EventReceiver::new();
    let mut parsed = 0;
    for _ in 0..100_000 {
        let len = rng.below(120) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Half the time make it look like RTP/RTCP version 2, so the parsers
        // get past the first check and meet the length fields.
        if rng.below(2) == 0
            && let Some(first) = bytes.first_mut()
        {
            *first = (*first & 0x3F) | 0x80;
        }
        if let Ok(packet) = RtpPacket::parse(&bytes) {
            parsed += 1;
            assert!(packet.payload.len() <= bytes.len());
            let _ = events.receive(packet.timestamp, packet.payload);
            let _ = TelephoneEvent::parse(packet.payload);
        }
        for packet in rtcp::packets(&bytes) {
            if let Ok(rtcp::RtcpPacket::SenderReport(sr)) = packet {
                let _ = sr.report_blocks().count();
            }
        }
    }
    assert!(
        parsed > 1000,
        "only {parsed} datagrams parsed: the test lost its teeth"
    );
}

#[test]
fn random_packets_and_clocks_never_panic_the_jitter_buffer() {
    let mut rng = Rng(0x0DDB_A11C_AFE5_EED5);
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let payload = [0x55u8; 400];
    let mut now = 0u64;
    let mut seq = 0u16;
    let mut ts = 0u32;
    for _ in 0..200_000 {
        match rng.below(10) {
            // Mostly a plausible stream with jumps, reordering and repeats...
            0..=5 => {
                seq = seq.wrapping_add(rng.below(4) as u16).wrapping_sub(1);
                ts = ts.wrapping_add(160 * rng.below(3) as u32).wrapping_sub(160);
                let meta = PacketMeta {
                    ssrc: if rng.below(500) == 0 {
                        rng.next() as u32
                    } else {
                        1
                    },
                    sequence: seq,
                    timestamp: ts,
                    marker: rng.below(20) == 0,
                };
                let len = rng.below(401) as usize;
                let pcm: Vec<i16> = payload[..len]
                    .iter()
                    .map(|&b| Codec::Pcma.decode_sample(b))
                    .collect();
                jb.push_pcm(meta, &pcm, now);
            }
            // ...sometimes anything at all...
            6 => {
                let meta = PacketMeta {
                    ssrc: rng.next() as u32,
                    sequence: rng.next() as u16,
                    timestamp: rng.next() as u32,
                    marker: rng.below(2) == 0,
                };
                jb.push_pcm(meta, &[1; SAMPLES_PER_FRAME], rng.next());
            }
            // ...and a tick, sometimes with the clock jumping either way.
            _ => {
                now = match rng.below(50) {
                    0 => rng.next(),
                    1 => now.saturating_sub(rng.below(1_000_000)),
                    _ => now.saturating_add(20_000),
                };
                let (_, frame) = jb.pop(now);
                assert_eq!(frame.samples().len(), SAMPLES_PER_FRAME);
            }
        }
    }
    let stats = jb.stats();
    assert!(stats.received > 0 && stats.played > 0, "{stats:?}");
    assert!(jb.depth_ms() <= 1024);
}
