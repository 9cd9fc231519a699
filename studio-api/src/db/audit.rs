//! The audit log: append-only (triggers refuse UPDATE and DELETE on both backends).

use sqlx::Row;

use super::{Db, TenantId, new_id, now_ms};

/// One audit entry.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    /// The key id that acted, or `operator` / `system`.
    pub actor: String,
    /// What happened, e.g. `key.created`, `flow.published`.
    pub action: String,
    /// What it happened to, e.g. a key id or `flow:acme-main@3`.
    pub target: String,
    pub detail: serde_json::Value,
}

impl Db {
    pub async fn audit(
        &self,
        tenant: &TenantId,
        actor: &str,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (tenant_id, id, at, actor, action, target, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tenant.as_str())
        .bind(new_id("aud"))
        .bind(now_ms())
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Entries newest first, optionally only those before `before` (an id),
    /// at most `limit`.
    pub async fn audit_entries(
        &self,
        tenant: &TenantId,
        before: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail FROM audit_log \
             WHERE tenant_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant.as_str())
        .bind(before.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    action: r.try_get(3)?,
                    target: r.try_get(4)?,
                    detail: serde_json::from_str(&r.try_get::<String, _>(5)?)?,
                })
            })
            .collect()
    }
}
