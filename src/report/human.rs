//! Human output: each finding as a miette diagnostic labelled at the rule that produced it,
//! then one summary line.

use std::fmt;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};

use super::sanitize::sanitize;
use super::Report;
use crate::baseline::Comparison;
use crate::engine::{Rule, Ruleset};
use crate::finding::{Finding, Severity, Summary};
use crate::units::{human_size, plural};

struct FindingDiagnostic<'a> {
    finding: &'a Finding,
    rule: &'a Rule,
    source: &'a NamedSource<String>,
    url: Option<String>,
}

impl fmt::Debug for FindingDiagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FindingDiagnostic").field("code", &self.finding.code).finish()
    }
}

impl fmt::Display for FindingDiagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}", sanitize(&self.finding.location()), sanitize(&self.finding.message))
    }
}

impl std::error::Error for FindingDiagnostic<'_> {}

impl Diagnostic for FindingDiagnostic<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(format!("{} {}", self.finding.code, self.rule.name)))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.finding.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        let mut help = sanitize(&self.finding.help).into_owned();
        if let Some(fix) = &self.finding.fix {
            help.push_str(&format!("\nfix: {}", sanitize(fix)));
        }
        Some(Box::new(help))
    }

    fn url<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.url.as_ref().map(|url| Box::new(url) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.finding.definition.clone();
        let label = LabeledSpan::new_with_span(Some(format!("{} is defined here", self.finding.code)), span);
        Some(Box::new(std::iter::once(label)))
    }
}

/// The graphical handler every human rendering uses: fixed width, no links, color optional.
pub fn handler(color: bool) -> GraphicalReportHandler {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false).with_context_lines(1)
}

pub fn render(report: &Report<'_>, color: bool) -> String {
    let ruleset: &Ruleset = report.ruleset;
    let sources: Vec<NamedSource<String>> = ruleset
        .packs
        .iter()
        .map(|pack| {
            let name = if pack.builtin { format!("{} (built-in)", pack.file) } else { pack.file.clone() };
            NamedSource::new(name, pack.text.clone()).with_language("toml")
        })
        .collect();
    let handler = handler(color);
    let mut out = String::new();
    for checked in report.checked.iter().filter(|_| !report.quiet) {
        let subject = &checked.subject;
        let entries = subject.entries.len();
        let parts: Vec<String> =
            subject.origins.iter().zip(&checked.placed.origins).map(|(origin, placement)| describe_part(subject.kind, origin, &placement.flavour)).collect();
        out.push_str(&format!(
            "checking {}: {}; {entries} entries, {}\n",
            sanitize(&subject.input),
            parts.join("; "),
            human_size(subject.entries.iter().map(|e| e.size).sum()),
        ));
        if let Some(detection) = &checked.detection {
            out.push_str(&format!("  pack auto: {}\n", sanitize(&detection.reason)));
        }
        if !checked.plan.is_empty() {
            out.push_str("  serving plan:\n");
            for item in &checked.plan {
                out.push_str(&format!("    {:<14}{}  [{}]\n", format!("{}:", item.item), sanitize(&item.value), sanitize(&item.source)));
            }
        }
    }
    if !report.quiet {
        out.push('\n');
    }
    if let Some(snapshot) = report.snapshot {
        out.push_str(&snapshot.human(color));
        out.push('\n');
    }
    let mut elision = crate::snapshot::report::Elision::default();
    for finding in report.findings.iter().filter(|f| elision.admit(&f.code)) {
        let rule = &ruleset.rules[finding.rule];
        let diagnostic = FindingDiagnostic { finding, rule, source: &sources[rule.pack], url: ruleset.docs_url(rule) };
        // Rendering into a String cannot fail.
        let _ = handler.render_report(&mut out, &diagnostic);
        out.push('\n');
    }
    out.push_str(&elision.note());
    for problem in report.unreadable {
        let _ = handler.render_report(&mut out, super::cannot_check_diagnostic(problem).as_ref());
        out.push('\n');
    }
    for line in super::elided_lines(&report.elided) {
        out.push_str(&line);
        out.push_str("\n\n");
    }
    if report.quiet {
        return out;
    }
    if let Some(baseline) = report.baseline {
        out.push_str(&baseline_lines(baseline));
    }
    out.push_str(&summary_line(&report.summary, report.checked.len()));
    if !report.unreadable.is_empty() {
        out.push_str(&format!(" {} could not be read.", plural(report.unreadable.len(), "input")));
    }
    out.push('\n');
    out
}

