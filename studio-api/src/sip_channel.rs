//! `switchyard serve`'s SIP side: inbound INVITEs are routed by the called
//! number or request URI to a tenant's flow and run as voice calls.
//!
//! Routing happens before the answer, so a number nobody routes gets a SIP
//! `404` (and a server shutting down a `503`) instead of a call that
//! answers and hangs up.

use axum::http::StatusCode;
use switchyard_sip::{IncomingCall, SipConfig, SipServer};

use crate::state::AppState;

/// Starts the SIP server and the task that takes its calls.
///
/// # Errors
/// When an address cannot be bound.
pub async fn start(state: AppState, config: SipConfig) -> anyhow::Result<SipServer> {
    let (server, mut calls) = SipServer::start(config).await?;
    tokio::spawn(async move {
        while let Some(call) = calls.recv().await {
            tokio::spawn(take(state.clone(), call));
        }
    });
    Ok(server)
}

async fn take(state: AppState, call: IncomingCall) {
    let tenant = match crate::voice::route_inbound(&state, &call.info).await {
        Ok(tenant) => tenant,
        Err(error) => {
            let status = if error.status == StatusCode::NOT_FOUND {
                404
            } else {
                503
            };
            tracing::info!(status, "SIP call refused");
            call.reject(status);
            return;
        }
    };
    match call.accept().await {
        Ok(leg) => crate::voice::answer(state, tenant, leg).await,
        Err(error) => tracing::warn!(%error, "SIP call could not be answered"),
    }
}
