//! Persistence: one sqlx `Any` pool over SQLite (the embedded default) or
//! PostgreSQL, the embedded migrations, and one module per table group.
//!
//! Queries are written once with `$1` placeholders and portable types, so
//! the same SQL runs on both backends (see ../shared/MACHINE.md). Every
//! function that touches a tenant-owned row takes a [`TenantId`], which only
//! the authentication layer makes from a key: a query cannot forget the
//! tenant.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use switchyard_studio_api::db::Db;
//! let db = Db::connect("sqlite://./switchyard-data/switchyard.db").await?;
//! db.migrate().await?;
//! # Ok(()) }
//! ```

pub mod audit;
pub mod calls;
pub mod flows;
pub mod keys;
pub mod plugins;
pub mod tenants;
pub mod webhooks;

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A tenant's id, as taken from an authenticated key (or, for the operator's
/// own commands, from the command line). Tenant-owned queries require one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Only the authentication layer, the bootstrap and operator commands
    /// build tenant ids; handlers receive them.
    pub(crate) fn from_trusted(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The connection pool and which backend it is.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

impl Db {
    /// Connects to `sqlite://PATH` (created if missing) or `postgres://...`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!(
                "unsupported database URL (want sqlite:// or postgres://): {}",
                redact_url(url)
            );
        };
        // SQLite: create the file if missing (`mode=rwc`).
        let url_with_mode = if backend == Backend::Sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        } else {
            url.to_owned()
        };
        let options = AnyConnectOptions::from_str(&url_with_mode)
            .with_context(|| format!("bad database URL {}", redact_url(url)))?
            .disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; the busy
                        // timeout queues writers instead of failing them.
                        sqlx::raw_sql(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .execute(conn)
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the database at {}", redact_url(url)))?;
        Ok(Self { pool, backend })
    }

    /// Runs the embedded migrations, then the backend-specific hardening that
    /// portable SQL cannot express (the audit log's append-only triggers).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations")
            .run(&self.pool)
            .await
            .context("running database migrations")?;
        let statements: &[&'static str] = match self.backend {
            Backend::Sqlite => &[
                "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log \
                 BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
                "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log \
                 BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
            ],
            Backend::Postgres => &[
                "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger \
                 LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
                "CREATE OR REPLACE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log \
                 FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
            ],
        };
        for &statement in statements {
            sqlx::raw_sql(statement).execute(&self.pool).await?;
        }
        Ok(())
    }
}

/// A database URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new id: `PREFIX_` + 12 hex digits of milliseconds + 16 random hex
/// digits, so ids sort by creation time and cannot be guessed.
///
/// Within one process ids also sort in the order they were made: an id made
/// in the same millisecond as the one before (or while the clock stepped
/// back) takes that millisecond and a random part larger by a random step,
/// like a monotonic ULID. Lists ordered by id (the audit log, its pages)
/// keep the order of events that share a millisecond.
pub fn new_id(prefix: &str) -> String {
    static LAST: std::sync::Mutex<(i64, u64)> = std::sync::Mutex::new((0, 0));
    let (ms, random) = next_id_parts(
        &mut LAST.lock().unwrap_or_else(|p| p.into_inner()),
        now_ms(),
    );
    format!("{prefix}_{ms:012x}{random:016x}")
}

/// The millisecond and random part of the next id, given the last id's and
/// the clock.
fn next_id_parts(last: &mut (i64, u64), now: i64) -> (i64, u64) {
    let fresh = || {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        u64::from_be_bytes(bytes)
    };
    let next = if now > last.0 {
        (now, fresh())
    } else {
        let step = 1 + (fresh() >> 32);
        match last.1.checked_add(step) {
            Some(random) => (last.0, random),
            // The random part is spent: borrow the next millisecond.
            None => (last.0 + 1, fresh() >> 1),
        }
    };
    *last = next;
    next
}

/// Whether a sqlx error is a unique-constraint violation, on either backend.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db.code().as_deref() == Some("23505")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn ids_made_in_one_millisecond_sort_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..2_000).map(|_| new_id("aud")).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids out of order: {ids:?}"
        );
        assert!(ids.iter().all(|id| id.len() == "aud_".len() + 28));
    }

    #[test]
    fn a_clock_that_steps_back_or_a_spent_millisecond_keeps_ids_in_order() {
        let mut last = (0, 0);
        let first = next_id_parts(&mut last, 4_000);
        let stepped_back = next_id_parts(&mut last, 3_000);
        assert_eq!(stepped_back.0, 4_000);
        assert!(stepped_back.1 > first.1);
        last.1 = u64::MAX;
        assert_eq!(next_id_parts(&mut last, 4_000).0, 4_001);
    }
}
