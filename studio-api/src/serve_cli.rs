//! Operator commands that work on a server's data directory or database
//! directly: `switchyard master-key rotate`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::crypto::MasterKey;
use crate::db::Db;
use crate::keyring::rotate_master;

#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Rewrap every tenant's data keys under a new master key. Sealed data
    /// is untouched; the old key file is kept as FILE.old.
    Rotate {
        /// Data directory of the server.
        #[arg(long, default_value = "./switchyard-data")]
        data_dir: PathBuf,
        /// PostgreSQL instead of the SQLite file in the data directory.
        #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
        database_url: Option<String>,
        /// The current master key file (default DATA_DIR/master.key).
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
    runtime
        .block_on(rotate(
            data_dir,
            database_url,
            master_key_file,
            new_key_file,
        ))
        .map_err(|e| format!("{e:#}"))
}

async fn rotate(
    data_dir: PathBuf,
    database_url: Option<String>,
    master_key_file: Option<PathBuf>,
    new_key_file: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let url = database_url
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("switchyard.db").display()));
    let current_path = master_key_file.unwrap_or_else(|| data_dir.join("master.key"));
    let old = match std::env::var("SWITCHYARD_MASTER_KEY") {
        Ok(text) if !text.trim().is_empty() => MasterKey::parse(&text)?,
        _ => MasterKey::parse(&std::fs::read_to_string(&current_path).map_err(|e| {
            anyhow::anyhow!(
                "reading the current master key {}: {e}",
                current_path.display()
            )
        })?)?,
    };
    let new = MasterKey::generate();
    // Write the new key before the database moves to it, so a crash in
    // between leaves both keys on disk and nothing unreadable.
    let staged = match &new_key_file {
        Some(path) => path.clone(),
        None => current_path.with_extension("key.new"),
    };
    new.write_new(&staged)?;
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    let count = rotate_master(&db, &old, &new).await?;
    db.pool.close().await;
    if new_key_file.is_none() {
        let backup = current_path.with_extension("key.old");
        std::fs::rename(&current_path, &backup)?;
        std::fs::rename(&staged, &current_path)?;
        println!(
            "rewrapped {count} data keys: master key {} -> {}",
            old.id(),
            new.id()
        );
        println!(
            "new key in {}; old key kept in {} (delete it once backups are rotated)",
            current_path.display(),
            backup.display()
        );
    } else {
        println!(
            "rewrapped {count} data keys: master key {} -> {}",
            old.id(),
            new.id()
        );
        println!("new key in {}; start the server with it", staged.display());
    }
    Ok(ExitCode::SUCCESS)
}
