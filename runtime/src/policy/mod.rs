//! Compliance policy: regional templates ([`template`]), which templates
//! apply to a call ([`jurisdiction`]), and PII redaction ([`redact`]).

pub mod evidence;
pub mod guard;
pub mod jurisdiction;
pub mod outbound;
pub mod phrases;
pub mod redact;
pub mod secure_capture;
pub mod template;
