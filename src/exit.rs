//! The exit-code contract. Stable; documented in the README.

use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// No finding of error severity.
    Clean = 0,
    /// At least one error finding (a corrupt archive is one), or a mismatch.
    Findings = 1,
    /// optml could not do its job: usage, bad rule or config file, missing input.
    Error = 2,
}

impl ExitStatus {
    pub fn from_errors(errors: usize) -> ExitStatus {
        if errors > 0 {
            ExitStatus::Findings
        } else {
            ExitStatus::Clean
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status as u8)
    }
}
