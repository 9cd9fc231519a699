//! Switchyard's media core: everything between a caller's audio and a
//! call session that is not a socket.
//!
//! ```
//! use switchyard_media::frame::{Frame, SAMPLES_PER_FRAME};
//! let silence = Frame::silence();
//! assert_eq!(silence.samples().len(), SAMPLES_PER_FRAME);
//! ```
//!
//! Channels (SIP/RTP in `switchyard-sip`, Twilio media streams in the
//! Studio API) turn their wire format into [`leg::LegEvent`]s and carry out
//! [`leg::LegCommand`]s; the voice driver on the other side of a
//! [`leg::MediaLeg`] never knows which channel it talks to.

pub mod amd;
pub mod dtmf;
pub mod frame;
pub mod g711;
pub mod jitter;
pub mod leg;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod twilio;
pub mod vad;
pub mod wav;
