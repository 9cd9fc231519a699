//! The guest side of the WebAssembly ABI: glue that turns a plain
//! `fn step(StepInput) -> StepOutput` into the exports described in
//! `sdk/ABI.md`. Use it through [`export_step!`](crate::export_step).
//!
//! On targets other than wasm32 the same functions run natively, which is
//! what the [`harness`](crate::harness) and the native benchmarks use.

use crate::protocol::{StepInput, StepOutput};

/// Log levels understood by the host's `log` import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// Return codes of `switchyard_step`.
pub mod status {
    /// The step ran and handed back its output.
    pub const OK: i32 = 0;
    /// The input was not a valid step input; a log line says why.
    pub const BAD_INPUT: i32 = 1;
}

#[cfg(target_arch = "wasm32")]
mod host {
    #[link(wasm_import_module = "switchyard:host/v1")]
    unsafe extern "C" {
        pub fn output(ptr: *const u8, len: usize);
        pub fn log(level: i32, ptr: *const u8, len: usize);
    }
}

#[cfg(not(target_arch = "wasm32"))]
std::thread_local! {
    static NATIVE_LOG: std::cell::RefCell<Vec<(Level, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes one log line to the call's event log. The host caps the total per
/// step (see the manifest's `limits.log_bytes`).
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the pointer and length describe a live, initialised byte slice.
    unsafe {
        host::log(level as i32, message.as_ptr(), message.len())
    };
    #[cfg(not(target_arch = "wasm32"))]
    NATIVE_LOG.with(|lines| lines.borrow_mut().push((level, message.to_owned())));
}

/// Takes the log lines written natively on this thread since the last call.
#[cfg(not(target_arch = "wasm32"))]
pub fn take_native_log() -> Vec<(Level, String)> {
    NATIVE_LOG.with(|lines| std::mem::take(&mut *lines.borrow_mut()))
}

/// Runs one step on JSON bytes and returns the output JSON, or the status
/// code and reason when the input does not parse. This is the whole guest
/// side of a step, minus the copying across the wasm boundary.
pub fn step_json(input: &[u8], step: fn(StepInput) -> StepOutput) -> Result<Vec<u8>, String> {
    // Checking UTF-8 once up front lets serde_json read from a `str` and skip
    // checking every string again: a tenth of a small step's parsing.
    let input = std::str::from_utf8(input).map_err(|e| format!("step input is not UTF-8: {e}"))?;
    let input: StepInput =
        serde_json::from_str(input).map_err(|e| format!("step input does not parse: {e}"))?;
    let output = step(input);
    serde_json::to_vec(&output).map_err(|e| format!("step output does not serialise: {e}"))
}

/// Implementation of the `switchyard_alloc` export.
#[doc(hidden)]
pub fn alloc(len: usize) -> *mut u8 {
    let mut buffer = Vec::<u8>::with_capacity(len);
    let ptr = buffer.as_mut_ptr();
    // The instance is thrown away after the step, so the buffer is never freed.
    std::mem::forget(buffer);
    ptr
}

/// Implementation of the `switchyard_step` export.
///
/// # Safety
/// `ptr` and `len` must describe bytes the host wrote into memory returned by
/// [`alloc`].
#[doc(hidden)]
pub unsafe fn run(ptr: *const u8, len: usize, step: fn(StepInput) -> StepOutput) -> i32 {
    install_panic_logger();
    // SAFETY: guaranteed by the caller (the host, following ABI.md).
    let input = unsafe { std::slice::from_raw_parts(ptr, len) };
    match step_json(input, step) {
        Ok(output) => {
            emit_output(&output);
            status::OK
        }
        Err(reason) => {
            log(Level::Error, &reason);
            status::BAD_INPUT
        }
    }
}

fn emit_output(output: &[u8]) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the pointer and length describe a live, initialised byte slice.
    unsafe {
        host::output(output.as_ptr(), output.len())
    };
    #[cfg(not(target_arch = "wasm32"))]
    let _ = output;
}

/// A panic aborts a wasm guest with an `unreachable` trap, which tells the
/// host nothing. Logging the message first lets the host report
/// "guest panicked: ..." in the call's event log.
fn install_panic_logger() {
    #[cfg(target_arch = "wasm32")]
    std::panic::set_hook(Box::new(|info| {
        log(Level::Error, &format!("panic: {info}"));
    }));
}