/// "model archive (gzip)", "output archive, local-mode flavour (gzip)", "/opt/ml tree".
fn describe_part(kind: crate::source::InputKind, origin: &crate::source::Origin, flavour: &str) -> String {
    // An image's placement says which image of the archive it is, and its layers.
    if kind == crate::source::InputKind::Image {
        return flavour.to_string();
    }
    let what = match (origin.role, origin.is_archive()) {
        (crate::source::Role::OptMl, _) => "/opt/ml tree".to_string(),
        (role, true) => format!("{} archive", role.as_str()),
        (role, false) => format!("{} folder", role.as_str()),
    };
    let mut text = if origin.path_prefix.is_empty() { what } else { format!("{} = {what}", origin.path_prefix) };
    if origin.role == crate::source::Role::Output {
        text.push_str(&format!(", {flavour} flavour"));
    }
    if let Some(compression) = origin.compression {
        text.push_str(&format!(" ({})", compression.as_str()));
    }
    if let Some(object) = &origin.object {
        // Key names and ETags come from the store: shown sanitized.
        let mut shown = format!(", {}: {}", object.url, crate::units::human_size(object.size));
        for (name, value) in [("ETag", &object.etag), ("last-modified", &object.last_modified)] {
            if let Some(value) = value {
                shown.push_str(&format!(", {name} {value}"));
            }
        }
        for (algorithm, value) in &object.checksums {
            shown.push_str(&format!(", {algorithm} {value}"));
        }
        text.push_str(&sanitize(&shown));
    }
    text
}

/// What the baseline matched, written, and which of its entries no longer occur.
fn baseline_lines(baseline: &Comparison) -> String {
    let file = sanitize(&baseline.file);
    let mut out = if baseline.written {
        format!("baseline {file}: wrote {}", plural(baseline.matched, "finding"))
    } else {
        format!("baseline {file}: {} matched (not reported)", plural(baseline.matched, "known finding"))
    };
    match baseline.stale.len() + baseline.stale_counted.len() {
        0 => out.push_str(".\n"),
        count => {
            let verb = if count == 1 { "occurs" } else { "occur" };
            out.push_str(&format!("; {} no longer {verb} (fixed: remove it from the file, or rewrite it with --write-baseline):\n", plural(count, "entry")));
        }
    }
    for identity in &baseline.stale {
        // The member is already escaped as manifests escape paths: one line, printable.
        let member = if identity.member.is_empty() { String::new() } else { format!(": {}", identity.member) };
        out.push_str(&format!("  {} in {} ({}){member}\n", sanitize(&identity.code), sanitize(&identity.input), sanitize(&identity.role)));
    }
    for counted in &baseline.stale_counted {
        let count = crate::units::thousands(counted.count);
        out.push_str(&format!("  {count} {} in {} (counted past the per-rule limit)\n", sanitize(&counted.code), sanitize(&counted.input)));
    }
    out
}

pub fn summary_line(summary: &Summary, inputs: usize) -> String {
    let total = summary.errors + summary.warnings + summary.infos;
    if total == 0 {
        return format!("No problems found in {}.", plural(inputs, "input"));
    }
    format!(
        "Found {}, {} and {} in {}.",
        plural(summary.errors, "error"),
        plural(summary.warnings, "warning"),
        plural(summary.infos, "info"),
        plural(inputs, "input")
    )
}
