//! `/v1/webhooks`: a tenant's webhook endpoints, their delivery logs, and
//! test pings. Admin keys only. The wire format is in `docs/webhooks.md`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::db::webhooks::{Delivery, Webhook};
use crate::ssrf::UrlProblem;
use crate::state::AppState;
use crate::webhooks::{EVENT_TYPES, generate_secret, is_event_type, secret_place};

/// Webhooks one tenant may have.
pub const MAX_WEBHOOKS: i64 = 20;

/// The longest webhook URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(ping_webhook))
}

/// A new webhook.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where events are posted: `https://` (plain `http://` only when the
    /// server runs with `--dev`), without `user:password@`.
    pub url: String,
    /// Event types to receive: `call.started`, `call.ended`,
    /// `call.transferred`, `voicemail.left`, `compliance.opt_out`,
    /// `compliance.refused`, `ping`.
    pub events: Vec<String>,
}

/// A created webhook: `secret` (the HMAC key of `Switchyard-Signature`) is
/// shown this once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub secret: String,
}

/// A delivery's state.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only deliveries older than this delivery id (for paging).
    pub before: Option<String>,
    /// Only deliveries in this state.
    pub status: Option<DeliveryStatus>,
    /// At most this many deliveries (1 to 200, default 50).
    pub limit: Option<i64>,
}

/// The tenant's webhooks (never their secrets).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = Vec<Webhook>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
async fn list_webhooks(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<ApiJson<Vec<Webhook>>> {
    auth.require("admin")?;
    Ok(ApiJson(state.db.webhooks(&auth.tenant).await?))
}

/// Creates a webhook. The response holds its signing secret, which is
/// stored sealed and never shown again.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, body = CreatedWebhook), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, description = "the tenant has the most webhooks it may have", body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(new): ApiJson<NewWebhook>,
) -> ApiResult<(StatusCode, ApiJson<CreatedWebhook>)> {
    auth.require("admin")?;
    let url = check_url(&state, &new.url)?;
    let events = check_events(&new.events)?;
    if state.db.webhook_count(&auth.tenant).await? >= MAX_WEBHOOKS {
        return Err(ApiError::conflict(
            "too-many-webhooks",
            format!("a tenant has at most {MAX_WEBHOOKS} webhooks; delete one first"),
        ));
    }
    let id = crate::db::new_id("wh");
    let secret = zeroize::Zeroizing::new(generate_secret());
    let (key_id, key) = state.keyring.current(&state.db, &auth.tenant).await?;
    let sealed = key.seal(secret.as_bytes(), &secret_place(&id));
    let webhook = state
        .db
        .create_webhook(&auth.tenant, &id, url.as_str(), &events, &key_id, sealed)
        .await?;
    // The host and events only: a URL's path or query may hold a token.
    state
        .db
        .audit(
            &auth.tenant,
            &auth.key_id,
            "webhook.created",
            &webhook.id,
            json!({"host": url.host_str(), "events": webhook.events}),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedWebhook {
            webhook,
            secret: secret.to_string(),
        }),
    ))
}

/// One webhook (without its secret).
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = Webhook), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Webhook>> {
    auth.require("admin")?;
    Ok(ApiJson(find(&state, &auth, &id).await?))
}

/// Deletes a webhook and its delivery log; deliveries not yet sent are
/// dropped.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    auth.require("admin")?;
    if !state.db.delete_webhook(&auth.tenant, &id).await? {
        return Err(not_found(&id));
    }
    state
        .db
        .audit(
            &auth.tenant,
            &auth.key_id,
            "webhook.deleted",
            &id,
            json!({}),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A webhook's delivery log, newest first: each event, its state, the
/// attempts made, the last HTTP status or error, and when the next attempt
/// is due. Delivered and failed entries are kept 30 days.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), DeliveriesQuery),
    responses((status = 200, body = Vec<Delivery>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn list_deliveries(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> ApiResult<ApiJson<Vec<Delivery>>> {
    auth.require("admin")?;
    find(&state, &auth, &id).await?;
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    Ok(ApiJson(
        state
            .db
            .deliveries(
                &auth.tenant,
                &id,
                query.before.as_deref(),
                query.status.map(DeliveryStatus::as_str),
                limit,
            )
            .await?,
    ))
}

/// Queues a `ping` event to this webhook (whatever events it subscribes
/// to), to test the receiver and its signature check. The answer is the
/// queued delivery; follow it in the delivery log.
#[utoipa::path(post, path = "/v1/webhooks/{id}/ping", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 202, body = Delivery), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn ping_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, ApiJson<Delivery>)> {
    auth.require("admin")?;
    find(&state, &auth, &id).await?;
    let delivery_id = crate::webhooks::ping(&state, &auth.tenant, &id).await?;
    let delivery = state
        .db
        .delivery(&auth.tenant, &delivery_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the queued ping {delivery_id} is missing"))?;
    Ok((StatusCode::ACCEPTED, ApiJson(delivery)))
}

async fn find(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Webhook> {
    state
        .db
        .webhook(&auth.tenant, id)
        .await?
        .ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("webhook {id}"))
}

/// A webhook URL as stored: parsed, `https://` (or `http://` in dev mode),
/// without credentials, and not an IP literal the policy refuses. Names are
/// checked at each delivery, after resolution, since DNS answers change.
fn check_url(state: &AppState, text: &str) -> ApiResult<reqwest::Url> {
    if text.len() > MAX_URL_BYTES {
        return Err(ApiError::invalid(
            "/url",
            format!("the URL is longer than {MAX_URL_BYTES} bytes"),
        ));
    }
    let url = reqwest::Url::parse(text)
        .map_err(|e| ApiError::invalid("/url", format!("the URL does not parse: {e}")))?;
    state
        .config
        .outbound
        .check_url(&url, state.config.dev_mode)
        .map_err(|problem| {
            let message = match &problem {
                UrlProblem::Refused(_) => format!(
                    "{problem}; webhooks cannot reach loopback, private, link-local or metadata \
                     addresses unless the operator allows the network (`serve --allow-net CIDR`)"
                ),
                _ => problem.to_string(),
            };
            ApiError::invalid("/url", message)
        })?;
    Ok(url)
}

/// The event types, each known, without repeats.
fn check_events(events: &[String]) -> ApiResult<Vec<String>> {
    if events.is_empty() {
        return Err(ApiError::invalid(
            "/events",
            "a webhook needs at least one event type",
        ));
    }
    let mut wanted: Vec<String> = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        if !is_event_type(event) {
            let known: Vec<&str> = EVENT_TYPES.iter().map(|(name, _)| *name).collect();
            return Err(ApiError::invalid(
                format!("/events/{i}"),
                format!(
                    "unknown event type `{event}`; event types are {}",
                    known.join(", ")
                ),
            ));
        }
        if !wanted.contains(event) {
            wanted.push(event.clone());
        }
    }
    Ok(wanted)
}
