//! Retention: how long a tenant keeps recordings, transcripts and call
//! metadata, and the sweeper that enforces it.
//!
//! A tenant's setting wins; where it has none, the default is the shortest
//! default among its enabled templates (the most protective), raised to the
//! longest legal minimum among them; with no template enabled the platform
//! default applies. The sweeper deletes recordings (their sealed files),
//! then transcripts (and the event log, which holds the same words), then
//! whole call rows, each once the call ended longer ago than its period.
//! [`sweep_at`] takes the clock as an argument, so a test moves it.

use std::time::Duration;

use serde::Serialize;
use sqlx::Row;
use switchyard_runtime::policy::template::bundled_template;
use tokio::sync::watch;

use crate::db::tenants::Tenant;
use crate::db::{TenantId, now_ms};
use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;

/// Platform defaults, in days, when a tenant enables no template.
pub const PLATFORM_DEFAULT: Effective = Effective {
    recordings_days: 90,
    transcripts_days: 90,
    calls_days: 365,
};

/// The periods in force for a tenant, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Effective {
    pub recordings_days: i64,
    pub transcripts_days: i64,
    pub calls_days: i64,
}

/// The periods in force for `tenant`.
pub fn effective(tenant: &Tenant) -> Effective {
    let templates: Vec<_> = tenant
        .templates
        .iter()
        .filter_map(|id| bundled_template(id))
        .collect();
    let default =
        |pick: fn(&switchyard_runtime::policy::template::RetentionDays) -> u32,
         minimum: fn(&switchyard_runtime::policy::template::RetentionMinimums) -> Option<u32>,
         platform: i64| {
            let shortest = templates
                .iter()
                .map(|t| i64::from(pick(&t.retention.days)))
                .min();
            let floor = templates
                .iter()
                .filter_map(|t| t.retention.minimum_days.as_ref().and_then(minimum))
                .map(i64::from)
                .max()
                .unwrap_or(0);
            shortest.unwrap_or(platform).max(floor)
        };
    Effective {
        recordings_days: tenant.retention.recordings_days.unwrap_or_else(|| {
            default(
                |d| d.recordings,
                |m| m.recordings,
                PLATFORM_DEFAULT.recordings_days,
            )
        }),
        transcripts_days: tenant.retention.transcripts_days.unwrap_or_else(|| {
            default(
                |d| d.transcripts,
                |m| m.transcripts,
                PLATFORM_DEFAULT.transcripts_days,
            )
        }),
        calls_days: tenant.retention.calls_days.unwrap_or_else(|| {
            default(
                |d| d.call_metadata,
                |m| m.call_metadata,
                PLATFORM_DEFAULT.calls_days,
            )
        }),
    }
}

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Swept {
    pub recordings: u64,
    pub transcripts: u64,
    pub calls: u64,
}

/// Sweeps every tenant as if the time were `now` (ms).
pub async fn sweep_at(state: &AppState, now: i64) -> anyhow::Result<Swept> {
    let mut total = Swept::default();
    for tenant in state.db.tenant_ids().await? {
        let swept = sweep_tenant(state, &tenant, now).await?;
        if swept != Swept::default() {
            state
                .db
                .audit(
                    &tenant,
                    "system",
                    "retention.swept",
                    "calls",
                    serde_json::to_value(swept)?,
                )
                .await?;
        }
        total.recordings += swept.recordings;
        total.transcripts += swept.transcripts;
        total.calls += swept.calls;
    }
    Ok(total)
}

async fn sweep_tenant(state: &AppState, tenant: &TenantId, now: i64) -> anyhow::Result<Swept> {
    let periods = effective(&state.db.tenant(tenant).await?);
    let db = &state.db;
    let mut swept = Swept::default();

    // Recordings: the file first, then the reference, so a crash between
    // leaves a reference to nothing rather than an unreferenced file.
    let rows = sqlx::query(
        "SELECT id FROM calls WHERE tenant_id = $1 AND recording IS NOT NULL AND ended_at IS NOT NULL AND ended_at < $2",
    )
    .bind(tenant.as_str())
    .bind(now - periods.recordings_days * DAY_MS)
    .fetch_all(&db.pool)
    .await?;
    for row in rows {
        let id: String = row.try_get(0)?;
        // Deletes the file, then clears the reference and stamps the time.
        crate::recordings::delete(state, tenant, &id).await?;
        swept.recordings += 1;
    }

    swept.transcripts = sqlx::query(
        "UPDATE calls SET transcript = NULL, events = NULL, transcript_erased_at = $1 \
         WHERE tenant_id = $2 AND transcript_erased_at IS NULL AND ended_at IS NOT NULL AND ended_at < $3 \
         AND (transcript IS NOT NULL OR events IS NOT NULL)",
    )
    .bind(now)
    .bind(tenant.as_str())
    .bind(now - periods.transcripts_days * DAY_MS)
    .execute(&db.pool)
    .await?
    .rows_affected();

    let old_calls = sqlx::query(
        "SELECT id FROM calls WHERE tenant_id = $1 AND ended_at IS NOT NULL AND ended_at < $2",
    )
    .bind(tenant.as_str())
    .bind(now - periods.calls_days * DAY_MS)
    .fetch_all(&db.pool)
    .await?;
    for row in old_calls {
        let id: String = row.try_get(0)?;
        // A recording kept longer than its call's metadata still goes with it.
        crate::recordings::delete(state, tenant, &id).await?;
        sqlx::query("DELETE FROM calls WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(&id)
            .execute(&db.pool)
            .await?;
        swept.calls += 1;
    }
    // Delivered or failed webhook deliveries follow call metadata.
    sqlx::query("DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND status <> 'pending' AND created_at < $2")
        .bind(tenant.as_str())
        .bind(now - periods.calls_days * DAY_MS)
        .execute(&db.pool)
        .await?;
    Ok(swept)
}

/// How often the sweeper runs unless configured otherwise
/// (`ServerConfig::sweep_every`).
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Sweeps at start and then every `state.config.sweep_every`, until `stop`.
pub async fn sweeper(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        match sweep_at(&state, now_ms()).await {
            Ok(swept) if swept != Swept::default() => tracing::info!(?swept, "retention sweep"),
            Ok(_) => {}
            Err(error) => tracing::error!(error = format!("{error:#}"), "retention sweep failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(state.config.sweep_every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tenants::Retention;

    fn tenant(templates: &[&str], retention: Retention) -> Tenant {
        Tenant {
            id: "t".into(),
            name: "t".into(),
            templates: templates.iter().map(|s| s.to_string()).collect(),
            retention,
            created_at: 0,
        }
    }

    #[test]
    fn the_shortest_template_default_wins_and_settings_override() {
        assert_eq!(
            effective(&tenant(&[], Retention::default())),
            PLATFORM_DEFAULT
        );
        let india = effective(&tenant(&["in-dpdp-trai"], Retention::default()));
        assert_eq!(
            india,
            Effective {
                recordings_days: 30,
                transcripts_days: 30,
                calls_days: 180
            }
        );
        let both = effective(&tenant(
            &["in-dpdp-trai", "us-federal"],
            Retention::default(),
        ));
        assert!(both.recordings_days <= 30);
        let set = effective(&tenant(
            &["in-dpdp-trai"],
            Retention {
                recordings_days: Some(7),
                transcripts_days: None,
                calls_days: Some(400),
            },
        ));
        assert_eq!(
            set,
            Effective {
                recordings_days: 7,
                transcripts_days: 30,
                calls_days: 400
            }
        );
    }
}
