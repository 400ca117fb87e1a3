//! A manifest's header: the fields it records and its per-path rules, as `/directive` lines.
//! The golden file carries the rules it was recorded with; a config file uses the same lines.
//!
//! ```text
//! /fields type size link sha256        which fields each line records (type is always there)
//! /redact tfevents algo-hosts          normalization presets (see redact.rs), in order
//! /replace algo-[0-9]+ host            a custom regex redaction of paths
//! /size ignore **/*.log                record size=* for these paths
//! /size tolerance=5% model/**          sizes within ±5% of the golden are equal
//! /budget model/** size=+10% count=50  drift limits against the golden (see budget.rs)
//! ```

use globset::GlobMatcher;

use super::budget::Budget;
use super::manifest::{tokens, Bad};
use super::redact::{Redactor, PRESETS};
use crate::glob::compile_glob;

/// The optional fields a line records; the path and type are always recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields {
    pub size: bool,
    pub link: bool,
    pub mode: bool,
    pub sha256: bool,
}

impl Default for Fields {
    fn default() -> Fields {
        Fields { size: true, link: true, mode: false, sha256: false }
    }
}

impl Fields {
    pub const NAMES: [&'static str; 6] = ["path", "type", "size", "link", "mode", "sha256"];

    fn flag(&mut self, name: &str) -> Option<&mut bool> {
        match name {
            "size" => Some(&mut self.size),
            "link" => Some(&mut self.link),
            "mode" => Some(&mut self.mode),
            "sha256" => Some(&mut self.sha256),
            _ => None,
        }
    }

    /// `type,size,sha256` is the exact set; `+mode,-link` edits the default set.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Fields, String> {
        Ok(FieldSpec::parse(items)?.apply(Fields::default()))
    }

    fn union(self, other: Fields) -> Fields {
        Fields { size: self.size || other.size, link: self.link || other.link, mode: self.mode || other.mode, sha256: self.sha256 || other.sha256 }
    }

    pub fn render(&self) -> String {
        let mut names = vec!["type"];
        for (on, name) in [(self.size, "size"), (self.link, "link"), (self.mode, "mode"), (self.sha256, "sha256")] {
            if on {
                names.push(name);
            }
        }
        names.join(" ")
    }
}

