//! The plugin host: loads plugin packages (WebAssembly modules or Rhai
//! scripts with their manifests) and runs one step of a plugin at a time,
//! inside limits, turning every failure into a [`StepError`] instead of a
//! crash.
//!
//! Only this module knows wasmtime and Rhai; the executor sees [`Plugin`].
//!
//! ```
//! use switchyard_runtime::host::{HostConfig, PluginHost};
//! use switchyard_sdk::prelude::*;
//!
//! let host = PluginHost::new(HostConfig::default()).unwrap();
//! let registry = host.bundled_registry().unwrap();
//! let say = registry.get("say", 1).unwrap();
//! let input = StepInput {
//!     abi: ABI_VERSION,
//!     node: NodeInfo { id: "hello".into(), config: serde_json::json!({"text": "Hello"}) },
//!     call: CallInfo { id: "c1".into(), locale: "en-US".into(), jurisdiction: vec![],
//!                      vars: Default::default(), now_ms: 0, seed: 1 },
//!     state: serde_json::Value::Null,
//!     event: Event::Enter,
//! };
//! let result = say.step(&input);
//! assert_eq!(result.output.unwrap().exit.as_deref(), Some("done"));
//! ```

mod bundled;
mod check;
mod error;
mod package;
mod registry;
mod rhai_host;
mod wasm_host;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use switchyard_sdk::protocol::{StepInput, StepOutput};

pub use bundled::{BUNDLED_PLUGINS, BundledPlugin};
pub use check::{CheckReport, check_package_dir};
pub use error::{LoadError, StepError, StepErrorCode};
pub use package::{PluginPackage, PluginSource};
pub use registry::{PluginRegistry, parse_use as registry_parse_use};

use rhai_host::{RhaiEngine, RhaiScript};
use wasm_host::{WasmEngine, WasmModule};

/// Host-wide limits and pool sizes. Every per-step limit here is both the
/// default and the ceiling: a manifest may ask for less, never more.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Linear memory per instance, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock CPU budget per step (epoch deadline for wasm, progress
    /// check for Rhai), in milliseconds.
    pub cpu_ms: u64,
    /// Native stack available to wasm code, in bytes.
    pub wasm_stack_bytes: usize,
    /// Largest step output, in bytes.
    pub output_bytes: u64,
    /// Log bytes a step may write.
    pub log_bytes: u64,
    /// Bytes of each pooled memory slot kept mapped between instances and
    /// reset by scanning for dirty pages (Linux 6.7+ `PAGEMAP_SCAN`) rather
    /// than unmapped. Should cover what a step touches: stack, data, heap.
    pub memory_keep_resident_bytes: usize,
    /// Instances that may run at the same moment (pool slots); steps are
    /// short, so this bounds parallelism, not the number of calls.
    pub max_concurrent_instances: u32,
    /// Steps one wasmtime `Store` serves, each in a fresh instance of its
    /// own (see `wasm_host::StoreCache`); the pool gets slots for the
    /// finished instances that idle stores hold. 0 or 1: a store per step.
    pub steps_per_store: u32,
    /// Rhai: operations per step.
    pub rhai_max_operations: u64,
    /// Rhai: function call depth.
    pub rhai_max_call_levels: usize,
    /// Rhai: longest string, in bytes.
    pub rhai_max_string_bytes: usize,
    /// Rhai: most items in one array.
    pub rhai_max_array_len: usize,
    /// Rhai: most entries in one object map.
    pub rhai_max_map_len: usize,
    /// A directory to keep compiled wasm modules in between runs (keyed by
    /// module digest and engine configuration); `None` compiles in memory only.
    pub module_cache_dir: Option<std::path::PathBuf>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            memory_bytes: 64 << 20,
            cpu_ms: 50,
            wasm_stack_bytes: 512 << 10,
            output_bytes: 256 << 10,
            log_bytes: 16 << 10,
            memory_keep_resident_bytes: 2 << 20,
            max_concurrent_instances: 128,
            steps_per_store: 8,
            rhai_max_operations: 200_000,
            rhai_max_call_levels: 32,
            rhai_max_string_bytes: 64 << 10,
            rhai_max_array_len: 10_000,
            rhai_max_map_len: 10_000,
            module_cache_dir: None,
        }
    }
}

