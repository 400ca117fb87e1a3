//! Status markers as the toolkit writes them (contract section 3): an empty `output/success`
//! when the entry point exits 0, otherwise an `ExecuteUserScriptError` in `output/failure`,
//! never replacing a failure file the script wrote itself.

use std::io;
use std::path::Path;

use super::process::{signal_name, Outcome, StopCause, Termination};

/// Lines and bytes of stderr quoted in the failure message: enough to see the error, short
/// enough that the whole message fits the 1024 characters FailureReason keeps.
const TAIL_LINES: usize = 10;
const TAIL_CHARS: usize = 600;

/// What was written for one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Success,
    Failure,
    /// The script had written `output/failure` itself; it was kept.
    KeptScriptFailure,
}

/// Write the marker for `outcome` under `output_dir`.
pub fn record(output_dir: &Path, outcome: &Outcome, command: &str) -> io::Result<Marker> {
    if outcome.succeeded() {
        crate::atomic::write(&output_dir.join("success"), b"")?;
        return Ok(Marker::Success);
    }
    let failure = output_dir.join("failure");
    if failure.symlink_metadata().is_ok() {
        return Ok(Marker::KeptScriptFailure);
    }
    crate::atomic::write(&failure, failure_message(outcome, command).as_bytes())?;
    Ok(Marker::Failure)
}

/// `_CalledProcessError.__str__`: class, exit code, stderr tail, extra info, command.
pub fn failure_message(outcome: &Outcome, command: &str) -> String {
    let code = outcome.termination.return_code();
    let mut extra = match (outcome.stopped, outcome.termination) {
        (Some(StopCause::MaxRun(limit)), _) => Some(format!("Stopped: the run exceeded --max-run {}s", limit.as_secs_f64())),
        (Some(StopCause::Forwarded(signal)), _) => Some(format!("Stopped: optml received {}", signal_name(signal))),
        (None, Termination::Signaled(signal)) => Some(format!("Process killed by {}", signal_name(signal))),
        (None, Termination::Exited(_)) => None,
    };
    // The toolkit's own hint for a shell-reported SIGKILL.
    if code == 137 {
        extra = Some("OutOfMemory: Process killed by SIGKILL (signal 9)".into());
    }
    let mut message = format!("ExecuteUserScriptError:\nExitCode {code}\nErrorMessage \"{}\"\n", stderr_tail(&outcome.stderr_tail));
    if let Some(extra) = extra {
        message.push_str(&format!("ExtraInfo \"{extra}\"\n"));
    }
    message.push_str(&format!("Command \"{command}\""));
    message.trim().to_string()
}

fn stderr_tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let mut tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if tail.chars().count() > TAIL_CHARS {
        let skip = tail.chars().count() - TAIL_CHARS;
        tail = tail.chars().skip(skip).collect();
    }
    tail.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn outcome(termination: Termination, stderr: &[u8]) -> Outcome {
        Outcome { termination, stopped: None, killed_after_timeout: false, stderr_tail: stderr.to_vec(), duration: Duration::ZERO }
    }

    #[test]
    fn failure_message_like_the_toolkit() {
        let message = failure_message(&outcome(Termination::Exited(3), b"Traceback\nValueError: boom\n"), "python train.py --epochs 3");
        assert_eq!(message, "ExecuteUserScriptError:\nExitCode 3\nErrorMessage \"Traceback\nValueError: boom\"\nCommand \"python train.py --epochs 3\"");
        let killed = failure_message(&outcome(Termination::Signaled(9), b""), "x");
        assert!(killed.contains("ExitCode -9\n"), "{killed}");
        assert!(killed.contains("ExtraInfo \"Process killed by SIGKILL (signal 9)\""), "{killed}");
    }

    #[test]
    fn tail_is_bounded() {
        let long = "x".repeat(5000);
        assert_eq!(stderr_tail(long.as_bytes()).len(), TAIL_CHARS);
        let many: String = (0..50).map(|i| format!("line {i}\n")).collect();
        assert!(stderr_tail(many.as_bytes()).starts_with("line 40\n"));
    }
}
