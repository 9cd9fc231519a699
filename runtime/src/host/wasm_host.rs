//! WebAssembly plugins on wasmtime: a pooling allocator with copy-on-write
//! memory images, modules compiled once per digest and pre-linked
//! (`InstancePre`), and a fresh instance for every step.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sha2::{Digest, Sha256};
use switchyard_sdk::protocol::{StepInput, StepOutput};
use wasmtime::{
    Caller, Config, Enabled, Engine, ExternType, FuncType, InstanceAllocationStrategy, InstancePre,
    Linker, Memory, Module, ModuleExport, PoolingAllocationConfig, ResourceLimiter, Store, Trap,
    TypedFunc, ValType,
};

use super::{HostConfig, LoadError, LogLine, StepError, StepErrorCode, StepLimits, StepResult};

const HOST_MODULE: &str = "switchyard:host/v1";
const ABI_MARKER: &str = "switchyard_abi_v1";
const ALLOC_EXPORT: &str = "switchyard_alloc";
const STEP_EXPORT: &str = "switchyard_step";

/// How often the epoch advances; CPU deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Idle stores kept for the next steps: about one per thread that steps.
const CACHED_STORES: usize = 4;

/// The shared wasmtime engine, linker and module cache.
pub(super) struct WasmEngine {
    engine: Engine,
    linker: Linker<StepState>,
    cache: Mutex<HashMap<[u8; 32], Arc<WasmModule>>>,
    /// Where compiled modules are kept between processes, if anywhere.
    disk_cache: Option<PathBuf>,
    /// Names the engine configuration in cache file names, so a changed
    /// wasmtime or configuration never loads an incompatible artefact.
    engine_key: String,
    stores: Arc<StoreCache>,
    _ticker: EpochTicker,
}

