//! Background workers of `switchyard serve`: the webhook delivery worker
//! and the retention sweeper. Each stops when the server stops.

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// The running workers.
#[derive(Debug)]
pub struct Workers {
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Waits for every worker to finish its current pass and stop.
    pub async fn stop(self) {
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}

/// Starts the workers; they watch `stop`.
pub fn spawn(state: AppState, stop: watch::Receiver<bool>) -> Workers {
    let handles = vec![
        tokio::spawn(crate::webhooks::delivery_worker(
            state.clone(),
            stop.clone(),
        )),
        tokio::spawn(crate::retention::sweeper(state, stop)),
    ];
    Workers { handles }
}
