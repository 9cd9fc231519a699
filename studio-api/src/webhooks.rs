//! Webhook signing and delivery (being built).

use tokio::sync::watch;

use crate::state::AppState;

/// Delivers queued webhook events until `stop`.
pub async fn delivery_worker(_state: AppState, mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
