//! Outbound calls: `POST /v1/calls/outbound` rings a number or SIP URI and
//! runs a flow of the tenant's on the answered call, after
//! answering-machine detection (see [`crate::voice::outbound`]).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use crate::state::AppState;
use crate::voice::outbound::{self, DEFAULT_RING_TIMEOUT, MAX_RING_TIMEOUT, PlaceCall, Placed};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(place_call))
}

/// An outbound call to place.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOutboundCall {
    /// The callee: a SIP URI (`sip:alice@example.com:5060`), or a phone
    /// number, dialled through the server's `--sip-outbound-proxy`.
    pub to: String,
    /// The caller ID: a number or a SIP URI.
    pub from: String,
    /// The flow to run once the callee answers (its live version). It sees
    /// the call variable `answered_by`: `human`, `machine` (the flow starts
    /// after the voicemail's beep) or `unknown`.
    pub flow: String,
    /// Whose bindings the call uses: `production` (the default) or `staging`.
    #[serde(default)]
    pub environment: Option<String>,
    /// Seconds to let it ring before giving up (1 to 120, default 30).
    #[serde(default)]
    pub ring_timeout_s: Option<u64>,
}

/// Places an outbound call and answers at once with its id (status
/// `dialling`). Before anything rings, the outbound calling guard checks
/// the call: the calling hours of the tenant's enabled compliance templates
/// in the callee's local time (403 `outbound-refused` names the rule, and
/// the refusal goes to the audit log). When the callee answers,
/// answering-machine detection listens first; the flow then runs with
/// `answered_by` set (for a machine, after its beep). A call nobody answers
/// is written with outcome `no-answer`, `busy`, `declined` or `failed`.
/// Follow it with `GET /v1/calls/{id}` and the `call.started` /
/// `call.ended` webhooks (`"direction": "outbound"`).
#[utoipa::path(post, path = "/v1/calls/outbound", tag = "calls", request_body = NewOutboundCall,
    responses((status = 201, body = Placed), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "The key lacks `flows:write`, or the outbound calling guard refuses the call (`outbound-refused`, with the rule)"),
              (status = 404, body = ErrorBody, description = "No such flow of this tenant, or no live version"),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody, description = "The server is shutting down, or runs no SIP")))]
async fn place_call(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(new): ApiJson<NewOutboundCall>,
) -> ApiResult<(StatusCode, ApiJson<Placed>)> {
    auth.require("flows:write")?;
    if new.flow.trim().is_empty() || new.flow.len() > 200 {
        return Err(ApiError::invalid(
            "/flow",
            "a flow name is 1 to 200 characters",
        ));
    }
    let ring_timeout = match new.ring_timeout_s {
        None => DEFAULT_RING_TIMEOUT,
        Some(seconds) if (1..=MAX_RING_TIMEOUT.as_secs()).contains(&seconds) => {
            std::time::Duration::from_secs(seconds)
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "/ring_timeout_s",
                format!(
                    "a ring timeout is 1 to {} seconds",
                    MAX_RING_TIMEOUT.as_secs()
                ),
            ));
        }
    };
    let placed = outbound::place(
        &state,
        &auth.tenant,
        PlaceCall {
            to: new.to,
            from: new.from,
            flow: new.flow.trim().to_owned(),
            environment: new.environment.unwrap_or_else(|| "production".into()),
            ring_timeout,
            actor: auth.key_id.clone(),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(placed)))
}
