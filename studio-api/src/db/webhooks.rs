//! Webhooks and their delivery log.
//!
//! A delivery row is the outbox of one event for one webhook: `pending`
//! until it is `delivered` or `failed`. A worker takes a row by a
//! compare-and-set on its attempt count and due time ([`Db::claim_delivery`]),
//! which also pushes the due time out by a lease: of several server
//! processes on one database exactly one wins each attempt, and a process
//! that dies mid-send leaves a row that falls due again when the lease ends.

use sqlx::Row;

use super::{Db, TenantId, new_id, now_ms};

/// A webhook as listed: never its secret.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// The event types it receives (see `docs/webhooks.md`).
    pub events: Vec<String>,
    pub created_at: i64,
}

/// What the delivery worker needs to send to a webhook.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub url: String,
    /// The data key that sealed the secret.
    pub secret_key_id: String,
    pub sealed_secret: Vec<u8>,
}

/// One entry of a webhook's delivery log.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Sent as `Switchyard-Delivery`; the same on every attempt.
    pub id: String,
    pub webhook_id: String,
    /// The event type, e.g. `call.ended`.
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due (ms since the epoch); absent once
    /// delivered or failed.
    pub next_attempt_at: Option<i64>,
    /// The HTTP status of the last attempt, when the receiver answered.
    pub last_status: Option<i64>,
    /// Why the last attempt failed, e.g. `timed out` or `refused: …`.
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The body sent (the signed bytes are its compact serialisation).
    pub payload: serde_json::Value,
}

/// A delivery that is due, as the worker first sees it.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub tenant: TenantId,
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
}

/// How an attempt ended, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered {
        status: i64,
    },
    /// Failed; try again at `retry_at`.
    Retry {
        status: Option<i64>,
        error: String,
        retry_at: i64,
    },
    /// Failed for good (attempts used up, or refused).
    Failed {
        status: Option<i64>,
        error: String,
    },
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event, status, attempts, next_attempt_at, \
     last_status, last_error, created_at, updated_at, payload";

