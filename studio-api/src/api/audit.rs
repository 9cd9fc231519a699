//! `/v1/audit`: the tenant's audit log, newest first, for admins.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::error::{ApiJson, ApiQuery, ApiResult, ErrorBody};
use crate::db::audit::AuditEntry;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries older than this entry id (for paging).
    pub before: Option<String>,
    /// At most this many entries (1 to 500, default 100).
    pub limit: Option<i64>,
}

/// The audit log, newest first. It is append-only: no route changes it.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_audit(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<ApiJson<Vec<AuditEntry>>> {
    auth.require("admin")?;
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    Ok(ApiJson(
        state
            .db
            .audit_entries(&auth.tenant, query.before.as_deref(), limit)
            .await?,
    ))
}
