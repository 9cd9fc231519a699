//! Plugin packages: module bytes content-addressed in `plugin_blobs`, a
//! tenant's own uploads in `plugins` (private, untrusted), and the platform
//! operator's installs in `platform_plugins` (visible to all, trusted).
//!
//! A blob is keyed by the package digest (`sha256:` over manifest and
//! module, as the plugin host computes it) and holds the module or script;
//! the manifest is kept beside it in the row, serialised canonically so the
//! digest can be recomputed on load and tampering noticed.

use sqlx::Row;

use super::{Db, TenantId, is_unique_violation, now_ms};

/// One stored package (tenant or platform), without its module bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlugin {
    pub name: String,
    pub version: String,
    pub major: i64,
    pub digest: String,
    /// `wasm` or `rhai`.
    pub kind: String,
    /// The manifest as canonical JSON.
    pub manifest: String,
    /// When uploaded or installed, epoch milliseconds.
    pub at: i64,
}

/// What an insert found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The row is new.
    New,
    /// The same name and version were already stored with this digest.
    Exists { digest: String },
}

impl Db {
    /// Stores module bytes under a package digest; a digest already stored
    /// keeps its bytes (same digest, same content).
    pub async fn put_plugin_blob(&self, digest: &str, content: &[u8]) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO plugin_blobs (digest, content) VALUES ($1, $2) \
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest)
        .bind(content.to_vec())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The module bytes stored under `digest`.
    pub async fn plugin_blob(&self, digest: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT content FROM plugin_blobs WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get::<Vec<u8>, _>(0)?),
            None => None,
        })
    }

    /// Records a tenant's upload. Versions are immutable: an existing
    /// `(name, version)` is left alone and its digest returned.
    pub async fn insert_tenant_plugin(
        &self,
        tenant: &TenantId,
        plugin: &StoredPlugin,
    ) -> anyhow::Result<Inserted> {
        let done = sqlx::query(
            "INSERT INTO plugins (tenant_id, name, version, major, digest, kind, manifest, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant.as_str())
        .bind(&plugin.name)
        .bind(&plugin.version)
        .bind(plugin.major)
        .bind(&plugin.digest)
        .bind(&plugin.kind)
        .bind(&plugin.manifest)
        .bind(plugin.at)
        .execute(&self.pool)
        .await;
        match done {
            Ok(_) => Ok(Inserted::New),
            Err(e) if is_unique_violation(&e) => {
                let existing = self
                    .tenant_plugin(tenant, &plugin.name, &plugin.version)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("plugin row vanished after a conflict"))?;
                Ok(Inserted::Exists {
                    digest: existing.digest,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A tenant's own plugins, by name and upload time.
    pub async fn tenant_plugins(&self, tenant: &TenantId) -> anyhow::Result<Vec<StoredPlugin>> {
        let rows = sqlx::query(
            "SELECT name, version, major, digest, kind, manifest, uploaded_at FROM plugins \
             WHERE tenant_id = $1 ORDER BY name, uploaded_at",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored).collect()
    }

    /// One of a tenant's own plugins.
    pub async fn tenant_plugin(
        &self,
        tenant: &TenantId,
        name: &str,
        version: &str,
    ) -> anyhow::Result<Option<StoredPlugin>> {
        let row = sqlx::query(
            "SELECT name, version, major, digest, kind, manifest, uploaded_at FROM plugins \
             WHERE tenant_id = $1 AND name = $2 AND version = $3",
        )
        .bind(tenant.as_str())
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stored).transpose()
    }

    /// Every operator-installed plugin.
    pub async fn platform_plugins(&self) -> anyhow::Result<Vec<StoredPlugin>> {
        let rows = sqlx::query(
            "SELECT name, version, major, digest, kind, manifest, installed_at \
             FROM platform_plugins ORDER BY name, installed_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored).collect()
    }

    /// One operator-installed plugin.
    pub async fn platform_plugin(
        &self,
        name: &str,
        version: &str,
    ) -> anyhow::Result<Option<StoredPlugin>> {
        let row = sqlx::query(
            "SELECT name, version, major, digest, kind, manifest, installed_at \
             FROM platform_plugins WHERE name = $1 AND version = $2",
        )
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stored).transpose()
    }

    /// Whether any tenant-independent plugin (platform) uses this name.
    pub async fn platform_plugin_named(&self, name: &str) -> anyhow::Result<bool> {
        let row = sqlx::query("SELECT 1 FROM platform_plugins WHERE name = $1 LIMIT 1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Whether any tenant has uploaded a plugin under this name (the
    /// operator's install must not silently shadow it).
    pub async fn tenant_plugin_named_anywhere(&self, name: &str) -> anyhow::Result<bool> {
        let row = sqlx::query("SELECT 1 FROM plugins WHERE name = $1 LIMIT 1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Records an operator install, blob included, in one transaction.
    /// Versions are immutable here too.
    pub async fn insert_platform_plugin(
        &self,
        plugin: &StoredPlugin,
        content: &[u8],
    ) -> anyhow::Result<Inserted> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO plugin_blobs (digest, content) VALUES ($1, $2) \
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&plugin.digest)
        .bind(content.to_vec())
        .execute(&mut *tx)
        .await?;
        let existing =
            sqlx::query("SELECT digest FROM platform_plugins WHERE name = $1 AND version = $2")
                .bind(&plugin.name)
                .bind(&plugin.version)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(row) = existing {
            tx.rollback().await?;
            return Ok(Inserted::Exists {
                digest: row.try_get(0)?,
            });
        }
        sqlx::query(
            "INSERT INTO platform_plugins (name, version, major, digest, kind, manifest, installed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&plugin.name)
        .bind(&plugin.version)
        .bind(plugin.major)
        .bind(&plugin.digest)
        .bind(&plugin.kind)
        .bind(&plugin.manifest)
        .bind(if plugin.at > 0 { plugin.at } else { now_ms() })
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Inserted::New)
    }

    /// The stored package with this digest that `tenant` may run: a
    /// platform plugin (trusted, `true`) or one of the tenant's own.
    pub async fn plugin_by_digest(
        &self,
        tenant: &TenantId,
        digest: &str,
    ) -> anyhow::Result<Option<(StoredPlugin, bool)>> {
        let row = sqlx::query(
            "SELECT name, version, major, digest, kind, manifest, installed_at \
             FROM platform_plugins WHERE digest = $1 LIMIT 1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return Ok(Some((stored(&row)?, true)));
        }
        let row = sqlx::query(
            "SELECT name, version, major, digest, kind, manifest, uploaded_at FROM plugins \
             WHERE tenant_id = $1 AND digest = $2 LIMIT 1",
        )
        .bind(tenant.as_str())
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => Some((stored(&row)?, false)),
            None => None,
        })
    }

    /// The digests of a tenant's and the platform's plugins, in a stable
    /// order: when this list is unchanged, a registry built from it is too.
    pub async fn plugin_fingerprint(&self, tenant: &TenantId) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT 'p', name, version, digest FROM platform_plugins \
             UNION ALL SELECT 't', name, version, digest FROM plugins WHERE tenant_id = $1 \
             ORDER BY 1, 2, 3",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(format!(
                    "{}:{}@{}={}",
                    row.try_get::<String, _>(0)?,
                    row.try_get::<String, _>(1)?,
                    row.try_get::<String, _>(2)?,
                    row.try_get::<String, _>(3)?
                ))
            })
            .collect()
    }
}

fn stored(row: &sqlx::any::AnyRow) -> anyhow::Result<StoredPlugin> {
    Ok(StoredPlugin {
        name: row.try_get(0)?,
        version: row.try_get(1)?,
        major: row.try_get(2)?,
        digest: row.try_get(3)?,
        kind: row.try_get(4)?,
        manifest: row.try_get(5)?,
        at: row.try_get(6)?,
    })
}
