//! Any bytes as a stream of RFC 4733 telephone-event packets (a 4-byte
//! RTP timestamp, a length byte, then that many payload bytes, repeated):
//! no panic, and a single payload round-trips through its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_media::dtmf::{EventReceiver, TelephoneEvent};

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = TelephoneEvent::parse(data) {
        let bytes = event.to_bytes();
        let again = TelephoneEvent::parse(&bytes).expect("4 bytes parse");
        assert_eq!(again.event, event.event);
        assert_eq!(again.end, event.end);
        assert_eq!(again.duration, event.duration);
    }
    let mut receiver = EventReceiver::new();
    let mut rest = data;
    while let Some((head, tail)) = rest.split_first_chunk::<5>() {
        let timestamp = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let len = usize::from(head[4] % 16).min(tail.len());
        let (payload, next) = tail.split_at(len);
        let _ = receiver.receive(timestamp, payload);
        rest = next;
    }
});
