//! Structured reads of small configuration files: the values a container reads from them.
//!
//! Three formats the serving containers read: JSON (`config.json`, read by the Hugging Face
//! toolkit), Java `.properties` (DJL's `serving.properties`) and protobuf text (Triton's
//! `config.pbtxt`). Each is reduced to the values found at one key, so a rule can ask whether a
//! key is present and what its value is, without a parser per rule.

use serde_json::Value;

/// A file format a field is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Properties,
    Pbtxt,
}

impl Format {
    pub const NAMES: [&'static str; 3] = ["json", "properties", "pbtxt"];

    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "json" => Some(Format::Json),
            "properties" => Some(Format::Properties),
            "pbtxt" => Some(Format::Pbtxt),
            _ => None,
        }
    }
}

/// The values at `key` in `text` read as `format`: empty when the key is absent; `None` when
/// the text is not valid in that format (JSON only: properties and pbtxt readers take any text,
/// as Java's `Properties.load` and a lenient reader do).
///
/// Keys: JSON `a.b[0]` (object members and array indexes); properties the key as written
/// (`option.model_id`); pbtxt dotted field names through nested messages
/// (`version_policy.latest.num_versions`); a message-valued field is present with value "".
pub fn values(format: Format, text: &str, key: &str) -> Option<Vec<String>> {
    match format {
        Format::Json => json_values(text, key),
        Format::Properties => Some(properties(text).into_iter().rev().find(|(k, _)| k == key).map(|(_, v)| v).into_iter().collect()),
        Format::Pbtxt => Some(pbtxt(text).into_iter().filter(|(k, _)| k == key).map(|(_, v)| v).collect()),
    }
}

fn json_values(text: &str, key: &str) -> Option<Vec<String>> {
    let root: Value = serde_json::from_str(text).ok()?;
    let mut node = &root;
    for step in json_steps(key) {
        let next = match step {
            JsonStep::Member(name) => node.get(name),
            JsonStep::Index(index) => node.get(index),
        };
        match next {
            Some(value) => node = value,
            None => return Some(Vec::new()),
        }
    }
    let value = match node {
        Value::String(s) => s.clone(),
        Value::Null => return Some(Vec::new()),
        other => other.to_string(),
    };
    Some(vec![value])
}

enum JsonStep<'a> {
    Member(&'a str),
    Index(usize),
}

/// `architectures[0]` -> member `architectures`, index 0; `a.b` -> members `a`, `b`.
fn json_steps(key: &str) -> Vec<JsonStep<'_>> {
    let mut steps = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            steps.push(JsonStep::Member(name));
        }
        while let Some((index, after)) = rest.split_once(']') {
            match index.parse() {
                Ok(i) => steps.push(JsonStep::Index(i)),
                Err(_) => steps.push(JsonStep::Member(index)),
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    steps
}

/// Key/value pairs of a Java properties text, in file order, as `java.util.Properties.load`
/// reads them: `#`/`!` comments, a key ends at the first unescaped `=`, `:` or whitespace, then
/// whitespace and one `=`/`:` are skipped; a trailing backslash continues the line.
pub fn properties(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut logical = String::new();
    for raw in text.lines() {
        let line = if logical.is_empty() { raw.trim_start() } else { raw.trim_start_matches([' ', '\t', '\x0c']) };
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        let backslashes = line.chars().rev().take_while(|&c| c == '\\').count();
        if backslashes % 2 == 1 {
            logical.push_str(&line[..line.len() - 1]);
            continue;
        }
        logical.push_str(line);
        pairs.push(split_property(&logical));
        logical.clear();
    }
    if !logical.is_empty() {
        pairs.push(split_property(&logical));
    }
    pairs
}

fn split_property(line: &str) -> (String, String) {
    let mut key = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(escaped) = chars.next() {
                    key.push(unescape(escaped));
                }
            }
            '=' | ':' => return (key, value_after(chars.collect::<String>().trim_start(), false)),
            ' ' | '\t' | '\x0c' => return (key, value_after(chars.collect::<String>().trim_start(), true)),
            other => key.push(other),
        }
    }
    (key, String::new())
}

/// The value after a key: after whitespace one `=` or `:` may still follow.
fn value_after(rest: &str, may_have_separator: bool) -> String {
    let rest = match rest.chars().next() {
        Some('=' | ':') if may_have_separator => rest[1..].trim_start(),
        _ => rest,
    };
    let mut value = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(escaped) = chars.next() {
                value.push(unescape(escaped));
            }
        } else {
            value.push(c);
        }
    }
    value
}

fn unescape(c: char) -> char {
    match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        other => other,
    }
}

