//! Running a local engine (espeak-ng, pocketsphinx) as a child process:
//! arguments passed directly (never through a shell), input on stdin,
//! everything off the async threads, killed when its time runs out.

use std::io::ErrorKind;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::SpeechError;

/// Runs `program` with `args`, writing `stdin` to it, and returns its
/// output whatever its exit status (callers read stderr to explain a
/// failure).
///
/// # Errors
/// [`SpeechError::Unavailable`] with `install_hint` when the program is not
/// installed, [`SpeechError::Provider`] when it cannot be started,
/// [`SpeechError::Timeout`] when it runs longer than `timeout` (it is
/// killed).
pub(crate) async fn run(
    provider: &'static str,
    program: &str,
    args: &[&std::ffi::OsStr],
    stdin: Vec<u8>,
    timeout: Duration,
    install_hint: &str,
) -> Result<Output, SpeechError> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Dropping the child (on timeout, or when the caller hangs up and
        // the future is dropped) kills it, so no engine outlives its turn.
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| match e.kind() {
        ErrorKind::NotFound => SpeechError::Unavailable {
            provider,
            message: format!("`{program}` was not found; {install_hint}"),
        },
        ErrorKind::PermissionDenied => SpeechError::Unavailable {
            provider,
            message: format!("`{program}` cannot be executed: {e}"),
        },
        _ => SpeechError::Provider {
            provider,
            message: format!("cannot start `{program}`: {e}"),
        },
    })?;
    let mut pipe = child.stdin.take();
    // Input is written while output is read: an engine that fills its
    // stdout pipe before reading all its input would otherwise deadlock.
    let write = async move {
        if let Some(pipe) = pipe.as_mut() {
            // A program that exits early (say, on a bad voice) closes the
            // pipe; its exit status and stderr tell the real story.
            let _ = pipe.write_all(&stdin).await;
        }
        drop(pipe);
    };
    let work = async {
        let ((), output) = tokio::join!(write, child.wait_with_output());
        output
    };
    match tokio::time::timeout(timeout, work).await {
        Err(_) => Err(SpeechError::Timeout {
            provider,
            after: timeout,
        }),
        Ok(Err(e)) => Err(SpeechError::Provider {
            provider,
            message: format!("`{program}` failed: {e}"),
        }),
        Ok(Ok(output)) => Ok(output),
    }
}

/// The first lines of a child's stderr worth showing: error lines if it
/// printed any, else its last line.
pub(crate) fn stderr_summary(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ERROR") || l.starts_with("Error") || l.contains("error:"))
        .take(3)
        .collect();
    let summary = if errors.is_empty() {
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_owned()
    } else {
        errors.join("; ")
    };
    summary.chars().take(400).collect()
}
