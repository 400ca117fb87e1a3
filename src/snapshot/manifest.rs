//! The manifest: a text file with a header of directives and one sorted line per entry,
//! `PATH type=KIND [size=N|*] [link=TARGET] [mode=0644] [sha256=HEX]` (mtree in spirit).
//! Rendering is deterministic; parsing keeps spans so errors point at the bad line.

use std::ops::Range;

use super::header::Header;
use crate::entry::EntryKind;
use crate::located::{FileKind, Located};
use crate::report::sanitize::is_dangerous;

/// The first line of every manifest; also how `optml diff` tells a manifest from an archive.
pub const MAGIC: &str = "#optml-manifest v1";

/// A recorded size: exact bytes, or `*` where a size rule says sizes are not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    Bytes(u64),
    Ignored,
}

/// One entry of a manifest. `None` fields are not recorded (not selected, or not applicable).
///
/// The rare fields live on the side, which keeps a line as small as an
/// [`crate::entry::Entry`], so recording turns a million entries into lines in the same memory
/// (see `record_owned`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub path: Box<[u8]>,
    pub kind: EntryKind,
    pub size: Option<Size>,
    pub mode: Option<u32>,
    /// `None` when the line has neither a link nor a digest, never an empty box.
    extras: Option<Box<Extras>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Extras {
    link: Option<Box<[u8]>>,
    sha256: Option<[u8; 32]>,
}

impl Line {
    pub fn new(path: impl Into<Box<[u8]>>, kind: EntryKind) -> Line {
        Line { path: path.into(), kind, size: None, mode: None, extras: None }
    }

    pub fn link(&self) -> Option<&[u8]> {
        self.extras.as_ref()?.link.as_deref()
    }

    pub fn sha256(&self) -> Option<&[u8; 32]> {
        self.extras.as_ref()?.sha256.as_ref()
    }

    pub fn set_link(&mut self, link: Option<Box<[u8]>>) {
        self.edit_extras(|extras| extras.link = link);
    }

    pub fn set_sha256(&mut self, sha256: Option<[u8; 32]>) {
        self.edit_extras(|extras| extras.sha256 = sha256);
    }

    /// Change the extras, keeping `None` for none, so equal lines compare equal.
    fn edit_extras(&mut self, edit: impl FnOnce(&mut Extras)) {
        let mut extras = self.extras.take().unwrap_or_default();
        edit(&mut extras);
        if *extras != Extras::default() {
            self.extras = Some(extras);
        }
    }

    /// Everything after the path, as written in the manifest.
    pub fn render_fields(&self) -> String {
        let mut out = format!("type={}", self.kind.as_str());
        if let Some(size) = self.size {
            out.push_str(&format!(" size={}", render_size(size)));
        }
        if let Some(link) = self.link() {
            out.push_str(&format!(" link={}", escape(link)));
        }
        if let Some(mode) = self.mode {
            out.push_str(&format!(" mode={mode:04o}"));
        }
        if let Some(digest) = self.sha256() {
            out.push_str(&format!(" sha256={}", hex(digest)));
        }
        out
    }

    pub fn render(&self) -> String {
        format!("{} {}", escape(&self.path), self.render_fields())
    }
}

pub fn render_size(size: Size) -> String {
    match size {
        Size::Bytes(bytes) => bytes.to_string(),
        Size::Ignored => "*".to_string(),
    }
}

pub fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A parsed or recorded manifest. The header text is kept verbatim, so comments and the
/// order of directives survive a re-record.
#[derive(Debug)]
pub struct Manifest {
    pub header: Header,
    pub header_text: String,
    pub lines: Vec<Line>,
}

impl Manifest {
    /// Sort lines the one way every manifest is sorted: by path bytes, then by the rest.
    pub fn sort(lines: &mut [Line]) {
        // Paths rarely tie (only after redaction), so the rest of the line is rendered rarely.
        lines.sort_by(|a, b| a.path.cmp(&b.path).then_with(|| a.render_fields().cmp(&b.render_fields())));
    }

    /// The same header, no entries: the start of a new recording with the same rules.
    pub fn header_only(&self) -> Manifest {
        Manifest { header: self.header.clone(), header_text: self.header_text.clone(), lines: Vec::new() }
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        self.write_to(&mut out).expect("writing to memory cannot fail");
        String::from_utf8(out).expect("a manifest is rendered as text")
    }

