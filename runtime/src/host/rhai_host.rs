//! Rhai plugins: a script defining `fn step(input)` gets the same step input
//! and returns the same step output as a WebAssembly plugin, with operation,
//! call-depth, string, array and map limits and a CPU deadline. The engine
//! is built without modules (`no_module`), with `eval` disabled, and Rhai
//! has no file or network access of its own.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{AST, CallFnOptions, Dynamic, Engine, EvalAltResult, Scope};
use switchyard_sdk::protocol::{StepInput, StepOutput};

use super::{HostConfig, LoadError, LogLine, StepError, StepErrorCode, StepLimits, StepResult};

/// Per-thread state of the step now running: Rhai's callbacks are set once
/// per engine, so they find the step's deadline and log here.
struct CurrentStep {
    deadline: Instant,
    logs: Vec<LogLine>,
    log_bytes: u64,
    log_limit: u64,
    log_overflow: bool,
}

thread_local! {
    static CURRENT: RefCell<Option<CurrentStep>> = const { RefCell::new(None) };
}

fn log_line(level: &str, message: &str) {
    CURRENT.with(|current| {
        if let Some(step) = current.borrow_mut().as_mut() {
            step.log_bytes += message.len() as u64;
            if step.log_bytes > step.log_limit {
                step.log_overflow = true;
            } else {
                step.logs.push(LogLine {
                    level: level.into(),
                    message: message.into(),
                });
            }
        }
    });
}

/// The shared Rhai engine.
pub(super) struct RhaiEngine {
    engine: Arc<Engine>,
}

impl RhaiEngine {
    pub(super) fn new(host: &HostConfig) -> Self {
        let mut engine = Engine::new();
        engine
            .set_max_operations(host.rhai_max_operations)
            .set_max_call_levels(host.rhai_max_call_levels)
            .set_max_expr_depths(64, 32)
            .set_max_string_size(host.rhai_max_string_bytes)
            .set_max_array_size(host.rhai_max_array_len)
            .set_max_map_size(host.rhai_max_map_len)
            .set_max_variables(1_000)
            .set_max_functions(256)
            .disable_symbol("eval");
        engine.on_print(|text| log_line("info", text));
        engine.on_debug(|text, _, _| log_line("debug", text));
        engine.register_fn("log", |text: &str| log_line("info", text));
        // Operation counting bounds loops; the wall-clock check bounds slow
        // built-ins. Instant::now is cheap but not free, so look every 256 ops.
        engine.on_progress(|operations| {
            if operations % 256 != 0 {
                return None;
            }
            let late = CURRENT.with(|c| {
                c.borrow()
                    .as_ref()
                    .is_some_and(|s| Instant::now() > s.deadline)
            });
            late.then(|| Dynamic::from("cpu deadline"))
        });
        RhaiEngine {
            engine: Arc::new(engine),
        }
    }

    pub(super) fn load(&self, script: &str) -> Result<Arc<RhaiScript>, LoadError> {
        let ast = self
            .engine
            .compile(script)
            .map_err(|e| LoadError::Script(e.to_string()))?;
        let has_step = ast
            .iter_functions()
            .any(|f| f.name == "step" && f.params.len() == 1);
        if !has_step {
            return Err(LoadError::Script("missing `fn step(input)`".into()));
        }
        Ok(Arc::new(RhaiScript {
            engine: self.engine.clone(),
            ast,
        }))
    }
}

/// A compiled script.
pub(super) struct RhaiScript {
    engine: Arc<Engine>,
    ast: AST,
}

impl RhaiScript {
    pub(super) fn step(&self, input: &StepInput, limits: &StepLimits) -> StepResult {
        CURRENT.with(|c| {
            *c.borrow_mut() = Some(CurrentStep {
                deadline: Instant::now() + Duration::from_millis(limits.cpu_ms),
                logs: Vec::new(),
                log_bytes: 0,
                log_limit: limits.log_bytes,
                log_overflow: false,
            })
        });
        let output = self.run(input, limits);
        let step = CURRENT.with(|c| c.borrow_mut().take()).expect("set above");
        let output = if step.log_overflow {
            Err(StepError::new(
                StepErrorCode::LogLimit,
                format!(
                    "log output of {} bytes exceeds the limit of {} bytes",
                    step.log_bytes, limits.log_bytes
                ),
            ))
        } else {
            output
        };
        StepResult {
            output,
            logs: step.logs,
        }
    }

    fn run(&self, input: &StepInput, limits: &StepLimits) -> Result<StepOutput, StepError> {
        let input = rhai::serde::to_dynamic(input).map_err(|e| {
            StepError::new(StepErrorCode::Trap, format!("input does not convert: {e}"))
        })?;
        let mut scope = Scope::new();
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(false);
        let result = self
            .engine
            .call_fn_with_options::<Dynamic>(options, &mut scope, &self.ast, "step", (input,))
            .map_err(|e| classify(*e, limits))?;
        let output: StepOutput = rhai::serde::from_dynamic(&result).map_err(|e| {
            StepError::new(
                StepErrorCode::BadOutput,
                format!("output is not a valid step output: {e}"),
            )
        })?;
        let size = serde_json::to_vec(&output)
            .map(|v| v.len() as u64)
            .unwrap_or(u64::MAX);
        if size > limits.output_bytes {
            return Err(StepError::new(
                StepErrorCode::OutputLimit,
                format!(
                    "output of {size} bytes exceeds the limit of {} bytes",
                    limits.output_bytes
                ),
            ));
        }
        Ok(output)
    }
}

fn classify(error: EvalAltResult, limits: &StepLimits) -> StepError {
    match error {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => classify(*inner, limits),
        EvalAltResult::ErrorTooManyOperations(pos) => StepError::new(
            StepErrorCode::CpuLimit,
            format!("script exceeded its operation budget at {pos}"),
        ),
        EvalAltResult::ErrorTerminated(_, pos) => StepError::new(
            StepErrorCode::CpuLimit,
            format!(
                "script ran past its CPU deadline of {} ms at {pos}",
                limits.cpu_ms
            ),
        ),
        EvalAltResult::ErrorDataTooLarge(what, pos) => StepError::new(
            StepErrorCode::MemoryLimit,
            format!("{what} exceeds its size limit at {pos}"),
        ),
        EvalAltResult::ErrorStackOverflow(pos) => StepError::new(
            StepErrorCode::StackOverflow,
            format!("script call depth exceeded at {pos}"),
        ),
        other => StepError::new(StepErrorCode::Trap, format!("script error: {other}")),
    }
}
