//! Calls: one row per call, written at its start (status `live`) and
//! completed at its end. Metadata is plain (numbers, flow, version, times,
//! outcome, channel, environment) so calls can be listed and filtered; the
//! event log, the redacted transcript and the signed evidence are sealed
//! with the tenant's data key named in `data_key_id`.

use sqlx::Row;

use super::{Db, TenantId};

/// A call's metadata.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CallInfo {
    pub id: String,
    pub flow: String,
    /// The published version the call ran (pinned at its start).
    pub flow_version: Option<i64>,
    /// `text` (the API's text channel), `sip` or `media-stream`.
    pub channel: String,
    /// `staging` or `production`: whose bindings the call used.
    pub environment: String,
    pub from: String,
    pub to: String,
    /// `live` or `ended`.
    pub status: String,
    /// How it ended: `completed`, `caller-hangup`, `transferred`,
    /// `voicemail`, `error`, `budget-exceeded`, `abandoned` or `shutdown`.
    pub outcome: Option<String>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// Whether a recording is stored.
    pub has_recording: bool,
    pub transcript_erased_at: Option<i64>,
    pub recording_erased_at: Option<i64>,
}

/// What a new call row holds.
#[derive(Debug, Clone)]
pub struct NewCall<'a> {
    pub id: &'a str,
    pub flow: &'a str,
    pub flow_version: Option<i64>,
    pub channel: &'a str,
    pub environment: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub started_at: i64,
    pub data_key_id: &'a str,
}

/// What a call's end writes: each blob already sealed.
#[derive(Debug, Clone)]
pub struct EndedCall<'a> {
    pub outcome: &'a str,
    pub ended_at: i64,
    pub data_key_id: &'a str,
    pub events: Vec<u8>,
    pub transcript: Vec<u8>,
    pub evidence: Vec<u8>,
}

/// Filters of a call list. Times are epoch milliseconds of the start.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Matches the caller's or the called number.
    pub number: Option<String>,
    pub flow: Option<String>,
    pub outcome: Option<String>,
    pub status: Option<String>,
    /// Only calls whose id sorts before this one (the next page).
    pub before: Option<String>,
    pub limit: i64,
}

/// A sealed column of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    Events,
    Transcript,
    Evidence,
}

impl Sealed {
    fn column(self) -> &'static str {
        match self {
            Sealed::Events => "events",
            Sealed::Transcript => "transcript",
            Sealed::Evidence => "evidence",
        }
    }

    /// Where the value is sealed (the AEAD's associated data): tenant, call
    /// and column, so a sealed value copied elsewhere does not open.
    pub fn place(self, tenant: &TenantId, call_id: &str) -> String {
        format!("calls/{tenant}/{call_id}/{}", self.column())
    }
}

const COLUMNS: &str = "id, flow_name, flow_version, channel, environment, from_number, to_number, \
     status, outcome, started_at, ended_at, recording, transcript_erased_at, recording_erased_at";

impl Db {
    /// Writes a call's row at its start, with status `live`.
    pub async fn insert_call(&self, tenant: &TenantId, call: &NewCall<'_>) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO calls (tenant_id, id, flow_name, flow_version, channel, environment, \
             from_number, to_number, status, started_at, data_key_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'live', $9, $10)",
        )
        .bind(tenant.as_str())
        .bind(call.id)
        .bind(call.flow)
        .bind(call.flow_version)
        .bind(call.channel)
        .bind(call.environment)
        .bind(call.from)
        .bind(call.to)
        .bind(call.started_at)
        .bind(call.data_key_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Completes a live call's row in one statement, so the row is either
    /// live or ended with everything. `false` when it was not live.
    pub async fn end_call(
        &self,
        tenant: &TenantId,
        id: &str,
        ended: &EndedCall<'_>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE calls SET status = 'ended', outcome = $1, ended_at = $2, data_key_id = $3, \
             events = $4, transcript = $5, evidence = $6 \
             WHERE tenant_id = $7 AND id = $8 AND status = 'live'",
        )
        .bind(ended.outcome)
        .bind(ended.ended_at)
        .bind(ended.data_key_id)
        .bind(ended.events.clone())
        .bind(ended.transcript.clone())
        .bind(ended.evidence.clone())
        .bind(tenant.as_str())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One call's metadata.
    pub async fn call(&self, tenant: &TenantId, id: &str) -> anyhow::Result<Option<CallInfo>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM calls WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(call_info).transpose()
    }

