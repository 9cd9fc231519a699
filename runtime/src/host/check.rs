//! `switchyard plugin check`: everything the host would refuse about a
//! package, found before anyone uploads it.

use std::path::Path;

use serde::Serialize;
use switchyard_sdk::manifest::Manifest;

use super::{PluginHost, PluginPackage};

/// What a check found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// `name@version` when the manifest parsed.
    pub plugin: Option<String>,
    /// `sha256:...` of manifest and module, when both were read.
    pub digest: Option<String>,
    /// Problems that make the package unusable.
    pub problems: Vec<String>,
    /// Things that load but deserve attention.
    pub warnings: Vec<String>,
}

impl CheckReport {
    /// True when the package would load.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the package in `dir`: manifest fields, config schema, and the
/// module's ABI marker, exports and imports (or the script's `step`).
pub fn check_package_dir(host: &PluginHost, dir: &Path) -> CheckReport {
    let mut report = CheckReport {
        plugin: None,
        digest: None,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let package = match PluginPackage::from_dir(dir) {
        Ok(package) => package,
        Err(error) => {
            report.problems.push(error.to_string());
            return report;
        }
    };
    report.plugin = Some(format!(
        "{}@{}",
        package.manifest.name, package.manifest.version
    ));
    report.digest = Some(package.digest());
    warn_about(&package.manifest, &mut report.warnings);
    if let Err(error) = host.load(&package, false) {
        report.problems.push(error.to_string());
    }
    report
}

fn warn_about(manifest: &Manifest, warnings: &mut Vec<String>) {
    if !manifest.roles.is_empty() {
        warnings.push(format!(
            "claims compliance roles ({}); they are honoured only when the platform operator installs the plugin",
            manifest.roles.join(", ")
        ));
    }
    if manifest.outcomes.is_empty()
        && manifest.outcomes_from_config.is_none()
        && !manifest.actions.iter().any(|a| a == "hangup")
    {
        warnings.push("declares no outcomes: a node using it can only end in `error`".into());
    }
    if manifest.description.is_empty() {
        warnings.push("has no description".into());
    }
}
