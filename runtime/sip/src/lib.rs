//! Switchyard's SIP/RTP channel (work in progress).
