//! The `switchyard` command. All logic lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    switchyard_studio_api::cli::main()
}
