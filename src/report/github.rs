//! GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` line per finding,
//! so findings show up as annotations on the run, attached to the file in the repository.
//! Escaping follows the workflow-command format of GitHub's actions/toolkit (`core/src/command.ts`).

use super::place::{real_file, Workspace};
use super::sanitize::sanitize;
use super::{cannot_check, Report};
use crate::finding::Severity;

/// Escape the message (data) of a workflow command: `%`, CR and LF, then the terminal and bidi
/// characters (the one sanitizer every human-facing line goes through).
fn escape_data(text: &str) -> String {
    sanitize(&text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")).into_owned()
}

/// Escape a workflow command property: as data, plus `:` and `,`, which end a property.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

pub fn render(report: &Report<'_>) -> String {
    let mut workspace = Workspace::from_env();
    let mut out = String::new();
    for finding in report.findings {
        let level = match finding.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let rule = &report.ruleset.rules[finding.rule];
        let file = workspace.relative(&real_file(finding)).to_string_lossy().into_owned();
        out.push_str(&format!(
            "::{level} file={},title={}::{}: {} (help: {})\n",
            escape_property(&file),
            escape_property(&format!("{} {}", finding.code, rule.name)),
            escape_data(&finding.location()),
            escape_data(&finding.message),
            escape_data(&finding.help),
        ));
    }
    for problem in report.unreadable {
        let file = workspace.relative(std::path::Path::new(&problem.input));
        out.push_str(&format!("::error file={},title=optml::{}\n", escape_property(&file.to_string_lossy()), escape_data(&cannot_check(problem))));
    }
    for line in super::elided_lines(&report.elided) {
        out.push_str(&format!("::notice title=optml::{}\n", escape_data(&line)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_workflow_syntax() {
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(escape_data("a\r\n::error::x"), "a%0D%0A::error::x");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }
}
