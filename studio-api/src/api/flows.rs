//! Routes of this resource (being built).

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

/// Publishes the bundled flows for a new tenant (first start).
pub async fn bootstrap(_state: &AppState, _tenant: &crate::db::TenantId) -> anyhow::Result<()> {
    Ok(())
}
