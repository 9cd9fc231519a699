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
use switchyard_runtime::policy::outbound::{DoNotCallList, OutboundRequest, check_outbound};
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
        } => check(
            &to,
            from.as_deref().unwrap_or_default(),
            at.as_deref(),
            &templates,
            dnc.as_deref(),
            &region,
        ),
    }
}

fn check(
    to: &str,
    from: &str,
    at: Option<&str>,
    templates: &str,
    dnc: Option<&Path>,
    region: &str,
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
            Ok(ExitCode::from(1))
        }
    }
}
