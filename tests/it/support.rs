//! Shared helpers.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use switchyard_runtime::host::{HostConfig, Plugin, PluginHost, PluginPackage, PluginRegistry};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// One host for the whole test binary, as in production: modules are
/// compiled once and every test shares the pool.
pub fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new(HostConfig::default()).expect("host starts"))
}

/// The bundled plugins.
pub fn bundled() -> PluginRegistry {
    host().bundled_registry().expect("bundled plugins load")
}

/// Reads a WAT test module from tests/plugins/wat.
pub fn wat_module(name: &str) -> Vec<u8> {
    let path = repo().join("tests/plugins/wat").join(name);
    wat::parse_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A manifest for test modules: one `done` outcome, may say things.
pub fn test_manifest(name: &str) -> String {
    format!(
        r#"{{"name": "{name}", "version": "1.0.0", "kind": "wasm", "module": "{name}.wasm",
            "outcomes": ["done"], "actions": ["say"]}}"#
    )
}

/// Loads a WAT test module as an untrusted plugin.
pub fn load_wat(name: &str) -> Result<Arc<Plugin>, switchyard_runtime::host::LoadError> {
    let plugin_name = name.trim_end_matches(".wat");
    let package =
        PluginPackage::from_parts(test_manifest(plugin_name).as_bytes(), wat_module(name))?;
    host().load(&package, false)
}
