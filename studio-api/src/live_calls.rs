//! Calls in progress on this server (being built).

use std::time::Duration;

use crate::state::AppState;

/// The live calls of this process.
#[derive(Debug, Default)]
pub struct LiveCalls {}

impl LiveCalls {
    /// Waits up to `grace` for live calls to end, then ends the rest with
    /// outcome `shutdown`; returns how many were ended that way.
    pub async fn drain(&self, _state: &AppState, _grace: Duration) -> usize {
        0
    }
}