/// A `/fields` list: an exact set, or `+`/`-` edits of the set it applies to.
#[derive(Clone, Debug)]
enum FieldSpec {
    Exact(Fields),
    Edits(Vec<(&'static str, bool)>),
}

impl FieldSpec {
    fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<FieldSpec, String> {
        let items: Vec<&str> = items.into_iter().filter(|s| !s.is_empty()).collect();
        let relative = !items.is_empty() && items.iter().all(|i| i.starts_with('+') || i.starts_with('-'));
        let mut edits = Vec::new();
        for item in items {
            let (on, name) = match item.strip_prefix('-') {
                Some(name) if relative => (false, name),
                _ => (true, item.trim_start_matches('+')),
            };
            let name = *Fields::NAMES.iter().find(|n| **n == name).ok_or_else(|| format!("unknown field `{name}` (fields: {})", Fields::NAMES.join(", ")))?;
            if name != "path" && name != "type" {
                edits.push((name, on));
            }
        }
        Ok(if relative {
            FieldSpec::Edits(edits)
        } else {
            FieldSpec::Exact(FieldSpec::Edits(edits).apply(Fields { size: false, link: false, mode: false, sha256: false }))
        })
    }

    fn apply(&self, base: Fields) -> Fields {
        match self {
            FieldSpec::Exact(fields) => *fields,
            FieldSpec::Edits(edits) => {
                let mut fields = base;
                for &(name, on) in edits {
                    *fields.flag(name).expect("validated field name") = on;
                }
                fields
            }
        }
    }
}

/// `/fields LIST in GLOB...`: what lines at matching paths record instead.
#[derive(Clone, Debug)]
struct FieldRule {
    spec: FieldSpec,
    globs: Vec<GlobMatcher>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SizeTreatment {
    /// Recorded as `size=*` and never compared.
    Ignore,
    /// Equal when within this many percent of the golden size.
    Tolerance(f64),
}

#[derive(Clone, Debug)]
pub struct SizeRule {
    pub treatment: SizeTreatment,
    pub globs: Vec<GlobMatcher>,
}

/// Everything the header says, ready to apply.
#[derive(Clone, Debug, Default)]
pub struct Header {
    /// Every field some line records: the `/fields` set plus what per-path rules add (so a
    /// scan knows whether to compute digests).
    pub fields: Fields,
    /// The `/fields` set, for paths no per-path rule matches.
    global: Fields,
    field_rules: Vec<FieldRule>,
    pub redactor: Redactor,
    pub size_rules: Vec<SizeRule>,
    pub budgets: Vec<Budget>,
}

impl Header {
    /// The fields a line at (redacted) `path` records: later matching `/fields ... in` rules
    /// apply on top of earlier ones.
    pub fn fields_at(&self, path: &[u8]) -> Fields {
        let path = crate::entry::as_path(path);
        self.field_rules.iter().filter(|rule| rule.globs.iter().any(|g| g.is_match(path))).fold(self.global, |fields, rule| rule.spec.apply(fields))
    }

    /// How sizes at `path` are treated: the last matching `/size` rule wins.
    pub fn size_treatment(&self, path: &[u8]) -> Option<SizeTreatment> {
        let path = crate::entry::as_path(path);
        self.size_rules.iter().rev().find(|rule| rule.globs.iter().any(|g| g.is_match(path))).map(|rule| rule.treatment)
    }

    /// Apply one `/directive` line starting at byte `at` of the text.
    pub fn directive(&mut self, line: &str, at: usize) -> Result<(), Bad> {
        let tokens = tokens(line);
        let (_, name) = tokens[0];
        let args = &tokens[1..];
        let span = |(offset, token): (usize, &str)| at + offset..at + offset + token.len();
        let whole = at..at + line.len();
        match name {
            "/fields" => {
                let split = args.iter().position(|(_, t)| *t == "in").unwrap_or(args.len());
                let (list, globs) = (&args[..split], args.get(split + 1..).unwrap_or_default());
                let spec = FieldSpec::parse(list.iter().map(|(_, t)| *t)).map_err(|msg| Bad::new(whole.clone(), msg, "in this directive"))?;
                if split == args.len() {
                    self.global = spec.apply(Fields::default());
                } else if globs.is_empty() {
                    return Err(Bad::new(whole, "`/fields ... in` names no glob", "here").help("e.g. `/fields +sha256 in model/**`"));
                } else {
                    let globs = globs.iter().map(|&g| glob(g.1, span(g))).collect::<Result<_, _>>()?;
                    self.field_rules.push(FieldRule { spec, globs });
                }
                self.fields = self.field_rules.iter().fold(self.global, |all, rule| all.union(rule.spec.apply(self.global)));
            }
            "/redact" => {
                if args.is_empty() {
                    return Err(Bad::new(whole, "`/redact` names no preset", "here").help(preset_help()));
                }
                for &arg in args {
                    let preset = PRESETS
                        .iter()
                        .find(|p| p.name == arg.1)
                        .ok_or_else(|| Bad::new(span(arg), format!("unknown redaction preset `{}`", arg.1), "this preset").help(preset_help()))?;
                    self.redactor.add_preset(preset);
                    if !preset.size_ignore.is_empty() {
                        let globs = preset.size_ignore.iter().map(|g| compile_glob(g).expect("preset globs are valid").compile_matcher()).collect();
                        self.size_rules.push(SizeRule { treatment: SizeTreatment::Ignore, globs });
                    }
                }
            }
            "/replace" => {
                let [pattern, replacement] = args else {
                    return Err(Bad::new(whole, "`/replace` takes a regex and a replacement", "here")
                        .help("e.g. `/replace run-[0-9]+ run-[N]` (no spaces; write \\s in the regex)"));
                };
                self.redactor.add_regex(pattern.1, replacement.1).map_err(|msg| Bad::new(span(*pattern), msg, "this regex"))?;
            }
            "/size" => {
                let Some((&first, globs)) = args.split_first().filter(|(_, globs)| !globs.is_empty()) else {
                    return Err(Bad::new(whole, "`/size` takes `ignore` or `tolerance=N%`, then globs", "here")
                        .help("e.g. `/size tolerance=5% model/**` or `/size ignore **/*.log`"));
                };
                let treatment = match first.1 {
                    "ignore" => SizeTreatment::Ignore,
                    other => SizeTreatment::Tolerance(other.strip_prefix("tolerance=").and_then(parse_percent).ok_or_else(|| {
                        Bad::new(span(first), format!("`{other}` is neither `ignore` nor `tolerance=N%`"), "here").help("e.g. tolerance=5% or tolerance=±5%")
                    })?),
                };
                let globs = globs.iter().map(|&g| glob(g.1, span(g))).collect::<Result<_, _>>()?;
                self.size_rules.push(SizeRule { treatment, globs });
            }
            "/budget" => {
                let Some((&first, limits)) = args.split_first().filter(|(_, limits)| !limits.is_empty()) else {
                    return Err(Bad::new(whole, "`/budget` takes a glob, then limits", "here")
                        .help("e.g. `/budget model/** size=+10%` or `/budget output/data/** count=100`"));
                };
                let matcher = glob(first.1, span(first))?;
                let mut budget = Budget::new(first.1, matcher);
                for &limit in limits {
                    budget.add_limit(limit.1).map_err(|msg| Bad::new(span(limit), msg, "this limit"))?;
                }
                self.budgets.push(budget);
            }
            other => {
                return Err(Bad::new(span(tokens[0]), format!("unknown directive `{other}`"), "this directive")
                    .help("directives: /fields, /redact, /replace, /size, /budget"));
            }
        }
        Ok(())
    }
}

fn preset_help() -> String {
    let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
    format!("presets: {}", names.join(", "))
}

fn glob(text: &str, span: std::ops::Range<usize>) -> Result<GlobMatcher, Bad> {
    compile_glob(text).map(|g| g.compile_matcher()).map_err(|err| Bad::new(span, format!("invalid glob `{text}`"), "this glob").help(err.kind().to_string()))
}

/// `5%`, `±5%`, `+-5%`, `+5%` -> 5.0.
pub fn parse_percent(text: &str) -> Option<f64> {
    let text = text.trim_start_matches('±').trim_start_matches("+-").trim_start_matches('+');
    let value: f64 = text.strip_suffix('%')?.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_exact_and_relative() {
        assert_eq!(Fields::parse(["type", "size", "sha256"]).unwrap(), Fields { size: true, link: false, mode: false, sha256: true });
        assert_eq!(Fields::parse(["+mode", "-link"]).unwrap(), Fields { size: true, link: false, mode: true, sha256: false });
        assert!(Fields::parse(["colour"]).is_err());
        assert_eq!(Fields::default().render(), "type size link");
    }

    #[test]
    fn directives() {
        let mut header = Header::default();
        header.directive("/fields type size", 0).unwrap();
        header.directive("/fields +sha256 in model/** code/**", 0).unwrap();
        header.directive("/fields -size in **/*.log", 0).unwrap();
        assert!(header.fields.sha256 && header.fields.size && !header.fields.link, "the union: {:?}", header.fields);
        assert!(header.fields_at(b"model/a.pt").sha256);
        assert!(!header.fields_at(b"other/a.pt").sha256);
        assert!(!header.fields_at(b"model/train.log").size && header.fields_at(b"model/train.log").sha256);
        assert!(header.directive("/fields +sha256 in", 0).is_err());
        assert!(header.directive("/fields +sha265 in model/**", 0).is_err());
        header.directive("/size tolerance=±5% model/**", 0).unwrap();
        header.directive("/size ignore **/*.log", 0).unwrap();
        assert_eq!(header.size_treatment(b"model/a.bin"), Some(SizeTreatment::Tolerance(5.0)));
        assert_eq!(header.size_treatment(b"model/train.log"), Some(SizeTreatment::Ignore));
        assert_eq!(header.size_treatment(b"code/x.py"), None);
        let err = header.directive("/redact tfevnets", 10).unwrap_err();
        assert_eq!(err.span, 18..26);
        assert!(header.directive("/frobnicate", 0).is_err());
        assert!(header.directive("/size tolerance=lots x", 0).is_err());
    }
}
