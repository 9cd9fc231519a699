//! The plugins a tenant's flows can use: bundled, operator-installed
//! (trusted), and the tenant's own uploads (untrusted, never with
//! compliance roles), and the two ways packages get in: a tenant's upload
//! (checked by [`check_parts`]) and the operator's `switchyard plugin
//! install` ([`install_command`]).
//!
//! Names do not overlap: a platform install may not take a bundled name or
//! one a tenant uses, and a tenant may not upload under a bundled or
//! platform name, so no upload can shadow a plugin another flow relies on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{LazyLock, Mutex};

use anyhow::Context;
use switchyard_runtime::host::{CheckReport, PluginHost, PluginPackage, PluginRegistry};

use crate::db::plugins::{Inserted, StoredPlugin};
use crate::db::{Db, TenantId, new_id, now_ms};
use crate::state::AppState;

/// Built registries by (plugin host, tenant), with the digest list they were
/// built from. A registry is reused while the list is unchanged, so a new
/// upload or install is seen at the next call without any invalidation.
type Cache = HashMap<(usize, TenantId), (Vec<String>, PluginRegistry)>;
static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

/// The registry a tenant's flows validate and run against: bundled, then
/// platform plugins (trusted), then the tenant's own (untrusted). A stored
/// package that no longer loads is skipped and logged, never fatal: one bad
/// plugin must not take every flow of the tenant down.
pub async fn registry(state: &AppState, tenant: &TenantId) -> anyhow::Result<PluginRegistry> {
    let fingerprint = state.db.plugin_fingerprint(tenant).await?;
    if fingerprint.is_empty() {
        return Ok(state.bundled.clone());
    }
    let key = (std::ptr::from_ref(&state.host) as usize, tenant.clone());
    if let Some((known, registry)) = CACHE.lock().expect("plugin cache lock").get(&key)
        && *known == fingerprint
    {
        return Ok(registry.clone());
    }
    let platform = state.db.platform_plugins().await?;
    let own = state.db.tenant_plugins(tenant).await?;
    let mut packages = Vec::new();
    for (stored, trusted) in platform
        .into_iter()
        .map(|p| (p, true))
        .chain(own.into_iter().map(|p| (p, false)))
    {
        match state.db.plugin_blob(&stored.digest).await? {
            Some(blob) => packages.push((stored, blob, trusted)),
            None => tracing::error!(
                plugin = %format!("{}@{}", stored.name, stored.version),
                digest = %stored.digest,
                "plugin blob missing; the plugin is skipped"
            ),
        }
    }
    // Compiling a module can take a while; keep it off the async workers.
    let worker = state.clone();
    let registry = tokio::task::spawn_blocking(move || build(&worker, packages))
        .await
        .context("building a plugin registry")?;
    CACHE
        .lock()
        .expect("plugin cache lock")
        .insert(key, (fingerprint, registry.clone()));
    Ok(registry)
}

fn build(state: &AppState, mut packages: Vec<(StoredPlugin, Vec<u8>, bool)>) -> PluginRegistry {
    let mut registry = state.bundled.clone();
    // Platform first, then the tenant's; within each, ascending versions, so
    // the newest version of a major is the one left in the registry.
    packages.sort_by(|a, b| {
        (!a.2, &a.0.name, semver(&a.0.version)).cmp(&(!b.2, &b.0.name, semver(&b.0.version)))
    });
    let bundled: Vec<String> = state
        .bundled
        .iter()
        .map(|p| p.manifest().name.clone())
        .collect();
    let platform: Vec<String> = packages
        .iter()
        .filter(|p| p.2)
        .map(|p| p.0.name.clone())
        .collect();
    for (stored, blob, trusted) in packages {
        let label = format!("{}@{}", stored.name, stored.version);
        if bundled.contains(&stored.name) || (!trusted && platform.contains(&stored.name)) {
            tracing::warn!(plugin = %label, "stored plugin shadows a trusted one; skipped");
            continue;
        }
        let loaded = PluginPackage::from_parts(stored.manifest.as_bytes(), blob)
            .map_err(|e| e.to_string())
            .and_then(|package| {
                if package.digest() == stored.digest {
                    Ok(package)
                } else {
                    Err("stored manifest and module do not match the digest".to_owned())
                }
            })
            .and_then(|package| {
                state
                    .host
                    .load(&package, trusted)
                    .map_err(|e| e.to_string())
            });
        match loaded {
            Ok(plugin) => registry.insert(plugin),
            Err(error) => {
                tracing::error!(plugin = %label, %error, "stored plugin does not load; skipped")
            }
        }
    }
    registry
}

