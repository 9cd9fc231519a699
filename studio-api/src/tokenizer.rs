//! The HTTPS adapter of the payment-tokenizer port: [`HttpsTokenizer`] hands
//! a [`SealedCard`] to the tenant's payment processor in one signed request
//! and returns the processor's token.
//!
//! The runtime defines the port
//! ([`switchyard_runtime::policy::secure_capture::PaymentTokenizer`]) and
//! knows no HTTP; this adapter lives with the API server and the `switchyard`
//! command (`switchyard call --tokenizer-url URL --tokenizer-secret-file
//! FILE [--tokenizer-ca CA.pem]`).
//!
//! # Wire protocol (version 1)
//!
//! One request per captured card:
//!
//! ```text
//! POST <url> HTTP/1.1
//! Content-Type: application/json
//! Accept: application/json
//! Switchyard-Timestamp: 1795305600
//! Switchyard-Signature: v1=5f0c…(64 lowercase hex digits)
//!
//! {"number":"4111111111111111","expiry":"1230","cvv":"737"}
//! ```
//!
//! - The body is compact JSON with the fields in this order. `number` is the
//!   card number (12 to 19 digits), `expiry` is `MMYY`, `cvv` is three or
//!   four digits. A field the flow did not collect is left out (a capture of
//!   `number` and `expiry` only sends no `cvv`).
//! - `Switchyard-Timestamp` is the time of sending in Unix seconds (decimal).
//! - `Switchyard-Signature` is `v1=` followed by the lowercase hex of
//!   `HMAC-SHA256(secret, "<timestamp>.<body>")`: the key is the shared
//!   secret's bytes (UTF-8, as written in the secret file, without the line
//!   end), the message is the timestamp header's value, one `.`, and the
//!   body exactly as received (verify the raw bytes, never a re-serialized
//!   JSON value).
//! - The processor should refuse a request whose signature does not match
//!   (compare in constant time) or whose timestamp is more than five minutes
//!   from its clock, and may refuse a signature it has already seen within
//!   that window (a replay).
//!
//! The processor answers:
//!
//! - `2xx` with `{"token": "...", "last4": "1111", "brand": "visa"}`. Only
//!   `token` is required (a non-empty string without the card number);
//!   `last4` (four digits) and `brand` default to the sealed card's own.
//! - Anything else is a refusal. A JSON body `{"error": "card declined"}` (or
//!   `{"error": {"message": "..."}}`) gives the reason, which is shown as
//!   `processor answered 402: card declined`, cut to 200 characters, with
//!   any run of twelve or more digits and the card's own CVV and expiry
//!   replaced by `[redacted]`. Redirects are not followed: a `3xx` is a
//!   refusal too, so the card never goes anywhere but the configured URL.
//!
//! A processor can check a request like this (Python, standard library):
//!
//! ```python
//! import hashlib, hmac, json, time
//!
//! def verify(secret: bytes, headers, raw_body: bytes, tolerance=300) -> dict:
//!     """The card fields of a Switchyard request, or ValueError."""
//!     timestamp = headers.get("Switchyard-Timestamp", "")
//!     signature = headers.get("Switchyard-Signature", "")
//!     if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
//!         raise ValueError("stale or missing timestamp")
//!     mac = hmac.new(secret, timestamp.encode() + b"." + raw_body, hashlib.sha256)
//!     if not hmac.compare_digest(("v1=" + mac.hexdigest()).encode(), signature.encode()):
//!         raise ValueError("bad signature")
//!     return json.loads(raw_body)  # {"number": ..., "expiry": ..., "cvv"?: ...}
//! ```
//!
//! # Transport
//!
//! HTTPS only: an `http://` URL is refused when the tokenizer is built,
//! unless its host is `127.0.0.1`, `localhost` or `[::1]` *and*
//! [`TokenizerOptions::allow_plain_loopback`] is set (a processor simulator
//! on the developer's machine). The server certificate is checked against
//! Mozilla's roots (webpki-roots), or, when [`TokenizerOptions::ca_pem`] is
//! given, against those certificates only (a processor with a private CA).
//! Connecting may take 5 seconds and the whole exchange 10 (both
//! configurable). Proxies from the environment (`HTTPS_PROXY`, `NO_PROXY`)
//! are honoured except for loopback hosts; TLS runs end to end through
//! them.
//!
//! # What never leaks
//!
//! Errors never contain the card's digits, the CVV, the expiry or the request
//! body: they say what the processor answered (its status and its scrubbed
//! reason) or why it could not be reached. The body is written into one
//! buffer allocated at its final size, signed in place, sent, and wiped
//! (`zeroize`) when the call returns, whatever happened; copies made inside
//! the TLS stack while sending are out of this module's reach. The secret is
//! wiped on drop and `Debug` shows only the URL.
//!
//! ```
//! use switchyard_studio_api::tokenizer::{HttpsTokenizer, TokenizerOptions};
//!
//! let refused = HttpsTokenizer::new(TokenizerOptions::new(
//!     "http://processor.example/tokenize",
//!     b"s3cret".to_vec(),
//! ))
//! .unwrap_err();
//! assert!(refused.contains("https://"), "{refused}");
//!
//! let tokenizer = HttpsTokenizer::new(TokenizerOptions::new(
//!     "https://processor.example/tokenize",
//!     b"s3cret".to_vec(),
//! ))
//! .unwrap();
//! assert_eq!(
//!     format!("{tokenizer:?}"),
//!     r#"HttpsTokenizer { url: "https://processor.example/tokenize", .. }"#
//! );
//! ```

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchyard_runtime::policy::secure_capture::{CardToken, PaymentTokenizer, SealedCard};
use ureq::Agent;
use ureq::http::Uri;
use ureq::tls::{PemItem, RootCerts, TlsConfig};
use zeroize::Zeroizing;

