//! Digest authentication of inbound trunks, the server side (RFC 3261
//! §22.4 with RFC 2617 `qop=auth` and RFC 8760 algorithms).
//!
//! Nonces are stateless: the issue time and an HMAC of it under a key made
//! at start-up, so checking one needs no table and a restart invalidates
//! all of them. A nonce older than [`NONCE_LIFETIME`] gets a fresh
//! challenge with `stale=true`, which clients answer without asking the
//! user again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use rsipstack::sip::typed::tokenizers::AuthTokenizer;
use sha2::Sha256;

use crate::config::DigestCredentials;

/// How long a nonce we issued stays good.
pub(crate) const NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// What an INVITE's credentials amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    Accepted,
    /// Challenge again; `stale` when the answer was right but its nonce
    /// had expired.
    Challenge {
        stale: bool,
    },
}

pub(crate) struct DigestAuth {
    credentials: DigestCredentials,
    key: [u8; 32],
}

impl DigestAuth {
    pub(crate) fn new(credentials: DigestCredentials) -> Self {
        let mut key = [0u8; 32];
        // Without the OS generator nonces would be guessable; refusing to
        // start is not an option here, so fall back to the clock, which
        // still changes the key on every start.
        if getrandom::fill(&mut key).is_err() {
            let nanos = now_secs().to_le_bytes();
            key[..nanos.len()].copy_from_slice(&nanos);
        }
        Self { credentials, key }
    }