/// Exports a step function with the Switchyard WebAssembly ABI v1.
///
/// ```
/// use switchyard_sdk::prelude::*;
///
/// fn step(_input: StepInput) -> StepOutput {
///     StepOutput::exit("done")
/// }
///
/// switchyard_sdk::export_step!(step);
/// ```
///
/// On wasm32 this defines the exports `switchyard_abi_v1`,
/// `switchyard_alloc` and `switchyard_step`; elsewhere it expands to nothing,
/// so the same crate can be unit-tested natively.
#[macro_export]
macro_rules! export_step {
    ($step:path) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            /// ABI marker: its presence tells the host this module speaks ABI v1.
            #[unsafe(no_mangle)]
            pub extern "C" fn switchyard_abi_v1() {}

            #[unsafe(no_mangle)]
            pub extern "C" fn switchyard_alloc(len: usize) -> *mut u8 {
                $crate::guest::alloc(len)
            }

            /// # Safety
            /// Called by the host with memory it obtained from `switchyard_alloc`.
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn switchyard_step(ptr: *const u8, len: usize) -> i32 {
                // SAFETY: the host follows ABI.md.
                unsafe { $crate::guest::run(ptr, len, $step) }
            }
        };
    };
}

/// A bump allocator for wasm32 guests, installed as the global allocator
/// when the `guest-allocator` feature is on (the default).
///
/// Why not the standard allocator: a fresh instance runs every step, so
/// nothing needs freeing, and the standard allocator calls `memory.grow` on
/// its first allocation in every instance, which makes wasmtime remap the
/// pooled memory slot on every step (measured: 29 µs per step against 11 µs
/// with this allocator, see `../shared/MACHINE.md`). The heap starts at
/// `__heap_base` inside the module's initial memory and grows only when a
/// step really needs more.
#[cfg(target_arch = "wasm32")]
pub mod bump {
    use core::alloc::{GlobalAlloc, Layout};
    use core::sync::atomic::{AtomicUsize, Ordering};

    unsafe extern "C" {
        static __heap_base: u8;
    }

    const PAGE: usize = 65536;

    /// See the module docs.
    pub struct BumpAllocator {
        next: AtomicUsize,
    }

    impl BumpAllocator {
        pub const fn new() -> Self {
            BumpAllocator {
                next: AtomicUsize::new(0),
            }
        }
    }

    impl Default for BumpAllocator {
        fn default() -> Self {
            Self::new()
        }
    }

    // SAFETY: wasm32 guests here are single-threaded; every returned block is
    // aligned, within linear memory, and never handed out twice.
    unsafe impl GlobalAlloc for BumpAllocator {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let mut next = self.next.load(Ordering::Relaxed);
            if next == 0 {
                next = &raw const __heap_base as usize;
            }
            let start = (next + layout.align() - 1) & !(layout.align() - 1);
            let Some(end) = start.checked_add(layout.size()) else {
                return core::ptr::null_mut();
            };
            let have = core::arch::wasm32::memory_size(0) * PAGE;
            if end > have {
                let pages = (end - have).div_ceil(PAGE);
                if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                    return core::ptr::null_mut();
                }
            }
            self.next.store(end, Ordering::Relaxed);
            start as *mut u8
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // Give back the most recent block, which makes push/pop loops cheap.
            let end = ptr as usize + layout.size();
            let _ =
                self.next
                    .compare_exchange(end, ptr as usize, Ordering::Relaxed, Ordering::Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let end = ptr as usize + layout.size();
            if self.next.load(Ordering::Relaxed) == end {
                // The last block grows in place.
                let new_end = ptr as usize + new_size;
                let have = core::arch::wasm32::memory_size(0) * PAGE;
                if new_end <= have {
                    self.next.store(new_end, Ordering::Relaxed);
                    return ptr;
                }
            }
            // SAFETY: same contract as GlobalAlloc::realloc's default.
            unsafe {
                let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                }
                new
            }
        }
    }

    #[cfg(feature = "guest-allocator")]
    #[global_allocator]
    static GLOBAL: BumpAllocator = BumpAllocator::new();
}
