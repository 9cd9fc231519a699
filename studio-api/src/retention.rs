//! Retention sweeper (being built).

use tokio::sync::watch;

use crate::state::AppState;

/// Deletes what has outlived its retention, until `stop`.
pub async fn sweeper(_state: AppState, mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
