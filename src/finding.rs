//! The one finding model every renderer reads.

use std::fmt;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn parse(name: &str) -> Option<Severity> {
        match name {
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in one input.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Index of the rule in the ruleset that produced it.
    pub rule: usize,
    pub code: String,
    pub severity: Severity,
    /// The input as the user named it.
    pub input: String,
    /// What humans see as the place: `model.tar.gz` or `job/output/model.tar.gz`.
    pub location: String,
    /// Path relative to the input (JSON `path`); "" for the input as a whole.
    pub path: String,
    pub message: String,
    pub help: String,
    pub fix: Option<String>,
}

impl Finding {
    /// Sort key: input, path, severity, code: deterministic output.
    pub fn sort_key(&self) -> (&str, &str, Severity, &str, &str) {
        (&self.input, &self.path, self.severity, &self.code, &self.message)
    }
}

/// Counts per severity.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Summary {
        let mut summary = Summary::default();
        for finding in findings {
            match finding.severity {
                Severity::Error => summary.errors += 1,
                Severity::Warning => summary.warnings += 1,
                Severity::Info => summary.infos += 1,
            }
        }
        summary
    }
}
