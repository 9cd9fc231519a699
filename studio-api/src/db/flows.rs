//! Flows: drafts (`flows`), published versions (`flow_versions`, never
//! updated or deleted), routes from a called address to a flow (`routes`)
//! and the names a tenant binds per environment (`bindings`).
//!
//! Every function takes the tenant from the caller, except
//! [`Db::route_for_address`]: an inbound call has no key, and the called
//! address is what tells which tenant it belongs to.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Db, TenantId, is_unique_violation, now_ms};

/// The environments a tenant binds names in.
pub const ENVIRONMENTS: &[&str] = &["staging", "production"];

/// The kinds of names a flow can use and a tenant binds per environment.
pub const BINDING_KINDS: &[&str] = &["endpoint", "secret", "number", "subflow"];

/// A flow as listed.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FlowSummary {
    pub name: String,
    /// The draft's entity tag (quoted, strong); send it as `If-Match`.
    pub etag: String,
    /// The version new calls run, if any is published.
    pub live_version: Option<i64>,
    /// The newest published version, if any.
    pub latest_version: Option<i64>,
    pub updated_at: i64,
}

/// A flow's draft with its summary.
#[derive(Debug, Clone)]
pub struct StoredFlow {
    pub summary: FlowSummary,
    /// The draft document, as canonical JSON text.
    pub draft: String,
}

/// A published version (without its document).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    pub version: i64,
    /// `sha256:<hex>` of the document as compiled; call logs carry it.
    pub digest: String,
    /// Node id → digest of the plugin it runs, pinned at publish.
    pub plugins: BTreeMap<String, String>,
    pub published_at: i64,
    /// The key id that published it.
    pub published_by: String,
}

/// What a publish stores.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub document: &'a str,
    pub digest: &'a str,
    pub plugins: &'a BTreeMap<String, String>,
    pub published_by: &'a str,
    /// Move the live alias to the new version.
    pub make_live: bool,
}

/// A route: calls to `address` run `flow` with `environment`'s bindings.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Route {
    /// An E.164 number, a `sip:` URI, or `*` (every address without a route).
    pub address: String,
    pub flow: String,
    pub environment: String,
    pub created_at: i64,
}

/// A binding as listed: a secret's value is never returned, only that it is set.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Binding {
    /// `endpoint`, `secret`, `number` or `subflow`.
    pub kind: String,
    pub name: String,
    /// The bound value; `null` for secrets.
    pub value: Option<String>,
    /// Whether a value is set (always true for listed bindings; the only
    /// thing a secret shows).
    pub set: bool,
    pub updated_at: i64,
}

/// A binding's stored value: plain text, or sealed (secrets) with the id
/// of the data key that sealed it.
#[derive(Debug, Clone)]
pub enum BindingValue {
    Plain(String),
    Sealed {
        data_key_id: String,
        sealed: Vec<u8>,
    },
}

/// The columns [`summary`] reads (and the draft), as a literal for `concat!`.
macro_rules! summary_columns {
    () => {
        "SELECT f.name, f.etag, f.live_version, \
         (SELECT MAX(v.version) FROM flow_versions v WHERE v.tenant_id = f.tenant_id AND v.flow_name = f.name), \
         f.updated_at, f.draft FROM flows f "
    };
}

fn summary(row: &sqlx::any::AnyRow) -> anyhow::Result<FlowSummary> {
    Ok(FlowSummary {
        name: row.try_get(0)?,
        etag: row.try_get(1)?,
        live_version: row.try_get(2)?,
        latest_version: row.try_get(3)?,
        updated_at: row.try_get(4)?,
    })
}

fn version_info(row: &sqlx::any::AnyRow) -> anyhow::Result<VersionInfo> {
    Ok(VersionInfo {
        version: row.try_get(0)?,
        digest: row.try_get(1)?,
        plugins: serde_json::from_str(&row.try_get::<String, _>(2)?)?,
        published_at: row.try_get(3)?,
        published_by: row.try_get(4)?,
    })
}

