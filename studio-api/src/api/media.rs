//! Media streams: `POST /v1/media-stream/tokens` makes the token a Twilio
//! `<Stream>` carries to `GET /v1/media-stream` (the WebSocket itself is
//! served by [`crate::media_stream`]; the document describes its handshake:
//! 101, or the 4xx it answers before upgrading).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use crate::flow_store;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_stream_token))
        .routes(routes!(crate::media_stream::upgrade))
}

/// Tokens live 30 days unless asked otherwise, at most a year: TwiML that
/// carries one is usually static configuration.
const DEFAULT_TTL_SECONDS: i64 = 30 * 86_400;
const MAX_TTL_SECONDS: i64 = 366 * 86_400;

/// What a media-stream token is for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStreamToken {
    /// The number or SIP URI the stream calls; it must be routed to one of
    /// this tenant's flows.
    pub to: String,
    /// Lifetime in seconds (default 30 days, at most 366 days).
    #[serde(default)]
    pub ttl_seconds: Option<i64>,
}

/// A media-stream token, with the TwiML that uses it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamToken {
    pub token: String,
    /// Epoch milliseconds.
    pub expires_at: i64,
    /// TwiML for a Twilio number's voice webhook (replace the host).
    pub twiml: String,
}

/// Makes a token for a Twilio-compatible media stream to reach the flow
/// routed at `to`. Put it in the `<Stream>`'s `<Parameter name="token">`
/// (or the URL's `?token=`); the stream is refused before any audio is
/// accepted when it is missing, expired or forged. Tokens are signed with
/// the tenant's data key and not stored.
#[utoipa::path(post, path = "/v1/media-stream/tokens", tag = "calls", request_body = NewStreamToken,
    responses((status = 201, body = StreamToken), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "No route of this tenant for `to`"),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_stream_token(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(new): ApiJson<NewStreamToken>,
) -> ApiResult<(StatusCode, ApiJson<StreamToken>)> {
    auth.require("admin")?;
    let to = new.to.trim();
    if to.is_empty() || to.len() > 200 || to.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "/to",
            "a number or address is 1 to 200 printable characters",
        ));
    }
    let ttl = new.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(ApiError::invalid(
            "/ttl_seconds",
            format!("a lifetime is 1 to {MAX_TTL_SECONDS} seconds"),
        ));
    }
    let routed = flow_store::route(&state, to).await?;
    if routed.is_none_or(|(owner, _, _)| owner != auth.tenant) {
        return Err(ApiError::not_found(format!("a route for {to}")).at("/to"));
    }
    let (token, expires_at) =
        crate::media_stream::token::mint(&state, &auth.tenant, to, ttl * 1000).await?;
    let twiml = format!(
        "<Response><Connect><Stream url=\"wss://YOUR-HOST/v1/media-stream\">\
         <Parameter name=\"token\" value=\"{token}\"/></Stream></Connect></Response>"
    );
    Ok((
        StatusCode::CREATED,
        ApiJson(StreamToken {
            token,
            expires_at,
            twiml,
        }),
    ))
}