/// Per-step limits after a manifest's requests are clamped to the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepLimits {
    pub memory_bytes: u64,
    pub cpu_ms: u64,
    pub output_bytes: u64,
    pub log_bytes: u64,
}

impl StepLimits {
    fn resolve(host: &HostConfig, asked: &switchyard_sdk::manifest::Limits) -> Self {
        let clamp = |asked: Option<u64>, ceiling: u64| asked.unwrap_or(ceiling).min(ceiling);
        StepLimits {
            memory_bytes: clamp(asked.memory_bytes, host.memory_bytes),
            cpu_ms: clamp(asked.cpu_ms, host.cpu_ms).max(1),
            output_bytes: clamp(asked.output_bytes, host.output_bytes),
            log_bytes: clamp(asked.log_bytes, host.log_bytes),
        }
    }
}

/// One line a guest logged during a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub level: String,
    pub message: String,
}

/// What one step produced: the output or why there is none, and the guest's
/// log lines either way.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub output: Result<StepOutput, StepError>,
    pub logs: Vec<LogLine>,
}

/// Loads plugins and owns the engines they run on. Cheap to share behind an
/// `Arc`; modules are compiled once per digest.
pub struct PluginHost {
    config: HostConfig,
    wasm: Arc<WasmEngine>,
    rhai: RhaiEngine,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    /// Creates the wasm engine (pooling allocator, epoch ticker) and the Rhai engine.
    ///
    /// # Errors
    /// When wasmtime refuses the configuration (for example a pool larger
    /// than the address space allows).
    pub fn new(config: HostConfig) -> Result<Self, LoadError> {
        Ok(PluginHost {
            wasm: Arc::new(WasmEngine::new(&config)?),
            rhai: RhaiEngine::new(&config),
            config,
        })
    }

    /// The configuration the host was made with.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Loads one package: validates the manifest, compiles its schema, and
    /// compiles (or fetches from the cache) its module or script.
    ///
    /// # Errors
    /// A [`LoadError`] naming what was expected and what was found.
    pub fn load(&self, package: &PluginPackage, trusted: bool) -> Result<Arc<Plugin>, LoadError> {
        self.load_with(package, trusted, true)
    }

    /// Like [`load`](Self::load), but a wasm module is compiled on its first
    /// step instead of now. For the bundled plugins, whose modules CI has
    /// checked, so that a command that never steps a plugin (`validate`)
    /// does not compile any.
    ///
    /// # Errors
    /// When the manifest or schema is invalid.
    pub fn load_lazily(
        &self,
        package: &PluginPackage,
        trusted: bool,
    ) -> Result<Arc<Plugin>, LoadError> {
        self.load_with(package, trusted, false)
    }

    fn load_with(
        &self,
        package: &PluginPackage,
        trusted: bool,
        eager: bool,
    ) -> Result<Arc<Plugin>, LoadError> {
        package.validate_manifest()?;
        let schema = jsonschema::validator_for(&package.manifest.config_schema).map_err(|e| {
            LoadError::Manifest {
                field: "config_schema".into(),
                message: e.to_string(),
            }
        })?;
        let limits = StepLimits::resolve(&self.config, &package.manifest.limits);
        let runner = match &package.source {
            PluginSource::Wasm(bytes) if eager => Runner::Wasm(self.wasm.load(bytes)?),
            PluginSource::Wasm(bytes) => Runner::LazyWasm {
                engine: self.wasm.clone(),
                bytes: bytes.clone(),
                module: std::sync::OnceLock::new(),
            },
            PluginSource::Rhai(script) => Runner::Rhai(self.rhai.load(script)?),
        };
        Ok(Arc::new(Plugin {
            manifest: package.manifest.clone(),
            digest: package.digest(),
            trusted,
            limits,
            schema,
            runner,
        }))
    }

