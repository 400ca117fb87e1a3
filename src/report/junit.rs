//! JUnit XML: one `<testsuite>` per input, one `<testcase>` per rule evaluated on it. A rule
//! with findings that fail the run (`fail-on`, errors by default) fails: `<failure>` lists
//! every message; findings below that keep the test passing and are listed in its
//! `<system-out>`. An input that could not be read is a suite with one `<error>`.

use std::fmt::Write;

use super::Report;
use crate::finding::Finding;

/// Text as an XML attribute value. Characters XML 1.0 cannot carry at all (controls other
/// than tab, CR, LF; U+FFFE, U+FFFF) are written as `\u{..}` text.
fn xml(text: &str) -> String {
    escape(text, true)
}

/// Text as XML character data: as [`xml`], but line breaks stay as they are.
fn xml_text(text: &str) -> String {
    escape(text, false)
}

fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // An attribute value would read them as spaces.
            '\t' | '\n' | '\r' if attribute => {
                let _ = write!(out, "&#{};", c as u32);
            }
            '\t' | '\n' => out.push(c),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn line(finding: &Finding) -> String {
    format!("{} {}: {}\n", finding.severity, finding.location(), finding.message)
}

pub fn render(report: &Report<'_>) -> String {
    let ruleset = report.ruleset;
    let mut suites = String::new();
    let (mut tests, mut failures) = (0, 0);
    for checked in report.checked {
        let input = &checked.subject.input;
        let mut cases = String::new();
        let (mut suite_tests, mut suite_failures) = (0, 0);
        for (index, rule) in ruleset.rules.iter().enumerate().filter(|(index, _)| checked.rules.get(*index).copied().unwrap_or(false)) {
            let found: Vec<&Finding> = report.findings.iter().filter(|f| f.rule == index && &f.input == input).collect();
            suite_tests += 1;
            let _ = write!(
                cases,
                "    <testcase classname=\"{}\" name=\"{}\"",
                xml(&format!("optml.{}", ruleset.packs[rule.pack].name)),
                xml(&format!("{} {}", rule.code, rule.name))
            );
            // Severities order error < warning < info: failing is at or above `fail_on`.
            let (errors, others): (Vec<&Finding>, Vec<&Finding>) = found.iter().partition(|f| f.severity <= report.fail_on);
            if errors.is_empty() && others.is_empty() {
                cases.push_str("/>\n");
                continue;
            }
            cases.push_str(">\n");
            if let Some(first) = errors.first() {
                suite_failures += 1;
                let body: String = errors.iter().map(|f| line(f)).collect();
                let _ = writeln!(cases, "      <failure type=\"{}\" message=\"{}\">{}</failure>", rule.code, xml(&first.message), xml_text(&body));
            }
            if !others.is_empty() {
                let body: String = others.iter().map(|f| line(f)).collect();
                let _ = writeln!(cases, "      <system-out>{}</system-out>", xml_text(&body));
            }
            cases.push_str("    </testcase>\n");
        }
        tests += suite_tests;
        failures += suite_failures;
        let _ = write!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{suite_tests}\" failures=\"{suite_failures}\" errors=\"0\" skipped=\"0\">\n{cases}  </testsuite>\n",
            xml(input)
        );
    }
    for problem in report.unreadable {
        tests += 1;
        let _ = write!(
            suites,
            "  <testsuite name=\"{}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n    <testcase classname=\"optml\" name=\"read input\">\n      <error type=\"optml::input\" message=\"{}\"/>\n    </testcase>\n  </testsuite>\n",
            xml(&problem.input),
            xml(&format!("cannot check {problem}")),
        );
    }
    let errors = report.unreadable.len();
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"optml\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n{suites}</testsuites>\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_characters_xml_cannot_hold() {
        assert_eq!(xml("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(xml("x\u{1}\ny\u{1b}"), "x\\u{1}&#10;y\\u{1b}");
        assert_eq!(xml_text("a\nb\rc"), "a\nb\\u{d}c");
    }
}
