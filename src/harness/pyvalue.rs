//! Python values as the sagemaker-training toolkit sees them: `json.loads` decoding,
//! `str()` / `repr()` formatting and `json.dumps(sort_keys=True, separators=(",", ":"))`.
//!
//! The toolkit turns hyperparameters into argv with `str(value)` and into `SM_*` variables with
//! compact JSON, so optml must reproduce CPython's formatting byte for byte: `True`, `None`,
//! `[64, 128]`, `{'a': 1}`, `1e-05`, arbitrary-precision integers and `NaN`.

use std::fmt::Write;

/// A decoded JSON value with Python semantics.
#[derive(Clone, Debug, PartialEq)]
pub enum Py {
    None,
    Bool(bool),
    /// Decimal digits with an optional leading `-`, never `-0` (Python ints are unbounded).
    Int(String),
    Float(f64),
    Str(String),
    List(Vec<Py>),
    /// Insertion order, as a Python dict keeps it; a repeated key keeps its first position.
    Dict(Vec<(String, Py)>),
}

/// CPython refuses to convert integers longer than this (`sys.get_int_max_str_digits()`);
/// `json.loads` then raises ValueError and the toolkit keeps the raw string.
const INT_MAX_STR_DIGITS: usize = 4300;

impl Py {
    /// `json.loads(text)`, or `None` where Python raises (the toolkit then keeps the raw string).
    pub fn from_json(text: &str) -> Option<Py> {
        let mut parser = Parser { bytes: text.as_bytes(), pos: 0 };
        parser.skip_ws();
        let value = parser.value(0)?;
        parser.skip_ws();
        (parser.pos == parser.bytes.len()).then_some(value)
    }

