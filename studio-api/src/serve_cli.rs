//! Operator commands that work on a server's data directory or database
//! directly: `switchyard master-key rotate`.
//!
//! Rotation moves every tenant's data key to a new master key in one
//! transaction. Everything that can stop it is checked first (the current
//! key opens every data key, the files it will write or rename are free,
//! the new key is written and synced); after the commit only the new key
//! opens the data, so the command then says exactly where that key is and
//! what the operator must change before the server starts again.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::crypto::MasterKey;
use crate::db::{Db, redact_url};
use crate::keyring::{check_master, rotate_master};

/// The environment variable that holds the master key (it wins over the file).
const ENV: &str = "SWITCHYARD_MASTER_KEY";

#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Rewrap every tenant's data keys under a new master key. Sealed data
    /// is untouched. Stop every server on the data first. With a key file,
    /// the new key replaces it and the old one is kept as FILE.old; with the
    /// key in SWITCHYARD_MASTER_KEY, the new key is written to
    /// DATA_DIR/master.key.new (or --new-key-file) and the variable must be
    /// set to it before the server starts again.
    Rotate {
        /// Data directory of the server.
        #[arg(long, default_value = "./switchyard-data")]
        data_dir: PathBuf,
        /// PostgreSQL instead of the SQLite file in the data directory.
        #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
        database_url: Option<String>,
        /// The current master key file (default DATA_DIR/master.key); not
        /// read when SWITCHYARD_MASTER_KEY is set, as the server does not.
        #[arg(long)]
        master_key_file: Option<PathBuf>,
        /// Write the new key here instead of replacing the current file
        /// (for keys kept in an environment variable or a secret manager).
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
}

/// Runs a `master-key` command.
pub fn master_key(command: MasterKeyCommand) -> Result<ExitCode, String> {
    let MasterKeyCommand::Rotate {
        data_dir,
        database_url,
        master_key_file,
        new_key_file,
    } = command;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut url = database_url
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("switchyard.db").display()));
    // A rotation never creates a database: a wrong --data-dir must fail,
    // not rotate the nothing in a new, empty file.
    if url.starts_with("sqlite:") && !url.contains("mode=") {
        url.push_str(if url.contains('?') {
            "&mode=rw"
        } else {
            "?mode=rw"
        });
    }
    let key_file = master_key_file.unwrap_or_else(|| data_dir.join("master.key"));
    let from_env = std::env::var(ENV).is_ok_and(|v| !v.trim().is_empty());
    let plan = Plan::new(from_env, key_file, new_key_file);
    runtime
        .block_on(rotate(&url, &plan))
        .map_err(|e| format!("{e:#}"))
}

/// What a rotation reads and writes.
struct Plan {
    /// The current key's file, or `None` when it comes from [`ENV`].
    key_file: Option<PathBuf>,
    /// Where the new key is written before any data key moves.
    staged: PathBuf,
    /// With a key file and no `--new-key-file`: the file the current key is
    /// moved to once the new one takes its place.
    backup: Option<PathBuf>,
}

impl Plan {
    fn new(from_env: bool, key_file: PathBuf, new_key_file: Option<PathBuf>) -> Self {
        let staged = new_key_file
            .clone()
            .unwrap_or_else(|| with_suffix(&key_file, ".new"));
        let backup = (!from_env && new_key_file.is_none()).then(|| with_suffix(&key_file, ".old"));
        Self {
            key_file: (!from_env).then_some(key_file),
            staged,
            backup,
        }
    }
}

/// `dir/name` as `dir/name<suffix>`.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

