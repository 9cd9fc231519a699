//! Data rights and retention: `/v1/data-subjects/{number}` (export and
//! erasure of everything held about one phone number) and `/v1/retention`
//! (the periods in force).
//!
//! The audit log names a data subject by a hash of the number, never the
//! number itself, so an erasure does not leave the number behind in the one
//! table that cannot be changed.

use axum::extract::State;
use base64::Engine;
use futures_util::TryStreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use crate::db::calls::{CallFilter, CallInfo, Sealed};
use crate::db::tenants::Retention;
use crate::db::{TenantId, now_ms};
use crate::retention::{Effective, effective};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_subject))
        .routes(routes!(erase_subject))
        .routes(routes!(get_retention))
}

/// Everything held about one number.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectExport {
    pub number: String,
    pub exported_at: i64,
    pub calls: Vec<ExportedCall>,
    /// Webhook deliveries about the number: those whose payload names it,
    /// and the events of its calls.
    pub webhook_deliveries: Vec<Value>,
}

/// One call in an export: metadata, and what is still held of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedCall {
    #[serde(flatten)]
    pub call: CallInfo,
    /// The redacted transcript, unless erased or past retention.
    pub transcript: Option<Value>,
    /// The call's event log.
    pub events: Option<Value>,
    /// The signed compliance evidence.
    pub evidence: Option<Value>,
    /// The recording: `{content_type, base64}`.
    pub recording: Option<Value>,
}

/// What an erasure removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Erased {
    pub number: String,
    pub calls: u64,
    pub recordings: u64,
    pub webhook_deliveries: u64,
}

/// Retention settings and the periods in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionView {
    /// The tenant's own settings (`null`: the templates' default).
    pub settings: Retention,
    /// The periods the sweeper applies.
    pub effective: Effective,
}

fn parse_number(number: &str) -> Result<String, ApiError> {
    crate::flow_store::normalize_number(number)
        .map_err(|message| ApiError::bad_request("bad-number", message).at("/number"))
}

/// How the audit log names a number: a hash, so erasure leaves no number behind.
fn subject_ref(tenant: &TenantId, number: &str) -> String {
    let digest = Sha256::digest(format!("{tenant}\0{number}").as_bytes());
    format!("subject:{}", hex::encode(&digest[..12]))
}

/// Every call of `tenant` with `number` as caller or callee.
async fn calls_of(state: &AppState, tenant: &TenantId, number: &str) -> ApiResult<Vec<CallInfo>> {
    let mut calls = Vec::new();
    let mut before = None;
    loop {
        let filter = CallFilter {
            number: Some(number.to_owned()),
            before: before.clone(),
            limit: 500,
            ..CallFilter::default()
        };
        let page = state.db.list_calls(tenant, &filter).await?;
        let done = page.len() < 500;
        before = page.last().map(|c| c.id.clone());
        calls.extend(page);
        if done {
            return Ok(calls);
        }
    }
}

async fn open_sealed(
    state: &AppState,
    tenant: &TenantId,
    call: &str,
    which: Sealed,
) -> ApiResult<Option<Value>> {
    let Some((key_id, Some(sealed))) = state.db.call_sealed(tenant, call, which).await? else {
        return Ok(None);
    };
    let key = state.keyring.by_id(&state.db, tenant, &key_id).await?;
    let plain = key
        .open(&sealed, which.place(tenant, call).as_bytes())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("call {call}: {e}")))?;
    Ok(Some(serde_json::from_slice(&plain).unwrap_or_else(|_| {
        Value::String(String::from_utf8_lossy(&plain).into_owned())
    })))
}

/// Deliveries about `number`: those whose payload names the number, and
/// the events of its `calls` (call events name a call by `call_id`, not by
/// its numbers). Each at most once, oldest first.
async fn deliveries_about(
    state: &AppState,
    tenant: &TenantId,
    number: &str,
    calls: &[CallInfo],
) -> ApiResult<Vec<(String, Value)>> {
    // LIKE narrows the rows (`_` in an id matches itself, and anything);
    // the payload's own `data.call_id` decides.
    let mut patterns = vec![(format!("%{number}%"), None)];
    patterns.extend(
        calls
            .iter()
            .map(|c| (format!("%\"call_id\":\"{}\"%", c.id), Some(c.id.as_str()))),
    );
    let mut found = std::collections::BTreeMap::new();
    for (pattern, call) in patterns {
        let rows = sqlx::query(
            "SELECT id, event, payload, created_at FROM webhook_deliveries WHERE tenant_id = $1 AND payload LIKE $2",
        )
        .bind(tenant.as_str())
        .bind(pattern)
        .fetch_all(&state.db.pool)
        .await?;
        for r in &rows {
            let id: String = r.try_get(0)?;
            let payload: String = r.try_get(2)?;
            let payload = serde_json::from_str::<Value>(&payload).unwrap_or(Value::String(payload));
            if call.is_some_and(|call| payload["data"]["call_id"] != call) {
                continue;
            }
            let created_at: i64 = r.try_get(3)?;
            let delivery = json!({
                "id": id,
                "event": r.try_get::<String, _>(1)?,
                "created_at": created_at,
                "payload": payload,
            });
            found.insert((created_at, id.clone()), (id, delivery));
        }
    }
    Ok(found.into_values().collect())
}

