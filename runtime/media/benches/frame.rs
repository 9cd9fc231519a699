//! Per-frame cost of the media core's hot paths: what one call spends every
//! 20 ms in each direction. Run with `cargo bench -p switchyard-media --bench frame`.
//!
//! At 1,000 concurrent calls each of these runs 50,000 times a second, so a
//! cost of 1 µs here is 5% of one core.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_media::dtmf::{InbandConfig, InbandDetector, dtmf_tone};
use switchyard_media::frame::Frame;
use switchyard_media::g711::Codec;
use switchyard_media::jitter::{JitterBuffer, JitterConfig};
use switchyard_media::rtp::{Packetizer, RtpPacket};

/// A frame of something like speech: a few harmonics and some noise.
fn busy_frame() -> Frame {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let samples: Vec<i16> = (0..160)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let t = f64::from(i) / 8000.0;
            let v = (0..8)
                .map(|h| {
                    (std::f64::consts::TAU * 140.0 * f64::from(h + 1) * t).sin() / f64::from(h + 1)
                })
                .sum::<f64>();
            (v * 6000.0 + (seed % 600) as f64 - 300.0) as i16
        })
        .collect();
    Frame::from_samples(&samples)
}

fn g711(c: &mut Criterion) {
    let frame = busy_frame();
    let payload = Codec::Pcmu.encode(&frame);
    c.bench_function("ulaw_decode_160", |b| {
        let mut out = Frame::silence();
        b.iter(|| Codec::Pcmu.decode_into(black_box(&payload), &mut out.0));
    });
    c.bench_function("ulaw_encode_160", |b| {
        b.iter(|| Codec::Pcmu.encode(black_box(&frame)));
    });
}

fn rtp(c: &mut Criterion) {
    let mut packetizer = Packetizer::new(0x1234_5678, 0, 1, 160);
    let mut wire = Vec::new();
    packetizer.packetize(&[0xFF; 160], 160, &mut wire);
    c.bench_function("rtp_parse", |b| {
        b.iter(|| RtpPacket::parse(black_box(&wire)).map(|p| p.payload.len()));
    });
    c.bench_function("rtp_packetize", |b| {
        let mut out = Vec::with_capacity(200);
        b.iter(|| {
            out.clear();
            packetizer.packetize(black_box(&[0xFF; 160]), 160, &mut out);
        });
    });
}

fn jitter(c: &mut Criterion) {
    // Steady state: each iteration is one packet in (parsed, decoded into
    // the ring) and one frame out, 20 ms apart.
    let payload = Codec::Pcmu.encode(&busy_frame());
    let mut packetizer = Packetizer::new(7, 0, 0, 0);
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut now_us = 0u64;
    let mut wire = Vec::with_capacity(200);
    let mut out = Frame::silence();
    c.bench_function("jitter_push_pop", |b| {
        b.iter(|| {
            wire.clear();
            packetizer.packetize(&payload, 160, &mut wire);
            if let Ok(packet) = RtpPacket::parse(&wire) {
                jb.push_g711(&packet, Codec::Pcmu, now_us);
            }
            now_us += 20_000;
            jb.pop_into(now_us, &mut out)
        });
    });
}

fn goertzel(c: &mut Criterion) {
    let tone = Frame::from_samples(&dtmf_tone('5', 20, 4000).unwrap_or_default());
    let speech = busy_frame();
    let silence = Frame::silence();
    let mut detector = InbandDetector::new(InbandConfig::default());
    c.bench_function("dtmf_detect_tone_frame", |b| {
        b.iter(|| detector.process(black_box(&tone)));
    });
    c.bench_function("dtmf_detect_speech_frame", |b| {
        b.iter(|| detector.process(black_box(&speech)));
    });
    c.bench_function("dtmf_detect_silent_frame", |b| {
        b.iter(|| detector.process(black_box(&silence)));
    });
}

criterion_group!(benches, g711, rtp, jitter, goertzel);
criterion_main!(benches);
