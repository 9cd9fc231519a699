//! The plugins that ship inside the binary, so `switchyard` runs from a
//! fresh clone with nothing else installed. The `.wasm` files are built from
//! `plugins/*/` by `scripts/build-plugins.sh`; CI rebuilds them and fails if
//! the committed bytes differ from the sources.

use super::{LoadError, PluginPackage};

/// One bundled plugin: its manifest and module or script, as compiled in.
#[derive(Debug)]
pub struct BundledPlugin {
    pub name: &'static str,
    pub manifest: &'static str,
    pub module: &'static [u8],
}

impl BundledPlugin {
    /// The package, parsed.
    ///
    /// # Errors
    /// Only if the bundled manifest is broken.
    pub fn package(&self) -> Result<PluginPackage, LoadError> {
        PluginPackage::from_parts(self.manifest.as_bytes(), self.module.to_vec())
    }
}

macro_rules! bundled {
    ($($name:literal => $module:literal),* $(,)?) => {
        /// Every bundled plugin.
        pub const BUNDLED_PLUGINS: &[BundledPlugin] = &[$(
            BundledPlugin {
                name: $name,
                manifest: include_str!(concat!("../../../plugins/", $name, "/manifest.json")),
                module: include_bytes!(concat!("../../../plugins/", $name, "/", $module)),
            }
        ),*];
    };
}

bundled! {
    "say" => "say.wasm",
    "play" => "play.wasm",
    "menu" => "menu.wasm",
    "gather" => "gather.wasm",
    "branch" => "branch.rhai",
    "set" => "set.rhai",
    "business-hours" => "business-hours.wasm",
    "record" => "record.wasm",
    "voicemail" => "voicemail.wasm",
    "webhook" => "webhook.wasm",
    "transfer" => "transfer.wasm",
    "hangup" => "hangup.wasm",
    "subflow" => "subflow.wasm",
    "llm-agent" => "llm-agent.wasm",
    "recording-consent" => "recording-consent.wasm",
    "ai-disclosure" => "ai-disclosure.wasm",
    "notice" => "notice.wasm",
    "secure-capture" => "secure-capture.wasm",
}