impl Db {
    /// Stores a webhook with its sealed secret.
    pub async fn create_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        url: &str,
        events: &[String],
        secret_key_id: &str,
        sealed_secret: Vec<u8>,
    ) -> anyhow::Result<Webhook> {
        let webhook = Webhook {
            id: id.to_owned(),
            url: url.to_owned(),
            events: events.to_vec(),
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO webhooks (tenant_id, id, url, events, secret, secret_key_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tenant.as_str())
        .bind(&webhook.id)
        .bind(&webhook.url)
        .bind(serde_json::to_string(&webhook.events)?)
        .bind(sealed_secret)
        .bind(secret_key_id)
        .bind(webhook.created_at)
        .execute(&self.pool)
        .await?;
        Ok(webhook)
    }

    pub async fn webhooks(&self, tenant: &TenantId) -> anyhow::Result<Vec<Webhook>> {
        let rows = sqlx::query(
            "SELECT id, url, events, created_at FROM webhooks WHERE tenant_id = $1 \
             ORDER BY created_at, id",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook).collect()
    }

    pub async fn webhook(&self, tenant: &TenantId, id: &str) -> anyhow::Result<Option<Webhook>> {
        let row = sqlx::query(
            "SELECT id, url, events, created_at FROM webhooks WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(webhook).transpose()
    }

    pub async fn webhook_count(&self, tenant: &TenantId) -> anyhow::Result<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) FROM webhooks WHERE tenant_id = $1")
                .bind(tenant.as_str())
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?,
        )
    }

    /// Where to send and the sealed secret to sign with.
    pub async fn webhook_target(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> anyhow::Result<Option<WebhookTarget>> {
        let row = sqlx::query(
            "SELECT url, secret_key_id, secret FROM webhooks WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(WebhookTarget {
                url: row.try_get(0)?,
                secret_key_id: row.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
                sealed_secret: row.try_get(2)?,
            })
        })
        .transpose()
    }

    /// Deletes a webhook and its delivery log (pending deliveries are not
    /// sent); `false` when the tenant has no such webhook.
    pub async fn delete_webhook(&self, tenant: &TenantId, id: &str) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND webhook_id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Queues `payload` (the whole body, serialised once so every attempt
    /// signs the same bytes) for each webhook in `webhook_ids`, due now.
    /// Returns the new deliveries' ids.
    pub async fn queue_deliveries(
        &self,
        tenant: &TenantId,
        webhook_ids: &[String],
        event: &str,
        payload: &str,
    ) -> anyhow::Result<Vec<String>> {
        let now = now_ms();
        let mut ids = Vec::with_capacity(webhook_ids.len());
        let mut tx = self.pool.begin().await?;
        for webhook_id in webhook_ids {
            let id = new_id("whd");
            sqlx::query(
                "INSERT INTO webhook_deliveries (tenant_id, id, webhook_id, event, payload, status, \
                 attempts, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6)",
            )
            .bind(tenant.as_str())
            .bind(&id)
            .bind(webhook_id)
            .bind(event)
            .bind(payload)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// A webhook's deliveries, newest first: those older than `before` (a
    /// delivery id) when given, only `status` when given, at most `limit`.
    pub async fn deliveries(
        &self,
        tenant: &TenantId,
        webhook_id: &str,
        before: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<Vec<Delivery>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
             WHERE tenant_id = $1 AND webhook_id = $2 AND ($3 = '' OR id < $3) \
             AND ($4 = '' OR status = $4) ORDER BY id DESC LIMIT $5"
        )))
        .bind(tenant.as_str())
        .bind(webhook_id)
        .bind(before.unwrap_or(""))
        .bind(status.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery).collect()
    }

    pub async fn delivery(&self, tenant: &TenantId, id: &str) -> anyhow::Result<Option<Delivery>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(delivery).transpose()
    }

    /// Pending deliveries due at `now`, of every tenant (the worker's
    /// query), oldest due first.
    pub async fn due_deliveries(&self, now: i64, limit: i64) -> anyhow::Result<Vec<DueDelivery>> {
        let rows = sqlx::query(
            "SELECT tenant_id, id, webhook_id, event, payload, attempts, next_attempt_at \
             FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DueDelivery {
                    tenant: TenantId::from_trusted(row.try_get::<String, _>(0)?),
                    id: row.try_get(1)?,
                    webhook_id: row.try_get(2)?,
                    event: row.try_get(3)?,
                    payload: row.try_get(4)?,
                    attempts: row.try_get(5)?,
                    next_attempt_at: row.try_get(6)?,
                })
            })
            .collect()
    }

    /// When the earliest pending delivery falls due, if any.
    pub async fn next_delivery_due(&self) -> anyhow::Result<Option<i64>> {
        Ok(sqlx::query(
            "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?)
    }

    /// Takes a due delivery for one attempt: counts the attempt and moves
    /// its due time to `lease_until`, only if nobody else took it since it
    /// was read (same attempts, same due time, still pending). `true` when
    /// this caller won; the attempt's number is then `seen.attempts + 1`.
    pub async fn claim_delivery(
        &self,
        seen: &DueDelivery,
        lease_until: i64,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $1, \
             updated_at = $2 WHERE tenant_id = $3 AND id = $4 AND status = 'pending' \
             AND attempts = $5 AND next_attempt_at = $6",
        )
        .bind(lease_until)
        .bind(now_ms())
        .bind(seen.tenant.as_str())
        .bind(&seen.id)
        .bind(seen.attempts)
        .bind(seen.next_attempt_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records how attempt number `attempt` ended. Does nothing when the
    /// row has moved on (deleted, or re-claimed after this attempt's lease
    /// ran out): the later attempt's outcome is the one that counts.
    pub async fn finish_delivery(
        &self,
        tenant: &TenantId,
        id: &str,
        attempt: i64,
        result: &AttemptResult,
    ) -> anyhow::Result<bool> {
        let (status, next_at, last_status, last_error) = match result {
            AttemptResult::Delivered { status } => ("delivered", 0, Some(*status), None),
            AttemptResult::Retry {
                status,
                error,
                retry_at,
            } => ("pending", *retry_at, *status, Some(error.as_str())),
            AttemptResult::Failed { status, error } => ("failed", 0, *status, Some(error.as_str())),
        };
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, last_status = $3, \
             last_error = $4, updated_at = $5 \
             WHERE tenant_id = $6 AND id = $7 AND status = 'pending' AND attempts = $8",
        )
        .bind(status)
        .bind(next_at)
        .bind(last_status)
        .bind(last_error)
        .bind(now_ms())
        .bind(tenant.as_str())
        .bind(id)
        .bind(attempt)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes one delivery (one whose webhook is gone).
    pub async fn delete_delivery(&self, tenant: &TenantId, id: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes delivered and failed deliveries last touched before
    /// `before`; returns how many.
    pub async fn prune_deliveries(&self, before: i64) -> anyhow::Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND updated_at < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}

fn webhook(row: &sqlx::any::AnyRow) -> anyhow::Result<Webhook> {
    Ok(Webhook {
        id: row.try_get(0)?,
        url: row.try_get(1)?,
        events: serde_json::from_str(&row.try_get::<String, _>(2)?)?,
        created_at: row.try_get(3)?,
    })
}

fn delivery(row: &sqlx::any::AnyRow) -> anyhow::Result<Delivery> {
    let status: String = row.try_get(3)?;
    let next_attempt_at: i64 = row.try_get(5)?;
    Ok(Delivery {
        id: row.try_get(0)?,
        webhook_id: row.try_get(1)?,
        event: row.try_get(2)?,
        next_attempt_at: (status == "pending").then_some(next_attempt_at),
        status,
        attempts: row.try_get(4)?,
        last_status: row.try_get(6)?,
        last_error: row.try_get(7)?,
        created_at: row.try_get(8)?,
        updated_at: row.try_get(9)?,
        payload: serde_json::from_str(&row.try_get::<String, _>(10)?)?,
    })
}
