//! Rule selectors: a code (`SM401`) or a prefix (`SM4`, `MDL`) in `select`, `ignore`,
//! `extend-select`, `[severity]` and `[per-path-ignores]`. The longest matching selector decides,
//! as in ruff, so `select = ["SM"]` with `ignore = ["SM4"]` and `extend-select = ["SM401"]` runs
//! SM401 and no other SM4xx.

use std::ops::Range;

/// Where a selector was written: a flag, or a span of the config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    Config(Range<usize>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// Upper-cased: codes are upper-case.
    pub text: String,
    pub origin: Origin,
}

impl Selector {
    pub fn new(text: &str, origin: Origin) -> Selector {
        Selector { text: text.trim().to_ascii_uppercase(), origin }
    }

    pub fn matches(&self, code: &str) -> bool {
        code.len() >= self.text.len() && code.as_bytes()[..self.text.len()].eq_ignore_ascii_case(self.text.as_bytes())
    }
}

/// The length of the longest selector among `selectors` matching `code`.
fn best(selectors: &[Selector], code: &str) -> Option<usize> {
    selectors.iter().filter(|s| s.matches(code)).map(|s| s.text.len()).max()
}

/// Whether a rule with `code` runs: with no `select`, every rule is selected; the longest
/// matching selector wins, and `ignore` wins a tie.
pub fn selected(code: &str, select: &[Selector], extend_select: &[Selector], ignore: &[Selector]) -> bool {
    let chosen = if select.is_empty() { Some(0) } else { best(select, code) };
    let chosen = chosen.max(best(extend_select, code));
    match (chosen, best(ignore, code)) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(on), Some(off)) => on > off,
    }
}

/// The value of the longest key among `keyed` matching `code`.
pub fn longest<'a, T>(keyed: &'a [(Selector, T)], code: &str) -> Option<&'a T> {
    keyed.iter().filter(|(s, _)| s.matches(code)).max_by_key(|(s, _)| s.text.len()).map(|(_, value)| value)
}

/// The candidate closest to `wanted` by edit distance, if any is reasonably close.
pub fn nearest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = wanted.to_ascii_uppercase();
    let limit = wanted.len().div_ceil(2).max(2);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(&wanted, &candidate.to_ascii_uppercase()), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over bytes (codes are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &y) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(x != y);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(texts: &[&str]) -> Vec<Selector> {
        texts.iter().map(|t| Selector::new(t, Origin::Flag("--test"))).collect()
    }

    #[test]
    fn longest_selector_wins() {
        let (select, extend, ignore) = (flags(&["SM"]), flags(&["SM401"]), flags(&["SM4"]));
        assert!(selected("SM101", &select, &extend, &ignore));
        assert!(!selected("SM402", &select, &extend, &ignore));
        assert!(selected("SM401", &select, &extend, &ignore));
        assert!(!selected("MDL101", &select, &extend, &ignore), "not selected");
        assert!(selected("MDL101", &[], &[], &ignore), "no select: everything");
        assert!(!selected("SM4", &[], &[], &flags(&["sm4"])), "case-insensitive; ignore wins a tie");
    }

    #[test]
    fn suggests_the_nearest_code() {
        assert_eq!(nearest("SM1O1", ["SM101", "SM201", "MDL101"]), Some("SM101"));
        assert_eq!(nearest("sm20", ["SM101", "SM201"]), Some("SM201"));
        assert_eq!(nearest("XYZ999", ["SM101"]), None);
    }
}
