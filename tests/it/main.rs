//! End-to-end tests across crates: hostile plugins against the real
//! wasmtime and Rhai hosts, golden validation files, and every example
//! flow's conversation tests with replay.

mod examples;
mod golden;
mod hostile;
mod support;