    /// Write the manifest line by line: a snapshot of a million entries is never one string.
    pub fn write_to(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        out.write_all(self.header_text.as_bytes())?;
        for line in &self.lines {
            out.write_all(line.render().as_bytes())?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Parse `text` (named `file` in errors). Lines are sorted after parsing, so a hand-edited
    /// manifest need not be.
    pub fn parse(file: &str, text: &str) -> Result<Manifest, Box<Located>> {
        if text.lines().next().map(|line| line.trim_end_matches('\r')) != Some(MAGIC) {
            let end = text.find('\n').unwrap_or(text.len());
            return Err(Box::new(located(
                file,
                text,
                Bad::new(0..end, "not an optml manifest", "expected the first line here")
                    .help(format!("a manifest starts with `{MAGIC}`; record one with `optml snapshot INPUT -o FILE`")),
            )));
        }
        Manifest::parse_text(file, text, false)
    }

    /// Parse a snapshot config: a header without entries, the magic line optional.
    pub fn parse_config(file: &str, text: &str) -> Result<Manifest, Box<Located>> {
        Manifest::parse_text(file, text, true)
    }

    fn parse_text(file: &str, text: &str, config: bool) -> Result<Manifest, Box<Located>> {
        let fail = |bad: Bad| Box::new(located(file, text, bad));
        let mut header = Header::default();
        let mut header_end = None;
        let mut lines = Vec::new();
        let mut offset = 0;
        for raw in text.split_inclusive('\n') {
            let start = offset;
            offset += raw.len();
            let line = raw.trim_end_matches('\n').trim_end_matches('\r');
            let blank = line.trim().is_empty();
            let is_header_line = blank || line.starts_with('#') || line.starts_with('/');
            match header_end {
                None if is_header_line => {
                    if line.starts_with('/') {
                        header.directive(line, start).map_err(fail)?;
                    }
                }
                None if config => {
                    return Err(fail(Bad::new(start..start + line.len(), "a snapshot config holds only comments and /directives", "an entry line")));
                }
                None => {
                    header_end = Some(start);
                    lines.push(parse_line(line, start).map_err(fail)?);
                }
                Some(_) if blank => {}
                Some(_) if is_header_line => {
                    return Err(fail(
                        Bad::new(start..start + line.len(), "directive or comment after the first entry", "move this line up")
                            .help("the header (comments and /directives) comes before the first entry line"),
                    ));
                }
                Some(_) => lines.push(parse_line(line, start).map_err(fail)?),
            }
        }
        let mut header_text = text[..header_end.unwrap_or(text.len())].to_string();
        if !header_text.ends_with('\n') {
            header_text.push('\n');
        }
        Manifest::sort(&mut lines);
        Ok(Manifest { header, header_text, lines })
    }
}

/// A problem at a byte range of the text being parsed.
#[derive(Debug)]
pub struct Bad {
    pub span: Range<usize>,
    pub message: String,
    pub label: &'static str,
    pub help: Option<String>,
}

impl Bad {
    pub fn new(span: Range<usize>, message: impl Into<String>, label: &'static str) -> Bad {
        Bad { span, message: message.into(), label, help: None }
    }

    pub fn help(mut self, help: impl Into<String>) -> Bad {
        self.help = Some(help.into());
        self
    }
}

/// A malformed manifest or snapshot config, pointing at the offending line.
fn located(file: &str, text: &str, bad: Bad) -> Located {
    Located::new(FileKind::Manifest, file, text, bad.span, bad.message, bad.label).with_help(bad.help)
}

/// Split a line into whitespace-separated tokens with their byte offsets in the line.
pub fn tokens(line: &str) -> Vec<(usize, &str)> {
    let bytes = line.as_bytes();
    let mut out = Vec::with_capacity(8);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        // ASCII whitespace never splits a UTF-8 sequence, so these are char boundaries.
        out.push((start, &line[start..i]));
    }
    out
}

fn parse_line(line: &str, at: usize) -> Result<Line, Bad> {
    let tokens = tokens(line);
    let (path_at, path_token) = tokens[0];
    let span = |offset: usize, token: &str| at + offset..at + offset + token.len();
    if path_at != 0 {
        return Err(Bad::new(at..at + line.len(), "an entry line starts with its path", "leading whitespace"));
    }
    let path = unescape(path_token).map_err(|msg| Bad::new(span(path_at, path_token), msg, "in this path"))?;
    let mut entry = Line::new(path, EntryKind::Other);
    let mut seen: Vec<&str> = Vec::new();
    for &(offset, token) in &tokens[1..] {
        let bad = |message: String, label: &'static str| Bad::new(span(offset, token), message, label);
        let Some((key, value)) = token.split_once('=') else {
            return Err(bad(format!("`{token}` is not key=value",), "expected key=value").help("spaces in paths are written as \\040"));
        };
        if seen.contains(&key) {
            return Err(bad(format!("`{key}` given twice"), "again here"));
        }
        seen.push(key);
        let invalid = |what: &str| bad(format!("invalid {key} `{value}`"), "this value").help(what.to_string());
        match key {
            "type" => {
                entry.kind =
                    EntryKind::parse(value).ok_or_else(|| invalid("types: file, dir, symlink, hardlink, char-device, block-device, fifo, socket, other"))?
            }
            "size" if value == "*" => entry.size = Some(Size::Ignored),
            "size" => entry.size = Some(Size::Bytes(value.parse().map_err(|_| invalid("a size is a byte count, or * when not recorded"))?)),
            "link" => entry.set_link(Some(unescape(value).map_err(|msg| bad(msg, "in this link target"))?.into())),
            "mode" => {
                entry.mode =
                    Some(u32::from_str_radix(value, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(|| invalid("a mode is up to four octal digits, e.g. 0644"))?)
            }
            "sha256" => entry.set_sha256(Some(parse_hex(value).ok_or_else(|| invalid("a SHA-256 digest is 64 hex digits"))?)),
            _ => return Err(bad(format!("unknown key `{key}`"), "this key").help("keys: type, size, link, mode, sha256")),
        }
    }
    if !seen.contains(&"type") {
        return Err(Bad::new(span(path_at, path_token), "entry has no type=", "this entry")
            .help("every entry line records its type, e.g. `model.pth type=file size=12`"));
    }
    Ok(entry)
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Write a path or link target as one token: printable text stays readable; whitespace,
/// control and invisible characters, `\`, a leading `#` or `/`, and invalid UTF-8 become `\ooo`
/// octal escapes of their bytes (as in mtree).
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let octal = |out: &mut String, raw: &[u8]| raw.iter().for_each(|b| out.push_str(&format!("\\{b:03o}")));
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let leading = out.is_empty() && (c == '#' || c == '/');
            // The report's own test of what would drive a terminal or hide text in a review diff.
            if leading || c == '\\' || c.is_whitespace() || is_dangerous(c) {
                octal(&mut out, c.encode_utf8(&mut [0; 4]).as_bytes());
            } else {
                out.push(c);
            }
        }
        octal(&mut out, chunk.invalid());
    }
    out
}

