//! JUnit XML: one `<testsuite>` per input, one `<testcase>` per rule evaluated on it. A rule
//! with findings that fail the run (`fail-on`, errors by default) fails: `<failure>` lists
//! every message; findings below that keep the test passing and are listed in its
//! `<system-out>`. An input that could not be read is a suite with one `<error>`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write;

use super::sanitize::is_dangerous;
use super::{cannot_check, Report};
use crate::finding::Finding;

/// Text as an XML attribute value or character data. Characters XML 1.0 cannot carry at all
/// (controls other than tab, CR, LF; U+FFFE, U+FFFF) are written as `\u{..}` text; line breaks
/// and tabs as character references, so that untrusted text never starts a line of the file.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // An attribute value would read them as spaces; in text, a line break would start a
            // line of whatever log shows the file.
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            // Bidi and zero-width characters as character references: the same text for a
            // parser, inert for whoever reads the XML in a log or a terminal.
            c if is_dangerous(c) => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// One finding as a line of XML character data.
fn line(finding: &Finding) -> String {
    xml(&format!("{} {}: {}", finding.severity, finding.location(), finding.message)) + "\n"
}

/// Findings by input and rule.
type Grouped<'a> = HashMap<(&'a str, usize), Vec<&'a Finding>>;

/// The `<testsuite>` of `input`: one testcase per rule in `rules` (indices into the ruleset).
/// Returns the XML, the number of tests and of failing ones.
fn suite(report: &Report<'_>, grouped: &Grouped<'_>, input: &str, rules: impl Iterator<Item = usize>) -> (String, usize, usize) {
    let ruleset = report.ruleset;
    let mut cases = String::new();
    let (mut tests, mut failures) = (0, 0);
    for index in rules {
        let rule = &ruleset.rules[index];
        let found = grouped.get(&(input, index)).map_or(&[][..], Vec::as_slice);
        tests += 1;
        let _ = write!(
            cases,
            "    <testcase classname=\"{}\" name=\"{}\"",
            xml(&format!("optml.{}", ruleset.packs[rule.pack].name)),
            xml(&format!("{} {}", rule.code, rule.name))
        );
        // Severities order error < warning < info: failing is at or above `fail_on`.
        let (failing, others): (Vec<&Finding>, Vec<&Finding>) = found.iter().partition(|f| f.severity <= report.fail_on);
        if failing.is_empty() && others.is_empty() {
            cases.push_str("/>\n");
            continue;
        }
        cases.push_str(">\n");
        if let Some(first) = failing.first() {
            failures += 1;
            let body: String = failing.iter().map(|f| line(f)).collect();
            let _ = writeln!(cases, "      <failure type=\"{}\" message=\"{}\">{body}</failure>", rule.code, xml(&first.message));
        }
        if !others.is_empty() {
            let body: String = others.iter().map(|f| line(f)).collect();
            let _ = writeln!(cases, "      <system-out>{body}</system-out>");
        }
        cases.push_str("    </testcase>\n");
    }
    let xml = format!("  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n{cases}  </testsuite>\n", xml(input));
    (xml, tests, failures)
}

pub fn render(report: &Report<'_>) -> String {
    let mut grouped: Grouped = HashMap::new();
    for finding in report.findings {
        grouped.entry((finding.input.as_str(), finding.rule)).or_default().push(finding);
    }
    let mut suites = String::new();
    let (mut tests, mut failures) = (0, 0);
    let mut add = |(xml, suite_tests, suite_failures): (String, usize, usize)| {
        suites.push_str(&xml);
        tests += suite_tests;
        failures += suite_failures;
    };
    for checked in report.checked {
        let evaluated = (0..report.ruleset.rules.len()).filter(|&index| checked.rules.get(index).copied().unwrap_or(false));
        add(suite(report, &grouped, &checked.subject.input, evaluated));
    }
    // Findings about something no input covers (`optml run`: a host, an archive that could
    // not be packed): a suite each, with the rules that reported on it.
    let inputs: HashSet<&str> = report.checked.iter().map(|checked| checked.subject.input.as_str()).collect();
    let mut others: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for &(input, rule) in grouped.keys().filter(|(input, _)| !inputs.contains(input)) {
        others.entry(input).or_default().insert(rule);
    }
    for (input, rules) in others {
        add(suite(report, &grouped, input, rules.into_iter()));
    }
    for problem in report.unreadable {
        tests += 1;
        let _ = write!(
            suites,
            "  <testsuite name=\"{}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n    <testcase classname=\"optml\" name=\"read input\">\n      <error type=\"optml::input\" message=\"{}\"/>\n    </testcase>\n  </testsuite>\n",
            xml(&problem.input),
            xml(&cannot_check(problem)),
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
        assert_eq!(xml("a\nb\rc\u{202e}"), "a&#10;b&#13;c&#x202E;");
    }
}
