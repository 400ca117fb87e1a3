//! The one finding model every renderer reads.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::entry::{join, lossy};
use crate::snapshot::manifest::escape;
use crate::source::{Origin, Role};

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

/// The tree or archive of an input a finding is in: the input itself, or one part of a job folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Where the part sits inside the input: "" for the input itself, `output/model.tar.gz` in a
    /// job folder.
    pub prefix: String,
    pub role: Role,
    /// The file or folder on disk: what an annotation or a SARIF artifact points at.
    pub fs_path: PathBuf,
    pub is_archive: bool,
}

impl Part {
    pub fn of(origin: &Origin) -> Part {
        Part { prefix: origin.path_prefix.clone(), role: origin.role, fs_path: origin.fs_path.clone(), is_archive: origin.is_archive() }
    }
}

/// One problem found in one input. The place is kept as data (input, part, member bytes);
/// renderers format it.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Index of the rule in the ruleset that produced it.
    pub rule: usize,
    pub code: String,
    pub severity: Severity,
    /// The input as the user named it.
    pub input: String,
    /// The tree or archive the finding is in; `None` when a subsystem reports on the input as a
    /// whole (a snapshot of a job folder, a run's host).
    pub part: Option<Part>,
    /// The member path inside the part (or inside the input when there is no part), as the
    /// archive or file system spells it; empty for the part or input as a whole.
    pub member: Vec<u8>,
    /// Byte range of the rule's definition (its `code = "..."` value) in its rule file.
    pub definition: Range<usize>,
    pub message: String,
    pub help: String,
    pub fix: Option<String>,
}

impl Finding {
    /// Path relative to the input (JSON `path`): the part's prefix joined with the member; ""
    /// for the input as a whole.
    pub fn path(&self) -> String {
        let prefix = self.part.as_ref().map_or("", |part| part.prefix.as_str());
        lossy(&join(prefix.as_bytes(), &self.member))
    }

    /// What humans see as the place: `model.tar.gz`, `job/output/model.tar.gz: code/x.py`.
    pub fn location(&self) -> String {
        let place = match &self.part {
            Some(part) if !part.prefix.is_empty() => {
                format!("{}/{}", self.input.trim_end_matches('/'), part.prefix)
            }
            _ => self.input.clone(),
        };
        if self.member.is_empty() {
            place
        } else {
            format!("{place}: {}", lossy(&self.member))
        }
    }

    /// The finding's identity across runs (baselines, SARIF fingerprints): never a line number
    /// or the order of findings.
    pub fn identity(&self) -> Identity {
        let name = input_name(&self.input);
        Identity {
            code: self.code.clone(),
            role: self.part.as_ref().map_or(WHOLE_INPUT_ROLE, |part| part.role.as_str()).to_string(),
            input: name,
            member: escape(&join(self.part.as_ref().map_or(&b""[..], |part| part.prefix.as_bytes()), &self.member)),
        }
    }

    /// Sort key: input, path, severity, code: deterministic output.
    pub fn sort_key(&self) -> (&str, Option<&str>, &[u8], Severity, &str, &str) {
        (&self.input, self.part.as_ref().map(|part| part.prefix.as_str()), &self.member, self.severity, &self.code, &self.message)
    }
}

/// The input's file name without folders: how identities and baselines name an input, so a
/// baseline holds wherever the input is checked from.
pub fn input_name(input: &str) -> String {
    Path::new(input).file_name().map_or_else(|| input.to_string(), |name| name.to_string_lossy().into_owned())
}

/// The role an identity records for a finding about an input as a whole.
const WHOLE_INPUT_ROLE: &str = "input";

/// What makes two findings of different runs the same finding: the rule code, the role of the
/// part it is in, the input's file name without folders, and the member path (with the part's
/// prefix in a job folder), written as snapshot manifests write paths (octal escapes for bytes
/// that are not printable UTF-8), so it is lossless.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Identity {
    pub code: String,
    pub role: String,
    pub input: String,
    pub member: String,
}

impl Identity {
    /// A stable hex digest of the identity (SARIF `partialFingerprints`, JSON `fingerprint`).
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        for field in [&self.code, &self.role, &self.input, &self.member] {
            hasher.update(field.as_bytes());
            hasher.update([0]);
        }
        hasher.finalize()[..16].iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// Findings of one rule kept per input as they are created; the rest are only counted (in an
/// [`Overflow`]), so two million copies of one hostile header cost a counter, not two million
/// findings. The report shows fewer still (`report::PER_RULE`); the summary counts them all.
pub const KEPT_PER_RULE: usize = 1000;

/// How many findings of one rule were counted but not kept ([`KEPT_PER_RULE`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overflow {
    /// Index of the rule in the ruleset.
    pub rule: usize,
    pub code: String,
    pub severity: Severity,
    pub count: usize,
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

    /// Count findings that were not kept as well.
    pub fn add_overflow(&mut self, overflow: &[Overflow]) {
        for more in overflow {
            match more.severity {
                Severity::Error => self.errors += more.count,
                Severity::Warning => self.warnings += more.count,
                Severity::Info => self.infos += more.count,
            }
        }
    }
}