/// Dotted field paths and their scalar values in a protobuf text-format message. Lenient: a
/// syntax error ends the read with what was read so far (Triton would refuse such a file; the
/// rules report what they can see).
pub fn pbtxt(text: &str) -> Vec<(String, String)> {
    let tokens = pbtxt_tokens(text);
    let mut fields = Vec::new();
    let mut scope: Vec<String> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Close => {
                scope.pop();
                i += 1;
            }
            Token::Word(name) => {
                let path = if scope.is_empty() { name.clone() } else { format!("{}.{name}", scope.join(".")) };
                i += 1;
                if tokens.get(i) == Some(&Token::Colon) {
                    i += 1;
                }
                match tokens.get(i) {
                    Some(Token::Open) => {
                        fields.push((path, String::new()));
                        scope.push(name.clone());
                        i += 1;
                    }
                    Some(Token::OpenList) => {
                        // A list of scalars `[1, 2]` or of messages `[{...}, {...}]`.
                        i += 1;
                        let mut depth = 0usize;
                        while let Some(token) = tokens.get(i) {
                            match token {
                                Token::CloseList if depth == 0 => break,
                                Token::Open => depth += 1,
                                Token::Close => depth = depth.saturating_sub(1),
                                Token::Word(value) | Token::Text(value) if depth == 0 => fields.push((path.clone(), value.clone())),
                                _ => {}
                            }
                            i += 1;
                        }
                        i += 1;
                    }
                    Some(Token::Word(value) | Token::Text(value)) => {
                        fields.push((path, value.clone()));
                        i += 1;
                    }
                    _ => break,
                }
            }
            Token::Separator => i += 1,
            _ => break,
        }
    }
    fields
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Colon,
    Open,
    Close,
    OpenList,
    CloseList,
    Separator,
}

fn pbtxt_tokens(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '#' => while chars.next_if(|&c| c != '\n').is_some() {},
            c if c.is_whitespace() => {
                chars.next();
            }
            ':' | '{' | '<' | '}' | '>' | '[' | ']' | ',' | ';' => {
                chars.next();
                tokens.push(match c {
                    ':' => Token::Colon,
                    '{' | '<' => Token::Open,
                    '}' | '>' => Token::Close,
                    '[' => Token::OpenList,
                    ']' => Token::CloseList,
                    _ => Token::Separator,
                });
            }
            '"' | '\'' => {
                let quote = c;
                chars.next();
                let mut value = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        c if c == quote => break,
                        other => value.push(other),
                    }
                }
                // Adjacent strings concatenate, as in protobuf text format.
                match tokens.last_mut() {
                    Some(Token::Text(previous)) => previous.push_str(&value),
                    _ => tokens.push(Token::Text(value)),
                }
            }
            _ => {
                let mut word = String::new();
                while let Some(c) = chars.next_if(|&c| !c.is_whitespace() && !":{}<>[],;#\"'".contains(c)) {
                    word.push(c);
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys_and_indexes() {
        let config = r#"{"architectures": ["BertForSequenceClassification"], "model_type": "bert", "n": 3}"#;
        assert_eq!(values(Format::Json, config, "architectures[0]"), Some(vec!["BertForSequenceClassification".to_string()]));
        assert_eq!(values(Format::Json, config, "architectures[1]"), Some(vec![]));
        assert_eq!(values(Format::Json, config, "n"), Some(vec!["3".to_string()]));
        assert_eq!(values(Format::Json, config, "missing.key"), Some(vec![]));
        assert_eq!(values(Format::Json, "{not json", "a"), None);
    }

    #[test]
    fn properties_as_java_reads_them() {
        let text =
            "# comment\nengine=Python\noption.model_id  tiiuae/falcon-7b\noption.tensor_parallel_degree : 4\n! also a comment\noption.a\\\n  bc=1\nbare\n";
        let pairs = properties(text);
        assert_eq!(
            pairs,
            vec![
                ("engine".into(), "Python".into()),
                ("option.model_id".into(), "tiiuae/falcon-7b".into()),
                ("option.tensor_parallel_degree".into(), "4".into()),
                ("option.abc".into(), "1".into()),
                ("bare".into(), String::new()),
            ]
        );
        // `option.model id=x` is the key `option.model` with the value `id=x`.
        assert_eq!(values(Format::Properties, "option.model id=x", "option.model"), Some(vec!["id=x".to_string()]));
        assert_eq!(values(Format::Properties, "engine=A\nengine=B", "engine"), Some(vec!["B".to_string()]));
    }

    #[test]
    fn pbtxt_fields_through_messages_and_lists() {
        let text = "name: \"fvae\"\nbackend: 'onnxruntime'  # comment\nmax_batch_size: 8\nversion_policy: { latest { num_versions: 2 } }\ninput [ { name: \"x\" dims: [ 1, 28 ] } ]\n";
        let fields = pbtxt(text);
        let get = |key: &str| fields.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(get("name"), vec!["fvae"]);
        assert_eq!(get("backend"), vec!["onnxruntime"]);
        assert_eq!(get("max_batch_size"), vec!["8"]);
        assert_eq!(get("version_policy"), vec![""]);
        assert_eq!(get("version_policy.latest.num_versions"), vec!["2"]);
        assert_eq!(values(Format::Pbtxt, text, "platform"), Some(vec![]));
    }
}