    /// A call's sealed column and the id of the key that sealed it:
    /// `None` when the tenant has no such call, `Some((key, None))` when
    /// the column is empty (live, or erased).
    pub async fn call_sealed(
        &self,
        tenant: &TenantId,
        id: &str,
        which: Sealed,
    ) -> anyhow::Result<Option<(String, Option<Vec<u8>>)>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT data_key_id, {} FROM calls WHERE tenant_id = $1 AND id = $2",
            which.column()
        )))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((row.try_get(0)?, row.try_get(1)?)))
    }

    /// Calls of a tenant, newest first, filtered.
    pub async fn list_calls(
        &self,
        tenant: &TenantId,
        filter: &CallFilter,
    ) -> anyhow::Result<Vec<CallInfo>> {
        // Built from fixed fragments only; every value is a bind parameter.
        let mut sql = format!("SELECT {COLUMNS} FROM calls WHERE tenant_id = $1");
        let mut n = 1;
        let mut next = || {
            n += 1;
            n
        };
        if filter.since.is_some() {
            sql.push_str(&format!(" AND started_at >= ${}", next()));
        }
        if filter.until.is_some() {
            sql.push_str(&format!(" AND started_at < ${}", next()));
        }
        if filter.number.is_some() {
            let (a, b) = (next(), next());
            sql.push_str(&format!(" AND (from_number = ${a} OR to_number = ${b})"));
        }
        if filter.flow.is_some() {
            sql.push_str(&format!(" AND flow_name = ${}", next()));
        }
        if filter.outcome.is_some() {
            sql.push_str(&format!(" AND outcome = ${}", next()));
        }
        if filter.status.is_some() {
            sql.push_str(&format!(" AND status = ${}", next()));
        }
        if filter.before.is_some() {
            sql.push_str(&format!(" AND id < ${}", next()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", next()));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str());
        if let Some(since) = filter.since {
            query = query.bind(since);
        }
        if let Some(until) = filter.until {
            query = query.bind(until);
        }
        if let Some(number) = &filter.number {
            query = query.bind(number.clone()).bind(number.clone());
        }
        if let Some(flow) = &filter.flow {
            query = query.bind(flow.clone());
        }
        if let Some(outcome) = &filter.outcome {
            query = query.bind(outcome.clone());
        }
        if let Some(status) = &filter.status {
            query = query.bind(status.clone());
        }
        if let Some(before) = &filter.before {
            query = query.bind(before.clone());
        }
        let rows = query.bind(filter.limit).fetch_all(&self.pool).await?;
        rows.iter().map(call_info).collect()
    }

    /// The recording file of a call (relative to the data directory):
    /// `None` when the tenant has no such call.
    pub async fn call_recording(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> anyhow::Result<Option<Option<String>>> {
        let row = sqlx::query("SELECT recording FROM calls WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        })
    }

    /// Sets (or, with `None`, clears and stamps as erased) a call's
    /// recording file. `false` when the tenant has no such call.
    pub async fn set_call_recording(
        &self,
        tenant: &TenantId,
        id: &str,
        file: Option<&str>,
        at: i64,
    ) -> anyhow::Result<bool> {
        let done = match file {
            Some(file) => {
                sqlx::query(
                    "UPDATE calls SET recording = $1, recording_erased_at = NULL \
                     WHERE tenant_id = $2 AND id = $3",
                )
                .bind(file)
                .bind(tenant.as_str())
                .bind(id)
                .execute(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE calls SET recording = NULL, recording_erased_at = $1 \
                     WHERE tenant_id = $2 AND id = $3",
                )
                .bind(at)
                .bind(tenant.as_str())
                .bind(id)
                .execute(&self.pool)
                .await?
            }
        };
        Ok(done.rows_affected() == 1)
    }
}

fn call_info(row: &sqlx::any::AnyRow) -> anyhow::Result<CallInfo> {
    Ok(CallInfo {
        id: row.try_get(0)?,
        flow: row.try_get(1)?,
        flow_version: row.try_get(2)?,
        channel: row.try_get(3)?,
        environment: row.try_get(4)?,
        from: row.try_get(5)?,
        to: row.try_get(6)?,
        status: row.try_get(7)?,
        outcome: row.try_get(8)?,
        started_at: row.try_get(9)?,
        ended_at: row.try_get(10)?,
        has_recording: row.try_get::<Option<String>, _>(11)?.is_some(),
        transcript_erased_at: row.try_get(12)?,
        recording_erased_at: row.try_get(13)?,
    })
}
