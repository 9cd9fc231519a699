//! Loaded plugins by name and major version.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Plugin;

/// Plugins by `(name, major version)`. A flow's `use: "menu@1"` resolves here.
#[derive(Debug, Default, Clone)]
pub struct PluginRegistry {
    plugins: BTreeMap<(String, u64), Arc<Plugin>>,
}

impl PluginRegistry {
    /// Adds or replaces a plugin under its name and major version.
    pub fn insert(&mut self, plugin: Arc<Plugin>) {
        let major = plugin.manifest().major().unwrap_or(0);
        self.plugins
            .insert((plugin.manifest().name.clone(), major), plugin);
    }

    /// The plugin with this name and major version.
    pub fn get(&self, name: &str, major: u64) -> Option<&Arc<Plugin>> {
        self.plugins.get(&(name.to_owned(), major))
    }

    /// Major versions available under a name, for error messages.
    pub fn majors(&self, name: &str) -> Vec<u64> {
        self.plugins
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, m)| *m)
            .collect()
    }

    /// Every plugin, ordered by name and version.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.plugins.values()
    }
}

/// Splits `name@major` as written in a flow's `use`.
pub fn parse_use(spec: &str) -> Option<(&str, u64)> {
    let (name, major) = spec.split_once('@')?;
    Some((name, major.parse().ok()?))
}
