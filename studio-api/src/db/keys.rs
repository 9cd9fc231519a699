//! API keys: shown once at creation, stored only as a SHA-256 hash.
//!
//! Keys are 256-bit random tokens, so a fast hash is the right tool (as for
//! GitHub's and Stripe's tokens): a slow password hash defends low-entropy
//! secrets and would only cost every request time.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Db, TenantId, new_id, now_ms};

/// The scopes a key can carry. `admin` implies every other.
pub const SCOPES: &[&str] = &[
    "admin",
    "flows:write",
    "flows:read",
    "calls:read",
    "plugins:write",
];

/// A key as listed: never the key itself.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    /// The visible start of the key, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What authentication learns from a valid key.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    pub tenant: TenantId,
    pub key_id: String,
    pub scopes: Vec<String>,
}

/// SHA-256 of a key, hex.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new key: `sy_` + 8 hex (the visible prefix) + `_` + 43 base64url
/// characters (256 random bits).
fn generate_key() -> (String, String) {
    use base64::Engine;
    let mut prefix = [0u8; 4];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut prefix).expect("the OS random source is available");
    getrandom::fill(&mut secret).expect("the OS random source is available");
    let prefix = format!("sy_{}", hex::encode(prefix));
    let key = format!(
        "{prefix}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    (prefix, key)
}

impl Db {
    /// Creates a key and returns its info and the key itself, which is
    /// never stored and cannot be shown again.
    pub async fn create_key(
        &self,
        tenant: &TenantId,
        name: &str,
        scopes: &[String],
    ) -> anyhow::Result<(KeyInfo, String)> {
        let (prefix, key) = generate_key();
        let info = KeyInfo {
            id: new_id("key"),
            name: name.to_owned(),
            prefix,
            scopes: scopes.to_vec(),
            created_at: now_ms(),
            last_used_at: None,
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, prefix, hash, scopes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&info.id)
        .bind(tenant.as_str())
        .bind(&info.name)
        .bind(&info.prefix)
        .bind(hash_key(&key))
        .bind(info.scopes.join(" "))
        .bind(info.created_at)
        .execute(&self.pool)
        .await?;
        Ok((info, key))
    }

    /// The owner of a presented key, when the key exists and is not revoked.
    /// Records the time of use.
    pub async fn authenticate(&self, key: &str) -> anyhow::Result<Option<KeyOwner>> {
        let row = sqlx::query(
            "SELECT id, tenant_id, scopes, last_used_at FROM api_keys WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash_key(key))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let key_id: String = row.try_get(0)?;
        let last_used: Option<i64> = row.try_get(3)?;
        let now = now_ms();
        // One write a minute per key at most: last-used is for humans, and
        // a write on every request would serialise SQLite.
        if last_used.is_none_or(|t| now - t > 60_000) {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&key_id)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(KeyOwner {
            tenant: TenantId::from_trusted(row.try_get::<String, _>(1)?),
            key_id,
            scopes: row
                .try_get::<String, _>(2)?
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        }))
    }

    pub async fn list_keys(&self, tenant: &TenantId) -> anyhow::Result<Vec<KeyInfo>> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at \
             FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_info).collect()
    }

    pub async fn key(&self, tenant: &TenantId, id: &str) -> anyhow::Result<Option<KeyInfo>> {
        let row = sqlx::query(
            "SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at \
             FROM api_keys WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_info).transpose()
    }

    /// Revokes a key; `false` when the tenant has no such key.
    pub async fn revoke_key(&self, tenant: &TenantId, id: &str) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(tenant.as_str())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn key_info(row: &sqlx::any::AnyRow) -> anyhow::Result<KeyInfo> {
    Ok(KeyInfo {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        prefix: row.try_get(2)?,
        scopes: row
            .try_get::<String, _>(3)?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        created_at: row.try_get(4)?,
        last_used_at: row.try_get(5)?,
        revoked_at: row.try_get(6)?,
    })
}
