//! Reports: one finding model, several renderers.

pub mod github;
pub mod human;
pub mod json;
pub mod sanitize;

use crate::detect::Detection;
use crate::engine::Ruleset;
use crate::finding::{Finding, Summary};
use crate::layout::Placed;
use crate::source::Subject;

/// Output format for findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// miette diagnostics and a summary line.
    Human,
    /// One JSON document (schema: docs/json-schema.md).
    Json,
    /// GitHub Actions annotations (`::error file=...::message`).
    Github,
}

/// Everything a renderer needs about one checked input.
pub struct Checked {
    pub subject: Subject,
    pub placed: Placed,
    /// One flag per loaded pack: whether it applied to this input.
    pub packs: Vec<bool>,
    /// What `--pack auto` decided, when it ran.
    pub detection: Option<Detection>,
    /// What the serving container will do with the model (empty for inputs without one).
    pub plan: Vec<crate::plan::PlanItem>,
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
}

impl<'a> Report<'a> {
    /// Sort `findings` (deterministic output) and count them: how every command builds its report.
    pub fn new(ruleset: &'a Ruleset, checked: &'a [Checked], findings: &'a mut [Finding]) -> Report<'a> {
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let findings: &'a [Finding] = findings;
        Report { ruleset, checked, findings, summary: Summary::of(findings), snapshot: None, run: None }
    }

    pub fn render(&self, format: Format, color: bool) -> String {
        match format {
            Format::Human => human::render(self, color),
            Format::Json => json::render(self),
            Format::Github => github::render(self),
        }
    }
}

/// Write a finished report to stdout. A closed pipe (`optml check | head`) is not an error
/// worth a panic.
pub fn print(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
