//! Authentication: `Authorization: Bearer <key>` becomes an [`Auth`], the
//! only way a handler learns its tenant.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::db::TenantId;
use crate::db::keys::KeyOwner;
use crate::state::{AppState, peer_ip};

/// The caller of a route: the tenant and key, from a valid key.
#[derive(Debug, Clone)]
pub struct Auth {
    pub tenant: TenantId,
    pub key_id: String,
    scopes: Vec<String>,
}

impl Auth {
    /// Refuses with 403 unless the key has `scope` (or `admin`).
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| s == scope || s == "admin") {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this key lacks the `{scope}` scope"),
            ))
        }
    }
}

impl From<KeyOwner> for Auth {
    fn from(owner: KeyOwner) -> Self {
        Self {
            tenant: owner.tenant,
            key_id: owner.key_id,
            scopes: owner.scopes,
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = peer_ip(parts);
        if let Some(wait) = state.limits.blocked(ip) {
            return Err(too_many(
                wait,
                "too many failed authentications from this address",
            ));
        }
        let presented = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let owner = match presented {
            Some(key) if !key.is_empty() => state.db.authenticate(key).await?,
            _ => None,
        };
        let Some(owner) = owner else {
            if let Some(wait) = state.limits.failed(ip) {
                tracing::warn!(%ip, "authentication failures over the limit");
                return Err(too_many(
                    wait,
                    "too many failed authentications from this address",
                ));
            }
            let message = if presented.is_none() {
                "send an API key as `Authorization: Bearer <key>`"
            } else {
                "the API key is not valid (unknown or revoked)"
            };
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                message,
            ));
        };
        if let Some(wait) = state.limits.request(&owner.key_id) {
            return Err(too_many(wait, "this key is over its request rate"));
        }
        Ok(owner.into())
    }
}

fn too_many(wait: u64, message: &str) -> ApiError {
    let mut error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        format!("{message}; retry in {wait} s"),
    );
    error.retry_after = Some(wait);
    error
}
