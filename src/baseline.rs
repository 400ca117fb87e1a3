//! Baselines: the findings a model or image is known to have, recorded once, so that CI fails
//! only on new ones (`optml check --write-baseline FILE`, `--baseline FILE`; docs/ci.md).
//! A finding is matched by its [`Identity`], never by a line number or the order of findings.
//! Findings past the per-rule limit are counted, never built (docs/security.md), so they have no
//! identity: the baseline records how many of each rule each input had, and matches by count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use miette::{LabeledSpan, NamedSource};
use serde::{Deserialize, Serialize};

use crate::finding::{input_name, Finding, Identity};
use crate::report::Checked;

/// The version of the baseline file format.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    findings: Vec<Identity>,
    /// Findings counted past the per-rule limit (absent when there were none, as in files
    /// written before it existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    counted: Vec<Counted>,
}

/// How many findings of one rule one input had beyond those the check kept.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counted {
    pub code: String,
    /// The input's file name without folders, as in [`Identity`].
    pub input: String,
    pub count: usize,
}

/// A baseline file, read.
pub struct Baseline {
    pub file: PathBuf,
    /// How many findings of each identity the baseline accepts.
    known: BTreeMap<Identity, usize>,
    /// How many counted findings of each (code, input) the baseline accepts.
    counted: BTreeMap<(String, String), usize>,
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

    /// The findings to report, and the comparison to show; the counted findings the baseline
    /// knows are taken out of `checked`. Writing records every finding, so they all match what
    /// was just written.
    pub fn apply(self, findings: Vec<Finding>, checked: &mut [Checked]) -> miette::Result<(Vec<Finding>, Option<Comparison>)> {
        match self {
            Run::Off => Ok((findings, None)),
            Run::Compare(baseline) => {
                let (new, comparison) = baseline.apply(findings, checked);
                Ok((new, Some(comparison)))
            }
            Run::Write(file) => {
                let counted = counted(checked);
                write(&file, &findings, &counted)?;
                let matched = findings.len() + counted.iter().map(|c| c.count).sum::<usize>();
                for one in checked.iter_mut() {
                    one.overflow.clear();
                }
                let file = file.to_string_lossy().into_owned();
                Ok((Vec::new(), Some(Comparison { file, written: true, matched, stale: Vec::new(), stale_counted: Vec::new() })))
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
    /// Counted findings the baseline expects beyond those this run had (fixed debt too).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_counted: Vec<Counted>,
}

/// The counted findings of `checked`, per code and input name, sorted.
fn counted(checked: &[Checked]) -> Vec<Counted> {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for one in checked {
        for more in &one.overflow {
            *counts.entry((more.code.clone(), input_name(&one.subject.input))).or_default() += more.count;
        }
    }
    counts.into_iter().map(|((code, input), count)| Counted { code, input, count }).collect()
}

/// The text of a baseline recording `findings` and `counted`: sorted, so the same findings give
/// the same bytes.
pub fn render(findings: &[Finding], counted: &[Counted]) -> String {
    let mut identities: Vec<Identity> = findings.iter().map(Finding::identity).collect();
    identities.sort();
    let file = File { version: VERSION, findings: identities, counted: counted.to_vec() };
    let mut text = serde_json::to_string_pretty(&file).expect("JSON of plain data");
    text.push('\n');
    text
}

/// Record `findings` and `counted` in `file`, atomically.
pub fn write(file: &Path, findings: &[Finding], counted: &[Counted]) -> miette::Result<()> {
    crate::atomic::write(file, render(findings, counted).as_bytes())
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
        let mut counted = BTreeMap::new();
        for Counted { code, input, count } in parsed.counted {
            *counted.entry((code, input)).or_insert(0) += count;
        }
        Ok(Baseline { file: file.to_path_buf(), known, counted })
    }

    /// Split `findings` into the new ones (returned, to report) and those the baseline knows.
    /// Each baseline entry matches one finding: a second finding of the same identity is new.
    /// Counted findings in `checked` are matched by count per code and input; what is left of
    /// them is new.
    pub fn apply(&self, findings: Vec<Finding>, checked: &mut [Checked]) -> (Vec<Finding>, Comparison) {
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
        let mut counted_left = self.counted.clone();
        for one in checked.iter_mut() {
            let input = input_name(&one.subject.input);
            for more in &mut one.overflow {
                if let Some(known) = counted_left.get_mut(&(more.code.clone(), input.clone())) {
                    let absorbed = (*known).min(more.count);
                    *known -= absorbed;
                    more.count -= absorbed;
                    matched += absorbed;
                }
            }
            one.overflow.retain(|more| more.count > 0);
        }
        let stale_counted = counted_left.into_iter().filter(|(_, count)| *count > 0).map(|((code, input), count)| Counted { code, input, count }).collect();
        (new, Comparison { file: self.file.to_string_lossy().into_owned(), written: false, matched, stale, stale_counted })
    }
}

/// The byte offset of a 1-based line and column in `text`.
fn offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    (start + column.saturating_sub(1)).min(text.len())
}
