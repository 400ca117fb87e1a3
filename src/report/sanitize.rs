//! Untrusted text (archive member names, file contents quoted in messages, paths given on the
//! command line, rule-file text) must not drive the terminal or the CI log that shows it. Every
//! human-facing line goes through [`sanitize`] (or [`sanitize_lines`] for a rendered
//! multi-line document), which writes such characters as `\u{..}` escapes:
//!
//! - C0 controls and DEL: ESC starts terminal sequences (colors, OSC 8 hyperlinks, title
//!   changes); CR and LF would start a new log line, so a name could print `::error::`,
//!   `::add-mask::` or `::stop-commands::` at the start of a line of a GitHub Actions log;
//! - C1 controls (U+0080-U+009F): U+009B is a one-character CSI, U+0085 a line break;
//! - Unicode format characters that reorder or hide text (Trojan Source, CVE-2021-42574):
//!   the bidi embeddings, overrides and isolates, the marks, zero-width characters, the line
//!   and paragraph separators, the BOM.
//!
//! JSON output keeps the exact text (serde escapes controls); only what humans read is escaped.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` as one inert line: every dangerous character, line breaks included, escaped.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// A rendered multi-line document (a diagnostic, an error report, a rule's docs) whose line
/// breaks are its own: `\n` is kept, everything else dangerous is escaped. Such a document
/// never writes a workflow command, so a line that starts with `::` (untrusted text on a line
/// of its own, e.g. a rule file's docs) has its first colon escaped too.
pub fn sanitize_lines(text: &str) -> Cow<'_, str> {
    let escaped = escape(text, true);
    if !escaped.starts_with("::") && !escaped.contains("\n::") {
        return escaped;
    }
    let lines: Vec<String> =
        escaped.split('\n').map(|line| if line.starts_with("::") { format!("\\u{{3a}}{}", &line[1..]) } else { line.to_string() }).collect();
    Cow::Owned(lines.join("\n"))
}

/// A JSON document with every dangerous character that serde leaves raw (DEL, C1, the format
/// characters) written as a `\uXXXX` escape: the same text for a parser, inert for a terminal
/// that shows it. Outside strings a JSON document holds only ASCII punctuation, digits,
/// literals and whitespace, so every such character found is inside a string, where the escape means itself.
pub fn inert_json(json: String) -> String {
    // serde escapes the controls inside strings; a raw `\n` is the pretty printer's own.
    let escaped = |c: char| is_dangerous(c) && c != '\n';
    if !json.chars().any(escaped) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if escaped(c) {
            // Every dangerous character is in the Basic Multilingual Plane: one UTF-16 unit.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// A path for a human-facing line: lossy UTF-8, sanitized.
pub fn shown(path: &std::path::Path) -> String {
    sanitize(&path.to_string_lossy()).into_owned()
}

fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let escaped = |c: char| is_dangerous(c) && !(keep_newlines && c == '\n');
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escaped(c) {
            // Writing into a String cannot fail.
            let _ = write!(out, "{}", c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether `c` must not reach a terminal or log as it is. A tab is harmless and kept.
pub fn is_dangerous(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c,
            // Soft hyphen, Arabic letter mark, Mongolian vowel separator: invisible.
            '\u{00AD}' | '\u{061C}' | '\u{180E}'
            // Zero-width space, non-joiner, joiner; left-to-right and right-to-left marks.
            | '\u{200B}'..='\u{200F}'
            // Line and paragraph separators; bidi embeddings and overrides (LRE RLE PDF LRO RLO).
            | '\u{2028}'..='\u{202E}'
            // Word joiner, invisible operators; bidi isolates (LRI RLI FSI PDI); deprecated format controls.
            | '\u{2060}'..='\u{206F}'
            // Byte order mark (zero-width no-break space); interlinear annotation controls.
            | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_sequences() {
        assert_eq!(sanitize("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(sanitize("plain/name.txt"), "plain/name.txt");
        assert_eq!(sanitize("x\u{202E}y"), "x\\u{202e}y");
    }

    #[test]
    fn line_breaks_never_start_a_line() {
        assert_eq!(sanitize("ok\n::error::x"), "ok\\u{a}::error::x");
        assert_eq!(sanitize("ok\r::add-mask::x"), "ok\\u{d}::add-mask::x");
        assert_eq!(sanitize("a\u{85}b\u{2028}c"), "a\\u{85}b\\u{2028}c");
        assert_eq!(sanitize_lines("one\ntwo\u{1b}"), "one\ntwo\\u{1b}");
        assert_eq!(sanitize_lines("one\rtwo"), "one\\u{d}two");
        assert_eq!(sanitize_lines("::error::a\nb\n::warning::c\n:d"), "\\u{3a}:error::a\nb\n\\u{3a}:warning::c\n:d");
    }

    #[test]
    fn escapes_c1_del_and_every_format_character_named() {
        for c in ['\u{7f}', '\u{9b}', '\u{200b}', '\u{200f}', '\u{061c}', '\u{feff}', '\u{2066}', '\u{2069}', '\u{202a}'] {
            assert!(sanitize(&format!("a{c}b")).starts_with("a\\u{"), "{:?} kept", c);
        }
        assert_eq!(inert_json(r#"{"a":"x\u001b"}"#.to_string()), r#"{"a":"x\u001b"}"#);
        let escaped = inert_json(serde_json::to_string("a\u{202e}b\u{9b}\u{7f}").unwrap());
        assert_eq!(escaped, r#""a\u202eb\u009b\u007f""#);
        assert_eq!(serde_json::from_str::<String>(&escaped).unwrap(), "a\u{202e}b\u{9b}\u{7f}");
        assert_eq!(sanitize("tab\there, ünïcödé, 模型"), "tab\there, ünïcödé, 模型");
    }
}
