//! SIP channel tests against real peers: SIPp (Debian `sip-tester`) runs
//! the scenarios committed in `tests/sip/`, baresip plays a softphone.
//! Each test starts its own server on free ports, so they run in parallel.

mod calls;
mod robustness;
mod signalling;
mod softphone;
mod support;
mod transfer;
