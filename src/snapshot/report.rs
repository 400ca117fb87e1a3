//! How snapshot differences are shown: a (colored) unified diff of the manifests for humans, a
//! structural list for JSON. Shared by `optml check --snapshot` and `optml diff`.

use serde::Serialize;

use super::budget::Drift;
use super::compare::{Difference, FieldChange};
use super::manifest::{escape, hex, render_size, Line};
use crate::report::sanitize::sanitize;

/// Diff lines shown in a human report before the rest is summarised.
const MAX_DIFF_LINES: usize = 400;
/// Findings shown per difference code in a human report; the diff above lists every one.
const MAX_FINDINGS_PER_CODE: usize = 3;

/// The differences between a golden and an actual manifest, and the budgets measured on them.
#[derive(Serialize)]
pub struct Delta {
    pub counts: Counts,
    #[serde(serialize_with = "serialize_differences")]
    pub differences: Vec<Difference>,
    pub budgets: Vec<Drift>,
    /// The unified diff of the two manifest texts; empty when they match.
    #[serde(skip)]
    pub diff: String,
}

#[derive(Serialize, Default, Clone, Copy)]
pub struct Counts {
    pub missing: usize,
    pub extra: usize,
    pub changed: usize,
}

impl Delta {
    pub fn new(differences: Vec<Difference>, budgets: Vec<Drift>, diff: String) -> Delta {
        let count = |kind: &str| differences.iter().filter(|d| d.kind() == kind).count();
        let counts = Counts { missing: count("missing"), extra: count("extra"), changed: count("changed") };
        Delta { counts, differences, budgets, diff }
    }

    pub fn matches(&self) -> bool {
        self.differences.is_empty()
    }

    pub fn exceeded(&self) -> impl Iterator<Item = &Drift> {
        self.budgets.iter().filter(|d| d.exceeded)
    }

    /// "2 missing, 1 extra, 0 changed".
    pub fn summary(&self) -> String {
        format!("{} missing, {} extra, {} changed", self.counts.missing, self.counts.extra, self.counts.changed)
    }

    /// The diff (colored if asked, cut after [`MAX_DIFF_LINES`]) and one line per budget.
    pub fn human(&self, color: bool) -> String {
        let mut out = String::new();
        let lines: Vec<&str> = self.diff.lines().collect();
        for line in lines.iter().take(MAX_DIFF_LINES) {
            let line = sanitize(line);
            let paint = match line.as_bytes().first() {
                _ if !color => None,
                _ if line.starts_with("---") || line.starts_with("+++") => Some("1"),
                Some(b'-') => Some("31"),
                Some(b'+') => Some("32"),
                Some(b'@') => Some("36"),
                _ => None,
            };
            match paint {
                Some(code) => out.push_str(&format!("\x1b[{code}m{line}\x1b[0m\n")),
                None => out.push_str(&format!("{line}\n")),
            }
        }
        if lines.len() > MAX_DIFF_LINES {
            out.push_str(&format!("... {} more diff lines (the JSON report lists every difference)\n", lines.len() - MAX_DIFF_LINES));
        }
        for drift in &self.budgets {
            let verdict = if drift.exceeded { "EXCEEDED" } else { "ok" };
            out.push_str(&format!("budget {verdict}: {}\n", sanitize(&drift.message)));
        }
        out
    }
}

/// A field change as a message fragment: `size 12 -> 15`; digests shortened.
pub fn describe_change(change: &FieldChange) -> String {
    let short = |value: &str| if change.field == "sha256" { format!("{}…", &value[..12.min(value.len())]) } else { value.to_string() };
    format!("{} {} -> {}", change.field, short(&change.expected), short(&change.actual))
}

/// Caps how many difference findings a human report shows per code.
#[derive(Default)]
pub struct Elision {
    shown: std::collections::BTreeMap<String, usize>,
}

impl Elision {
    /// Whether to render this finding; difference codes beyond the cap are counted instead.
    pub fn admit(&mut self, code: &str) -> bool {
        if !super::verify::DIFFERENCE_CODES.iter().any(|difference| difference.code() == code) {
            return true;
        }
        let seen = self.shown.entry(code.to_string()).or_default();
        *seen += 1;
        *seen <= MAX_FINDINGS_PER_CODE
    }

    /// One line per code with hidden findings.
    pub fn note(&self) -> String {
        let mut out = String::new();
        for (code, &seen) in &self.shown {
            if seen > MAX_FINDINGS_PER_CODE {
                out.push_str(&format!("... and {} more {code} findings (the snapshot diff above lists them all)\n\n", seen - MAX_FINDINGS_PER_CODE));
            }
        }
        out
    }
}

#[derive(Serialize)]
struct LineView {
    path: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
}

impl LineView {
    fn of(line: &Line) -> LineView {
        LineView {
            path: String::from_utf8_lossy(&line.path).into_owned(),
            kind: line.kind.as_str(),
            size: line.size.map(|size| match size {
                super::manifest::Size::Bytes(bytes) => bytes.into(),
                ignored => render_size(ignored).into(),
            }),
            link: line.link().map(escape),
            mode: line.mode.map(|m| format!("{m:04o}")),
            sha256: line.sha256().map(hex),
        }
    }
}

#[derive(Serialize)]
struct DifferenceView<'a> {
    kind: &'static str,
    path: String,
    expected: Option<LineView>,
    actual: Option<LineView>,
    changes: &'a [FieldChange],
}

fn serialize_differences<S: serde::Serializer>(differences: &[Difference], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(differences.iter().map(|difference| {
        let (expected, actual, changes): (Option<&Line>, Option<&Line>, &[FieldChange]) = match difference {
            Difference::Missing(line) => (Some(line), None, &[]),
            Difference::Extra(line) => (None, Some(line), &[]),
            Difference::Changed { expected, actual, changes } => (Some(expected), Some(actual), changes),
        };
        DifferenceView {
            kind: difference.kind(),
            path: String::from_utf8_lossy(difference.path()).into_owned(),
            expected: expected.map(LineView::of),
            actual: actual.map(LineView::of),
            changes,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_and_caps_the_diff() {
        let diff = "--- golden\n+++ actual\n@@ -1 +1 @@\n-a type=dir\n+b type=dir\n".to_string();
        let colored = Delta::new(Vec::new(), Vec::new(), diff.clone()).human(true);
        assert!(colored.contains("\x1b[31m-a type=dir\x1b[0m") && colored.contains("\x1b[32m+b type=dir\x1b[0m"), "{colored}");
        assert_eq!(Delta::new(Vec::new(), Vec::new(), diff).human(false), "--- golden\n+++ actual\n@@ -1 +1 @@\n-a type=dir\n+b type=dir\n");
        let long: String = (0..MAX_DIFF_LINES + 5).map(|i| format!("+{i}\n")).collect();
        assert!(Delta::new(Vec::new(), Vec::new(), long).human(false).ends_with("... 5 more diff lines (the JSON report lists every difference)\n"));
    }

    #[test]
    fn elides_difference_findings_beyond_the_cap() {
        let mut elision = Elision::default();
        let shown = (0..5).filter(|_| elision.admit("SNAP002")).count();
        assert_eq!(shown, MAX_FINDINGS_PER_CODE);
        assert!(elision.admit("SM101"), "other codes are never elided");
        assert_eq!(elision.note(), "... and 2 more SNAP002 findings (the snapshot diff above lists them all)\n\n");
    }
}
