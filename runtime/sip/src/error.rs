//! Errors at the crate's boundary, one enum per operation.

use std::net::SocketAddr;

/// Why [`SipServer::start`](crate::SipServer::start) failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listening address could not be bound (in use, not ours, no rights).
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    /// The configuration cannot work.
    #[error("invalid SIP configuration: {0}")]
    Config(String),
}

/// Why [`IncomingCall::accept`](crate::IncomingCall::accept) did not give a leg.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AcceptError {
    /// The caller hung up (CANCEL) or the call timed out before the answer.
    #[error("the call ended before it was answered")]
    Gone,
    /// Every RTP port of the configured range is in use; the caller got
    /// `503 Service Unavailable`.
    #[error("no free RTP port")]
    NoRtpPort,
    /// The SIP stack refused to send the answer.
    #[error("cannot answer: {0}")]
    Signalling(String),
}

/// Why [`SipServer::dial`](crate::SipServer::dial) gave no call.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DialError {
    /// The target or caller is not a usable SIP URI.
    #[error("invalid SIP URI {0:?}")]
    InvalidUri(String),
    /// The callee (or a proxy) answered with a final error status.
    #[error("call refused with {status} {reason}")]
    Rejected { status: u16, reason: String },
    /// Nobody answered within the ring timeout; the INVITE was cancelled.
    #[error("no answer")]
    NoAnswer,
    /// The answer's SDP offered nothing we can send or receive.
    #[error("no usable media in the answer: {0}")]
    NoMedia(String),
    /// Every RTP port of the configured range is in use.
    #[error("no free RTP port")]
    NoRtpPort,
    /// The request could not be sent or the transaction failed.
    #[error("signalling failed: {0}")]
    Signalling(String),
    /// The server is shutting down.
    #[error("the SIP server is shutting down")]
    ShuttingDown,
}