/// The longest processor reason shown in an error, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// The largest processor answer read, in bytes.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// How to reach the tenant's processor.
pub struct TokenizerOptions {
    /// Where the card is posted: `https://…` (see the module docs for
    /// `http://` on loopback).
    pub url: String,
    /// The shared HMAC secret (wiped on drop).
    pub secret: Zeroizing<Vec<u8>>,
    /// PEM certificates to trust instead of the public roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Allow `http://127.0.0.1`, `http://localhost` and `http://[::1]` (development only).
    pub allow_plain_loopback: bool,
    /// Time allowed to connect (TCP and TLS handshake). Default 5 s.
    pub connect_timeout: Duration,
    /// Time allowed for the whole exchange. Default 10 s.
    pub timeout: Duration,
}

impl std::fmt::Debug for TokenizerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenizerOptions")
            .field("url", &self.url)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "…"))
            .field("allow_plain_loopback", &self.allow_plain_loopback)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TokenizerOptions {
    /// Options for `url` signed with `secret`, with the public roots and the
    /// default timeouts.
    pub fn new(url: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        TokenizerOptions {
            url: url.into(),
            secret: Zeroizing::new(secret.into()),
            ca_pem: None,
            allow_plain_loopback: false,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Reads a shared secret from a file: its first line, without surrounding
/// whitespace. The file's bytes are wiped after reading.
///
/// # Errors
/// When the file cannot be read or its first line is empty; the message
/// names the file, never its content.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    let bytes = Zeroizing::new(
        std::fs::read(path).map_err(|e| format!("tokenizer secret {}: {e}", path.display()))?,
    );
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.trim_ascii();
    if line.is_empty() {
        return Err(format!(
            "tokenizer secret {}: the first line is empty",
            path.display()
        ));
    }
    Ok(Zeroizing::new(line.to_vec()))
}

/// The `Switchyard-Signature` value for a body sent at `timestamp` (Unix
/// seconds): `v1=` and the hex of `HMAC-SHA256(secret, "<timestamp>.<body>")`,
/// the HMAC webhooks use too ([`crate::webhooks::signature_hex`]).
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    format!(
        "v1={}",
        crate::webhooks::signature_hex(secret, timestamp, body)
    )
}

/// Posts sealed cards to the tenant's processor over HTTPS, signed with a
/// shared secret (see the module docs for the protocol).
pub struct HttpsTokenizer {
    url: String,
    secret: Zeroizing<Vec<u8>>,
    agent: Agent,
}

