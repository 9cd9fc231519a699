//! Any datagram as RTP: it parses or is refused, never a panic; what
//! parses re-serialises to a packet with the same header and payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_media::rtp::RtpPacket;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = RtpPacket::parse(data) else {
        return;
    };
    assert!(packet.payload.len() <= data.len());
    let _ = packet.csrcs().count();
    let mut out = Vec::new();
    packet.header().write(packet.payload, &mut out);
    let again = RtpPacket::parse(&out).expect("our own packet parses");
    assert_eq!(again.header(), packet.header());
    assert_eq!(again.payload, packet.payload);
});
