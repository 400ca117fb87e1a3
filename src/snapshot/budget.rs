//! Size and count budgets (`/budget GLOB size=+10% count=100`): limits on the total size or the
//! number of files under a glob, absolute or as growth against the golden manifest.

use globset::GlobMatcher;
use serde::Serialize;

use super::header::parse_percent;
use super::manifest::{Line, Size};
use crate::entry::{as_path, EntryKind};
use crate::units::{human_size, parse_size};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Metric {
    /// Sum of the recorded sizes of files (`size=*` lines do not count).
    Size,
    /// Number of entries that are not directories.
    Count,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Limit {
    /// At most this much growth over the golden total, in percent.
    Growth(f64),
    Max(u64),
}

#[derive(Clone, Debug)]
pub struct Budget {
    pub glob: String,
    matcher: GlobMatcher,
    limits: Vec<(Metric, Limit)>,
}

/// One limit measured on one input; `exceeded` ones become findings.
#[derive(Debug, Serialize)]
pub struct Drift {
    pub glob: String,
    pub metric: &'static str,
    pub budget: String,
    pub golden: u64,
    pub actual: u64,
    pub exceeded: bool,
    pub message: String,
}

impl Budget {
    pub fn new(glob: &str, matcher: GlobMatcher) -> Budget {
        Budget { glob: glob.to_string(), matcher, limits: Vec::new() }
    }

    /// `size=+10%`, `size=2GiB`, `count=100`, `count=+20%`.
    pub fn add_limit(&mut self, text: &str) -> Result<(), String> {
        let usage = || format!("`{text}` is not a limit: use size=+10%, size=2GiB, count=100 or count=+20%");
        let (key, value) = text.split_once('=').ok_or_else(usage)?;
        let metric = match key {
            "size" => Metric::Size,
            "count" => Metric::Count,
            _ => return Err(usage()),
        };
        let limit = if value.starts_with('+') && value.ends_with('%') {
            Limit::Growth(parse_percent(value).ok_or_else(usage)?)
        } else if metric == Metric::Size {
            Limit::Max(parse_size(value).ok_or_else(usage)?)
        } else {
            Limit::Max(value.parse().map_err(|_| usage())?)
        };
        self.limits.push((metric, limit));
        Ok(())
    }

    /// How messages name the glob: `model/**` reads as `model/`.
    fn label(&self) -> &str {
        self.glob.strip_suffix("**").filter(|s| s.ends_with('/')).unwrap_or(&self.glob)
    }

    fn measure(&self, metric: Metric, lines: &[Line]) -> u64 {
        let selected = lines.iter().filter(|line| self.matcher.is_match(as_path(&line.path)));
        match metric {
            Metric::Count => selected.filter(|line| line.kind != EntryKind::Dir).count() as u64,
            Metric::Size => selected
                .map(|line| match line.size {
                    Some(Size::Bytes(bytes)) => bytes,
                    _ => 0,
                })
                .sum(),
        }
    }
}

fn show(metric: Metric, value: u64) -> String {
    match metric {
        Metric::Size => human_size(value),
        Metric::Count => value.to_string(),
    }
}

/// Measure every budget on the golden and the actual lines.
pub fn evaluate(budgets: &[Budget], golden: &[Line], actual: &[Line]) -> Vec<Drift> {
    let mut drifts = Vec::new();
    for budget in budgets {
        for &(metric, limit) in &budget.limits {
            let before = budget.measure(metric, golden);
            let after = budget.measure(metric, actual);
            let label = budget.label();
            let what = match metric {
                Metric::Size => format!("{label} content"),
                Metric::Count => format!("file count in {label}"),
            };
            let (exceeded, budget_text, message) = match limit {
                Limit::Growth(percent) => {
                    let text = format!("+{percent}%");
                    let change = if before == 0 {
                        if after == 0 {
                            0.0
                        } else {
                            f64::INFINITY
                        }
                    } else {
                        (after as f64 - before as f64) * 100.0 / before as f64
                    };
                    let verb = if change < 0.0 { "shrank" } else { "grew" };
                    let amount = if change.is_infinite() { "from nothing".to_string() } else { format!("{:.0}%", change.abs()) };
                    (change > percent, text.clone(), format!("{what} {verb} {amount} ({} -> {}), budget {text}", show(metric, before), show(metric, after)))
                }
                Limit::Max(max) => {
                    let text = show(metric, max);
                    let message = match metric {
                        Metric::Size => format!("{what} is {}, budget {text}", show(metric, after)),
                        Metric::Count => format!("{after} files in {label}, budget {max}"),
                    };
                    (after > max, text, message)
                }
            };
            let metric_name = if metric == Metric::Size { "size" } else { "count" };
            drifts.push(Drift { glob: budget.glob.clone(), metric: metric_name, budget: budget_text, golden: before, actual: after, exceeded, message });
        }
    }
    drifts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glob::compile_glob;
    use crate::snapshot::manifest::tests::file;

    #[test]
    fn growth_and_counts() {
        let mut budget = Budget::new("model/**", compile_glob("model/**").unwrap().compile_matcher());
        budget.add_limit("size=+10%").unwrap();
        budget.add_limit("count=1").unwrap();
        assert!(budget.add_limit("size=lots").is_err());
        let golden = [file("model/a", 100)];
        let actual = [file("model/a", 100), file("model/b", 38), file("code/x", 1000)];
        let drifts = evaluate(&[budget], &golden, &actual);
        assert_eq!(drifts[0].message, "model/ content grew 38% (100 B -> 138 B), budget +10%");
        assert!(drifts[0].exceeded);
        assert_eq!(drifts[1].message, "2 files in model/, budget 1");
        assert!(drifts[1].exceeded);
    }
}
