//! Any datagram as compound RTCP: every packet and report block can be
//! walked without a panic, and the walk stops after the first error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_media::rtcp::{RtcpPacket, packets};

fuzz_target!(|data: &[u8]| {
    let mut after_error = false;
    for packet in packets(data) {
        assert!(!after_error, "nothing after an error");
        match packet {
            Ok(RtcpPacket::SenderReport(sr)) => {
                let _ = sr.report_blocks().count();
            }
            Ok(RtcpPacket::ReceiverReport(rr)) => {
                let _ = rr.report_blocks().count();
            }
            Ok(RtcpPacket::Other { body, .. }) => assert!(body.len() <= data.len()),
            Err(error) => {
                let _ = error.to_string();
                after_error = true;
            }
        }
    }
});
