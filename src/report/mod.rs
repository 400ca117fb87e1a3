//! Reports: one finding model, several renderers.

pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod place;
pub mod sanitize;
pub mod sarif;

use crate::baseline::Comparison;
use crate::detect::Detection;
use crate::engine::Ruleset;
use crate::finding::{Finding, Overflow, Severity, Summary};
use crate::layout::Placed;
use crate::source::{OpenError, Subject};

/// Where docs/ lives online, from Cargo.toml's `repository` (else `homepage`); config
/// `docs-url` overrides it. A rule's pack docs path (`docs/rules.md`) and anchor are appended.
pub fn default_docs_base() -> &'static str {
    const REPOSITORY: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/");
    if env!("CARGO_PKG_REPOSITORY").is_empty() {
        env!("CARGO_PKG_HOMEPAGE")
    } else {
        REPOSITORY
    }
}

/// The absolute URL of `docs` (a pack's docs page, anchor included) under `base`; `None` when
/// it is neither absolute already nor a built-in page that `base` can serve.
pub fn absolute_docs_url(base: &str, docs: &str, builtin: bool) -> Option<String> {
    if docs.starts_with("https://") || docs.starts_with("http://") {
        return Some(docs.to_string());
    }
    (builtin && !base.is_empty()).then(|| format!("{}/{}", base.trim_end_matches('/'), docs.trim_start_matches("./")))
}

/// What every format says about an input that could not be read at all.
pub fn cannot_check(problem: &OpenError) -> String {
    format!("cannot check {problem}")
}

/// [`cannot_check`] as a diagnostic: the human report's, and the command's error when no
/// input could be read.
pub fn cannot_check_diagnostic(problem: &OpenError) -> miette::Report {
    miette::miette!(code = "optml::input", "{}", cannot_check(problem))
}

/// Output format for findings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// miette diagnostics and a summary line.
    #[default]
    Human,
    /// One JSON document (schema: docs/json-schema.md).
    Json,
    /// GitHub Actions annotations (`::error file=...::message`).
    Github,
    /// SARIF 2.1.0, for code scanning (docs/ci.md).
    Sarif,
    /// JUnit XML: a testsuite per input, a testcase per rule evaluated on it.
    Junit,
}

/// Everything a renderer needs about one checked input.
pub struct Checked {
    pub subject: Subject,
    pub placed: Placed,
    /// One flag per loaded pack: whether it applied to this input.
    pub packs: Vec<bool>,
    /// One flag per rule of the ruleset: whether it was evaluated on this input (JUnit testcases).
    pub rules: Vec<bool>,
    /// What `--pack auto` decided, when it ran.
    pub detection: Option<Detection>,
    /// What the serving container will do with the model (empty for inputs without one).
    pub plan: Vec<crate::plan::PlanItem>,
    /// Findings counted beyond [`crate::finding::KEPT_PER_RULE`] per rule and never kept.
    pub overflow: Vec<Overflow>,
}

/// The result of a check run, ready to render.
pub struct Report<'a> {
    pub ruleset: &'a Ruleset,
    pub checked: &'a [Checked],
    pub findings: &'a [Finding],
    pub summary: Summary,
    /// The `--snapshot` comparison, if one was asked for.
    pub snapshot: Option<&'a crate::snapshot::verify::Outcome>,
    /// What `optml run` did before checking (JSON `run` section, docs/run.md).
    pub run: Option<&'a serde_json::Value>,
    /// Findings only: no per-input headers and no summary line (`--quiet`).
    pub quiet: bool,
    /// Inputs that could not be read at all (the exit status is then 2); the others are reported.
    pub unreadable: &'a [OpenError],
    /// The `--baseline` comparison: `findings` are then only the new ones.
    pub baseline: Option<&'a Comparison>,
    /// The base URL of the docs, for absolute links (SARIF `helpUri`).
    pub docs_base: &'a str,
    /// The lowest severity that fails (`fail-on`): a JUnit testcase with such findings fails.
    pub fail_on: Severity,
    /// Per rule code, the findings beyond [`PER_RULE`] left out of `findings` (counted in `summary`).
    pub elided: Vec<(String, usize)>,
}

/// Findings of one rule code rendered, in every format; the rest are counted. Two million copies
/// of one header must not become two million annotations (or 900 MB of JSON).
pub const PER_RULE: usize = 100;

/// Keep the first [`PER_RULE`] findings of each code at the front of `findings`, in order;
/// returns how many are kept and the count left out per code, the `overflow` (findings
/// counted, never kept) included.
fn elide(findings: &mut [Finding], overflow: &[Overflow]) -> (usize, Vec<(String, usize)>) {
    let mut seen: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut left_out: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for more in overflow {
        *left_out.entry(more.code.clone()).or_default() += more.count;
    }
    let mut kept = 0;
    for index in 0..findings.len() {
        let count = seen.entry(findings[index].code.clone()).or_default();
        *count += 1;
        if *count <= PER_RULE {
            findings.swap(kept, index);
            kept += 1;
        }
    }
    // Kept per code: at most PER_RULE; everything else of the code, counted or not, is left out.
    for (code, count) in &seen {
        *left_out.entry(code.clone()).or_default() += count.saturating_sub(PER_RULE);
    }
    (kept, left_out.into_iter().filter(|(_, n)| *n > 0).collect())
}

/// "… and 1,999,990 more SM505 findings", one line per code left out.
pub fn elided_lines(elided: &[(String, usize)]) -> Vec<String> {
    elided.iter().map(|(code, count)| format!("… and {} more {code} findings (the summary counts them all)", crate::units::thousands(*count))).collect()
}

impl<'a> Report<'a> {
    /// Sort `findings` (deterministic output) and count them: how every command builds its report.
    pub fn new(ruleset: &'a Ruleset, checked: &'a [Checked], findings: &'a mut [Finding]) -> Report<'a> {
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let overflow: Vec<Overflow> = checked.iter().flat_map(|one| one.overflow.iter().cloned()).collect();
        let mut summary = Summary::of(findings);
        summary.add_overflow(&overflow);
        let (kept, elided) = elide(findings, &overflow);
        let findings: &'a [Finding] = &findings[..kept];
        Report {
            ruleset,
            checked,
            findings,
            summary,
            snapshot: None,
            run: None,
            quiet: false,
            unreadable: &[],
            baseline: None,
            docs_base: default_docs_base(),
            fail_on: Severity::Error,
            elided,
        }
    }

    pub fn render(&self, format: Format, color: bool) -> String {
        match format {
            Format::Human => human::render(self, color),
            Format::Json => json::render(self),
            Format::Github => github::render(self),
            Format::Sarif => sarif::render(self),
            Format::Junit => junit::render(self),
        }
    }
}

/// Write a finished report to stdout (see [`crate::stdio`] for what a failed write means).
pub fn print(text: &str) {
    crate::stdio::out(text);
}
