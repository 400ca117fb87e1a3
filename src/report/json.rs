//! JSON output, schema version 1 (documented in docs/json-schema.md).

use serde::Serialize;

use super::Report;

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
}

#[derive(Serialize)]
struct Diagnostic<'a> {
    rule: &'a str,
    name: &'a str,
    severity: crate::finding::Severity,
    input: &'a str,
    path: &'a str,
    location: &'a str,
    message: &'a str,
    help: &'a str,
    fix: Option<&'a str>,
    docs: String,
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
                        entries: subject.entries.iter().filter(|e| e.origin == index).count(),
                    })
                    .collect(),
            }
        })
        .collect();
    let diagnostics = report
        .findings
        .iter()
        .map(|finding| {
            let rule = &ruleset.rules[finding.rule];
            Diagnostic {
                rule: &finding.code,
                name: &rule.name,
                severity: finding.severity,
                input: &finding.input,
                path: &finding.path,
                location: &finding.location,
                message: &finding.message,
                help: &finding.help,
                fix: finding.fix.as_deref(),
                docs: ruleset.docs_url(rule),
            }
        })
        .collect();
    let document = Document { version: 1, inputs, diagnostics, summary: report.summary, snapshot: report.snapshot, run: report.run };
    let mut text = serde_json::to_string_pretty(&document).expect("JSON of plain data");
    text.push('\n');
    text
}
