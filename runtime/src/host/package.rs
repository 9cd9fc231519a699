//! A plugin package as bytes: manifest plus module or script.

use std::path::Path;

use sha2::{Digest, Sha256};
use switchyard_sdk::manifest::{Manifest, PluginKind};

use super::LoadError;

/// The code of a package.
#[derive(Debug, Clone)]
pub enum PluginSource {
    /// A core WebAssembly module (binary).
    Wasm(Vec<u8>),
    /// Rhai source text.
    Rhai(String),
}

/// A manifest with its module or script, not yet compiled.
#[derive(Debug, Clone)]
pub struct PluginPackage {
    pub manifest: Manifest,
    pub source: PluginSource,
}

impl PluginPackage {
    /// Parses a manifest and pairs it with module bytes, taking the kind
    /// from the manifest.
    ///
    /// # Errors
    /// When the manifest does not parse or a Rhai script is not UTF-8.
    pub fn from_parts(manifest_json: &[u8], module: Vec<u8>) -> Result<Self, LoadError> {
        let manifest: Manifest =
            serde_json::from_slice(manifest_json).map_err(|e| LoadError::Manifest {
                field: "(document)".into(),
                message: e.to_string(),
            })?;
        let source = match manifest.kind {
            PluginKind::Wasm => PluginSource::Wasm(module),
            PluginKind::Rhai => PluginSource::Rhai(String::from_utf8(module).map_err(|_| {
                LoadError::Script(format!("{} is not UTF-8 text", manifest.module))
            })?),
        };
        Ok(PluginPackage { manifest, source })
    }

    /// Reads `manifest.json` and the module it names from a directory.
    ///
    /// # Errors
    /// When a file is missing or invalid.
    pub fn from_dir(dir: &Path) -> Result<Self, LoadError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| LoadError::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            })
        };
        let manifest_bytes = read(&dir.join("manifest.json"))?;
        let manifest: Manifest =
            serde_json::from_slice(&manifest_bytes).map_err(|e| LoadError::Manifest {
                field: "(document)".into(),
                message: e.to_string(),
            })?;
        if manifest.module.contains("..") || Path::new(&manifest.module).is_absolute() {
            return Err(LoadError::Manifest {
                field: "module".into(),
                message: format!(
                    "`{}` must be a file name inside the package",
                    manifest.module
                ),
            });
        }
        let module = read(&dir.join(&manifest.module))?;
        Self::from_parts(&manifest_bytes, module)
    }

    /// Checks the manifest's own fields (the schema and module are checked
    /// when loaded).
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate_manifest(&self) -> Result<(), LoadError> {
        let m = &self.manifest;
        let bad = |field: &str, message: String| {
            Err(LoadError::Manifest {
                field: field.to_owned(),
                message,
            })
        };
        let is_name = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        };
        if !is_name(&m.name) {
            return bad(
                "name",
                format!("`{}` must be lowercase letters, digits, `-` or `_`", m.name),
            );
        }
        let parts: Vec<_> = m.version.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.parse::<u64>().is_err()) {
            return bad(
                "version",
                format!("`{}` is not a semantic version like 1.0.0", m.version),
            );
        }
        for outcome in &m.outcomes {
            if !is_name(outcome) {
                return bad(
                    "outcomes",
                    format!("`{outcome}` must be lowercase letters, digits, `-` or `_`"),
                );
            }
        }
        for action in &m.actions {
            if !KNOWN_ACTIONS.contains(&action.as_str()) {
                return bad(
                    "actions",
                    format!(
                        "unknown action `{action}`; known: {}",
                        KNOWN_ACTIONS.join(", ")
                    ),
                );
            }
        }
        match (&self.source, m.kind) {
            (PluginSource::Wasm(_), PluginKind::Wasm)
            | (PluginSource::Rhai(_), PluginKind::Rhai) => Ok(()),
            _ => bad("kind", "does not match the module's type".to_owned()),
        }
    }

    /// `sha256:<hex>` over the manifest and the module, so a changed schema
    /// or a changed module both make a new digest.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(serde_json::to_vec(&self.manifest).unwrap_or_default());
        match &self.source {
            PluginSource::Wasm(bytes) => hasher.update(bytes),
            PluginSource::Rhai(text) => hasher.update(text.as_bytes()),
        }
        format!("sha256:{}", hex::encode(hasher.finalize()))
    }
}

/// Every action type of the step contract.
pub const KNOWN_ACTIONS: &[&str] = &[
    "say",
    "play",
    "gather",
    "listen",
    "record",
    "disclose",
    "secure_capture",
    "llm",
    "http",
    "transfer",
    "hangup",
    "set_vars",
    "subflow",
];