impl std::fmt::Debug for HttpsTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsTokenizer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl HttpsTokenizer {
    /// Checks the URL and the CA certificates and builds the client.
    ///
    /// # Errors
    /// A URL that is not `https://` (outside the loopback exception), has no
    /// host, or does not parse; CA PEM data without a certificate; an empty
    /// secret.
    pub fn new(options: TokenizerOptions) -> Result<Self, String> {
        let TokenizerOptions {
            url,
            secret,
            ca_pem,
            allow_plain_loopback,
            connect_timeout,
            timeout,
        } = options;
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("tokenizer URL {url:?} does not parse: {e}"))?;
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("tokenizer URL {url:?} has no host"))?;
        let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1");
        let plain = match uri.scheme_str() {
            Some("https") => false,
            Some("http") if loopback && allow_plain_loopback => true,
            Some("http") if loopback => {
                return Err(format!(
                    "tokenizer URL {url:?} is plain http: card data goes over https:// only \
                     (plain http to a loopback address needs allow_plain_loopback, for development)"
                ));
            }
            _ => {
                return Err(format!(
                    "tokenizer URL {url:?} must start with https://: card data goes over HTTPS only"
                ));
            }
        };
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(format!(
                "tokenizer URL {url:?} carries credentials; use the shared secret instead"
            ));
        }
        if secret.is_empty() {
            return Err("the tokenizer secret is empty".into());
        }
        let mut tls = TlsConfig::builder();
        if let Some(pem) = &ca_pem {
            let mut roots = Vec::new();
            for item in ureq::tls::parse_pem(pem) {
                match item {
                    Ok(PemItem::Certificate(cert)) => roots.push(cert),
                    Ok(_) => {}
                    Err(e) => return Err(format!("tokenizer CA certificate: {e}")),
                }
            }
            if roots.is_empty() {
                return Err("tokenizer CA certificate: no PEM certificate found".into());
            }
            tls = tls.root_certs(RootCerts::new_with_certs(&roots));
        }
        let mut config = Agent::config_builder()
            .https_only(!plain)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(timeout))
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .accept("application/json")
            .tls_config(tls.build());
        if loopback {
            config = config.proxy(None);
        }
        Ok(HttpsTokenizer {
            url,
            secret,
            agent: config.build().new_agent(),
        })
    }

    /// Where cards are posted.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl PaymentTokenizer for HttpsTokenizer {
    fn tokenize(&self, card: &SealedCard) -> Result<CardToken, String> {
        let (number, expiry, cvv) = card.expose();
        let body = request_body(number, expiry, cvv)?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let signature = sign(&self.secret, timestamp, &body);
        let sent = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Switchyard-Timestamp", timestamp.to_string())
            .header("Switchyard-Signature", signature)
            .send(&body[..]);
        // The body is wiped here, before the answer is even looked at.
        drop(body);
        let mut answer = sent.map_err(|e| {
            format!(
                "processor unreachable: {}",
                scrub(&e.to_string(), expiry, cvv)
            )
        })?;
        let status = answer.status();
        let text = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .unwrap_or_default();
        let json: Option<serde_json::Value> = serde_json::from_slice(&text).ok();
        if !status.is_success() {
            let reason = json.as_ref().and_then(|v| match &v["error"] {
                serde_json::Value::String(s) => Some(s.as_str()),
                other => other["message"].as_str(),
            });
            return Err(match reason.map(|r| scrub(r, expiry, cvv)) {
                Some(reason) if !reason.trim().is_empty() => {
                    format!("processor answered {}: {}", status.as_u16(), reason.trim())
                }
                _ => format!(
                    "processor answered {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or_default()
                )
                .trim_end()
                .to_owned(),
            });
        }
        let json = json.ok_or_else(|| {
            format!(
                "processor answered {} with a body that is not JSON",
                status.as_u16()
            )
        })?;
        let token = json["token"]
            .as_str()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| format!("processor answered {} without a token", status.as_u16()))?;
        if token.contains(number) || token.len() > 512 {
            return Err(
                "processor answered with a token that is not one (too long or holding the card number)"
                    .into(),
            );
        }
        let last4 = match json["last4"].as_str() {
            None => card.last4(),
            Some(l) if l.len() == 4 && l.bytes().all(|b| b.is_ascii_digit()) => l.to_owned(),
            Some(_) => return Err("processor answered with a last4 that is not four digits".into()),
        };
        let brand = match json["brand"].as_str() {
            Some(b) if !b.trim().is_empty() && b.len() <= 32 => scrub(b, expiry, cvv),
            _ => card.brand().to_owned(),
        };
        Ok(CardToken {
            token: token.to_owned(),
            last4,
            brand,
        })
    }
}

/// `{"number":"…","expiry":"…","cvv":"…"}` in one buffer of its final size
/// (so no reallocation leaves a copy behind), wiped on drop. Fields that were
/// not collected (empty) are left out.
fn request_body(number: &str, expiry: &str, cvv: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let fields = [("number", number), ("expiry", expiry), ("cvv", cvv)];
    if fields
        .iter()
        .any(|(_, value)| !value.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("the sealed card holds a field that is not digits".into());
    }
    if number.is_empty() {
        return Err("the sealed card holds no number".into());
    }
    // `{` `}`, `"name":"value"` per field, and a comma between fields.
    let present: Vec<_> = fields
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .collect();
    let size = 2
        + present.len().saturating_sub(1)
        + present
            .iter()
            .map(|(name, value)| name.len() + value.len() + 5)
            .sum::<usize>();
    let mut body = Zeroizing::new(Vec::with_capacity(size));
    body.push(b'{');
    for (name, value) in present {
        if body.len() > 1 {
            body.push(b',');
        }
        write!(body, "\"{name}\":\"{value}\"").map_err(|e| e.to_string())?;
    }
    body.push(b'}');
    debug_assert_eq!(body.len(), size);
    Ok(body)
}