    /// Python truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            Py::None => false,
            Py::Bool(b) => *b,
            Py::Int(digits) => digits != "0",
            Py::Float(f) => *f != 0.0,
            Py::Str(s) => !s.is_empty(),
            Py::List(items) => !items.is_empty(),
            Py::Dict(items) => !items.is_empty(),
        }
    }

    /// `dict.get(key)`.
    pub fn get(&self, key: &str) -> Option<&Py> {
        match self {
            Py::Dict(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn str_list(items: &[String]) -> Py {
        Py::List(items.iter().map(|s| Py::Str(s.clone())).collect())
    }

    /// Python `str(value)`.
    pub fn py_str(&self) -> String {
        match self {
            Py::Str(s) => s.clone(),
            other => other.py_repr(),
        }
    }

    /// Python `repr(value)`.
    pub fn py_repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out);
        out
    }

    fn write_repr(&self, out: &mut String) {
        match self {
            Py::None => out.push_str("None"),
            Py::Bool(true) => out.push_str("True"),
            Py::Bool(false) => out.push_str("False"),
            Py::Int(digits) => out.push_str(digits),
            Py::Float(f) => out.push_str(&float_repr(*f, "nan", "inf")),
            Py::Str(s) => repr_str(s, out),
            Py::List(items) => write_seq(out, ('[', ']'), ", ", items, |out, item| item.write_repr(out)),
            Py::Dict(items) => write_seq(out, ('{', '}'), ", ", items, |out, (key, value)| {
                repr_str(key, out);
                out.push_str(": ");
                value.write_repr(out);
            }),
        }
    }

    /// `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`, as the
    /// toolkit writes `SM_*` values.
    pub fn compact_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out, JsonStyle::Compact);
        out
    }

    /// `json.dumps(value)` (separators `", "` and `": "`, keys in order), as the SageMaker SDK
    /// encodes hyperparameter values and Python's `json.dump` writes config files.
    pub fn spaced_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out, JsonStyle::Spaced);
        out
    }

    fn write_json(&self, out: &mut String, style: JsonStyle) {
        let (item_sep, key_sep) = match style {
            JsonStyle::Compact => (",", ":"),
            JsonStyle::Spaced => (", ", ": "),
        };
        match self {
            Py::None => out.push_str("null"),
            Py::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Py::Int(digits) => out.push_str(digits),
            Py::Float(f) => out.push_str(&float_repr(*f, "NaN", "Infinity")),
            Py::Str(s) => json_str(s, out),
            Py::List(items) => write_seq(out, ('[', ']'), item_sep, items, |out, item| item.write_json(out, style)),
            Py::Dict(items) => {
                let mut items: Vec<&(String, Py)> = items.iter().collect();
                if style == JsonStyle::Compact {
                    items.sort_by(|a, b| a.0.cmp(&b.0));
                }
                write_seq(out, ('{', '}'), item_sep, items, |out, (key, value)| {
                    json_str(key, out);
                    out.push_str(key_sep);
                    value.write_json(out, style);
                });
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum JsonStyle {
    /// Sorted keys, no spaces: `mapping.to_env_vars`.
    Compact,
    /// Keys in order, `", "` and `": "`: `json.dumps` defaults.
    Spaced,
}

/// `open` items joined by `separator`, `close`: the shape of every Python and JSON container.
fn write_seq<T>(out: &mut String, (open, close): (char, char), separator: &str, items: impl IntoIterator<Item = T>, mut each: impl FnMut(&mut String, T)) {
    out.push(open);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        each(out, item);
    }
    out.push(close);
}

/// CPython's `float.__repr__`: shortest round-trip digits, fixed notation when the decimal
/// exponent is in [-4, 16), otherwise `d.ddde+XX`.
fn float_repr(value: f64, nan: &str, inf: &str) -> String {
    if value.is_nan() {
        return nan.to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { inf.to_string() } else { format!("-{inf}") };
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    // Rust's `{:e}` prints the shortest round-trip digits: `1.2345e3`, `1e-5`.
    let sci = format!("{:e}", value.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits = if value == 0.0 { "0".to_string() } else { digits };
    // Python's decpt: value = 0.DIGITS * 10^decpt.
    let decpt = exponent + 1;
    let n = digits.len() as i32;
    let body = if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp = decpt - 1;
        format!("{first}{fraction}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    } else if decpt <= 0 {
        format!("0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if decpt >= n {
        format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
    } else {
        let (int, frac) = digits.split_at(decpt as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// Python `repr(str)`: single quotes unless the text holds `'` and no `"`.
fn repr_str(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x7f || is_printable(c) => out.push(c),
            c if (c as u32) <= 0xff => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(quote);
}

/// An approximation of Python's `str.isprintable()` for non-ASCII characters: separators,
/// format characters, C1 controls and private-use characters are not printable. (Unassigned
/// code points, which Python also escapes, are not known without Unicode tables.)
fn is_printable(c: char) -> bool {
    !matches!(c as u32,
        0x80..=0xa0 | 0xad | 0x1680 | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x2064
        | 0x2066..=0x206f | 0x3000 | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff | 0xf0000..)
}

/// A JSON string as `json.dumps(ensure_ascii=True)` writes it.
fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// A JSON parser with the quirks of Python's `json` module: `NaN`/`Infinity` accepted, integers
/// unbounded, control characters in strings rejected, duplicate keys keep the last value.
struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, literal: &str) -> bool {
        if self.bytes[self.pos..].starts_with(literal.as_bytes()) {
            self.pos += literal.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<Py> {
        // Python's recursion limit stops deeper documents too.
        if depth > 900 {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(Py::Str),
            b'n' if self.eat("null") => Some(Py::None),
            b't' if self.eat("true") => Some(Py::Bool(true)),
            b'f' if self.eat("false") => Some(Py::Bool(false)),
            b'N' if self.eat("NaN") => Some(Py::Float(f64::NAN)),
            b'I' if self.eat("Infinity") => Some(Py::Float(f64::INFINITY)),
            b'-' if self.eat("-Infinity") => Some(Py::Float(f64::NEG_INFINITY)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// `item (, item)* close` after the opening byte: `each` parses one item in place.
    fn sequence(&mut self, close: u8, mut each: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.pos += 1;
        self.skip_ws();
        if self.peek()? == close {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.skip_ws();
            each(self)?;
            self.skip_ws();
            match self.peek()? {
                b',' => self.pos += 1,
                byte if byte == close => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Py> {
        let mut items: Vec<(String, Py)> = Vec::new();
        self.sequence(b'}', |parser| {
            if parser.peek()? != b'"' {
                return None;
            }
            let key = parser.string()?;
            parser.skip_ws();
            if parser.peek()? != b':' {
                return None;
            }
            parser.pos += 1;
            parser.skip_ws();
            let value = parser.value(depth + 1)?;
            match items.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => items.push((key, value)),
            }
            Some(())
        })?;
        Some(Py::Dict(items))
    }

    fn array(&mut self, depth: usize) -> Option<Py> {
        let mut items = Vec::new();
        self.sequence(b']', |parser| {
            items.push(parser.value(depth + 1)?);
            Some(())
        })?;
        Some(Py::List(items))
    }

    fn number(&mut self) -> Option<Py> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let int_end = self.pos;
        let mut is_float = false;
        if self.peek() == Some(b'.') && self.bytes.get(self.pos + 1).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
            self.digits();
            is_float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let mark = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.digits();
                is_float = true;
            } else {
                self.pos = mark;
            }
        }
        let text = std::str::from_utf8(&self.bytes[start..self.pos]).ok()?;
        if is_float {
            return text.parse::<f64>().ok().map(Py::Float);
        }
        let digits = &self.bytes[start..int_end];
        let magnitude = digits.strip_prefix(b"-").unwrap_or(digits);
        if magnitude.len() > INT_MAX_STR_DIGITS {
            return None;
        }
        Some(Py::Int(if magnitude == b"0" { "0".to_string() } else { text.to_string() }))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn string(&mut self) -> Option<String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(std::str::from_utf8(&self.bytes[start..self.pos]).ok()?);
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(out);
                }
                b'\\' => {
                    self.pos += 1;
                    let escape = self.peek()?;
                    self.pos += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return None,
                    }
                }
                // A raw control character: Python's strict decoder refuses it.
                _ => return None,
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let text = std::str::from_utf8(self.bytes.get(self.pos..self.pos + 4)?).ok()?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += 4;
        u32::from_str_radix(text, 16).ok()
    }

    /// `\uXXXX`, joining surrogate pairs. A lone surrogate (which Python would keep in a `str`
    /// that then cannot be placed in the environment) is refused.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xd800..0xdc00).contains(&first) && self.eat("\\u") {
            let second = self.hex4()?;
            if (0xdc00..0xe000).contains(&second) {
                return char::from_u32(0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00));
            }
            return None;
        }
        char::from_u32(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Py {
        Py::from_json(text).unwrap_or_else(|| Py::Str(text.to_string()))
    }

    #[test]
    fn decodes_like_json_loads() {
        assert_eq!(decode("3"), Py::Int("3".into()));
        assert_eq!(decode(" -0 "), Py::Int("0".into()));
        assert_eq!(decode("true"), Py::Bool(true));
        assert_eq!(decode("True"), Py::Str("True".into()));
        assert_eq!(decode("\"resnet\""), Py::Str("resnet".into()));
        assert_eq!(decode("007"), Py::Str("007".into()));
        assert_eq!(decode(""), Py::Str("".into()));
        assert_eq!(decode("null"), Py::None);
        assert_eq!(decode("1."), Py::Str("1.".into()));
        assert_eq!(decode("{\"a\": 1, \"a\": 2, \"b\": 3}"), Py::Dict(vec![("a".into(), Py::Int("2".into())), ("b".into(), Py::Int("3".into()))]));
        assert_eq!(decode("123456789012345678901234567890").py_str(), "123456789012345678901234567890");
    }

    #[test]
    fn formats_like_python_str() {
        assert_eq!(decode("[64, 128]").py_str(), "[64, 128]");
        assert_eq!(decode("[true, null, \"it's\", \"a\\nb\"]").py_str(), "[True, None, \"it's\", 'a\\nb']");
        assert_eq!(decode("{\"a\": 1, \"b\": \"x\"}").py_str(), "{'a': 1, 'b': 'x'}");
        assert_eq!(decode("[\"caf\\u00e9\", \"\\u00a0\"]").py_str(), "['café', '\\xa0']");
    }

    #[test]
    fn floats_like_python_repr() {
        for (json, python) in [
            ("0.01", "0.01"),
            ("1e-5", "1e-05"),
            ("0.0001", "0.0001"),
            ("1.0", "1.0"),
            ("1e16", "1e+16"),
            ("1234567890123456.0", "1234567890123456.0"),
            ("-2.5e300", "-2.5e+300"),
            ("1e999", "inf"),
            ("-0.0", "-0.0"),
            ("100.0", "100.0"),
            ("NaN", "nan"),
        ] {
            assert_eq!(decode(json).py_str(), python, "{json}");
        }
        assert_eq!(decode("[1e-5, NaN, -Infinity]").compact_json(), "[1e-05,NaN,-Infinity]");
    }

    #[test]
    fn compact_json_like_json_dumps() {
        let value = decode("{\"b\": [1, 2.5], \"a\": {\"é\": \"\\ud83d\\ude00\"}}");
        assert_eq!(value.compact_json(), "{\"a\":{\"\\u00e9\":\"\\ud83d\\ude00\"},\"b\":[1,2.5]}");
        assert_eq!(decode("{\"a\": [1, true]}").spaced_json(), "{\"a\": [1, true]}");
    }
}
