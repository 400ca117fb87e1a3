//! `optml check INPUT --snapshot FILE`: record the checked input with the golden file's header,
//! compare closed-world, apply the update policy, and turn the result into findings.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::budget;
use super::compare::{compare, unified_diff, Difference};
use super::manifest::Manifest;
use super::record::record;
use super::report::{describe_change, Delta};
use super::store::{self, StoreError, UpdateMode};
use crate::engine::eval::Vars;
use crate::engine::{ExternalCode, Ruleset};
use crate::finding::{Finding, Part};
use crate::source::Subject;

/// The codes of per-entry differences (a human report caps how many it shows).
pub const DIFFERENCE_CODES: [ExternalCode; 3] = [ExternalCode::SnapshotEntryMissing, ExternalCode::SnapshotEntryExtra, ExternalCode::SnapshotEntryChanged];

/// What happened to one snapshot: the JSON report's `snapshot` object.
#[derive(Serialize)]
pub struct Outcome {
    pub file: String,
    /// `matched`, `mismatched`, `missing` (no golden file), `updated` or `created`.
    pub status: &'static str,
    /// The file written, if any: the golden file itself, or `FILE.new`.
    pub written: Option<String>,
    #[serde(flatten)]
    pub delta: Delta,
}

impl Outcome {
    /// The human report's snapshot section: a status line, then the diff and budgets.
    pub fn human(&self, color: bool) -> String {
        let mut out = format!("snapshot {}: {}", self.file, self.status);
        if self.status != "missing" && self.status != "created" {
            out.push_str(&format!(" ({})", self.delta.summary()));
        }
        if let Some(written) = &self.written {
            out.push_str(&format!("; wrote {written}"));
        }
        out.push('\n');
        out.push_str(&self.delta.human(color));
        out
    }
}

/// A `--snapshot FILE` comparison to make: the golden file, what it holds (`None` if it does not
/// exist yet), and when it may be written.
pub struct Golden {
    file: PathBuf,
    manifest: Option<Manifest>,
    mode: UpdateMode,
}

impl Golden {
    /// Read the golden file and resolve the update policy (`--update-snapshots`, environment).
    pub fn open(file: &Path, update_flag: bool) -> Result<Golden, StoreError> {
        Ok(Golden { file: file.to_path_buf(), manifest: store::read(file)?, mode: UpdateMode::from_env(update_flag)? })
    }

    /// Whether the input must be hashed while it is read: the golden file records digests.
    pub fn needs_digest(&self) -> bool {
        self.manifest.as_ref().is_some_and(|m| m.header.fields.sha256)
    }

    /// Compare `subject` against the golden file and write what the update policy allows.
    pub fn verify(self, ruleset: &Ruleset, subject: &Subject) -> Result<(Outcome, Vec<Finding>), StoreError> {
        verify(ruleset, subject, &self.file, self.manifest, self.mode)
    }
}

/// Compare `subject` against the golden file `file` (`golden` is its parsed content, `None` if
/// it does not exist) and write what `mode` allows.
fn verify(ruleset: &Ruleset, subject: &Subject, file: &Path, golden: Option<Manifest>, mode: UpdateMode) -> Result<(Outcome, Vec<Finding>), StoreError> {
    // Never write what a damaged input let us read: the check reports the damage itself.
    let damaged = super::incomplete(subject).map(|problem| format!("the input could not be read completely ({})", problem.kind.as_str()));
    let mode = if damaged.is_some() { UpdateMode::No } else { mode };
    let name = file.to_string_lossy().into_owned();
    let pending = store::pending_path(file);
    let pending_name = pending.to_string_lossy().into_owned();
    let pending_note = format!("wrote the recorded snapshot to {pending_name} for review");
    let mut findings = Vec::new();
    // A snapshot of a single tree or archive is about that part; one of a job folder, about the
    // folder as a whole (its paths carry the part's prefix).
    let part = match subject.origins.as_slice() {
        [origin] if origin.path_prefix.is_empty() => Some(Part::of(origin)),
        _ => None,
    };
    let mut raise = |code: ExternalCode, path: &[u8], detail: String| {
        findings.extend(ruleset.external_finding(code, &subject.input, part.clone(), path, Vars::default().set("detail", detail)));
    };

    let Some(golden) = golden else {
        let fresh = super::default_manifest();
        let text = Manifest { lines: record(subject, &fresh.header), ..fresh }.render();
        let (status, written) = match mode {
            UpdateMode::Always => {
                store::write(file, &text)?;
                raise(ExternalCode::SnapshotWritten, b"", format!("recorded a new snapshot at {name}"));
                ("created", Some(name.clone()))
            }
            UpdateMode::New => {
                store::write(&pending, &text)?;
                raise(ExternalCode::SnapshotMissing, b"", name.clone());
                raise(ExternalCode::SnapshotPending, b"", pending_note.clone());
                ("missing", Some(pending_name))
            }
            UpdateMode::No => {
                let why = damaged.unwrap_or_else(|| "snapshots are never written under CI or with OPTML_UPDATE=no".into());
                raise(ExternalCode::SnapshotMissing, b"", format!("{name} (not written: {why})"));
                ("missing", None)
            }
        };
        return Ok((Outcome { file: name, status, written, delta: Delta::new(Vec::new(), Vec::new(), String::new()) }, findings));
    };

    let actual = record(subject, &golden.header);
    let drifts = budget::evaluate(&golden.header.budgets, &golden.lines, &actual);
    let comparison = compare(&golden.header, &golden.lines, actual);
    // The recorded text is needed only to show or write a difference.
    let (new_text, diff) = if comparison.differences.is_empty() {
        (String::new(), String::new())
    } else {
        let text = Manifest { header: Default::default(), header_text: golden.header_text.clone(), lines: comparison.actual }.render();
        let diff = unified_diff(&golden.render(), &text, &name, "actual");
        (text, diff)
    };
    let delta = Delta::new(comparison.differences, drifts, diff);
    for drift in delta.exceeded() {
        raise(ExternalCode::SnapshotBudgetExceeded, drift.glob.as_bytes(), drift.message.clone());
    }
    let (status, written) = match (delta.matches(), mode) {
        (true, UpdateMode::No) => ("matched", None),
        (true, _) => {
            store::discard_pending(file)?;
            ("matched", None)
        }
        (false, UpdateMode::Always) => {
            store::write(file, &new_text)?;
            store::discard_pending(file)?;
            raise(ExternalCode::SnapshotWritten, b"", format!("updated {name}: {}", delta.summary()));
            ("updated", Some(name.clone()))
        }
        (false, mode) => {
            for difference in &delta.differences {
                let (code, detail) = describe(difference);
                raise(code, difference.path(), detail);
            }
            if mode == UpdateMode::New {
                store::write(&pending, &new_text)?;
                raise(ExternalCode::SnapshotPending, b"", pending_note.clone());
                ("mismatched", Some(pending_name))
            } else {
                ("mismatched", None)
            }
        }
    };
    Ok((Outcome { file: name, status, written, delta }, findings))
}

/// The rule code and `{detail}` of one difference.
fn describe(difference: &Difference) -> (ExternalCode, String) {
    match difference {
        Difference::Missing(line) => (ExternalCode::SnapshotEntryMissing, line.render_fields()),
        Difference::Extra(line) => (ExternalCode::SnapshotEntryExtra, line.render_fields()),
        Difference::Changed { changes, .. } => (ExternalCode::SnapshotEntryChanged, changes.iter().map(describe_change).collect::<Vec<_>>().join(", ")),
    }
}
