//! `switchyard evidence`: verify, show and make keys for the per-call
//! compliance evidence records of [`switchyard_runtime::policy::evidence`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use switchyard_runtime::policy::evidence::{
    EvidenceRecord, EvidenceSigner, KeyError, read_public_key, verify,
};

/// The secret key's file name in a key directory.
pub const SECRET_KEY_FILE: &str = "evidence.key";
/// The public key's file name in a key directory.
pub const PUBLIC_KEY_FILE: &str = "evidence.pub";

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Check a record's hash chain and seal; exit 1 naming the first problem.
    Verify {
        file: PathBuf,
        /// The sealing key's public half, as hex (the `evidence.pub` of `keygen`).
        #[arg(long, value_name = "PUBKEY_FILE")]
        key: PathBuf,
    },
    /// Make a sealing key: DIR/evidence.key (secret, mode 0600) and DIR/evidence.pub.
    Keygen { dir: PathBuf },
    /// Print a record's entries, one line each, for people.
    Show { file: PathBuf },
}

/// Runs an `evidence` subcommand. `Err` is a usage or file problem (exit 2).
pub fn run(command: EvidenceCommand) -> Result<ExitCode, String> {
    match command {
        EvidenceCommand::Verify { file, key } => verify_file(&file, &key),
        EvidenceCommand::Keygen { dir } => keygen(&dir),
        EvidenceCommand::Show { file } => show(&file),
    }
}

fn read_record(path: &Path) -> Result<EvidenceRecord, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    EvidenceRecord::from_json(&text)
        .map_err(|e| format!("{}: not an evidence record: {e}", path.display()))
}

fn verify_file(file: &Path, key: &Path) -> Result<ExitCode, String> {
    let record = read_record(file)?;
    let key = read_public_key(key).map_err(|e| e.to_string())?;
    match verify(&record, &key) {
        Ok(summary) => {
            println!(
                "ok: {} entries, signed by key {}",
                summary.entries, summary.key_id
            );
            println!(
                "call {} on flow {} ({})",
                record.header.call_id, record.header.flow, record.header.flow_digest
            );
            for line in summary.to_string().lines() {
                println!("  {line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(problem) => {
            println!("{}: FAILED: {problem}", file.display());
            Ok(ExitCode::from(1))
        }
    }
}

fn keygen(dir: &Path) -> Result<ExitCode, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (secret, public) = (dir.join(SECRET_KEY_FILE), dir.join(PUBLIC_KEY_FILE));
    if public.exists() {
        return Err(KeyError::Exists { path: public }.to_string());
    }
    let signer = EvidenceSigner::create(&secret).map_err(|e| e.to_string())?;
    signer
        .write_public_key(&public)
        .map_err(|e| e.to_string())?;
    println!("key {}", signer.key_id());
    println!("  secret: {} (keep it private)", secret.display());
    println!(
        "  public: {} (for `evidence verify --key`)",
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn show(file: &Path) -> Result<ExitCode, String> {
    let record = read_record(file)?;
    let header = &record.header;
    println!(
        "{} call {} flow {} ({}) started {}",
        header.format,
        header.call_id,
        header.flow,
        header.flow_digest,
        time(header.started_ms)
    );
    let width = record
        .entries
        .iter()
        .map(|e| e.item.type_name().len())
        .max()
        .unwrap_or(0);
    for entry in &record.entries {
        let offset = (entry.at_ms - header.started_ms) as f64 / 1000.0;
        println!(
            "{:>4}  {}  {:>+9.3}s  {:<width$}  {}",
            entry.seq,
            time(entry.at_ms),
            offset,
            entry.item.type_name(),
            entry.item.describe(),
        );
    }
    println!(
        "sealed by key {} (not checked here: run `switchyard evidence verify {} --key PUBKEY_FILE`)",
        record.seal.key_id,
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds.
fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("{ms}ms"),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

/// The evidence signing key at `path`, created (with `path.pub`) if missing.
pub fn load_or_create_key(path: &Path) -> Result<EvidenceSigner, String> {
    let existed = path.exists();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let signer = EvidenceSigner::load_or_create(path).map_err(|e| e.to_string())?;
    if !existed {
        let public = path.with_extension("pub");
        signer
            .write_public_key(&public)
            .map_err(|e| e.to_string())?;
        eprintln!(
            "(new evidence key {} in {}; verify with --key {})",
            signer.key_id(),
            path.display(),
            public.display()
        );
    }
    Ok(signer)
}
