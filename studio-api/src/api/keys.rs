//! Keys and tenant settings: `/v1/keys`, `/v1/tenant`, `/v1/tenant/templates`,
//! `/v1/tenant/retention`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use crate::db::keys::{KeyInfo, SCOPES};
use crate::db::tenants::{Retention, Tenant};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, revoke_key))
        .routes(routes!(get_tenant))
        .routes(routes!(set_templates))
        .routes(routes!(set_retention))
}

/// A new key's name and scopes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    /// Any of `admin`, `flows:write`, `flows:read`, `calls:read`, `plugins:write`.
    pub scopes: Vec<String>,
}

/// A created key: `key` is shown this once and never again.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub info: KeyInfo,
    pub key: String,
}

/// The tenant's keys (never the keys themselves).
#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    responses((status = 200, body = Vec<KeyInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_keys(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<Vec<KeyInfo>>> {
    auth.require("admin")?;
    Ok(ApiJson(state.db.list_keys(&auth.tenant).await?))
}

/// Creates a key. The response holds the key; it is stored only as a hash.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_key(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(new): ApiJson<NewKey>,
) -> ApiResult<(StatusCode, ApiJson<CreatedKey>)> {
    auth.require("admin")?;
    let name = new.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::invalid(
            "/name",
            "a key's name is 1 to 100 characters",
        ));
    }
    if new.scopes.is_empty() {
        return Err(ApiError::invalid(
            "/scopes",
            "a key needs at least one scope",
        ));
    }
    for (i, scope) in new.scopes.iter().enumerate() {
        if !SCOPES.contains(&scope.as_str()) {
            return Err(ApiError::invalid(
                format!("/scopes/{i}"),
                format!("unknown scope `{scope}`; scopes are {}", SCOPES.join(", ")),
            ));
        }
    }
    let (info, key) = state.db.create_key(&auth.tenant, name, &new.scopes).await?;
    state
        .db
        .audit(
            &auth.tenant,
            &auth.key_id,
            "key.created",
            &info.id,
            json!({"name": info.name, "prefix": info.prefix, "scopes": info.scopes}),
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(CreatedKey { info, key })))
}

/// One key.
#[utoipa::path(get, path = "/v1/keys/{id}", tag = "keys", params(("id" = String, Path)),
    responses((status = 200, body = KeyInfo), (status = 404, body = ErrorBody)))]
async fn get_key(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<KeyInfo>> {
    auth.require("admin")?;
    state
        .db
        .key(&auth.tenant, &id)
        .await?
        .map(ApiJson)
        .ok_or_else(|| ApiError::not_found(format!("key {id}")))
}

/// Revokes a key at once. A key cannot revoke itself.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn revoke_key(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    auth.require("admin")?;
    if id == auth.key_id {
        return Err(ApiError::conflict(
            "self-revocation",
            "a key cannot revoke itself; use another admin key",
        ));
    }
    if !state.db.revoke_key(&auth.tenant, &id).await? {
        return Err(ApiError::not_found(format!("key {id}")));
    }
    state
        .db
        .audit(&auth.tenant, &auth.key_id, "key.revoked", &id, json!({}))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's settings: enabled templates and retention.
#[utoipa::path(get, path = "/v1/tenant", tag = "tenant",
    responses((status = 200, body = Tenant), (status = 401, body = ErrorBody)))]
async fn get_tenant(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<Tenant>> {
    auth.require("admin")?;
    Ok(ApiJson(state.db.tenant(&auth.tenant).await?))
}

/// The compliance templates to enable; every later publish must satisfy them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    pub templates: Vec<String>,
}

/// Sets the enabled compliance templates (audited as enabled and disabled).
#[utoipa::path(put, path = "/v1/tenant/templates", tag = "tenant", request_body = Templates,
    responses((status = 200, body = Tenant), (status = 422, body = ErrorBody)))]
async fn set_templates(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<Templates>,
) -> ApiResult<ApiJson<Tenant>> {
    auth.require("admin")?;
    use switchyard_runtime::policy::template::{bundled_template, bundled_templates};
    for (i, id) in body.templates.iter().enumerate() {
        if bundled_template(id).is_none() {
            let known: Vec<&str> = bundled_templates().iter().map(|t| t.id.as_str()).collect();
            return Err(ApiError::invalid(
                format!("/templates/{i}"),
                format!("unknown template `{id}`; known: {}", known.join(", ")),
            ));
        }
    }
    let mut wanted = body.templates.clone();
    wanted.sort();
    wanted.dedup();
    let before = state.db.tenant(&auth.tenant).await?.templates;
    state.db.set_templates(&auth.tenant, &wanted).await?;
    for id in wanted.iter().filter(|t| !before.contains(t)) {
        state
            .db
            .audit(
                &auth.tenant,
                &auth.key_id,
                "template.enabled",
                id,
                json!({}),
            )
            .await?;
    }
    for id in before.iter().filter(|t| !wanted.contains(t)) {
        state
            .db
            .audit(
                &auth.tenant,
                &auth.key_id,
                "template.disabled",
                id,
                json!({}),
            )
            .await?;
    }
    Ok(ApiJson(state.db.tenant(&auth.tenant).await?))
}

/// Sets retention in days per kind of data (`null`: the templates' default).
#[utoipa::path(put, path = "/v1/tenant/retention", tag = "tenant", request_body = Retention,
    responses((status = 200, body = Tenant), (status = 422, body = ErrorBody)))]
async fn set_retention(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(retention): ApiJson<Retention>,
) -> ApiResult<ApiJson<Tenant>> {
    auth.require("admin")?;
    for (pointer, days) in [
        ("/recordings_days", retention.recordings_days),
        ("/transcripts_days", retention.transcripts_days),
        ("/calls_days", retention.calls_days),
    ] {
        if let Some(days) = days
            && !(1..=36_500).contains(&days)
        {
            return Err(ApiError::invalid(
                pointer,
                format!("retention is 1 to 36500 days, not {days}"),
            ));
        }
    }
    let before = state.db.tenant(&auth.tenant).await?.retention;
    state.db.set_retention(&auth.tenant, &retention).await?;
    state
        .db
        .audit(
            &auth.tenant,
            &auth.key_id,
            "retention.changed",
            "tenant",
            json!({"before": before, "after": retention}),
        )
        .await?;
    Ok(ApiJson(state.db.tenant(&auth.tenant).await?))
}