    /// A registry holding every bundled plugin, loaded as trusted.
    ///
    /// # Errors
    /// Only if a bundled package is broken, which CI prevents.
    pub fn bundled_registry(&self) -> Result<PluginRegistry, LoadError> {
        let mut registry = PluginRegistry::default();
        for bundled in BUNDLED_PLUGINS {
            let package = bundled.package()?;
            registry.insert(self.load_lazily(&package, true)?);
        }
        Ok(registry)
    }

    /// Loads a package from a directory holding `manifest.json` and its module.
    ///
    /// # Errors
    /// When the files are missing or invalid.
    pub fn load_dir(&self, dir: &std::path::Path, trusted: bool) -> Result<Arc<Plugin>, LoadError> {
        self.load(&PluginPackage::from_dir(dir)?, trusted)
    }
}

enum Runner {
    Wasm(Arc<WasmModule>),
    LazyWasm {
        engine: Arc<WasmEngine>,
        bytes: Vec<u8>,
        module: std::sync::OnceLock<Result<Arc<WasmModule>, String>>,
    },
    Rhai(Arc<RhaiScript>),
}

/// A loaded plugin, ready to step. Steps are independent: each runs in a
/// fresh instance (wasm) or a fresh scope (Rhai), so one plugin may be
/// stepped from many threads at once.
pub struct Plugin {
    manifest: switchyard_sdk::manifest::Manifest,
    digest: String,
    trusted: bool,
    limits: StepLimits,
    schema: jsonschema::Validator,
    runner: Runner,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// The plugin's manifest.
    pub fn manifest(&self) -> &switchyard_sdk::manifest::Manifest {
        &self.manifest
    }

    /// `sha256:<hex>` of the manifest and module together.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Whether the plugin is bundled or operator-installed (may claim roles).
    pub fn trusted(&self) -> bool {
        self.trusted
    }

    /// The limits each step runs under.
    pub fn limits(&self) -> StepLimits {
        self.limits
    }

    /// The compiled config schema.
    pub fn config_schema(&self) -> &jsonschema::Validator {
        &self.schema
    }

    /// Compiles the module now if it was loaded lazily, so the first step
    /// does not pay for it.
    ///
    /// # Errors
    /// When the module does not compile.
    pub fn prepare(&self) -> Result<(), String> {
        if let Runner::LazyWasm {
            engine,
            bytes,
            module,
        } = &self.runner
        {
            module
                .get_or_init(|| engine.load(bytes).map_err(|e| e.to_string()))
                .as_ref()
                .map(|_| ())
                .map_err(Clone::clone)?;
        }
        Ok(())
    }

    /// Runs one step. Never panics and never fails the caller: every failure
    /// is in `output` as a [`StepError`].
    pub fn step(&self, input: &StepInput) -> StepResult {
        let mut result = match &self.runner {
            Runner::Wasm(module) => module.step(input, &self.limits),
            Runner::LazyWasm {
                engine,
                bytes,
                module,
            } => match module.get_or_init(|| engine.load(bytes).map_err(|e| e.to_string())) {
                Ok(module) => module.step(input, &self.limits),
                Err(reason) => StepResult {
                    output: Err(StepError::new(
                        StepErrorCode::Trap,
                        format!("module does not load: {reason}"),
                    )),
                    logs: Vec::new(),
                },
            },
            Runner::Rhai(script) => script.step(input, &self.limits),
        };
        if let Ok(output) = &result.output
            && let Some(action) = output
                .actions
                .iter()
                .find(|a| !self.manifest.actions.iter().any(|k| k == a.kind()))
        {
            result.output = Err(StepError::new(
                StepErrorCode::UndeclaredAction,
                format!(
                    "emitted a `{}` action, which the manifest does not declare (declared: {})",
                    action.kind(),
                    if self.manifest.actions.is_empty() {
                        "none".to_owned()
                    } else {
                        self.manifest.actions.join(", ")
                    }
                ),
            ));
        }
        result
    }
}
