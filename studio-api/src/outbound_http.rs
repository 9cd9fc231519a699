//! Performs a flow's `http` action for a live call (the `webhook` plugin):
//! resolves the endpoint name through the tenant's bindings for the call's
//! environment, checks the address against SSRF, signs the request.
//!
//! - The endpoint is the `endpoint` binding of that name in the call's
//!   environment ([`crate::flow_store::endpoint`]). Not bound: status 0 and
//!   a log line naming the endpoint and environment.
//! - The request goes through the same guarded client as webhook deliveries
//!   ([`crate::ssrf`]): `https://` only outside development mode, refused
//!   addresses refused after DNS resolution, redirects (at most 3) re-checked.
//! - When a `secret` binding of the same name exists, the request carries
//!   `Switchyard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//!   "<t>.<body>")>`, exactly as webhook deliveries do (`docs/webhooks.md`);
//!   a request without a body signs the empty body.
//! - The exchange may take [`TIMEOUT`]; an answer over
//!   [`MAX_RESPONSE_BYTES`] keeps its status but its body becomes `null`.
//!
//! The result is the HTTP status (0 when not bound, refused or unreachable)
//! and the response body when it is JSON (else `null`). URLs and secrets are
//! never logged: log lines name the endpoint.

use std::time::Duration;

use serde_json::Value;
use switchyard_sdk::protocol::HttpRequest;

use crate::db::TenantId;
use crate::ssrf::{ClientOptions, describe_failure};
use crate::state::AppState;

/// The answer to an `http` action: HTTP status (0 when unreachable or
/// refused) and the JSON body (`Null` when none or not JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOutcome {
    pub status: u16,
    pub body: Value,
}

/// Time allowed for the whole exchange: a caller is waiting on the line.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The largest response body read, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// The methods the `webhook` plugin may use.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

fn unreachable() -> HttpOutcome {
    HttpOutcome {
        status: 0,
        body: Value::Null,
    }
}

/// Performs `request` for a call of `tenant` in `environment`.
pub async fn perform(
    state: &AppState,
    tenant: &TenantId,
    environment: &str,
    request: &HttpRequest,
) -> HttpOutcome {
    let endpoint = request.endpoint.as_str();
    let log_failure = |reason: &str| {
        tracing::warn!(%tenant, environment, endpoint, reason, "http action failed");
    };
    let url = match crate::flow_store::endpoint(state, tenant, environment, endpoint).await {
        Ok(Some(url)) => url,
        Ok(None) => {
            log_failure(&format!(
                "endpoint `{endpoint}` is not bound in environment `{environment}`"
            ));
            return unreachable();
        }
        Err(error) => {
            tracing::error!(%tenant, environment, endpoint, error = format!("{error:#}"), "http action: reading the endpoint binding");
            return unreachable();
        }
    };
    let Ok(url) = reqwest::Url::parse(&url) else {
        log_failure("the endpoint's URL does not parse");
        return unreachable();
    };
    let method = request.method.to_ascii_uppercase();
    let Some(method) = METHODS
        .contains(&method.as_str())
        .then(|| reqwest::Method::from_bytes(method.as_bytes()).ok())
        .flatten()
    else {
        log_failure(&format!("method `{}` is not allowed", request.method));
        return unreachable();
    };
    let client = match state.config.outbound.client(ClientOptions {
        timeout: TIMEOUT,
        allow_plain_http: state.config.dev_mode,
        max_redirects: 3,
    }) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "http action: no HTTP client");
            return unreachable();
        }
    };
    let builder = match client.request(method, &url) {
        Ok(builder) => builder,
        Err(problem) => {
            log_failure(&problem.to_string());
            return unreachable();
        }
    };
    let body = if request.body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&request.body).unwrap_or_default()
    };
    let mut builder = builder.header(reqwest::header::ACCEPT, "application/json");
    match crate::flow_store::secret(state, tenant, environment, endpoint).await {
        Ok(Some(secret)) => {
            let timestamp = u64::try_from(crate::db::now_ms() / 1000).unwrap_or_default();
            builder = builder.header(
                "Switchyard-Signature",
                crate::webhooks::signature_header(&secret, timestamp, &body),
            );
        }
        Ok(None) => {}
        Err(error) => {
            // Unsigned would be refused by a receiver that checks; failing
            // here says why.
            tracing::error!(%tenant, environment, endpoint, error = format!("{error:#}"), "http action: opening the endpoint's secret");
            return unreachable();
        }
    }
    if !request.body.is_null() {
        builder = builder
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    let mut response = match builder.send().await {
        Ok(response) => response,
        Err(error) => {
            log_failure(&describe_failure(&error));
            return unreachable();
        }
    };
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if bytes.len() + chunk.len() <= MAX_RESPONSE_BYTES => {
                bytes.extend_from_slice(&chunk);
            }
            Ok(Some(_)) => {
                log_failure(&format!(
                    "the answer is over {MAX_RESPONSE_BYTES} bytes; its body is dropped"
                ));
                return HttpOutcome {
                    status,
                    body: Value::Null,
                };
            }
            Ok(None) => break,
            Err(error) => {
                log_failure(&describe_failure(&error));
                return HttpOutcome {
                    status,
                    body: Value::Null,
                };
            }
        }
    }
    HttpOutcome {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}
