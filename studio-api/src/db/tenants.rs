//! Tenants, their enabled templates and retention settings, and their data keys.

use sqlx::Row;

use super::{Db, TenantId, new_id, now_ms};

/// A tenant's settings.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    /// Enabled compliance template ids.
    pub templates: Vec<String>,
    pub retention: Retention,
    pub created_at: i64,
}

/// Retention in days for each kind of data; `None` takes the default of the
/// enabled templates.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Retention {
    pub recordings_days: Option<i64>,
    pub transcripts_days: Option<i64>,
    pub calls_days: Option<i64>,
}

impl Db {
    /// Creates a tenant and returns its id.
    pub async fn create_tenant(&self, name: &str) -> anyhow::Result<TenantId> {
        let id = new_id("ten");
        sqlx::query(
            "INSERT INTO tenants (id, name, templates, created_at) VALUES ($1, $2, '[]', $3)",
        )
        .bind(&id)
        .bind(name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(TenantId::from_trusted(id))
    }

    /// How many tenants exist (the bootstrap runs when there are none).
    pub async fn tenant_count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM tenants")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// Every tenant's id (for the sweeper and operator commands).
    pub async fn tenant_ids(&self) -> anyhow::Result<Vec<TenantId>> {
        let rows = sqlx::query("SELECT id FROM tenants ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(TenantId::from_trusted(r.try_get::<String, _>(0)?)))
            .collect()
    }

    pub async fn tenant(&self, tenant: &TenantId) -> anyhow::Result<Tenant> {
        let row = sqlx::query(
            "SELECT id, name, templates, retention_recordings_days, retention_transcripts_days, \
             retention_calls_days, created_at FROM tenants WHERE id = $1",
        )
        .bind(tenant.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(Tenant {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            templates: serde_json::from_str(&row.try_get::<String, _>(2)?)?,
            retention: Retention {
                recordings_days: row.try_get(3)?,
                transcripts_days: row.try_get(4)?,
                calls_days: row.try_get(5)?,
            },
            created_at: row.try_get(6)?,
        })
    }

    pub async fn set_templates(
        &self,
        tenant: &TenantId,
        templates: &[String],
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE tenants SET templates = $1 WHERE id = $2")
            .bind(serde_json::to_string(templates)?)
            .bind(tenant.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_retention(
        &self,
        tenant: &TenantId,
        retention: &Retention,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE tenants SET retention_recordings_days = $1, retention_transcripts_days = $2, \
             retention_calls_days = $3 WHERE id = $4",
        )
        .bind(retention.recordings_days)
        .bind(retention.transcripts_days)
        .bind(retention.calls_days)
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The tenant's newest wrapped data key: `(id, wrapped)`.
    pub async fn current_data_key(
        &self,
        tenant: &TenantId,
    ) -> anyhow::Result<Option<(String, Vec<u8>)>> {
        let row = sqlx::query(
            "SELECT id, wrapped FROM data_keys WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// One wrapped data key by id.
    pub async fn data_key(&self, tenant: &TenantId, id: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT wrapped FROM data_keys WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(r.try_get(0)?)).transpose()
    }

    pub async fn insert_data_key(
        &self,
        tenant: &TenantId,
        id: &str,
        wrapped: &[u8],
        master_key_id: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO data_keys (tenant_id, id, wrapped, master_key_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(wrapped)
        .bind(master_key_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every wrapped data key of every tenant: `(tenant, id, wrapped, master_key_id)`.
    pub async fn all_data_keys(&self) -> anyhow::Result<Vec<(TenantId, String, Vec<u8>, String)>> {
        let rows = sqlx::query("SELECT tenant_id, id, wrapped, master_key_id FROM data_keys")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    TenantId::from_trusted(r.try_get::<String, _>(0)?),
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                ))
            })
            .collect()
    }
}