    /// The value of a `WWW-Authenticate` header for a `401`.
    pub(crate) fn challenge(&self, stale: bool) -> String {
        let nonce = self.make_nonce(now_secs());
        let mut value = format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"",
            self.credentials.realm, nonce
        );
        if stale {
            value.push_str(", stale=true");
        }
        value
    }

    /// Checks the `Authorization` header value (if any) of a request.
    pub(crate) fn check(&self, method: &str, authorization: Option<&str>) -> AuthOutcome {
        let Some(header) = authorization else {
            return AuthOutcome::Challenge { stale: false };
        };
        let Ok(parsed) = AuthTokenizer::parse(header) else {
            return AuthOutcome::Challenge { stale: false };
        };
        if !parsed.scheme.eq_ignore_ascii_case("digest") {
            return AuthOutcome::Challenge { stale: false };
        }
        let param = |name: &str| {
            parsed
                .params
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| *value)
        };
        let (Some(username), Some(realm), Some(nonce), Some(uri), Some(response)) = (
            param("username"),
            param("realm"),
            param("nonce"),
            param("uri"),
            param("response"),
        ) else {
            return AuthOutcome::Challenge { stale: false };
        };
        if username != self.credentials.user || realm != self.credentials.realm {
            return AuthOutcome::Challenge { stale: false };
        }
        let algorithm = match param("algorithm") {
            None => Algorithm::Md5,
            Some(name) if name.eq_ignore_ascii_case("MD5") => Algorithm::Md5,
            Some(name) if name.eq_ignore_ascii_case("SHA-256") => Algorithm::Sha256,
            Some(_) => return AuthOutcome::Challenge { stale: false },
        };
        let qop = match param("qop") {
            None => None,
            Some(qop) if qop.eq_ignore_ascii_case("auth") => {
                let (Some(nc), Some(cnonce)) = (param("nc"), param("cnonce")) else {
                    return AuthOutcome::Challenge { stale: false };
                };
                Some((nc, cnonce))
            }
            // auth-int would need the body hashed; we never offer it.
            Some(_) => return AuthOutcome::Challenge { stale: false },
        };
        let Some(issued) = self.nonce_issued_at(nonce) else {
            return AuthOutcome::Challenge { stale: false };
        };
        let expected = digest_response(algorithm, &self.credentials, method, uri, nonce, qop);
        if !constant_time_eq(
            expected.as_bytes(),
            response.to_ascii_lowercase().as_bytes(),
        ) {
            return AuthOutcome::Challenge { stale: false };
        }
        if now_secs().saturating_sub(issued) > NONCE_LIFETIME.as_secs() {
            return AuthOutcome::Challenge { stale: true };
        }
        AuthOutcome::Accepted
    }

    fn make_nonce(&self, issued: u64) -> String {
        format!("{issued:x}.{}", self.tag(issued))
    }

    fn nonce_issued_at(&self, nonce: &str) -> Option<u64> {
        let (issued, tag) = nonce.split_once('.')?;
        let issued = u64::from_str_radix(issued, 16).ok()?;
        constant_time_eq(tag.as_bytes(), self.tag(issued).as_bytes()).then_some(issued)
    }

    fn tag(&self, issued: u64) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length");
        mac.update(&issued.to_be_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

#[derive(Debug, Clone, Copy)]
enum Algorithm {
    Md5,
    Sha256,
}

fn hash(algorithm: Algorithm, text: &str) -> String {
    match algorithm {
        Algorithm::Md5 => hex::encode(Md5::digest(text.as_bytes())),
        Algorithm::Sha256 => hex::encode(<Sha256 as sha2::Digest>::digest(text.as_bytes())),
    }
}

/// The `response` a client with these credentials sends (RFC 2617 §3.2.2).
fn digest_response(
    algorithm: Algorithm,
    credentials: &DigestCredentials,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
) -> String {
    let ha1 = hash(
        algorithm,
        &format!(
            "{}:{}:{}",
            credentials.user, credentials.realm, credentials.password
        ),
    );
    let ha2 = hash(algorithm, &format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => hash(
            algorithm,
            &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"),
        ),
        None => hash(algorithm, &format!("{ha1}:{nonce}:{ha2}")),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> DigestAuth {
        DigestAuth::new(DigestCredentials {
            realm: "switchyard".into(),
            user: "trunk".into(),
            password: "s3cret".into(),
        })
    }

    fn nonce_of(challenge: &str) -> String {
        let start = challenge.find("nonce=\"").unwrap() + 7;
        let end = challenge[start..].find('"').unwrap() + start;
        challenge[start..end].to_string()
    }

    #[test]
    fn rfc_2617_example_response() {
        // RFC 2617 §3.5, with its credentials and values.
        let creds = DigestCredentials {
            realm: "testrealm@host.com".into(),
            user: "Mufasa".into(),
            password: "Circle Of Life".into(),
        };
        let response = digest_response(
            Algorithm::Md5,
            &creds,
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("00000001", "0a4f113b")),
        );
        assert_eq!(response, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn accepts_a_correct_answer_and_refuses_a_wrong_password() {
        let auth = auth();
        let nonce = nonce_of(&auth.challenge(false));
        let good = digest_response(
            Algorithm::Md5,
            &auth.credentials,
            "INVITE",
            "sip:100@127.0.0.1",
            &nonce,
            Some(("00000001", "abc")),
        );
        let header = format!(
            "Digest username=\"trunk\", realm=\"switchyard\", nonce=\"{nonce}\", uri=\"sip:100@127.0.0.1\", response=\"{good}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"abc\""
        );
        assert_eq!(auth.check("INVITE", Some(&header)), AuthOutcome::Accepted);
        let wrong = header.replace(&good, "0123456789abcdef0123456789abcdef");
        assert_eq!(
            auth.check("INVITE", Some(&wrong)),
            AuthOutcome::Challenge { stale: false }
        );
        assert_eq!(
            auth.check("INVITE", None),
            AuthOutcome::Challenge { stale: false }
        );
    }

    #[test]
    fn a_forged_or_expired_nonce_is_refused() {
        let auth = auth();
        let forged = "65f00000.00000000000000000000000000000000";
        assert_eq!(auth.nonce_issued_at(forged), None);

        let old = now_secs() - NONCE_LIFETIME.as_secs() - 10;
        let nonce = auth.make_nonce(old);
        let good = digest_response(
            Algorithm::Sha256,
            &auth.credentials,
            "INVITE",
            "sip:100@127.0.0.1",
            &nonce,
            None,
        );
        let header = format!(
            "Digest username=\"trunk\", realm=\"switchyard\", nonce=\"{nonce}\", uri=\"sip:100@127.0.0.1\", response=\"{good}\", algorithm=SHA-256"
        );
        assert_eq!(
            auth.check("INVITE", Some(&header)),
            AuthOutcome::Challenge { stale: true }
        );
    }
}
