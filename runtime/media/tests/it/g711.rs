//! G.711 against SoX's reference vectors, every code and every sample.

use switchyard_media::g711::{Codec, alaw_decode, alaw_encode, ulaw_decode, ulaw_encode};

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

#[test]
fn all_256_ulaw_codes_decode_as_sox_decodes_them() {
    let expected = samples(&vector("ulaw_decoded.s16le"));
    assert_eq!(expected.len(), 256);
    for (code, &want) in expected.iter().enumerate() {
        assert_eq!(ulaw_decode(code as u8), want, "µ-law code {code:#04x}");
    }
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(Codec::Pcmu.decode(&all), expected);
}

#[test]
fn all_256_alaw_codes_decode_as_sox_decodes_them() {
    let expected = samples(&vector("alaw_decoded.s16le"));
    assert_eq!(expected.len(), 256);
    for (code, &want) in expected.iter().enumerate() {
        assert_eq!(alaw_decode(code as u8), want, "A-law code {code:#04x}");
    }
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(Codec::Pcma.decode(&all), expected);
}

#[test]
fn every_16_bit_sample_encodes_to_ulaw_as_sox_encodes_it() {
    let expected = vector("ulaw_encoded.u8");
    assert_eq!(expected.len(), 65_536);
    let mismatches: Vec<i16> = (i16::MIN..=i16::MAX)
        .filter(|&s| ulaw_encode(s) != expected[(i32::from(s) + 32_768) as usize])
        .collect();
    assert!(
        mismatches.is_empty(),
        "µ-law differs from SoX at {mismatches:?}"
    );
}

#[test]
fn every_16_bit_sample_encodes_to_alaw_as_sox_encodes_it() {
    let expected = vector("alaw_encoded.u8");
    assert_eq!(expected.len(), 65_536);
    let mismatches: Vec<i16> = (i16::MIN..=i16::MAX)
        .filter(|&s| alaw_encode(s) != expected[(i32::from(s) + 32_768) as usize])
        .collect();
    assert!(
        mismatches.is_empty(),
        "A-law differs from SoX at {mismatches:?}"
    );
}

#[test]
fn frame_encoding_matches_the_sample_encoders() {
    let sweep: Vec<i16> = (0..160).map(|i| (i * 409 - 32_768) as i16).collect();
    let frame = switchyard_media::frame::Frame::from_samples(&sweep);
    let u = Codec::Pcmu.encode(&frame);
    let a = Codec::Pcma.encode(&frame);
    let ulaw = vector("ulaw_encoded.u8");
    let alaw = vector("alaw_encoded.u8");
    for (i, &s) in sweep.iter().enumerate() {
        let index = (i32::from(s) + 32_768) as usize;
        assert_eq!(u[i], ulaw[index]);
        assert_eq!(a[i], alaw[index]);
    }
}