/// Whether an error is a write that lost a race and may simply be retried:
/// a duplicate version number (PostgreSQL) or a busy database (SQLite).
fn is_retryable(error: &sqlx::Error) -> bool {
    if is_unique_violation(error) {
        return true;
    }
    match error {
        sqlx::Error::Database(db) => {
            let message = db.message();
            message.contains("database is locked") || message.contains("busy")
        }
        _ => false,
    }
}

impl Db {
    /// The tenant's flows by name.
    pub async fn list_flows(&self, tenant: &TenantId) -> anyhow::Result<Vec<FlowSummary>> {
        let rows = sqlx::query(concat!(
            summary_columns!(),
            "WHERE f.tenant_id = $1 ORDER BY f.name"
        ))
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(summary).collect()
    }

    /// One flow's draft and summary.
    pub async fn flow(&self, tenant: &TenantId, name: &str) -> anyhow::Result<Option<StoredFlow>> {
        let row = sqlx::query(concat!(
            summary_columns!(),
            "WHERE f.tenant_id = $1 AND f.name = $2"
        ))
        .bind(tenant.as_str())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(StoredFlow {
                summary: summary(&row)?,
                draft: row.try_get(5)?,
            })
        })
        .transpose()
    }

    /// Creates a draft; `false` when the tenant already has a flow by that name.
    pub async fn insert_flow(
        &self,
        tenant: &TenantId,
        name: &str,
        draft: &str,
        etag: &str,
    ) -> anyhow::Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO flows (tenant_id, name, draft, etag, live_version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, NULL, $5, $5)",
        )
        .bind(tenant.as_str())
        .bind(name)
        .bind(draft)
        .bind(etag)
        .bind(now)
        .execute(&self.pool)
        .await;
        match done {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces a draft when its etag is still `expected` (compare and swap,
    /// so two designers cannot overwrite each other); `false` otherwise.
    pub async fn update_draft(
        &self,
        tenant: &TenantId,
        name: &str,
        draft: &str,
        etag: &str,
        expected: &str,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE flows SET draft = $1, etag = $2, updated_at = $3 \
             WHERE tenant_id = $4 AND name = $5 AND etag = $6",
        )
        .bind(draft)
        .bind(etag)
        .bind(now_ms())
        .bind(tenant.as_str())
        .bind(name)
        .bind(expected)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a draft that has no published versions, when its etag is
    /// `expected` (if given); `false` when nothing matched.
    pub async fn delete_flow(
        &self,
        tenant: &TenantId,
        name: &str,
        expected: Option<&str>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "DELETE FROM flows WHERE tenant_id = $1 AND name = $2 AND ($3 = '' OR etag = $3) \
             AND NOT EXISTS (SELECT 1 FROM flow_versions v WHERE v.tenant_id = $1 AND v.flow_name = $2)",
        )
        .bind(tenant.as_str())
        .bind(name)
        .bind(expected.unwrap_or(""))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a new version numbered one past the newest, and moves the live
    /// alias to it when asked. Concurrent publishes of one flow cannot share
    /// a number: the number is the primary key, and a publish that loses the
    /// race retries with the next one.
    pub async fn publish_version(
        &self,
        tenant: &TenantId,
        name: &str,
        new: &NewVersion<'_>,
    ) -> anyhow::Result<VersionInfo> {
        let plugins = serde_json::to_string(new.plugins)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_publish(tenant, name, new, &plugins).await {
                Ok(info) => return Ok(info),
                Err(e) if attempt < 20 && is_retryable(&e) => {
                    tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn try_publish(
        &self,
        tenant: &TenantId,
        name: &str,
        new: &NewVersion<'_>,
        plugins: &str,
    ) -> Result<VersionInfo, sqlx::Error> {
        let published_at = now_ms();
        let mut tx = self.pool.begin().await?;
        // One statement computes and takes the number, so SQLite takes its
        // write lock at once instead of upgrading a read lock.
        let row = sqlx::query(
            "INSERT INTO flow_versions \
             (tenant_id, flow_name, version, document, digest, plugins, published_at, published_by) \
             SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4, $5, $6, $7 \
             FROM flow_versions WHERE tenant_id = $1 AND flow_name = $2 \
             RETURNING version",
        )
        .bind(tenant.as_str())
        .bind(name)
        .bind(new.document)
        .bind(new.digest)
        .bind(plugins)
        .bind(published_at)
        .bind(new.published_by)
        .fetch_one(&mut *tx)
        .await?;
        let version: i64 = row.try_get(0)?;
        if new.make_live {
            // Never move live backwards: of two concurrent publishes, the
            // newer version wins whichever commits last.
            sqlx::query(
                "UPDATE flows SET live_version = $1 WHERE tenant_id = $2 AND name = $3 \
                 AND (live_version IS NULL OR live_version < $1)",
            )
            .bind(version)
            .bind(tenant.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(VersionInfo {
            version,
            digest: new.digest.to_owned(),
            plugins: serde_json::from_str(plugins).unwrap_or_default(),
            published_at,
            published_by: new.published_by.to_owned(),
        })
    }

    /// A flow's versions, oldest first.
    pub async fn versions(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> anyhow::Result<Vec<VersionInfo>> {
        let rows = sqlx::query(
            "SELECT version, digest, plugins, published_at, published_by FROM flow_versions \
             WHERE tenant_id = $1 AND flow_name = $2 ORDER BY version",
        )
        .bind(tenant.as_str())
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_info).collect()
    }

    /// One version and its document.
    pub async fn version(
        &self,
        tenant: &TenantId,
        name: &str,
        version: i64,
    ) -> anyhow::Result<Option<(VersionInfo, String)>> {
        let row = sqlx::query(
            "SELECT version, digest, plugins, published_at, published_by, document FROM flow_versions \
             WHERE tenant_id = $1 AND flow_name = $2 AND version = $3",
        )
        .bind(tenant.as_str())
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((version_info(&row)?, row.try_get(5)?)))
            .transpose()
    }

    /// Points the live alias at `version` (which must exist); returns the
    /// version it pointed at before.
    pub async fn set_live(
        &self,
        tenant: &TenantId,
        name: &str,
        version: i64,
    ) -> anyhow::Result<Option<i64>> {
        let mut tx = self.pool.begin().await?;
        // A write first, so SQLite takes its write lock (and PostgreSQL the
        // row lock) before the read: two moves cannot both read the same
        // "before".
        sqlx::query("UPDATE flows SET updated_at = updated_at WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let before =
            sqlx::query("SELECT live_version FROM flows WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.as_str())
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get::<Option<i64>, _>(0))
                .transpose()?
                .flatten();
        sqlx::query("UPDATE flows SET live_version = $1 WHERE tenant_id = $2 AND name = $3")
            .bind(version)
            .bind(tenant.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(before)
    }

    /// Adds a route; `false` when the address is already routed (by any tenant).
    pub async fn insert_route(&self, tenant: &TenantId, route: &Route) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO routes (address, tenant_id, flow_name, environment, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&route.address)
        .bind(tenant.as_str())
        .bind(&route.flow)
        .bind(&route.environment)
        .bind(route.created_at)
        .execute(&self.pool)
        .await;
        match done {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The tenant's routes by address.
    pub async fn routes(&self, tenant: &TenantId) -> anyhow::Result<Vec<Route>> {
        let rows = sqlx::query(
            "SELECT address, flow_name, environment, created_at FROM routes \
             WHERE tenant_id = $1 ORDER BY address",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Route {
                    address: r.try_get(0)?,
                    flow: r.try_get(1)?,
                    environment: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// The addresses routed to one of the tenant's flows.
    pub async fn routes_to_flow(
        &self,
        tenant: &TenantId,
        flow: &str,
    ) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT address FROM routes WHERE tenant_id = $1 AND flow_name = $2 ORDER BY address",
        )
        .bind(tenant.as_str())
        .bind(flow)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Removes one of the tenant's routes; `false` when it has none there.
    pub async fn delete_route(&self, tenant: &TenantId, address: &str) -> anyhow::Result<bool> {
        let done = sqlx::query("DELETE FROM routes WHERE tenant_id = $1 AND address = $2")
            .bind(tenant.as_str())
            .bind(address)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The owner, flow and environment of an address. The one query here
    /// without a tenant: an inbound call finds its tenant through it.
    pub async fn route_for_address(
        &self,
        address: &str,
    ) -> anyhow::Result<Option<(TenantId, String, String)>> {
        let row =
            sqlx::query("SELECT tenant_id, flow_name, environment FROM routes WHERE address = $1")
                .bind(address)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok((
                TenantId::from_trusted(r.try_get::<String, _>(0)?),
                r.try_get(1)?,
                r.try_get(2)?,
            ))
        })
        .transpose()
    }

    /// The tenant's bindings in one environment, by kind and name.
    pub async fn bindings(
        &self,
        tenant: &TenantId,
        environment: &str,
    ) -> anyhow::Result<Vec<Binding>> {
        let rows = sqlx::query(
            "SELECT kind, name, value, updated_at FROM bindings \
             WHERE tenant_id = $1 AND environment = $2 ORDER BY kind, name",
        )
        .bind(tenant.as_str())
        .bind(environment)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(0)?;
                // A secret's `value` column holds the id of its data key,
                // which is no business of the reader either.
                let value: Option<String> = if kind == "secret" {
                    None
                } else {
                    r.try_get(2)?
                };
                Ok(Binding {
                    kind,
                    name: r.try_get(1)?,
                    value,
                    set: true,
                    updated_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// The plain values of one kind in one environment, by name (not for secrets).
    pub async fn binding_values(
        &self,
        tenant: &TenantId,
        environment: &str,
        kind: &str,
    ) -> anyhow::Result<BTreeMap<String, String>> {
        debug_assert_ne!(kind, "secret");
        let rows = sqlx::query(
            "SELECT name, value FROM bindings \
             WHERE tenant_id = $1 AND environment = $2 AND kind = $3 AND value IS NOT NULL",
        )
        .bind(tenant.as_str())
        .bind(environment)
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// One stored binding.
    pub async fn binding(
        &self,
        tenant: &TenantId,
        environment: &str,
        kind: &str,
        name: &str,
    ) -> anyhow::Result<Option<BindingValue>> {
        let row = sqlx::query(
            "SELECT value, sealed FROM bindings \
             WHERE tenant_id = $1 AND environment = $2 AND kind = $3 AND name = $4",
        )
        .bind(tenant.as_str())
        .bind(environment)
        .bind(kind)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let value: Option<String> = row.try_get(0)?;
        let sealed: Option<Vec<u8>> = row.try_get(1)?;
        Ok(match (value, sealed) {
            (Some(data_key_id), Some(sealed)) => Some(BindingValue::Sealed {
                data_key_id,
                sealed,
            }),
            (Some(value), None) => Some(BindingValue::Plain(value)),
            _ => None,
        })
    }

    /// Sets a binding (insert or replace).
    pub async fn put_binding(
        &self,
        tenant: &TenantId,
        environment: &str,
        kind: &str,
        name: &str,
        value: &BindingValue,
    ) -> anyhow::Result<()> {
        let (text, sealed): (&str, Option<Vec<u8>>) = match value {
            BindingValue::Plain(text) => (text, None),
            BindingValue::Sealed {
                data_key_id,
                sealed,
            } => (data_key_id, Some(sealed.clone())),
        };
        sqlx::query(
            "INSERT INTO bindings (tenant_id, environment, kind, name, value, sealed, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, environment, kind, name) \
             DO UPDATE SET value = excluded.value, sealed = excluded.sealed, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str())
        .bind(environment)
        .bind(kind)
        .bind(name)
        .bind(text)
        .bind(sealed)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a binding; `false` when there was none.
    pub async fn delete_binding(
        &self,
        tenant: &TenantId,
        environment: &str,
        kind: &str,
        name: &str,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "DELETE FROM bindings WHERE tenant_id = $1 AND environment = $2 AND kind = $3 AND name = $4",
        )
        .bind(tenant.as_str())
        .bind(environment)
        .bind(kind)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
