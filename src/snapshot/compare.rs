//! Closed-world comparison of two manifests' lines: every golden line must be matched, every
//! actual line must be expected. Lines are matched per path as multisets, because redaction can
//! give several entries the same path (`checkpoint-[N]`).

use std::time::Duration;

use serde::Serialize;
use similar::TextDiff;

use super::header::{Header, SizeTreatment};
use super::manifest::{escape, hex, render_size, Line, Size};
use crate::report::sanitize::sanitize;

/// One field that differs between a golden line and an actual one.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub expected: String,
    pub actual: String,
}

#[derive(Clone, Debug)]
pub enum Difference {
    /// In the golden manifest, not in the input.
    Missing(Line),
    /// In the input, not in the golden manifest.
    Extra(Line),
    Changed {
        expected: Line,
        actual: Line,
        changes: Vec<FieldChange>,
    },
}

impl Difference {
    pub fn path(&self) -> &[u8] {
        match self {
            Difference::Missing(line) | Difference::Extra(line) => &line.path,
            Difference::Changed { expected, .. } => &expected.path,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Difference::Missing(_) => "missing",
            Difference::Extra(_) => "extra",
            Difference::Changed { .. } => "changed",
        }
    }
}

/// The differences, and the actual lines with every tolerated value (a size within tolerance,
/// a field only one side records) taken from the golden line, so that writing them as the
/// new golden, or diffing their text, shows only real changes.
pub struct Comparison {
    pub differences: Vec<Difference>,
    pub actual: Vec<Line>,
}

/// Compare sorted `actual` lines against sorted `expected` lines under `header`'s rules.
pub fn compare(header: &Header, expected: &[Line], actual: Vec<Line>) -> Comparison {
    let mut differences = Vec::new();
    let mut normalized = Vec::with_capacity(actual.len());
    let (mut e, mut a) = (0, 0);
    while e < expected.len() || a < actual.len() {
        let path: &[u8] = match (expected.get(e), actual.get(a)) {
            (Some(x), Some(y)) => x.path.as_ref().min(y.path.as_ref()),
            (Some(x), None) => &x.path,
            (None, Some(y)) => &y.path,
            (None, None) => unreachable!("loop condition"),
        };
        let e_end = e + expected[e..].iter().take_while(|l| *l.path == *path).count();
        let a_end = a + actual[a..].iter().take_while(|l| *l.path == *path).count();
        compare_group(header, &expected[e..e_end], &actual[a..a_end], &mut differences, &mut normalized);
        (e, a) = (e_end, a_end);
    }
    super::manifest::Manifest::sort(&mut normalized);
    Comparison { differences, actual: normalized }
}

/// Lines sharing one path: pair equal lines first, then the rest in order as changes.
fn compare_group(header: &Header, expected: &[Line], actual: &[Line], differences: &mut Vec<Difference>, normalized: &mut Vec<Line>) {
    if let ([golden], [line]) = (expected, actual) {
        // The usual case, one line each, without the bookkeeping below.
        let changes = changes(header, golden, line);
        if changes.is_empty() {
            normalized.push(golden.clone());
        } else {
            normalized.push(line.clone());
            differences.push(Difference::Changed { expected: golden.clone(), actual: line.clone(), changes });
        }
        return;
    }
    let mut unmatched_expected: Vec<&Line> = expected.iter().collect();
    let mut unmatched_actual = Vec::new();
    for line in actual {
        match unmatched_expected.iter().position(|golden| changes(header, golden, line).is_empty()) {
            Some(index) => normalized.push(unmatched_expected.remove(index).clone()),
            None => unmatched_actual.push(line),
        }
    }
    let mut golden = unmatched_expected.into_iter();
    for line in unmatched_actual {
        normalized.push(line.clone());
        match golden.next() {
            Some(expected) => {
                differences.push(Difference::Changed { expected: expected.clone(), actual: line.clone(), changes: changes(header, expected, line) })
            }
            None => differences.push(Difference::Extra(line.clone())),
        }
    }
    differences.extend(golden.map(|line| Difference::Missing(line.clone())));
}

/// The fields that differ; a field only one side records is not compared.
pub fn changes(header: &Header, expected: &Line, actual: &Line) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut push = |field: &'static str, expected: String, actual: String| out.push(FieldChange { field, expected, actual });
    if expected.kind != actual.kind {
        push("type", expected.kind.as_str().into(), actual.kind.as_str().into());
    }
    if let (Some(Size::Bytes(before)), Some(Size::Bytes(after))) = (expected.size, actual.size) {
        let tolerated = match header.size_treatment(&expected.path) {
            Some(SizeTreatment::Tolerance(percent)) => (after as f64 - before as f64).abs() <= before as f64 * percent / 100.0,
            _ => before == after,
        };
        if !tolerated {
            push("size", render_size(Size::Bytes(before)), render_size(Size::Bytes(after)));
        }
    }
    if let (Some(before), Some(after)) = (expected.link(), actual.link()) {
        if before != after {
            push("link", escape(before), escape(after));
        }
    }
    if let (Some(before), Some(after)) = (expected.mode, actual.mode) {
        if before != after {
            push("mode", format!("{before:04o}"), format!("{after:04o}"));
        }
    }
    if let (Some(before), Some(after)) = (expected.sha256(), actual.sha256()) {
        if before != after {
            push("sha256", hex(before), hex(after));
        }
    }
    out
}

/// A unified diff of two manifest texts. Huge, very different manifests fall back to a coarser
/// diff after a few seconds rather than stalling the report. The names (paths as given) are
/// sanitized here: a line break in one would split the `---`/`+++` header line.
pub fn unified_diff(expected: &str, actual: &str, expected_name: &str, actual_name: &str) -> String {
    let diff = TextDiff::configure().timeout(Duration::from_secs(5)).diff_lines(expected, actual);
    diff.unified_diff().context_radius(2).header(&sanitize(expected_name), &sanitize(actual_name)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::manifest::tests::file;

    #[test]
    fn missing_extra_changed_and_tolerance() {
        let mut header = Header::default();
        header.directive("/size tolerance=5% *.bin", 0).unwrap();
        let expected = vec![file("a.bin", 100), file("b", 1), file("c", 1)];
        let actual = vec![file("a.bin", 104), file("c", 2), file("d", 1)];
        let result = compare(&header, &expected, actual);
        let kinds: Vec<(&str, &[u8])> = result.differences.iter().map(|d| (d.kind(), d.path())).collect();
        assert_eq!(kinds, vec![("missing", &b"b"[..]), ("changed", b"c"), ("extra", b"d")]);
        // a.bin is within tolerance: its golden size is kept.
        assert_eq!(result.actual[0], file("a.bin", 100));
    }

    #[test]
    fn redacted_duplicates_match_as_a_multiset() {
        let header = Header::default();
        let expected = vec![file("ckpt-[N]", 5), file("ckpt-[N]", 7)];
        let actual = vec![file("ckpt-[N]", 7), file("ckpt-[N]", 5), file("ckpt-[N]", 9)];
        let result = compare(&header, &expected, actual);
        assert_eq!(result.differences.len(), 1);
        assert_eq!(result.differences[0].kind(), "extra");
    }
}