/// Exports everything held about a phone number: each call with its
/// transcript, event log, evidence and recording (base64 WAV), and the
/// webhook deliveries about it (naming it, or events of its calls).
/// Audited as `data.exported`.
#[utoipa::path(get, path = "/v1/data-subjects/{number}/export", tag = "data rights",
    params(("number" = String, Path, description = "E.164, e.g. +14155550100 (percent-encode the +)")),
    responses((status = 200, body = SubjectExport), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn export_subject(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(number): ApiPath<String>,
) -> ApiResult<ApiJson<SubjectExport>> {
    auth.require("admin")?;
    let number = parse_number(&number)?;
    let tenant = &auth.tenant;
    let found = calls_of(&state, tenant, &number).await?;
    let webhook_deliveries = deliveries_about(&state, tenant, &number, &found)
        .await?
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    let mut calls = Vec::new();
    for call in found {
        let recording = match crate::recordings::open(&state, tenant, &call.id).await? {
            Some(recording) => {
                let bytes: Vec<u8> = recording
                    .into_stream()
                    .try_fold(Vec::new(), |mut all, chunk| async move {
                        all.extend_from_slice(&chunk);
                        Ok(all)
                    })
                    .await
                    .map_err(|e| ApiError::internal(e.into()))?;
                Some(json!({
                    "content_type": "audio/wav",
                    "base64": base64::engine::general_purpose::STANDARD.encode(bytes),
                }))
            }
            None => None,
        };
        calls.push(ExportedCall {
            transcript: open_sealed(&state, tenant, &call.id, Sealed::Transcript).await?,
            events: open_sealed(&state, tenant, &call.id, Sealed::Events).await?,
            evidence: open_sealed(&state, tenant, &call.id, Sealed::Evidence).await?,
            recording,
            call,
        });
    }

    state
        .db
        .audit(
            tenant,
            &auth.key_id,
            "data.exported",
            &subject_ref(tenant, &number),
            json!({"calls": calls.len()}),
        )
        .await?;
    Ok(ApiJson(SubjectExport {
        number,
        exported_at: now_ms(),
        calls,
        webhook_deliveries,
    }))
}

/// Erases everything held about a phone number: its calls (rows, sealed
/// logs, transcripts, evidence) and their recordings, and the webhook
/// deliveries about it (naming it, or events of its calls). Refused while a
/// call with the number is live.
/// Audited as `data.erased`, naming the number only by a hash.
#[utoipa::path(delete, path = "/v1/data-subjects/{number}", tag = "data rights",
    params(("number" = String, Path, description = "E.164, e.g. +14155550100 (percent-encode the +)")),
    responses((status = 200, body = Erased), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn erase_subject(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(number): ApiPath<String>,
) -> ApiResult<ApiJson<Erased>> {
    auth.require("admin")?;
    let number = parse_number(&number)?;
    let tenant = &auth.tenant;
    let calls = calls_of(&state, tenant, &number).await?;
    if let Some(live) = calls.iter().find(|c| c.status == "live") {
        return Err(ApiError::conflict(
            "call-live",
            format!(
                "call {} with this number is still live; erase once it has ended",
                live.id
            ),
        ));
    }
    // Found before the calls go: call events name them only by id.
    let deliveries = deliveries_about(&state, tenant, &number, &calls).await?;
    let mut erased = Erased {
        number: number.clone(),
        calls: 0,
        recordings: 0,
        webhook_deliveries: 0,
    };
    for call in &calls {
        if call.has_recording {
            crate::recordings::delete(&state, tenant, &call.id).await?;
            erased.recordings += 1;
        }
        erased.calls += sqlx::query("DELETE FROM calls WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(&call.id)
            .execute(&state.db.pool)
            .await?
            .rows_affected();
    }
    for (id, _) in deliveries {
        erased.webhook_deliveries +=
            sqlx::query("DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(&id)
                .execute(&state.db.pool)
                .await?
                .rows_affected();
    }
    state
        .db
        .audit(
            tenant,
            &auth.key_id,
            "data.erased",
            &subject_ref(tenant, &number),
            json!({"calls": erased.calls, "recordings": erased.recordings, "webhook_deliveries": erased.webhook_deliveries}),
        )
        .await?;
    Ok(ApiJson(erased))
}

/// The tenant's retention settings and the periods in force (set them with
/// `PUT /v1/tenant/retention`).
#[utoipa::path(get, path = "/v1/retention", tag = "data rights",
    responses((status = 200, body = RetentionView), (status = 403, body = ErrorBody)))]
async fn get_retention(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<ApiJson<RetentionView>> {
    auth.require("admin")?;
    let tenant = state.db.tenant(&auth.tenant).await?;
    Ok(ApiJson(RetentionView {
        effective: effective(&tenant),
        settings: tenant.retention,
    }))
}
