//! Compliance policy: regional templates ([`template`]), which templates
//! apply to a call ([`jurisdiction`]), and PII redaction ([`redact`]).

pub mod jurisdiction;
pub mod redact;
pub mod template;