async fn rotate(url: &str, plan: &Plan) -> anyhow::Result<ExitCode> {
    let unchanged = "master key not rotated; no data key was changed";
    let (db, old) = preflight(url, plan).await.context(unchanged)?;
    let new = MasterKey::generate();
    // The new key is on disk (synced) before the database moves to it, so
    // no moment exists in which the only key that opens the data is in
    // memory.
    new.write_new(&plan.staged).context(unchanged)?;
    let count = match rotate_master(&db, &old, &new).await {
        Ok(count) => count,
        Err(error) => {
            // The transaction did not commit: the new key opens nothing.
            let _ = std::fs::remove_file(&plan.staged);
            return Err(error.context(unchanged));
        }
    };
    let moved = format!(
        "the data keys are now wrapped by the new master key {}, which is in {}",
        new.id(),
        plan.staged.display()
    );
    check_master(&db, &new)
        .await
        .with_context(|| format!("checking the rewrapped keys ({moved})"))?;
    db.pool.close().await;
    println!(
        "rewrapped {count} data keys: master key {} -> {}",
        old.id(),
        new.id()
    );
    match (&plan.key_file, &plan.backup) {
        (Some(current), Some(backup)) => {
            std::fs::rename(current, backup).with_context(|| {
                format!(
                    "moving the old key {} to {}: {moved}; put that file in place of {} yourself",
                    current.display(),
                    backup.display(),
                    current.display()
                )
            })?;
            std::fs::rename(&plan.staged, current).with_context(|| {
                format!(
                    "moving the new key into place: {moved}; rename it to {} yourself",
                    current.display()
                )
            })?;
            println!(
                "new key in {}; old key kept in {} (delete it once backups are rotated)",
                current.display(),
                backup.display()
            );
        }
        (Some(current), None) => {
            println!("the new master key is in {}", plan.staged.display());
            println!(
                "{} still holds the old key, which no longer opens the data keys: start the server \
                 with --master-key-file {} (or put that file in place of {})",
                current.display(),
                plan.staged.display(),
                current.display()
            );
        }
        (None, _) => {
            println!("the new master key is in {}", plan.staged.display());
            println!(
                "{ENV} still holds the old key, which no longer opens the data keys: \
                 set {ENV} to the contents of {} wherever the server gets it (service file, \
                 secret manager) before the server starts again, then delete the file",
                plan.staged.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Everything that could stop a rotation, checked before anything is
/// written: the current key, the files to be written or renamed, and that
/// the current key opens every data key. Returns the open database and the
/// current key.
async fn preflight(url: &str, plan: &Plan) -> anyhow::Result<(Db, MasterKey)> {
    let old = match &plan.key_file {
        None => MasterKey::parse(&std::env::var(ENV).unwrap_or_default()).context(ENV)?,
        Some(path) => MasterKey::parse(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading the current master key {}", path.display()))?,
        )
        .with_context(|| format!("reading the current master key {}", path.display()))?,
    };
    let db = Db::connect(url)
        .await
        .with_context(|| format!("opening the database {}", redact_url(url)))?;
    if !db.tenant_count().await.is_ok_and(|n| n > 0) {
        anyhow::bail!(
            "{} holds no Switchyard data (no server has started on it): check --data-dir or \
             --database-url",
            redact_url(url)
        );
    }
    db.migrate().await?;
    if plan.staged.exists() {
        // Left by an earlier rotation, or chosen by mistake: say which.
        let opens = match std::fs::read_to_string(&plan.staged)
            .ok()
            .and_then(|text| MasterKey::parse(&text).ok())
        {
            Some(key) => check_master(&db, &key).await.is_ok(),
            None => false,
        };
        if opens {
            anyhow::bail!(
                "{} exists and opens every data key: an earlier rotation finished in the \
                 database but not on disk; make that key the current one instead of rotating again",
                plan.staged.display()
            );
        }
        anyhow::bail!(
            "{} exists (it opens no data key: delete it, or name another file with --new-key-file)",
            plan.staged.display()
        );
    }
    if let Some(backup) = plan.backup.as_ref().filter(|b| b.exists()) {
        anyhow::bail!(
            "{} exists: it holds the key from before an earlier rotation, which backups made \
             before then still need; move it somewhere safe (or delete it if no backup needs it) \
             and run again",
            backup.display()
        );
    }
    let source = match &plan.key_file {
        None => ENV.to_owned(),
        Some(path) => path.display().to_string(),
    };
    check_master(&db, &old)
        .await
        .with_context(|| format!("the current master key (from {source}) is not the one in use"))?;
    Ok((db, old))
}
