//! The human report of an audit: artifacts per verdict, the top rule codes, the worst offenders.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use super::{counts_of, verdict_of, Verdict};
use crate::report::sanitize::sanitize;

/// How many rule codes and offenders the table lists.
const TOP: usize = 10;

/// The one-line tally (stderr after `--format jsonl`, the head of the human table).
pub fn tally(records: &[Value], reused: usize) -> String {
    let mut per = BTreeMap::new();
    for record in records {
        *per.entry(verdict_of(record).as_str()).or_insert(0usize) += 1;
    }
    let verdicts: Vec<String> = Verdict::ALL.iter().map(|v| format!("{} {}", per.get(v.as_str()).copied().unwrap_or(0), v.as_str())).collect();
    format!("{} artifacts ({reused} re-used from the state file, {} checked): {}", records.len(), records.len() - reused, verdicts.join(", "))
}

pub fn render(records: &[Value], reused: usize) -> String {
    let mut out = format!("optml audit: {}\n", tally(records, reused));
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for record in records {
        for diagnostic in record["diagnostics"].as_array().into_iter().flatten() {
            *codes.entry(diagnostic["rule"].as_str().unwrap_or("").to_string()).or_default() += 1;
        }
    }
    let mut codes: Vec<(String, usize)> = codes.into_iter().collect();
    codes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if !codes.is_empty() {
        out.push_str("\ntop rule codes (findings listed in records):\n");
        for (code, count) in codes.iter().take(TOP) {
            let _ = writeln!(out, "  {:>8}  {}", count, sanitize(code));
        }
    }
    let mut offenders: Vec<(&Value, crate::finding::Summary)> =
        records.iter().map(|r| (r, counts_of(r))).filter(|(_, c)| c.errors + c.warnings + c.infos > 0).collect();
    offenders.sort_by_key(|(_, c)| std::cmp::Reverse((c.errors, c.warnings, c.infos)));
    if !offenders.is_empty() {
        out.push_str("\nworst offenders (errors, warnings, infos):\n");
        for (record, counts) in offenders.iter().take(TOP) {
            let _ = writeln!(out, "  {:>5} {:>5} {:>5}  {}", counts.errors, counts.warnings, counts.infos, sanitize(record["artifact"].as_str().unwrap_or("")));
        }
    }
    let unreadable: Vec<&Value> = records.iter().filter(|r| verdict_of(r) == Verdict::Unreadable).collect();
    if !unreadable.is_empty() {
        out.push_str("\nunreadable:\n");
        for record in unreadable {
            let _ = writeln!(out, "  {}: {}", sanitize(record["artifact"].as_str().unwrap_or("")), sanitize(record["error"].as_str().unwrap_or("")));
        }
    }
    out
}
