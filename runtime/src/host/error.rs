//! Errors of the plugin host: why a package does not load ([`LoadError`])
//! and why a step produced no output ([`StepError`]).

use serde::{Deserialize, Serialize};

/// Why a plugin package was refused. Messages name what was expected and
/// what was found, so a plugin author can fix the module without reading
/// host code.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The manifest is missing, does not parse, or has an invalid field.
    #[error("manifest: {field}: {message}")]
    Manifest { field: String, message: String },
    /// A file of the package could not be read.
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    /// The bytes are not a valid WebAssembly module.
    #[error("module does not compile: {0}")]
    Compile(String),
    /// The module imports something the host does not provide.
    #[error(
        "unknown import `{module}.{name}`: plugins may import only `switchyard:host/v1` functions `output` and `log`{}",
        if module.starts_with("wasi") { " (WASI is not available to plugins; build for wasm32-unknown-unknown)" } else { "" }
    )]
    UnknownImport { module: String, name: String },
    /// A host import is declared with the wrong signature.
    #[error("import `switchyard:host/v1.{name}` has signature {found}, expected {expected}")]
    ImportSignature {
        name: String,
        expected: String,
        found: String,
    },
    /// A required export is missing.
    #[error("missing export `{name}`: expected {expected}")]
    MissingExport { name: String, expected: String },
    /// An export has the wrong kind or signature.
    #[error("export `{name}` is {found}, expected {expected}")]
    ExportSignature {
        name: String,
        expected: String,
        found: String,
    },
    /// The module speaks another ABI version.
    #[error("wrong ABI version: expected export `switchyard_abi_v1`, found `{found}`")]
    WrongAbi { found: String },
    /// The Rhai script does not compile or lacks `fn step(input)`.
    #[error("rhai script: {0}")]
    Script(String),
    /// wasmtime refused the host configuration.
    #[error("plugin host configuration: {0}")]
    HostConfig(String),
}

/// A machine-readable reason for a failed step, as written in the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepErrorCode {
    /// The step ran past its CPU deadline or Rhai operation budget.
    CpuLimit,
    /// The guest tried to grow memory past its limit (or Rhai data past its caps).
    MemoryLimit,
    /// The guest exhausted its stack or call depth.
    StackOverflow,
    /// The output was larger than allowed.
    OutputLimit,
    /// The guest logged more than allowed.
    LogLimit,
    /// The guest panicked (Rust guests report the message through `log`).
    GuestPanic,
    /// Any other trap or script error.
    Trap,
    /// The guest returned a non-zero status: it rejected its input.
    RejectedInput,
    /// The guest returned without calling `output`.
    NoOutput,
    /// The output is not a valid step output.
    BadOutput,
    /// The output contains an action the manifest does not declare.
    UndeclaredAction,
    /// The plugin took an outcome it does not declare.
    UndeclaredOutcome,
    /// Every pool slot was busy.
    HostBusy,
}

impl StepErrorCode {
    /// The kebab-case code.
    pub fn as_str(self) -> &'static str {
        match self {
            StepErrorCode::CpuLimit => "cpu-limit",
            StepErrorCode::MemoryLimit => "memory-limit",
            StepErrorCode::StackOverflow => "stack-overflow",
            StepErrorCode::OutputLimit => "output-limit",
            StepErrorCode::LogLimit => "log-limit",
            StepErrorCode::GuestPanic => "guest-panic",
            StepErrorCode::Trap => "trap",
            StepErrorCode::RejectedInput => "rejected-input",
            StepErrorCode::NoOutput => "no-output",
            StepErrorCode::BadOutput => "bad-output",
            StepErrorCode::UndeclaredAction => "undeclared-action",
            StepErrorCode::UndeclaredOutcome => "undeclared-outcome",
            StepErrorCode::HostBusy => "host-busy",
        }
    }
}

/// Why a step produced no usable output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct StepError {
    pub code: StepErrorCode,
    pub message: String,
}

impl StepError {
    /// A step error with a code and a message.
    pub fn new(code: StepErrorCode, message: impl Into<String>) -> Self {
        StepError {
            code,
            message: message.into(),
        }
    }
}
