//! Media-stream tokens: what a Twilio `<Stream>` carries (in its
//! `customParameters` or its URL) so that a stream is tied to a tenant
//! before any of its audio is accepted.
//!
//! A token is `mst1.<tenant>.<data key id>.<expires ms>.<to, base64url>.<mac>`
//! where `mac` is HMAC-SHA256, under a key derived from the tenant's data
//! key, over everything before it. Nothing is stored: the tenant's data
//! key checks it. Tokens name the number or SIP URI the stream calls (the
//! flow is routed from it as for any inbound call), so a leaked token
//! reaches only the flow it was made for, and only until it expires.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::{TenantId, now_ms};
use crate::state::AppState;

const PREFIX: &str = "mst1";
const LABEL: &[u8] = b"switchyard media-stream token v1";

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamGrant {
    pub tenant: TenantId,
    /// The address the stream calls (routed like an inbound call).
    pub to: String,
    pub expires_at: i64,
}

/// Why a token was refused. The messages say what is wrong, never what
/// the right value would have been.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the stream carries no token (customParameters.token or ?token=)")]
    Missing,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token has expired")]
    Expired,
    #[error("the token's signature does not match")]
    BadSignature,
}

/// Makes a token for `tenant` to call `to`, valid for `ttl_ms`.
///
/// # Errors
/// When the tenant's data key cannot be read.
pub async fn mint(
    state: &AppState,
    tenant: &TenantId,
    to: &str,
    ttl_ms: i64,
) -> anyhow::Result<(String, i64)> {
    let (key_id, key) = state.keyring.current(&state.db, tenant).await?;
    let expires_at = now_ms() + ttl_ms;
    let body = format!(
        "{PREFIX}.{}.{key_id}.{expires_at}.{}",
        tenant.as_str(),
        URL_SAFE_NO_PAD.encode(to)
    );
    let mac = URL_SAFE_NO_PAD.encode(sign(key.bytes(), &body));
    Ok((format!("{body}.{mac}"), expires_at))
}

/// Checks a token; the tenant's data key named in it must verify it.
///
/// # Errors
/// [`TokenError`] for anything but a valid, unexpired token.
pub async fn verify(state: &AppState, token: &str) -> Result<StreamGrant, TokenError> {
    let (body, mac) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let parts: Vec<&str> = body.split('.').collect();
    let [prefix, tenant, key_id, expires, to] = parts[..] else {
        return Err(TokenError::Malformed);
    };
    if prefix != PREFIX {
        return Err(TokenError::Malformed);
    }
    let expires_at: i64 = expires.parse().map_err(|_| TokenError::Malformed)?;
    let to = URL_SAFE_NO_PAD
        .decode(to)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(TokenError::Malformed)?;
    let mac = URL_SAFE_NO_PAD
        .decode(mac)
        .map_err(|_| TokenError::Malformed)?;
    let tenant = TenantId::from_trusted(tenant.to_owned());
    // An unknown tenant or key id fails like a bad signature: a token
    // cannot be used to learn which tenants exist.
    let key = state
        .keyring
        .by_id(&state.db, &tenant, key_id)
        .await
        .map_err(|_| TokenError::BadSignature)?;
    let mut check = keyed(key.bytes());
    check.update(body.as_bytes());
    check
        .verify_slice(&mac)
        .map_err(|_| TokenError::BadSignature)?;
    if expires_at <= now_ms() {
        return Err(TokenError::Expired);
    }
    Ok(StreamGrant {
        tenant,
        to,
        expires_at,
    })
}

/// A MAC key of its own, derived from the data key, so the AES-GCM key is
/// never used for anything else directly.
fn keyed(data_key: &[u8; 32]) -> Hmac<Sha256> {
    let mut derive = Hmac::<Sha256>::new_from_slice(data_key).expect("any key length");
    derive.update(LABEL);
    let subkey = derive.finalize().into_bytes();
    Hmac::<Sha256>::new_from_slice(&subkey).expect("any key length")
}

fn sign(data_key: &[u8; 32], body: &str) -> Vec<u8> {
    let mut mac = keyed(data_key);
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().to_vec()
}