/// A processor's text made safe to show: at most [`MAX_REASON_CHARS`]
/// characters, any run of twelve or more digits (spaces and dashes between
/// them allowed) and any digit run equal to the CVV or expiry replaced by
/// `[redacted]`, control characters dropped.
fn scrub(text: &str, expiry: &str, cvv: &str) -> String {
    let chars: Vec<char> = text.chars().take(MAX_REASON_CHARS).collect();
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            if !chars[i].is_control() {
                out.push(chars[i]);
            }
            i += 1;
            continue;
        }
        // The longest stretch of digits, spaces and dashes that ends on a digit.
        let mut end = i;
        let mut j = i;
        let mut digits = 0;
        let mut last_digits = 0;
        while j < chars.len() && (chars[j].is_ascii_digit() || matches!(chars[j], ' ' | '-')) {
            if chars[j].is_ascii_digit() {
                digits += 1;
                end = j + 1;
                last_digits = digits;
            }
            j += 1;
        }
        if last_digits >= 12 {
            out.push_str("[redacted]");
            i = end;
            continue;
        }
        // A plain digit run: redact it if it is the CVV or the expiry.
        let mut k = i;
        while k < chars.len() && chars[k].is_ascii_digit() {
            k += 1;
        }
        let run: String = chars[i..k].iter().collect();
        if (!cvv.is_empty() && run == cvv) || (!expiry.is_empty() && run == expiry) {
            out.push_str("[redacted]");
        } else {
            out.push_str(&run);
        }
        i = k;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_compact_json_without_fields_not_collected() {
        let body = request_body("4111111111111111", "1230", "737").unwrap();
        assert_eq!(
            &body[..],
            br#"{"number":"4111111111111111","expiry":"1230","cvv":"737"}"#
        );
        assert_eq!(body.capacity(), body.len(), "allocated at its final size");
        let body = request_body("4111111111111111", "1230", "").unwrap();
        assert_eq!(
            &body[..],
            br#"{"number":"4111111111111111","expiry":"1230"}"#
        );
        assert!(request_body("41111\"}", "1230", "").is_err());
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Python: hmac.new(b"s3cret", b'1795305600.{"number":"4111111111111111"}',
        //                  hashlib.sha256).hexdigest()
        assert_eq!(
            sign(
                b"s3cret",
                1_795_305_600,
                br#"{"number":"4111111111111111"}"#
            ),
            "v1=b7908e452f315a7154f12a2b78b1aa68f6b3381bc6445fc0331260ae246d824d"
        );
    }

    #[test]
    fn scrubbing_removes_card_numbers_cvv_and_expiry() {
        assert_eq!(
            scrub("card 4111111111111111 declined", "1230", "737"),
            "card [redacted] declined"
        );
        assert_eq!(
            scrub("card 4111 1111-1111 1111 declined", "1230", "737"),
            "card [redacted] declined"
        );
        assert_eq!(
            scrub("cvv 737 wrong for 1230, code 51", "1230", "737"),
            "cvv [redacted] wrong for [redacted], code 51"
        );
        assert_eq!(scrub(&"x".repeat(500), "", "").len(), MAX_REASON_CHARS);
        assert_eq!(scrub("a\nb\u{1b}[31m", "", ""), "ab[31m");
    }

    #[test]
    fn urls_must_be_https_except_loopback_when_allowed() {
        let build = |url: &str, loopback: bool| {
            HttpsTokenizer::new(TokenizerOptions {
                allow_plain_loopback: loopback,
                ..TokenizerOptions::new(url, b"k".to_vec())
            })
        };
        assert!(build("https://pay.example/t", false).is_ok());
        assert!(build("http://pay.example/t", true).is_err());
        assert!(build("http://127.0.0.1:8080/t", false).is_err());
        assert!(build("http://127.0.0.1:8080/t", true).is_ok());
        assert!(build("http://localhost/t", true).is_ok());
        assert!(build("http://127.0.0.1.pay.example/t", true).is_err());
        assert!(build("ftp://pay.example/t", false).is_err());
        assert!(build("https://user:pw@pay.example/t", false).is_err());
        assert!(build("pay.example/t", false).is_err());
        assert!(
            HttpsTokenizer::new(TokenizerOptions {
                ca_pem: Some(b"not a certificate".to_vec()),
                ..TokenizerOptions::new("https://pay.example/t", b"k".to_vec())
            })
            .is_err()
        );
        assert!(
            HttpsTokenizer::new(TokenizerOptions::new("https://pay.example/t", vec![])).is_err()
        );
    }
}
