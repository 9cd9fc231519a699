//! The plugins a tenant's flows can use: bundled, operator-installed
//! (trusted), and the tenant's own uploads (untrusted). (Being built: today
//! only the bundled plugins.)

use switchyard_runtime::host::PluginRegistry;

use crate::db::TenantId;
use crate::state::AppState;

/// The registry a tenant's flows validate and run against.
pub async fn registry(state: &AppState, _tenant: &TenantId) -> anyhow::Result<PluginRegistry> {
    Ok(state.bundled.clone())
}
