//! Switchyard's SIP/RTP channel.
//!
//! A [`SipServer`] answers SIP over UDP and TCP (on [rsipstack]) and hands
//! every call to the application as a [`MediaLeg`]: 20 ms frames of the
//! caller's audio and their keys come out, prompts to play and transfers
//! go in. Outbound calls come from [`SipServer::dial`].
//!
//! ```
//! use std::sync::Arc;
//! use switchyard_media::leg::{LegCommand, LegEvent};
//! use switchyard_sip::{DialOptions, SipConfig, SipServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // UDP and TCP on 127.0.0.1, free ports (`SipConfig::default()` is 5060).
//! let (server, mut calls) = SipServer::start(SipConfig::loopback_ephemeral()).await?;
//!
//! // The application: answer number 100, play a beep, hang up after it.
//! let app = tokio::spawn(async move {
//!     let call = calls.recv().await.expect("a call");
//!     if call.info.to != "100" {
//!         call.reject(404);
//!         return Ok(());
//!     }
//!     let mut leg = call.accept().await?;
//!     let beep: Arc<[i16]> = (0..1600).map(|n| if n % 16 < 8 { 4000 } else { -4000 }).collect();
//!     leg.commands.send(LegCommand::Play { id: 1, audio: beep }).await?;
//!     while let Some(event) = leg.events.recv().await {
//!         match event {
//!             LegEvent::PlayoutDone { id: 1 } => leg.commands.send(LegCommand::Hangup).await?,
//!             LegEvent::Dtmf { digit, .. } => println!("caller pressed {digit}"),
//!             _ => {} // 20 ms audio frames, hold, the final Hangup
//!         }
//!     }
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! });
//!
//! // Ring it from the same server, as a SIP peer would.
//! let target = format!("sip:100@{}", server.udp_addr().expect("UDP"));
//! let mut caller = server.dial(&target, "alice", DialOptions::default()).await?;
//! let mut heard = 0;
//! let reason = loop {
//!     match caller.events.recv().await {
//!         Some(LegEvent::Audio(frame)) => heard += frame.samples().iter().any(|s| *s != 0) as u32,
//!         Some(LegEvent::Hangup { reason }) => break reason,
//!         _ => {}
//!     }
//! };
//! assert_eq!(reason, "remote hangup");
//! // Ten frames were sent; the last few may still sit in our jitter buffer
//! // when the BYE arrives (PlayoutDone means "sent", not "heard").
//! assert!(heard >= 5, "the beep came through ({heard} frames)");
//! app.await??;
//! server.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```
//!
//! # What a call does
//!
//! - **Inbound**: the trunk allow-list (`403` outside it), digest
//!   authentication when configured (`401` challenge, then verified),
//!   the SDP offer (`488` when it has neither PCMU nor PCMA), then an
//!   [`IncomingCall`] for the application, which accepts (`200 OK` with our
//!   answer) or rejects with a status. `100 Trying` goes out at once.
//! - **Media**: one RTP socket per call from the configured port range,
//!   RTCP on the port above. Inbound RTP passes a jitter buffer, and each
//!   frame, as soon as it is complete (50 a second; the buffer's depth
//!   only waits out gaps), goes through the leg's
//!   [`CallerAudio`](switchyard_media::leg::CallerAudio) on the RTP task:
//!   the VAD's `Speech` events and, while the leg's consumer asks for them
//!   (a new leg does), [`LegEvent::Audio`](switchyard_media::leg::LegEvent::Audio)
//!   frames reach the leg; RFC 4733 events become one `Dtmf` per key, and when the
//!   peer did not offer telephone-event an in-band (Goertzel) detector
//!   listens instead. Outbound, queued prompts are sent 20 ms a packet,
//!   and encoded silence when nothing is queued: many peers and NATs take
//!   a silent RTP stream for a dead call. Once bridged (a transfer without
//!   REFER), each call's RFC 4733 keys are relayed to the other: as RFC
//!   4733 packets where that side offered telephone-event, otherwise as
//!   the key's two tones.
//! - **In the dialog**: re-INVITE or UPDATE with `sendonly`/`inactive`
//!   (or `c=0.0.0.0`) reports `Hold(true)` and is answered `recvonly` /
//!   `inactive`; the next plain offer reports `Hold(false)`. BYE from
//!   either side, CANCEL before the answer (`487`), and a missing ACK all
//!   end the call the same way: RTP task stopped, socket closed, dialog
//!   removed, then one `Hangup` event. A driver that drops its leg ends
//!   the call with BYE.
//! - **Transfer**: `LegCommand::Transfer` sends REFER when the peer's
//!   `Allow` lists it: a NOTIFY whose sipfrag says 2xx answers `Ok`, then
//!   we send BYE; a failure status answers `Err` and the call stays with
//!   us. Otherwise it dials the target and, once answered, bridges the two
//!   calls: decoded frames go across, so a PCMU caller can reach a PCMA
//!   phone, until either side hangs up, which ends the other. Either way
//!   the driver's leg ends with `Hangup { reason: "transferred" }`.
//!
//! `Hangup` reasons: `remote hangup` (their BYE), `hung up by us`
//! (`LegCommand::Hangup`), `transferred`, `no ACK for our answer`,
//! `server shutdown`, `media failure` (the RTP socket died).
//!
//! # Operating it
//!
//! [`SipServer::stats`] gives lock-free counters for benchmarks and health
//! checks (live calls and RTP sessions, packets in and out, malformed and
//! late packets, dropped audio events, RTCP reports, and a histogram of
//! each call's RFC 3550 jitter estimate); [`SipServer::live_calls`] and
//! [`SipServer::live_dialogs`] return to 0 when every call is gone.
//! [`SipServer::shutdown`] hangs up the calls before the transports close.
//!
//! rsipstack logs every SIP message it sends or receives, whole, at `info`
//! level; caller numbers are in there, so filter `rsipstack=warn` outside
//! development.
//!
//! [`MediaLeg`]: switchyard_media::leg::MediaLeg

mod auth;
mod call;
pub mod config;
mod dtmf_glue;
mod error;
mod media;
mod ports;
mod sdp_glue;
mod server;
pub mod stats;

pub use call::{DialCredentials, DialOptions, IncomingCall, SipTransport};
pub use config::{DigestCredentials, SipConfig};
pub use error::{AcceptError, DialError, StartError};
pub use server::SipServer;
pub use stats::SipStats;
