//! JSON output, schema version 1 (documented in docs/json-schema.md).

use serde::Serialize;

use super::Report;
use crate::entry::lossy;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    inputs: Vec<Input<'a>>,
    diagnostics: Vec<Diagnostic<'a>>,
    summary: crate::finding::Summary,
    /// Present with `--snapshot`: the comparison, difference by difference.
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot: Option<&'a crate::snapshot::verify::Outcome>,
    /// What `optml run` did before checking (docs/run.md); absent for `optml check`.
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<&'a serde_json::Value>,
    /// Inputs that could not be read at all (the exit status is then 2).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<InputError<'a>>,
    /// With `--baseline` or `--write-baseline`: `diagnostics` are then only the new findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<&'a crate::baseline::Comparison>,
    /// Findings beyond the first 100 of one rule, counted per rule and not listed (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    elided: Vec<Elided<'a>>,
}

#[derive(Serialize)]
struct InputError<'a> {
    input: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct Elided<'a> {
    rule: &'a str,
    count: usize,
}

#[derive(Serialize)]
struct Input<'a> {
    path: &'a str,
    kind: &'static str,
    entries: usize,
    /// The packs that applied to this input.
    packs: Vec<&'a str>,
    parts: Vec<Part<'a>>,
    /// What `--pack auto` decided (absent when it did not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    detected: Option<&'a crate::detect::Detection>,
    /// What the serving container will do with the model (absent for inputs without one).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    plan: &'a [crate::plan::PlanItem],
}

#[derive(Serialize)]
struct Part<'a> {
    path: &'a str,
    role: &'static str,
    flavour: &'a str,
    compression: Option<&'static str>,
    entries: usize,
    /// The S3 object the part was streamed from.
    #[serde(skip_serializing_if = "Option::is_none")]
    object: Option<&'a crate::source::s3::ObjectMeta>,
}

/// One finding as every JSON consumer sees it (`diagnostics` here, `optml audit` records).
#[derive(Serialize)]
pub struct Diagnostic<'a> {
    rule: &'a str,
    name: &'a str,
    severity: crate::finding::Severity,
    input: &'a str,
    path: String,
    location: String,
    /// Where the part sits in the input ("" for the input itself); null when the finding is
    /// about the input as a whole.
    part: Option<&'a str>,
    /// The part's role: "opt-ml" | "model" | "output" | "code"; null without a part.
    role: Option<&'static str>,
    /// The member inside the part ("" for the part itself).
    member: String,
    /// The finding's identity, hashed: stable across runs and machines (docs/ci.md).
    fingerprint: String,
    message: &'a str,
    help: &'a str,
    fix: Option<&'a str>,
    docs: Option<String>,
}

/// The report's findings as JSON diagnostics, in report order.
pub fn diagnostics<'a>(report: &'a Report<'_>) -> Vec<Diagnostic<'a>> {
    let ruleset = report.ruleset;
    report
        .findings
        .iter()
        .map(|finding| {
            let rule = &ruleset.rules[finding.rule];
            Diagnostic {
                rule: &finding.code,
                name: &rule.name,
                severity: finding.severity,
                input: &finding.input,
                path: finding.path(),
                location: finding.location(),
                part: finding.part.as_ref().map(|part| part.prefix.as_str()),
                role: finding.part.as_ref().map(|part| part.role.as_str()),
                member: lossy(&finding.member),
                fingerprint: finding.identity().fingerprint(),
                message: &finding.message,
                help: &finding.help,
                fix: finding.fix.as_deref(),
                docs: ruleset.docs_url(rule),
            }
        })
        .collect()
}

pub fn render(report: &Report<'_>) -> String {
    let ruleset = report.ruleset;
    let inputs = report
        .checked
        .iter()
        .map(|checked| {
            let subject = &checked.subject;
            Input {
                path: &subject.input,
                kind: subject.kind.as_str(),
                entries: subject.entries.len(),
                packs: ruleset.packs.iter().zip(&checked.packs).filter(|(_, &on)| on).map(|(p, _)| p.name.as_str()).collect(),
                detected: checked.detection.as_ref(),
                plan: &checked.plan,
                parts: subject
                    .origins
                    .iter()
                    .enumerate()
                    .zip(&checked.placed.origins)
                    .map(|((index, origin), placement)| Part {
                        path: &origin.path_prefix,
                        role: origin.role.as_str(),
                        flavour: &placement.flavour,
                        compression: origin.compression.map(|c| c.as_str()),
                        entries: subject.entries.iter().filter(|e| e.origin() == index).count(),
                        object: origin.object.as_ref(),
                    })
                    .collect(),
            }
        })
        .collect();
    let diagnostics = diagnostics(report);
    let errors = report.unreadable.iter().map(|problem| InputError { input: &problem.input, message: &problem.message }).collect();
    let elided = report.elided.iter().map(|(rule, count)| Elided { rule, count: *count }).collect();
    let document = Document {
        version: 1,
        inputs,
        diagnostics,
        summary: report.summary,
        snapshot: report.snapshot,
        run: report.run,
        errors,
        baseline: report.baseline,
        elided,
    };
    let mut text = super::sanitize::inert_json(serde_json::to_string_pretty(&document).expect("JSON of plain data"));
    text.push('\n');
    text
}
