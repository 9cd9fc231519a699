//! `switchyard outbound check`: would the outbound calling guard of
//! [`switchyard_runtime::policy::outbound`] let this call through?
//!
//! Prints `allowed: <what was checked>` and exits 0, or
//! `refused: <reason> (<rule>)` and exits 1. Bad arguments (an unreadable
//! time, an unknown template, a do-not-call file that does not parse) are
//! an error with exit status 2.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use switchyard_runtime::policy::evidence::{
    EvidenceHeader, EvidenceItem, EvidenceLog, EvidenceSigner,
};
use switchyard_runtime::policy::jurisdiction::AppliedTemplate;
use switchyard_runtime::policy::outbound::{
    DoNotCallList, OutboundRequest, check_outbound, refusal_evidence,
};
use switchyard_runtime::policy::template::bundled_templates;

#[derive(Debug, Subcommand)]
pub enum OutboundCommand {
    /// Check an outbound call against calling hours and a do-not-call list;
    /// exit 0 if allowed, 1 if refused.
    Check {
        /// The number to call (E.164, e.g. +12125550123).
        #[arg(long, value_name = "NUMBER")]
        to: String,
        /// The number the call comes from (default: none, as if withheld).
        #[arg(long, value_name = "NUMBER")]
        from: Option<String>,
        /// When the call would be placed, RFC 3339 (default: now).
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// Comma-separated enabled template ids; an empty list enables none.
        #[arg(long, value_name = "LIST", default_value = "us-federal")]
        templates: String,
        /// The tenant's do-not-call list: one number per line, `#` comments.
        #[arg(long, value_name = "FILE")]
        dnc: Option<PathBuf>,
        /// The region national-format numbers in the list are read in.
        #[arg(long, value_name = "CC", default_value = "US")]
        region: String,
        /// On refusal, write a signed evidence record of it here.
        #[arg(long, value_name = "FILE")]
        evidence: Option<PathBuf>,
        /// The signing key for `--evidence` (created with its `.pub` if missing).
        #[arg(
            long,
            value_name = "FILE",
            default_value = "switchyard-data/evidence.key"
        )]
        evidence_key: PathBuf,
    },
}

/// Runs an `outbound` subcommand. `Err` is a usage or file problem (exit 2).
pub fn run(command: OutboundCommand) -> Result<ExitCode, String> {
    match command {
        OutboundCommand::Check {
            to,
            from,
            at,
            templates,
            dnc,
            region,
            evidence,
            evidence_key,
        } => {
            let evidence = match evidence {
                Some(path) => Some((
                    path,
                    crate::evidence_cli::load_or_create_key(&evidence_key)?,
                )),
                None => None,
            };
            check(
                &to,
                from.as_deref().unwrap_or_default(),
                at.as_deref(),
                &templates,
                dnc.as_deref(),
                &region,
                evidence,
            )
        }
    }
}

fn check(
    to: &str,
    from: &str,
    at: Option<&str>,
    templates: &str,
    dnc: Option<&Path>,
    region: &str,
    evidence: Option<(PathBuf, EvidenceSigner)>,
) -> Result<ExitCode, String> {
    let at_ms = match at {
        Some(at) => chrono::DateTime::parse_from_rfc3339(at)
            .map_err(|e| {
                format!("--at {at}: {e} (expected RFC 3339, e.g. 2026-11-20T20:30:00-05:00)")
            })?
            .timestamp_millis(),
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .map_err(|e| format!("the system clock is before 1970: {e}"))?,
    };
    let templates: Vec<String> = templates
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    let unknown: Vec<&str> = templates
        .iter()
        .map(String::as_str)
        .filter(|id| !bundled_templates().iter().any(|t| t.id == *id))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = bundled_templates().iter().map(|t| t.id.as_str()).collect();
        return Err(format!(
            "--templates: unknown template{} {} (known: {})",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            known.join(", ")
        ));
    }
    let list = match dnc {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            DoNotCallList::from_lines(&text, region)
                .map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => DoNotCallList::new(region).map_err(|e| format!("--region: {e}"))?,
    };
    let request = OutboundRequest {
        from,
        to,
        at_ms,
        templates: &templates,
    };
    match check_outbound(&request, &list) {
        Ok(allowed) => {
            println!("allowed: {}", allowed.summary());
            Ok(ExitCode::SUCCESS)
        }
        Err(refusal) => {
            println!("refused: {refusal}");
            if let Some((path, signer)) = evidence {
                // The refused call never existed, so its record is only the
                // attempt: what was asked, under which templates, and why not.
                let header =
                    EvidenceHeader::new(format!("outbound-{at_ms}-{to}"), "(outbound)", "", at_ms);
                let mut log = EvidenceLog::new(header);
                log.push(
                    at_ms,
                    EvidenceItem::Templates {
                        templates: templates
                            .iter()
                            .filter_map(|id| bundled_templates().iter().find(|t| t.id == *id))
                            .map(|t| AppliedTemplate {
                                id: t.id.clone(),
                                version: t.version.clone(),
                            })
                            .collect(),
                        recording_mode: String::new(),
                        jurisdictions: Vec::new(),
                    },
                );
                log.push(at_ms, refusal_evidence(&refusal));
                std::fs::write(&path, log.seal(&signer).to_json_pretty())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                eprintln!(
                    "(refusal evidence written to {}, signed by key {})",
                    path.display(),
                    signer.key_id()
                );
            }
            Ok(ExitCode::from(1))
        }
    }
}
