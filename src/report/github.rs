//! GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` line per finding,
//! so findings show up as annotations on the run.

use super::Report;
use crate::finding::Severity;

/// Escape a message for a workflow command (data part).
fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escape a workflow command property (also `:` and `,`).
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

pub fn render(report: &Report<'_>) -> String {
    let mut out = String::new();
    for finding in report.findings {
        let level = match finding.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let rule = &report.ruleset.rules[finding.rule];
        out.push_str(&format!(
            "::{level} file={},title={}::{}: {} (help: {})\n",
            escape_property(&finding.input),
            escape_property(&format!("{} {}", finding.code, rule.name)),
            escape_data(&finding.location),
            escape_data(&finding.message),
            escape_data(&finding.help),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_workflow_syntax() {
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