impl WasmEngine {
    pub(super) fn new(host: &HostConfig) -> Result<Self, LoadError> {
        // Cached stores hold the finished instances of their earlier steps
        // until they are dropped: slots for those come on top of the
        // instances that may run at once.
        let reuse = host.steps_per_store > 1;
        let slots = host.max_concurrent_instances
            + if reuse {
                CACHED_STORES as u32 * host.steps_per_store
            } else {
                0
            };
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .max_memory_size(host.memory_bytes as usize)
            // Keep the first pages of a slot mapped between instances and reset
            // them by scanning for dirty pages instead of unmapping: the main
            // reason a fresh instance costs microseconds (see ../shared/MACHINE.md).
            .linear_memory_keep_resident(host.memory_keep_resident_bytes)
            .table_keep_resident(64 << 10)
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_init_cow(true)
            .epoch_interruption(true)
            .max_wasm_stack(host.wasm_stack_bytes);
        let engine = Engine::new(&config).map_err(|e| LoadError::HostConfig(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap(HOST_MODULE, "output", host_output)
            .and_then(|l| l.func_wrap(HOST_MODULE, "log", host_log))
            .map_err(|e| LoadError::HostConfig(e.to_string()))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(WasmEngine {
            _ticker: EpochTicker::start(&engine),
            engine_key: format!("{:016x}", hasher.finish()),
            disk_cache: host.module_cache_dir.clone(),
            stores: Arc::new(StoreCache::new(&engine, host.steps_per_store)),
            engine,
            linker,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Compiles and checks a module, or returns the cached one with the same digest.
    pub(super) fn load(&self, bytes: &[u8]) -> Result<Arc<WasmModule>, LoadError> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(module) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
        {
            return Ok(module.clone());
        }
        let module = self.compile(bytes, &digest)?;
        check_imports(&module)?;
        check_exports(&module)?;
        let export = |name: &str| {
            module
                .get_export_index(name)
                .ok_or_else(|| LoadError::MissingExport {
                    name: name.into(),
                    expected: "an export".into(),
                })
        };
        let exports = Exports {
            alloc: export(ALLOC_EXPORT)?,
            step: export(STEP_EXPORT)?,
            memory: export("memory")?,
        };
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| LoadError::Compile(e.to_string()))?;
        let module = Arc::new(WasmModule {
            stores: self.stores.clone(),
            pre,
            exports,
        });
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, module.clone());
        Ok(module)
    }
}

impl WasmEngine {
    /// Compiles a module, or loads the compiled artefact from the disk
    /// cache. Compiling costs about 0.1 s per 100 KB with Cranelift, which a
    /// command-line run would otherwise pay for every plugin on every start.
    fn compile(&self, bytes: &[u8], digest: &[u8; 32]) -> Result<Module, LoadError> {
        let compile =
            || Module::new(&self.engine, bytes).map_err(|e| LoadError::Compile(format!("{e:#}")));
        let Some(dir) = &self.disk_cache else {
            return compile();
        };
        let path = dir.join(format!("{}-{}.cwasm", hex::encode(digest), self.engine_key));
        if path.is_file() {
            // SAFETY: files in the cache directory are written only by
            // `Module::serialize` below, for an engine whose compatibility
            // hash is part of the name; wasmtime checks the header again and
            // a file that does not deserialise is compiled afresh. The
            // directory belongs to the user running the host.
            if let Ok(module) = unsafe { Module::deserialize_file(&self.engine, &path) } {
                return Ok(module);
            }
        }
        let module = compile()?;
        if let Ok(serialized) = module.serialize() {
            // Best effort: a cache that cannot be written only costs time.
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::create_dir_all(dir).is_ok() && std::fs::write(&tmp, serialized).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
        }
        Ok(module)
    }
}

fn signature(ty: &FuncType) -> String {
    let list = |types: &mut dyn Iterator<Item = ValType>| {
        types.map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
    };
    format!(
        "({}) -> ({})",
        list(&mut ty.params()),
        list(&mut ty.results())
    )
}

fn check_imports(module: &Module) -> Result<(), LoadError> {
    for import in module.imports() {
        let expected = match (import.module(), import.name()) {
            (HOST_MODULE, "output") => "(i32, i32) -> ()",
            (HOST_MODULE, "log") => "(i32, i32, i32) -> ()",
            (module, name) => {
                return Err(LoadError::UnknownImport {
                    module: module.into(),
                    name: name.into(),
                });
            }
        };
        let found = match import.ty() {
            ExternType::Func(ty) => signature(&ty),
            other => format!("a {}", extern_kind(&other)),
        };
        if found != expected {
            return Err(LoadError::ImportSignature {
                name: import.name().into(),
                expected: expected.into(),
                found,
            });
        }
    }
    Ok(())
}

fn extern_kind(ty: &ExternType) -> &'static str {
    match ty {
        ExternType::Func(_) => "function",
        ExternType::Global(_) => "global",
        ExternType::Table(_) => "table",
        ExternType::Memory(_) => "memory",
        ExternType::Tag(_) => "tag",
    }
}

fn check_exports(module: &Module) -> Result<(), LoadError> {
    let exports: HashMap<&str, ExternType> = module.exports().map(|e| (e.name(), e.ty())).collect();
    if !exports.contains_key(ABI_MARKER) {
        if let Some(other) = exports.keys().find(|n| n.starts_with("switchyard_abi_")) {
            return Err(LoadError::WrongAbi {
                found: (*other).to_owned(),
            });
        }
        return Err(LoadError::MissingExport {
            name: ABI_MARKER.into(),
            expected: "a function () -> () marking ABI v1".into(),
        });
    }
    let wanted = [
        (ABI_MARKER, Some("() -> ()")),
        (ALLOC_EXPORT, Some("(i32) -> (i32)")),
        (STEP_EXPORT, Some("(i32, i32) -> (i32)")),
        ("memory", None),
    ];
    for (name, func_signature) in wanted {
        let expected = match func_signature {
            Some(sig) => format!("a function {sig}"),
            None => "a memory".to_owned(),
        };
        let found = match exports.get(name) {
            None => {
                return Err(LoadError::MissingExport {
                    name: name.into(),
                    expected,
                });
            }
            Some(ExternType::Func(ty)) => format!("a function {}", signature(ty)),
            Some(ExternType::Memory(ty)) if ty.is_64() => "a 64-bit memory".to_owned(),
            Some(ExternType::Memory(_)) => "a memory".to_owned(),
            Some(other) => format!("a {}", extern_kind(other)),
        };
        if found != expected {
            return Err(LoadError::ExportSignature {
                name: name.into(),
                expected,
                found,
            });
        }
    }
    Ok(())
}

/// A compiled, checked, pre-linked module.
pub(super) struct WasmModule {
    stores: Arc<StoreCache>,
    pre: InstancePre<StepState>,
    exports: Exports,
}

/// The ABI exports, resolved once per module so a step does not look them
/// up by name.
struct Exports {
    alloc: ModuleExport,
    step: ModuleExport,
    memory: ModuleExport,
}

/// Per-step store data: limits, the output handed back, and log lines.
struct StepState {
    limits: StepLimits,
    output: Option<Vec<u8>>,
    logs: Vec<LogLine>,
    log_bytes: u64,
    /// The limit a host function or the memory limiter enforced, so the
    /// resulting trap can be reported with its real cause.
    violation: Option<StepError>,
    /// The instance's memory, for host functions.
    memory: Option<Memory>,
    /// Whether this step's instance grew its memory past its initial size
    /// (such a store is not reused: it would keep that memory).
    grew: bool,
}

impl StepState {
    fn new(limits: StepLimits) -> Self {
        StepState {
            limits,
            output: None,
            logs: Vec::new(),
            log_bytes: 0,
            violation: None,
            memory: None,
            grew: false,
        }
    }
}

/// Stores kept between steps.
///
/// Every step still runs in a fresh instance: its own memory (from the
/// pool, reset to the module's image), globals and table. What is reused is
/// the `Store` that holds instances, whose creation, module registration and
/// teardown were about a tenth of a `say` step. A store takes
/// `HostConfig::steps_per_store` steps' instances, one after the other, and
/// is then dropped, which returns their pool slots. A store is dropped at once
/// after a step that failed in any way or grew its memory, so a trap, a
/// limit or a big heap never outlives its step. Instances in one store
/// cannot reach each other: the host links nothing between them, and the
/// host functions read only the memory of the step that is running (the
/// whole per-step state is replaced before each instantiation).
struct StoreCache {
    engine: Engine,
    /// Steps a store serves; at most 1 turns the cache off.
    steps_per_store: u32,
    idle: Mutex<Vec<CachedStore>>,
}

struct CachedStore {
    store: Store<StepState>,
    /// Instances created in this store so far.
    instances: u32,
}

impl StoreCache {
    fn new(engine: &Engine, steps_per_store: u32) -> Self {
        StoreCache {
            engine: engine.clone(),
            steps_per_store,
            idle: Mutex::new(Vec::with_capacity(CACHED_STORES)),
        }
    }

