//! Any bytes as an SDP offer: parsing must fail cleanly or give a
//! description we can answer (or refuse) without panicking, and our answer
//! must parse back with the codec it promised.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_media::sdp::{Direction, LocalSession, Offer, SessionDescription};

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = SessionDescription::parse(data) else {
        return;
    };
    let _ = offer.is_hold();
    let mut ours = LocalSession::new([192, 0, 2, 1].into(), 10_000, 1);
    if let Ok(answer) = ours.answer(&offer) {
        let reparsed = SessionDescription::parse(answer.sdp.as_bytes()).expect("our answer parses");
        assert_eq!(
            reparsed.preferred_codec(),
            Some((answer.negotiated.codec, answer.negotiated.payload_type))
        );
    }
    // The same bytes as the answer to one of our offers.
    let _ = Offer::ours([192, 0, 2, 1].into(), 10_000).accept_answer(&offer);
    let _ = ours.offer(Direction::SendOnly);
});