pub fn unescape(token: &str) -> Result<Vec<u8>, String> {
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let digits = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        let value = digits.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match value {
            Some(byte) => out.push(byte),
            None => return Err("`\\` must start a three-digit octal escape such as \\040 (space) or \\134 (backslash)".into()),
        }
        i += 4;
    }
    if out.is_empty() {
        return Err("empty path".into());
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A file line of `size` bytes, for tests of the modules that compare lines.
    pub(crate) fn file(path: &str, size: u64) -> Line {
        let mut line = Line::new(path.as_bytes().to_vec(), EntryKind::File);
        line.size = Some(Size::Bytes(size));
        line
    }

    const SAMPLE: &str = "#optml-manifest v1\n# golden model\n/fields type size link mode sha256\n\
code type=dir mode=0755\n\
code/inference.py type=file size=1234 mode=0644 sha256=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n\
latest type=symlink link=model.pth mode=0777\n\
logs/train.log type=file size=*\n\
my\\040model.pth type=file size=5\n";

    #[test]
    fn parse_render_round_trip() {
        let manifest = Manifest::parse("golden.manifest", SAMPLE).unwrap();
        assert_eq!(manifest.lines.len(), 5);
        assert_eq!(&*manifest.lines[4].path, b"my model.pth");
        assert_eq!(manifest.lines[3].size, Some(Size::Ignored));
        assert!(manifest.header.fields.sha256);
        assert_eq!(manifest.render(), SAMPLE);
        let again = Manifest::parse("again", &manifest.render()).unwrap();
        assert_eq!(again.lines, manifest.lines);
    }

    #[test]
    fn escapes_what_would_break_a_line() {
        let names: [&[u8]; 6] = [b"a b", b"back\\slash", b"#hash", b"tab\there", b"caf\xc3\xa9", b"bad\xff"];
        for name in names {
            let escaped = escape(name);
            assert!(!escaped.contains(' ') && !escaped.starts_with('#'), "{escaped}");
            assert_eq!(unescape(&escaped).unwrap(), name);
        }
        assert_eq!(escape("café".as_bytes()), "café");
        assert_eq!(escape(b"a b"), "a\\040b");
    }

    #[test]
    fn sorts_hand_edited_lines() {
        let text = format!("{MAGIC}\nb type=file size=1\na type=dir\n");
        let manifest = Manifest::parse("m", &text).unwrap();
        assert_eq!(manifest.render(), format!("{MAGIC}\na type=dir\nb type=file size=1\n"));
    }

    #[test]
    fn errors_point_at_the_bad_line() {
        let text = format!("{MAGIC}\na type=dir\nb type=file size=lots\n");
        let err = Manifest::parse("golden.manifest", &text).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.to_string().contains("invalid size `lots`"), "{err}");
        let late = format!("{MAGIC}\na type=dir\n/fields type\n");
        assert_eq!(Manifest::parse("m", &late).unwrap_err().line, 3);
        assert!(Manifest::parse("m", "model.pth type=file\n").unwrap_err().to_string().contains("not an optml manifest"));
        assert!(Manifest::parse("m", "#optml-manifest v10\n").is_err());
        assert!(Manifest::parse("m", "").is_err());
        assert_eq!(Manifest::parse("m", MAGIC).unwrap().render(), format!("{MAGIC}\n"));
        let missing_type = format!("{MAGIC}\na size=1\n");
        assert!(Manifest::parse("m", &missing_type).unwrap_err().to_string().contains("no type="));
    }
}