    fn fresh(&self, limits: &StepLimits) -> CachedStore {
        let mut store = Store::new(&self.engine, StepState::new(*limits));
        store.limiter(|state| state);
        store.epoch_deadline_trap();
        CachedStore {
            store,
            instances: 0,
        }
    }

    /// An idle store, or a new one.
    fn take(&self, limits: &StepLimits) -> CachedStore {
        if self.steps_per_store > 1
            && let Some(store) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
        {
            return store;
        }
        self.fresh(limits)
    }

    /// Keeps `store` for a later step if it may be reused.
    fn give_back(&self, store: CachedStore, clean: bool) {
        if !clean || store.instances >= self.steps_per_store {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < CACHED_STORES {
            idle.push(store);
        }
    }

    /// Drops every idle store, returning their instances' pool slots.
    fn clear(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        drop(idle);
    }
}

impl ResourceLimiter for StepState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Instantiation asks for the initial size with `current` 0.
        self.grew |= current > 0;
        if desired as u64 > self.limits.memory_bytes {
            let error = StepError::new(
                StepErrorCode::MemoryLimit,
                format!(
                    "memory.grow from {current} to {desired} bytes exceeds the limit of {} bytes",
                    self.limits.memory_bytes
                ),
            );
            self.violation = Some(error.clone());
            return Err(wasmtime::format_err!("{error}"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

fn guest_bytes(caller: &Caller<'_, StepState>, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    // The memory was stored when the step began: looking the export up by
    // name here would hash the name on every host call.
    let memory = caller.data().memory.ok_or_else(|| {
        wasmtime::format_err!("host function called before the step began (from a start function?)")
    })?;
    let start = ptr as u32 as usize;
    let end = start.checked_add(len as u32 as usize);
    let data = memory.data(caller);
    match end.and_then(|end| data.get(start..end)) {
        Some(bytes) => Ok(bytes.to_vec()),
        None => Err(wasmtime::format_err!(
            "guest passed bytes {start}+{len} outside its memory"
        )),
    }
}

fn host_output(mut caller: Caller<'_, StepState>, ptr: i32, len: i32) -> wasmtime::Result<()> {
    let limit = caller.data().limits.output_bytes;
    let violation = if len as u32 as u64 > limit {
        Some(StepError::new(
            StepErrorCode::OutputLimit,
            format!(
                "output of {} bytes exceeds the limit of {limit} bytes",
                len as u32
            ),
        ))
    } else if caller.data().output.is_some() {
        Some(StepError::new(
            StepErrorCode::BadOutput,
            "output called twice in one step",
        ))
    } else {
        None
    };
    if let Some(error) = violation {
        caller.data_mut().violation = Some(error.clone());
        return Err(wasmtime::format_err!("{error}"));
    }
    let bytes = guest_bytes(&caller, ptr, len)?;
    caller.data_mut().output = Some(bytes);
    Ok(())
}

fn host_log(
    mut caller: Caller<'_, StepState>,
    level: i32,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<()> {
    let state = caller.data();
    let total = state.log_bytes + len as u32 as u64;
    if total > state.limits.log_bytes {
        let error = StepError::new(
            StepErrorCode::LogLimit,
            format!(
                "log output of {total} bytes exceeds the limit of {} bytes",
                state.limits.log_bytes
            ),
        );
        caller.data_mut().violation = Some(error.clone());
        return Err(wasmtime::format_err!("{error}"));
    }
    let bytes = guest_bytes(&caller, ptr, len)?;
    let level = match level {
        0 => "debug",
        1 => "info",
        2 => "warn",
        _ => "error",
    };
    let state = caller.data_mut();
    state.log_bytes = total;
    state.logs.push(LogLine {
        level: level.into(),
        message: String::from_utf8_lossy(&bytes).into_owned(),
    });
    Ok(())
}

impl WasmModule {
    pub(super) fn step(&self, input: &StepInput, limits: &StepLimits) -> StepResult {
        let mut cached = self.stores.take(limits);
        let mut output = self.step_in(&mut cached, input, limits);
        if matches!(&output, Err(e) if e.code == StepErrorCode::HostBusy) {
            // Idle stores and this one may be holding the slots that are
            // missing: drop them and try once more in a new store.
            self.stores.clear();
            cached = self.stores.fresh(limits);
            output = self.step_in(&mut cached, input, limits);
        }
        // The rest of the state is replaced before the store's next step.
        let state = cached.store.data_mut();
        let logs = std::mem::take(&mut state.logs);
        let clean = output.is_ok() && !state.grew;
        self.stores.give_back(cached, clean);
        StepResult { output, logs }
    }

    /// Runs one step in a fresh instance inside `cached`'s store.
    fn step_in(
        &self,
        cached: &mut CachedStore,
        input: &StepInput,
        limits: &StepLimits,
    ) -> Result<StepOutput, StepError> {
        *cached.store.data_mut() = StepState::new(*limits);
        cached.instances += 1;
        // One tick of slack: the current tick may be about to end.
        cached
            .store
            .set_epoch_deadline(limits.cpu_ms.div_ceil(EPOCH_TICK.as_millis() as u64) + 1);
        self.run(&mut cached.store, input)
    }

    fn run(
        &self,
        store: &mut Store<StepState>,
        input: &StepInput,
    ) -> Result<StepOutput, StepError> {
        // Most inputs are a few hundred bytes: one allocation instead of a
        // series of doublings.
        let mut bytes = Vec::with_capacity(1024);
        serde_json::to_writer(&mut bytes, input).map_err(|e| {
            StepError::new(
                StepErrorCode::Trap,
                format!("input does not serialise: {e}"),
            )
        })?;
        let status = (|| -> wasmtime::Result<i32> {
            let instance = self.pre.instantiate(&mut *store)?;
            let export = |store: &mut Store<StepState>, export: &ModuleExport| {
                instance
                    .get_module_export(store, export)
                    .ok_or_else(|| wasmtime::format_err!("export vanished"))
            };
            let alloc = export(store, &self.exports.alloc)?
                .into_func()
                .expect("checked at load");
            let step = export(store, &self.exports.step)?
                .into_func()
                .expect("checked at load");
            // SAFETY: `check_exports` verified both signatures when the
            // module was loaded, and a module never changes after that;
            // skipping wasmtime's per-call type check saves a registry
            // lookup on every step.
            let (alloc, step) = unsafe {
                (
                    TypedFunc::<i32, i32>::new_unchecked(&*store, alloc),
                    TypedFunc::<(i32, i32), i32>::new_unchecked(&*store, step),
                )
            };
            let memory = export(store, &self.exports.memory)?
                .into_memory()
                .expect("checked at load");
            store.data_mut().memory = Some(memory);
            let len = i32::try_from(bytes.len())?;
            let ptr = alloc.call(&mut *store, len)?;
            memory.write(&mut *store, ptr as u32 as usize, &bytes)?;
            step.call(&mut *store, (ptr, len))
        })();
        let state = store.data_mut();
        match status {
            Err(error) => Err(classify(error, state)),
            Ok(0) => match state.output.take() {
                None => Err(StepError::new(
                    StepErrorCode::NoOutput,
                    "switchyard_step returned 0 without calling output",
                )),
                Some(bytes) => parse_output(&bytes),
            },
            Ok(code) => {
                let reason = state
                    .logs
                    .last()
                    .map(|l| l.message.clone())
                    .unwrap_or_default();
                Err(StepError::new(
                    StepErrorCode::RejectedInput,
                    format!(
                        "switchyard_step returned status {code}{}{reason}",
                        if reason.is_empty() { "" } else { ": " }
                    ),
                ))
            }
        }
    }
}

/// Parses a guest's output. UTF-8 is checked once up front, so serde_json
/// reads from a `str` and does not check every string again.
fn parse_output(bytes: &[u8]) -> Result<StepOutput, StepError> {
    let bad = |reason: String| StepError::new(StepErrorCode::BadOutput, reason);
    let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("output is not UTF-8: {e}")))?;
    serde_json::from_str(text).map_err(|e| bad(format!("output is not a valid step output: {e}")))
}

/// Names the real cause of a failed call: a limit the host enforced, a
/// known trap, or a guest panic reported through `log` just before the
/// `unreachable` trap.
fn classify(error: wasmtime::Error, state: &mut StepState) -> StepError {
    if let Some(violation) = state.violation.take() {
        return violation;
    }
    let message = format!("{error:#}");
    if message.contains("concurrent") && message.contains("limit") {
        return StepError::new(
            StepErrorCode::HostBusy,
            "every plugin instance slot is busy",
        );
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => StepError::new(
            StepErrorCode::CpuLimit,
            format!(
                "step ran past its CPU deadline of {} ms",
                state.limits.cpu_ms
            ),
        ),
        Some(Trap::StackOverflow) => {
            StepError::new(StepErrorCode::StackOverflow, "wasm call stack exhausted")
        }
        Some(Trap::UnreachableCodeReached) => {
            match state
                .logs
                .iter()
                .rev()
                .find(|l| l.message.starts_with("panic: "))
            {
                Some(line) => StepError::new(
                    StepErrorCode::GuestPanic,
                    format!(
                        "guest panicked: {}",
                        line.message.trim_start_matches("panic: ")
                    ),
                ),
                None => StepError::new(
                    StepErrorCode::Trap,
                    "wasm `unreachable` instruction executed",
                ),
            }
        }
        Some(trap) => StepError::new(StepErrorCode::Trap, trap.to_string()),
        None => StepError::new(StepErrorCode::Trap, message),
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] so that CPU deadlines
/// fire; stops when the engine is gone.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let weak: Weak<AtomicBool> = Arc::downgrade(&stop);
        let engine = engine.weak();
        std::thread::Builder::new()
            .name("switchyard-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(EPOCH_TICK);
                    let (Some(stop), Some(engine)) = (weak.upgrade(), engine.upgrade()) else {
                        break;
                    };
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    engine.increment_epoch();
                }
            })
            .ok();
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
