//! Baselines: the findings a model or image is known to have, recorded once, so that CI fails
//! only on new ones (`optml check --write-baseline FILE`, `--baseline FILE`; docs/ci.md).
//! A finding is matched by its [`Identity`], never by a line number or the order of findings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use miette::{LabeledSpan, NamedSource};
use serde::{Deserialize, Serialize};

use crate::finding::{Finding, Identity};

/// The version of the baseline file format.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    findings: Vec<Identity>,
}

/// A baseline file, read.
pub struct Baseline {
    pub file: PathBuf,
    /// How many findings of each identity the baseline accepts.
    known: BTreeMap<Identity, usize>,
}

/// What a check run does with baselines: nothing, compare with one, or write one.
pub enum Run {
    Off,
    Compare(Baseline),
    Write(PathBuf),
}

impl Run {
    /// From `--baseline FILE` and `--write-baseline FILE`; a baseline to compare with is read
    /// now, so a bad file stops the run before any input is checked.
    pub fn new(compare: Option<&Path>, write: Option<&Path>) -> miette::Result<Run> {
        Ok(match (compare, write) {
            (_, Some(file)) => Run::Write(file.to_path_buf()),
            (Some(file), None) => Run::Compare(Baseline::read(file)?),
            (None, None) => Run::Off,
        })
    }

    /// The findings to report, and the comparison to show. Writing records every finding, so
    /// they all match what was just written.
    pub fn apply(self, findings: Vec<Finding>) -> miette::Result<(Vec<Finding>, Option<Comparison>)> {
        match self {
            Run::Off => Ok((findings, None)),
            Run::Compare(baseline) => {
                let (new, comparison) = baseline.apply(findings);
                Ok((new, Some(comparison)))
            }
            Run::Write(file) => {
                write(&file, &findings)?;
                let matched = findings.len();
                Ok((Vec::new(), Some(Comparison { file: file.to_string_lossy().into_owned(), written: true, matched, stale: Vec::new() })))
            }
        }
    }
}

/// What comparing a run's findings with a baseline found.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Comparison {
    /// The baseline file as given.
    pub file: String,
    /// Whether this run wrote it (`--write-baseline`).
    pub written: bool,
    /// Findings the baseline knows: not reported, never failing.
    pub matched: usize,
    /// Baseline entries no finding matched any more: fixed debt, to remove from the file.
    pub stale: Vec<Identity>,
}

/// The text of a baseline recording `findings`: sorted, so the same findings give the same bytes.
pub fn render(findings: &[Finding]) -> String {
    let mut identities: Vec<Identity> = findings.iter().map(Finding::identity).collect();
    identities.sort();
    let mut text = serde_json::to_string_pretty(&File { version: VERSION, findings: identities }).expect("JSON of plain data");
    text.push('\n');
    text
}

/// Record `findings` in `file`, atomically.
pub fn write(file: &Path, findings: &[Finding]) -> miette::Result<()> {
    crate::atomic::write(file, render(findings).as_bytes())
        .map_err(|err| miette::miette!(code = "optml::baseline", "cannot write the baseline {}: {err}", file.display()))
}

impl Baseline {
    pub fn read(file: &Path) -> miette::Result<Baseline> {
        let name = file.to_string_lossy().into_owned();
        let text = crate::open::read_text(file, crate::open::MANIFEST_LIMIT)
            .map_err(|err| miette::miette!(code = "optml::baseline", "cannot read the baseline {name}: {err}"))?;
        let parsed: File = serde_json::from_str(&text).map_err(|err| {
            let at = offset(&text, err.line(), err.column());
            miette::miette!(
                code = "optml::baseline",
                labels = vec![LabeledSpan::at_offset(at, "here")],
                help = "a baseline is written by `optml check --write-baseline FILE` (docs/ci.md)",
                "{name} is not a valid baseline: {err}"
            )
            .with_source_code(NamedSource::new(name.clone(), text.clone()))
        })?;
        if parsed.version != VERSION {
            return Err(miette::miette!(
                code = "optml::baseline",
                "{name}: baseline version {} is not supported (this optml writes version {VERSION})",
                parsed.version
            ));
        }
        let mut known = BTreeMap::new();
        for identity in parsed.findings {
            *known.entry(identity).or_insert(0) += 1;
        }
        Ok(Baseline { file: file.to_path_buf(), known })
    }

    /// Split `findings` into the new ones (returned, to report) and those the baseline knows.
    /// Each baseline entry matches one finding: a second finding of the same identity is new.
    pub fn apply(&self, findings: Vec<Finding>) -> (Vec<Finding>, Comparison) {
        let mut left = self.known.clone();
        let mut matched = 0;
        let mut new = Vec::new();
        for finding in findings {
            match left.get_mut(&finding.identity()) {
                Some(count) if *count > 0 => {
                    *count -= 1;
                    matched += 1;
                }
                _ => new.push(finding),
            }
        }
        let mut stale = Vec::new();
        for (identity, count) in left {
            stale.extend((0..count).map(|_| identity.clone()));
        }
        (new, Comparison { file: self.file.to_string_lossy().into_owned(), written: false, matched, stale })
    }
}

/// The byte offset of a 1-based line and column in `text`.
fn offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    (start + column.saturating_sub(1)).min(text.len())
}