/// `1.2.3` as numbers, for ordering versions (`validate_manifest` has
/// already insisted on this shape).
pub fn semver(version: &str) -> (u64, u64, u64) {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// Whether a bundled plugin has this name.
pub fn is_bundled_name(state_bundled: &PluginRegistry, name: &str) -> bool {
    state_bundled.iter().any(|p| p.manifest().name == name)
}

/// Checks an uploaded package exactly as `switchyard plugin check` does:
/// the parts are written as a package directory in a scratch place under
/// `scratch_root` and handed to the same [`check_package_dir`], so the
/// checks and messages cannot drift apart.
///
/// [`check_package_dir`]: switchyard_runtime::host::check_package_dir
pub fn check_parts(
    host: &PluginHost,
    scratch_root: &Path,
    manifest: &[u8],
    module: &[u8],
) -> anyhow::Result<CheckReport> {
    let dir = scratch_root.join(new_id("plugin-upload"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = (|| {
        // Only a plain file name is written; anything else (`../x`, a path)
        // is left for the check to refuse with its own message.
        let module_name = serde_json::from_slice::<serde_json::Value>(manifest)
            .ok()
            .and_then(|m| m.get("module").and_then(|v| v.as_str()).map(str::to_owned));
        if let Some(name) = module_name
            && is_plain_file_name(&name)
        {
            std::fs::write(dir.join(&name), module)?;
        }
        std::fs::write(dir.join("manifest.json"), manifest)?;
        Ok(switchyard_runtime::host::check_package_dir(host, &dir))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name != "manifest.json"
        && !name.contains(['/', '\\', '\0'])
}

/// A package as stored: canonical manifest, digest, kind and major.
pub fn stored_form(package: &PluginPackage, at: i64) -> StoredPlugin {
    StoredPlugin {
        name: package.manifest.name.clone(),
        version: package.manifest.version.clone(),
        major: package.manifest.major().unwrap_or(0) as i64,
        digest: package.digest(),
        kind: match package.manifest.kind {
            switchyard_sdk::manifest::PluginKind::Wasm => "wasm".into(),
            switchyard_sdk::manifest::PluginKind::Rhai => "rhai".into(),
        },
        manifest: serde_json::to_string(&package.manifest).unwrap_or_default(),
        at,
    }
}

/// The module or script bytes of a package.
pub fn module_bytes(package: &PluginPackage) -> Vec<u8> {
    match &package.source {
        switchyard_runtime::host::PluginSource::Wasm(bytes) => bytes.clone(),
        switchyard_runtime::host::PluginSource::Rhai(text) => text.as_bytes().to_vec(),
    }
}

/// What `switchyard plugin install` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    New { plugin: String, digest: String },
    AlreadyInstalled { plugin: String, digest: String },
}

/// Installs the package in `dir` for every tenant, as trusted: checked as
/// `plugin check` does, refused when its name is bundled or used by a
/// tenant, or when the version exists with other contents.
pub async fn install_platform(
    db: &Db,
    host: &PluginHost,
    bundled: &PluginRegistry,
    dir: &Path,
) -> anyhow::Result<Installed> {
    let report = switchyard_runtime::host::check_package_dir(host, dir);
    if !report.ok() {
        anyhow::bail!("{}", report.problems.join("; "));
    }
    let package = PluginPackage::from_dir(dir)?;
    let name = package.manifest.name.clone();
    let label = format!("{name}@{}", package.manifest.version);
    if is_bundled_name(bundled, &name) {
        anyhow::bail!("{label}: `{name}` is a bundled plugin; choose another name");
    }
    if db.tenant_plugin_named_anywhere(&name).await? {
        anyhow::bail!(
            "{label}: a tenant has uploaded a plugin named `{name}`; a platform plugin of \
             that name would replace it in the tenant's flows, so choose another name"
        );
    }
    let stored = stored_form(&package, now_ms());
    match db
        .insert_platform_plugin(&stored, &module_bytes(&package))
        .await?
    {
        Inserted::New => Ok(Installed::New {
            plugin: label,
            digest: stored.digest,
        }),
        Inserted::Exists { digest } if digest == stored.digest => Ok(Installed::AlreadyInstalled {
            plugin: label,
            digest,
        }),
        Inserted::Exists { digest } => anyhow::bail!(
            "{label} is already installed with other contents ({digest}); published \
             versions are immutable, so bump the version"
        ),
    }
}

/// `switchyard plugin install DIR`: the operator's path into the platform
/// plugins, on the server's data directory or PostgreSQL.
pub fn install_command(
    host: &PluginHost,
    dir: &Path,
    data_dir: PathBuf,
    database_url: Option<String>,
) -> Result<ExitCode, String> {
    let report = switchyard_runtime::host::check_package_dir(host, dir);
    for warning in &report.warnings {
        println!("  warning: {warning}");
    }
    if !report.ok() {
        let name = report
            .plugin
            .clone()
            .unwrap_or_else(|| dir.display().to_string());
        println!(
            "{name}: {} problem{}",
            report.problems.len(),
            if report.problems.len() == 1 { "" } else { "s" }
        );
        for problem in &report.problems {
            println!("  error: {problem}");
        }
        return Ok(ExitCode::from(1));
    }
    let url = database_url
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("switchyard.db").display()));
    let bundled = host
        .bundled_registry()
        .map_err(|e| format!("bundled plugins: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let outcome = runtime.block_on(async {
        if url.starts_with("sqlite:") {
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        }
        let db = Db::connect(&url).await?;
        db.migrate().await?;
        let installed = install_platform(&db, host, &bundled, dir).await;
        db.pool.close().await;
        installed
    });
    match outcome {
        Ok(Installed::New { plugin, digest }) => {
            println!("installed {plugin} {digest} (trusted; visible to every tenant)");
            Ok(ExitCode::SUCCESS)
        }
        Ok(Installed::AlreadyInstalled { plugin, digest }) => {
            println!("{plugin} {digest} is already installed");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(format!("{e:#}")),
    }
}
