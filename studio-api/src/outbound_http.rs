//! Performs a flow's `http` action for a live call: resolves the endpoint
//! name through the tenant's bindings for the call's environment, checks
//! the address against SSRF, signs the request. (Being built.)

use serde_json::Value;
use switchyard_sdk::protocol::HttpRequest;

use crate::db::TenantId;
use crate::state::AppState;

/// The answer to an `http` action: HTTP status (0 when unreachable or
/// refused) and the JSON body (`Null` when none or not JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOutcome {
    pub status: u16,
    pub body: Value,
}

/// Performs `request` for a call of `tenant` in `environment`.
pub async fn perform(
    _state: &AppState,
    _tenant: &TenantId,
    _environment: &str,
    _request: &HttpRequest,
) -> HttpOutcome {
    HttpOutcome {
        status: 0,
        body: Value::Null,
    }
}
