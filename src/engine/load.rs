//! Loading rule files: parse with spans, validate everything, and report every problem at
//! once as a miette diagnostic pointing into the file (exit 2).

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use miette::Diagnostic;
use thiserror::Error;
use toml::Spanned;

use super::builtin;
use super::pack::{DetectDef, EnvDef, FieldDef, FilterDef, GrepDef, Names, PackFile, PlanDef, RuleDef, SizeDef, TableDef, WhenDef};
use super::rule::{
    Check, ContentFilter, EnvTest, Field, Filter, Globs, Grep, Hint, LazyRegex, Patterns, Phase, PlanStep, Repair, Rule, Signal, Table, TableMatch, When,
};
use super::Ruleset;
use crate::entry::EntryKind;
use crate::finding::Severity;
use crate::glob::{compile_glob, LazyGlobSet};
use crate::layout::{ArchiveMapping, LayoutBuilder, Zone};
use crate::located::{FileKind, Located};
use crate::source::{InputKind, ProblemKind, Role};
use crate::units::parse_size;

/// More zones than any layout needs is a mistake (or a hostile rule file); entries hold their
/// zone in 16 bits.
const MAX_ZONES: usize = 1024;
/// A mapping prefix is a folder under /opt/ml; entries hold where their member name starts in
/// the placed path in 16 bits.
const MAX_PREFIX_BYTES: usize = 4096;

/// A rule file's text and where it came from.
#[derive(Debug, Clone)]
pub struct PackText {
    /// As shown in diagnostics: `rules/sagemaker-training.toml` or the user's path.
    pub file: String,
    pub text: String,
    pub builtin: bool,
}

/// A loaded rule file.
#[derive(Debug)]
pub struct Pack {
    pub name: String,
    pub description: String,
    pub file: String,
    pub text: String,
    pub builtin: bool,
    /// The pack's documentation page (`docs`); rule anchors are appended.
    pub docs: Option<String>,
    /// Packs that apply whenever this one does.
    pub extends: Vec<String>,
    /// Rule codes not run while this pack applies.
    pub supersedes: Vec<String>,
    /// Detection signals for `--pack auto`; empty for packs that are never auto-selected.
    pub signals: Vec<Signal>,
    /// The serving plan's steps, in file order.
    pub plan: Vec<PlanStep>,
}

/// Why the rules could not be loaded.
#[derive(Debug, Error, Diagnostic)]
pub enum LoadError {
    #[error("unknown rule pack `{name}`")]
    #[diagnostic(code(optml::unknown_pack), help("built-in packs: {available}"))]
    UnknownPack { name: String, available: String },
    #[error("cannot read rule file {file}: {cause}")]
    #[diagnostic(code(optml::rule_file))]
    Unreadable { file: String, cause: String },
    #[error("{count} problem(s) in rule files")]
    #[diagnostic(code(optml::rule_file), help("see docs/rule-language.md for the rule file format"))]
    Invalid {
        count: usize,
        #[related]
        problems: Vec<Located>,
    },
}

/// Read a user rule file from disk.
pub fn read_user_pack(path: &Path) -> Result<PackText, LoadError> {
    let file = path.to_string_lossy().into_owned();
    let text = crate::open::read_text(path, crate::open::CONFIG_LIMIT).map_err(|err| LoadError::Unreadable { file: file.clone(), cause: err.to_string() })?;
    Ok(PackText { file, text, builtin: false })
}

/// The texts for the named built-in packs (the layout always comes first).
pub fn builtin_texts(names: &[String]) -> Result<Vec<PackText>, LoadError> {
    let mut texts = vec![builtin::LAYOUT.text()];
    for name in names {
        let pack = builtin::find(name)
            .ok_or_else(|| LoadError::UnknownPack { name: name.clone(), available: builtin::PACKS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ") })?;
        if !texts.iter().any(|t| t.file == pack.file) {
            texts.push(pack.text());
        }
    }
    Ok(texts)
}

const PLACEHOLDERS: [&str; 17] = [
    "path",
    "name",
    "zone",
    "size",
    "target",
    "first_line",
    "count",
    "pattern",
    "wrapper",
    "archive",
    "archive_path",
    "detail",
    "hint",
    "key",
    "input",
    "match",
    "field",
];

struct Loader {
    problems: Vec<Located>,
    /// Table names of every loaded pack, in ruleset order (indexes of [`Ruleset::tables`]).
    tables: Vec<String>,
}

impl Loader {
    fn problem(&mut self, text: &PackText, span: Range<usize>, message: impl Into<String>, label: &str, help: Option<String>) {
        self.problems.push(Located::new(FileKind::RuleFile, &text.file, &text.text, span, message, label).with_help(help));
    }

    /// The globs with env placeholders (`{env:NAME|default}`, rule paths only) filled with their
    /// defaults, when each one is valid. Parsing a glob is cheap; building a set compiles
    /// matchers, so validation never builds one. Built-in globs are known good (a test
    /// validates them all) and are parsed only when their set is built.
    fn checked(&mut self, text: &PackText, patterns: &[Spanned<String>]) -> Option<Vec<String>> {
        let filled: Vec<String> = patterns.iter().map(|p| super::env_subst::fill(p.get_ref(), &[]).unwrap_or_default()).collect();
        if text.builtin {
            return Some(filled);
        }
        for (pattern, filled) in patterns.iter().zip(&filled) {
            if let Err(err) = compile_glob(filled) {
                self.problem(text, pattern.span(), format!("invalid glob `{}`", pattern.get_ref()), "this glob", Some(err.kind().to_string()));
                return None;
            }
        }
        Some(filled)
    }

    fn globs(&mut self, text: &PackText, patterns: &[Spanned<String>]) -> Option<LazyGlobSet> {
        Some(LazyGlobSet::new(self.checked(text, patterns)?))
    }

    fn patterns(&mut self, text: &PackText, patterns: &[Spanned<String>]) -> Option<Patterns> {
        let set = self.globs(text, patterns)?;
        Some(Patterns { set, patterns: patterns.iter().map(|p| p.get_ref().clone()).collect() })
    }

    /// A rule's `paths` or `except`: validated here, compiled with every other rule's globs
    /// when the evaluator first runs ([`super::index`]).
    fn rule_globs(&mut self, text: &PackText, patterns: &[Spanned<String>]) -> Option<Globs> {
        self.checked(text, patterns)?;
        Some(Globs { patterns: patterns.iter().map(|p| p.get_ref().clone()).collect() })
    }

    fn names<T>(&mut self, text: &PackText, value: &Names, what: &str, choices: &[&str], parse: impl Fn(&str) -> Option<T>) -> Option<Vec<T>> {
        let mut out = Vec::new();
        for item in value.get_ref().items() {
            match parse(item) {
                Some(parsed) => out.push(parsed),
                None => {
                    self.problem(
                        text,
                        value.span(),
                        format!("unknown {what} `{item}`"),
                        "not recognised",
                        Some(format!("expected one of: {}", choices.join(", "))),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    fn size(&mut self, text: &PackText, size: &Spanned<SizeDef>) -> Option<u64> {
        match size.get_ref() {
            SizeDef::Bytes(bytes) => Some(*bytes),
            SizeDef::Text(value) => match parse_size(value) {
                Some(bytes) => Some(bytes),
                None => {
                    self.problem(
                        text,
                        size.span(),
                        format!("invalid size `{value}`"),
                        "not a size",
                        Some("use bytes (1048576) or a unit: \"10 MiB\", \"2GB\"".into()),
                    );
                    None
                }
            },
        }
    }

    fn regex(&mut self, text: &PackText, value: &Option<Spanned<String>>) -> Option<LazyRegex> {
        self.regex_of(text, value.as_ref()?)
    }

    fn regex_of(&mut self, text: &PackText, value: &Spanned<String>) -> Option<LazyRegex> {
        if text.builtin {
            return Some(LazyRegex::known_good(value.get_ref()));
        }
        match LazyRegex::parse(value.get_ref()) {
            Ok(regex) => Some(regex),
            Err(err) => {
                self.problem(text, value.span(), "invalid regular expression", "this pattern", Some(err.to_string()));
                None
            }
        }
    }

    fn filter(&mut self, text: &PackText, def: &FilterDef) -> Filter {
        let kinds = def.kind.as_ref().and_then(|kinds| {
            let mut choices: Vec<&str> = EntryKind::ALL.iter().map(|kind| kind.as_str()).collect();
            choices.push("special");
            self.names(text, kinds, "entry type", &choices, |name| match name {
                "special" => Some(EntryKind::ALL.into_iter().filter(|kind| kind.is_special()).collect()),
                other => EntryKind::parse(other).map(|kind| vec![kind]),
            })
            .map(|nested| nested.into_iter().flatten().collect())
        });
        let mode_any = def.mode_any.as_ref().and_then(|mode| match u32::from_str_radix(mode.get_ref(), 8) {
            Ok(bits) if bits <= 0o7777 => Some(bits),
            _ => {
                self.problem(
                    text,
                    mode.span(),
                    format!("invalid mode `{}`", mode.get_ref()),
                    "not octal permission bits",
                    Some("write octal bits as a string, e.g. \"6000\" for setuid/setgid or \"0002\" for world-writable".into()),
                );
                None
            }
        });
        Filter {
            kinds,
            size_min: def.size_min.as_ref().and_then(|s| self.size(text, s)),
            size_max: def.size_max.as_ref().and_then(|s| self.size(text, s)),
            mode_any,
            link_escapes: def.link_escapes,
            absolute: def.absolute,
            parent_dir: def.parent_dir,
            invalid_name: def.invalid_name,
            duplicate: def.duplicate,
            name_clash: def.name_clash,
            name_matches: self.regex(text, &def.name_matches),
            path_matches: self.regex(text, &def.path_matches),
            path_not_matches: self.regex(text, &def.path_not_matches),
            zip_missing: def.zip_missing.as_ref().and_then(|globs| self.patterns(text, globs)),
            zip_unsure: def.zip_unsure,
            field: def.field.as_ref().and_then(|field| self.field(text, field)),
            content: ContentFilter {
                empty: def.content_empty,
                longer_than: def.content_longer_than,
                json: def.content_json,
                matches: self.regex(text, &def.content_matches),
                not_matches: self.regex(text, &def.content_not_matches),
            },
        }
    }

    fn when(&mut self, text: &PackText, def: &WhenDef) -> When {
        When {
            inputs: def.input.as_ref().and_then(|v| {
                self.names(text, v, "input kind", &["tree", "archive", "job"], |n| match n {
                    "tree" => Some(InputKind::Tree),
                    "archive" => Some(InputKind::Archive),
                    "job" => Some(InputKind::Job),
                    "image" => Some(InputKind::Image),
                    _ => None,
                })
            }),
            phases: def.phase.as_ref().and_then(|v| self.names(text, v, "phase", &["running", "finished"], Phase::parse)),
            flavours: def.flavour.as_ref().map(|v| v.get_ref().items().into_iter().cloned().collect()),
            exists: def.exists.iter().flatten().filter_map(|glob| self.globs(text, std::slice::from_ref(glob))).collect(),
            missing: def.missing.as_ref().and_then(|globs| self.globs(text, globs)),
            contains: def.contains.as_ref().and_then(|grep| self.grep(text, grep)),
            lacks: def.lacks.as_ref().and_then(|grep| self.grep(text, grep)),
            env_set: def.env_set.as_ref().map(|names| self.env_names(text, names)).unwrap_or_default(),
            env_unset: def.env_unset.as_ref().map(|names| self.env_names(text, names)).unwrap_or_default(),
            env: def.env.iter().flatten().filter_map(|test| self.env_test(text, test)).collect(),
        }
    }

    fn env_test(&mut self, text: &PackText, def: &EnvDef) -> Option<EnvTest> {
        let names = Spanned::new(def.name.span(), super::pack::OneOrMany::One(def.name.get_ref().clone()));
        let before = self.problems.len();
        self.env_names(text, &names);
        let matches = def.matches.as_ref().map(|re| self.regex_of(text, re));
        let not_matches = def.not_matches.as_ref().map(|re| self.regex_of(text, re));
        if self.problems.len() > before {
            return None;
        }
        Some(EnvTest { name: def.name.get_ref().clone(), default: def.default.clone(), matches: matches.flatten(), not_matches: not_matches.flatten() })
    }

    /// `supersedes` (of a pack or a rule) must name rule codes.
    fn superseded_codes(&mut self, text: &PackText, codes: &[Spanned<String>]) {
        for code in codes {
            if !is_rule_code(code.get_ref()) {
                let message = format!("`supersedes` names `{}`, which is not a rule code", code.get_ref());
                self.problem(text, code.span(), message, "not a code", Some("e.g. \"SM606\"".into()));
            }
        }
    }

    fn table_index(&mut self, text: &PackText, name: &Spanned<String>) -> Option<usize> {
        let index = self.tables.iter().position(|t| t == name.get_ref());
        if index.is_none() {
            let known = if self.tables.is_empty() { "none".to_string() } else { self.tables.join(", ") };
            self.problem(text, name.span(), format!("unknown table `{}`", name.get_ref()), "no loaded pack has this table", Some(format!("tables: {known}")));
        }
        index
    }

    fn field(&mut self, text: &PackText, def: &FieldDef) -> Option<Field> {
        let format = crate::fields::Format::parse(def.format.get_ref());
        if format.is_none() {
            self.problem(
                text,
                def.format.span(),
                format!("unknown format `{}`", def.format.get_ref()),
                "not a format optml reads",
                Some(format!("expected one of: {}", crate::fields::Format::NAMES.join(", "))),
            );
        }
        let before = self.problems.len();
        let matches = self.regex(text, &def.matches);
        let not_matches = self.regex(text, &def.not_matches);
        let in_table = def.in_table.as_ref().and_then(|name| self.table_index(text, name));
        let not_in_table = def.not_in_table.as_ref().and_then(|name| self.table_index(text, name));
        if self.problems.len() > before {
            return None;
        }
        Some(Field {
            format: format?,
            key: def.key.clone(),
            present: def.present,
            matches,
            not_matches,
            in_table,
            not_in_table,
            equals_folder: def.equals_folder,
        })
    }

    fn grep(&mut self, text: &PackText, def: &GrepDef) -> Option<Grep> {
        let paths = self.patterns(text, &def.paths);
        let regex = def.regex.as_ref().map(|re| self.regex_of(text, re));
        let field = def.field.as_ref().map(|field| self.field(text, field));
        if regex.is_none() && field.is_none() {
            let span = def.paths.first().map(|p| p.span()).unwrap_or(0..0);
            self.problem(text, span, "a content condition needs `regex` or `field`", "in this condition", None);
            return None;
        }
        // An invalid regex or field was reported: `Some(None)`.
        if matches!(regex, Some(None)) || matches!(field, Some(None)) {
            return None;
        }
        Some(Grep { paths: paths?, regex: regex.flatten(), field: field.flatten() })
    }

    fn table(&mut self, text: &PackText, def: &TableDef) -> Option<Table> {
        let matching = match def.matching.get_ref().as_str() {
            "exact" => TableMatch::Exact,
            "suffix" => TableMatch::Suffix,
            other => {
                self.problem(
                    text,
                    def.matching.span(),
                    format!("unknown table match `{other}`"),
                    "not a match mode",
                    Some("expected `exact` or `suffix`".into()),
                );
                return None;
            }
        };
        Some(Table { name: def.name.get_ref().clone(), matching, source: def.source.clone(), rows: def.rows.clone() })
    }

    fn plan_step(&mut self, text: &PackText, def: &PlanDef) -> Option<PlanStep> {
        const ITEMS: [&str; 6] = ["container", "module", "model-files", "task", "models", "requirements"];
        let before = self.problems.len();
        if !ITEMS.contains(&def.item.get_ref().as_str()) {
            self.problem(
                text,
                def.item.span(),
                format!("unknown plan item `{}`", def.item.get_ref()),
                "not a plan item",
                Some(format!("expected one of: {}", ITEMS.join(", "))),
            );
        }
        for placeholder in placeholders(def.value.get_ref()) {
            let known = ["files", "field", "mapped"].contains(&placeholder) || placeholder.starts_with("env:") || placeholder.starts_with("env-module:");
            if !known {
                self.problem(
                    text,
                    def.value.span(),
                    format!("unknown placeholder `{{{placeholder}}}` in a plan value"),
                    "in this text",
                    Some("plan values know {files}, {field}, {mapped} and {env:NAME}".into()),
                );
            }
        }
        let when = def.when.as_ref().map(|w| self.when(text, w)).unwrap_or_default();
        let paths = def.paths.as_ref().and_then(|p| self.patterns(text, p));
        let field = def.field.as_ref().and_then(|f| self.field(text, f));
        let table = def.table.as_ref().and_then(|t| self.table_index(text, t));
        if self.problems.len() > before {
            return None;
        }
        Some(PlanStep {
            item: def.item.get_ref().clone(),
            value: def.value.get_ref().clone(),
            when,
            paths,
            file: def.file.as_ref().map(|f| f.as_bytes().to_vec()),
            field,
            table,
            source: def.source.clone(),
        })
    }

    /// Environment variable names: letters, digits and `_`, not starting with a digit.
    fn env_names(&mut self, text: &PackText, names: &Names) -> Vec<String> {
        let items: Vec<String> = names.get_ref().items().into_iter().cloned().collect();
        for name in &items {
            let valid = !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                self.problem(
                    text,
                    names.span(),
                    format!("invalid environment variable name `{name}`"),
                    "not a variable name",
                    Some("e.g. \"HF_MODEL_ID\"".into()),
                );
            }
        }
        items
    }

    fn signal(&mut self, text: &PackText, def: &DetectDef) -> Option<Signal> {
        let weight = *def.weight.get_ref();
        if !(1..=100).contains(&weight) {
            self.problem(
                text,
                def.weight.span(),
                format!("detection weight {weight} is out of range"),
                "this weight",
                Some("weights go from 1 (a hint) to 100 (certain)".into()),
            );
        }
        if def.paths.is_empty() {
            self.problem(text, def.weight.span(), "a [[detect]] signal needs at least one glob in `paths`", "in this signal", None);
            return None;
        }
        let paths = self.rule_globs(text, &def.paths);
        let with_all: Vec<LazyGlobSet> = def.with_all.iter().filter_map(|glob| self.globs(text, std::slice::from_ref(glob))).collect();
        let content = def.content.as_ref().and_then(|regex| self.regex_of(text, regex));
        // `None` when the globs are invalid (reported), `Some(None)` when there are none.
        let except = if def.except.is_empty() { Some(None) } else { self.globs(text, &def.except).map(Some) };
        if def.content.is_some() && content.is_none() || with_all.len() != def.with_all.len() || !(1..=100).contains(&weight) {
            return None;
        }
        Some(Signal { paths: paths?, with_all, except: except?, content, weight, why: def.why.clone() })
    }

    fn rule(&mut self, text: &PackText, pack: usize, def: &Spanned<RuleDef>, layout: &LayoutBuilder) -> Option<Rule> {
        let def = def.get_ref();
        let before = self.problems.len();
        let code = def.code.get_ref();
        if !is_rule_code(code) {
            self.problem(
                text,
                def.code.span(),
                format!("invalid rule code `{code}`"),
                "codes are upper-case letters then digits",
                Some("e.g. \"SM101\"".into()),
            );
        }
        let severity = Severity::parse(def.severity.get_ref());
        if severity.is_none() {
            self.problem(
                text,
                def.severity.span(),
                format!("unknown severity `{}`", def.severity.get_ref()),
                "not a severity",
                Some("expected one of: error, warning, info".into()),
            );
        }
        let zones: Vec<usize> = def
            .zone
            .as_ref()
            .map(|zones| {
                zones
                    .get_ref()
                    .items()
                    .into_iter()
                    .filter_map(|zone| {
                        let index = layout.zone_index(zone);
                        if index.is_none() {
                            self.problem(
                                text,
                                zones.span(),
                                format!("unknown zone `{zone}`"),
                                "no zone has this name",
                                Some("zones are defined by [[zone]] tables in rules/layout.toml".into()),
                            );
                        }
                        index
                    })
                    .collect()
            })
            .unwrap_or_default();
        let paths = def.paths.as_ref().and_then(|p| self.rule_globs(text, p));
        let except = def.except.as_ref().and_then(|p| self.rule_globs(text, p));
        self.superseded_codes(text, &def.supersedes);
        let check_name = def.check.get_ref().as_str();
        let check = match check_name {
            "forbid" => Some(Check::Forbid),
            "require" | "require-any" | "allow-only" if def.paths.is_none() => {
                self.problem(text, def.check.span(), format!("check `{check_name}` needs `paths`"), "this check", None);
                None
            }
            "require" => Some(Check::Require),
            "require-any" => Some(Check::RequireAny),
            "allow-only" => Some(Check::AllowOnly),
            "count" if def.min.is_none() && def.max.is_none() => {
                self.problem(text, def.check.span(), "check `count` needs `min` or `max`", "this check", None);
                None
            }
            "count" => Some(Check::Count { min: def.min, max: def.max, top_folders: def.count_top_folders }),
            "non-empty" => Some(Check::NonEmpty),
            "single-folder" => Some(Check::SingleFolder),
            "external" => Some(Check::External),
            "problem" => match &def.problem {
                Some(name) => match ProblemKind::parse(name.get_ref()) {
                    Some(kind) => Some(Check::Problem(kind)),
                    None => {
                        let choices: Vec<&str> = ProblemKind::ALL.iter().map(|k| k.as_str()).collect();
                        self.problem(
                            text,
                            name.span(),
                            format!("unknown problem `{}`", name.get_ref()),
                            "not a problem sources report",
                            Some(format!("expected one of: {}", choices.join(", "))),
                        );
                        None
                    }
                },
                None => {
                    self.problem(text, def.check.span(), "check `problem` needs `problem = \"...\"`", "this check", None);
                    None
                }
            },
            "json-keys" => match (&def.file, &def.key_path) {
                (Some(file), Some(key_path)) => Some(Check::JsonKeys { file: file.get_ref().as_bytes().to_vec(), key_path: key_path.get_ref().clone() }),
                _ => {
                    self.problem(text, def.check.span(), "check `json-keys` needs `file` and `key-path`", "this check", None);
                    None
                }
            },
            other => {
                self.problem(
                    text,
                    def.check.span(),
                    format!("unknown check `{other}`"),
                    "not a check",
                    Some(format!("expected one of: {}", Check::NAMES.join(", "))),
                );
                None
            }
        };
        for placeholder in placeholders(def.message.get_ref()) {
            if !PLACEHOLDERS.contains(&placeholder) {
                self.problem(
                    text,
                    def.message.span(),
                    format!("unknown placeholder `{{{placeholder}}}` in message"),
                    "in this text",
                    Some(format!("known placeholders: {}", PLACEHOLDERS.join(", "))),
                );
            }
        }
        let filter = def.filter.as_ref().map(|f| self.filter(text, f)).unwrap_or_default();
        let when = def.when.as_ref().map(|w| self.when(text, w)).unwrap_or_default();
        let hints = def
            .hint
            .iter()
            // A hint with an invalid glob never matches, as if it were left out.
            .map(|hint| Hint { names: LazyGlobSet::for_names(hint.names.clone()), text: hint.text.clone() })
            .collect();
        let repair = def.repair.as_ref().and_then(|name| {
            let repair = Repair::parse(name.get_ref());
            if repair.is_none() {
                self.problem(
                    text,
                    name.span(),
                    format!("unknown repair `{}`", name.get_ref()),
                    "not a repair optml fix knows",
                    Some(format!("expected one of: {}", Repair::NAMES.join(", "))),
                );
            }
            repair
        });
        if self.problems.len() > before {
            return None;
        }
        Some(Rule {
            code: code.clone(),
            name: def.name.get_ref().clone(),
            severity: severity?,
            check: check?,
            zones,
            paths,
            except,
            filter,
            when,
            message: def.message.get_ref().clone(),
            help: def.help.clone(),
            docs: def.docs.clone(),
            fix: def.fix.clone(),
            repair,
            hints,
            supersedes: def.supersedes.iter().map(|c| c.get_ref().clone()).collect(),
            pack,
            span: def.code.span(),
        })
    }
}

/// Upper-case letters then digits: `SM101`, `PT101`.
fn is_rule_code(code: &str) -> bool {
    !code.is_empty() && code.chars().all(|c| c.is_ascii_alphanumeric()) && code.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

/// `{name}` placeholders in a template.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start + 1..].find('}') else {
            break;
        };
        out.push(&rest[start + 1..start + 1 + len]);
        rest = &rest[start + 1 + len + 1..];
    }
    out
}

/// Where a pack named in `extends` comes from.
enum Lookup {
    /// One of the files being loaded (a user pack or a built-in) has this name.
    Loaded,
    Builtin(&'static builtin::BuiltinPack),
    Unknown,
}

/// Resolve a pack name for `extends`: the packs being loaded (so user packs can extend each
/// other), then the built-ins.
fn lookup(files: &[(PackText, PackFile)], name: &str) -> Lookup {
    if files.iter().any(|(_, file)| file.pack.name.get_ref() == name) {
        return Lookup::Loaded;
    }
    builtin::find(name).map_or(Lookup::Unknown, Lookup::Builtin)
}

/// Parse, validate and compile the given rule files into a ruleset.
pub fn load(texts: Vec<PackText>) -> Result<Ruleset, LoadError> {
    let mut loader = Loader { problems: Vec::new(), tables: Vec::new() };
    let mut files: Vec<(PackText, PackFile)> = Vec::new();
    let mut queue: std::collections::VecDeque<PackText> = texts.into();
    // Parse what was given, then resolve `extends` through [`lookup`] (packs being loaded
    // first, then the built-ins), until no pack names one that is not loaded yet.
    let mut resolved = 0;
    loop {
        while let Some(text) = queue.pop_front() {
            match toml::from_str::<PackFile>(&text.text) {
                Ok(file) => files.push((text, file)),
                Err(err) => {
                    let span = err.span().unwrap_or(0..0);
                    loader.problem(&text, span, err.message().to_string(), "here", None);
                }
            }
        }
        if resolved == files.len() {
            break;
        }
        for index in resolved..files.len() {
            for name in &files[index].1.pack.extends {
                match lookup(&files, name.get_ref()) {
                    Lookup::Loaded => {}
                    Lookup::Builtin(pack) if !queue.iter().any(|t| t.file == pack.file) => queue.push_back(pack.text()),
                    Lookup::Builtin(_) => {}
                    Lookup::Unknown => {
                        let available = builtin::PACKS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ");
                        let help = format!("built-in packs: {available}; a pack of your own is found by its `name` when its file is loaded too (--rules FILE)");
                        let message = format!("`extends` names unknown pack `{}`", name.get_ref());
                        loader.problem(&files[index].0, name.span(), message, "no such pack", Some(help));
                    }
                }
            }
        }
        resolved = files.len();
    }

    let mut layout = LayoutBuilder::default();
    let mut zones = 0;
    for (text, file) in &files {
        for zone in &file.zone {
            let def = zone.get_ref();
            if zones == MAX_ZONES {
                let help = Some("a layout needs a handful of zones; entries hold their zone in 16 bits".to_string());
                loader.problem(text, def.name.span(), format!("more than {MAX_ZONES} zones"), "one zone too many", help);
                continue;
            }
            if layout.zone_index(def.name.get_ref()).is_some() {
                loader.problem(text, def.name.span(), format!("zone `{}` is defined twice", def.name.get_ref()), "second definition", None);
                continue;
            }
            if loader.checked(text, &def.paths).is_none() {
                continue;
            }
            let globs: Vec<String> = def.paths.iter().map(|p| p.get_ref().clone()).collect();
            let zone = Zone { name: def.name.get_ref().clone(), root: def.root.as_bytes().to_vec(), description: def.description.clone() };
            // Each glob already compiled above; adding cannot fail.
            let _ = layout.add_zone(zone, &globs);
            zones += 1;
        }
    }
    for (text, file) in &files {
        for mapping in &file.archive {
            let def = mapping.get_ref();
            let Some(role) = Role::parse(def.role.get_ref()).filter(|r| *r != Role::OptMl) else {
                loader.problem(
                    text,
                    def.role.span(),
                    format!("unknown archive role `{}`", def.role.get_ref()),
                    "not a role",
                    Some("expected `model`, `output` or `code`".into()),
                );
                continue;
            };
            if def.prefix.len() > MAX_PREFIX_BYTES {
                let help = Some("a prefix names a folder under /opt/ml, such as `model`".to_string());
                loader.problem(text, mapping.span(), format!("the prefix is longer than {MAX_PREFIX_BYTES} bytes"), "in this mapping", help);
                continue;
            }
            let covers: Vec<usize> = def
                .covers
                .iter()
                .filter_map(|zone| {
                    let index = layout.zone_index(zone.get_ref());
                    if index.is_none() {
                        loader.problem(text, zone.span(), format!("unknown zone `{}`", zone.get_ref()), "no zone has this name", None);
                    }
                    index
                })
                .collect();
            let detect = if def.detect.is_empty() { None } else { loader.globs(text, &def.detect) };
            layout.add_mapping(ArchiveMapping {
                role,
                flavour: def.flavour.clone(),
                prefix: def.prefix.as_bytes().to_vec(),
                detect,
                covers,
                description: def.description.clone(),
            });
        }
        for artifact in &file.job_artifact {
            layout.add_job_artifact(artifact.clone());
        }
    }

    // Tables first: a rule may use a table of a pack loaded after its own.
    let mut tables: Vec<Table> = Vec::new();
    for (text, file) in &files {
        for def in &file.table {
            if loader.tables.contains(def.name.get_ref()) {
                loader.problem(text, def.name.span(), format!("table `{}` is defined twice", def.name.get_ref()), "second definition", None);
            } else if let Some(table) = loader.table(text, def) {
                loader.tables.push(table.name.clone());
                tables.push(table);
            }
        }
    }
    let mut packs = Vec::new();
    let mut rules: Vec<Rule> = Vec::new();
    let mut seen: HashMap<String, (String, String)> = HashMap::new();
    let mut pack_names: HashMap<String, String> = HashMap::new();
    for (text, file) in &files {
        let pack_index = packs.len();
        let name = file.pack.name.get_ref().clone();
        if let Some(other) = pack_names.insert(name.clone(), text.file.clone()) {
            loader.problem(text, file.pack.name.span(), format!("pack `{name}` is already loaded from {other}"), "duplicate pack name", None);
        }
        for def in &file.rule {
            let code = def.get_ref().code.get_ref().clone();
            if let Some((other_file, other_name)) = seen.get(&code) {
                loader.problem(
                    text,
                    def.get_ref().code.span(),
                    format!("rule code `{code}` is already used by `{other_name}` in {other_file}"),
                    "duplicate code",
                    Some("every rule needs its own stable code".into()),
                );
                continue;
            }
            seen.insert(code, (text.file.clone(), def.get_ref().name.get_ref().clone()));
            if let Some(rule) = loader.rule(text, pack_index, def, &layout) {
                rules.push(rule);
            }
        }
        loader.superseded_codes(text, &file.pack.supersedes);
        let signals = file.detect.iter().filter_map(|def| loader.signal(text, def)).collect();
        let plan = file.plan.iter().filter_map(|def| loader.plan_step(text, def)).collect();
        packs.push(Pack {
            name,
            description: file.pack.description.clone(),
            file: text.file.clone(),
            text: text.text.clone(),
            builtin: text.builtin,
            // Built-in packs are documented in docs/rules.md; a user pack only where it says.
            docs: file.pack.docs.clone().or_else(|| text.builtin.then(|| "docs/rules.md".into())),
            extends: file.pack.extends.iter().map(|n| n.get_ref().clone()).collect(),
            supersedes: file.pack.supersedes.iter().map(|c| c.get_ref().clone()).collect(),
            signals,
            plan,
        });
    }
    let layout = match layout.build() {
        Ok(layout) => layout,
        Err(err) => {
            return Err(LoadError::Unreadable { file: "layout".into(), cause: err.to_string() });
        }
    };
    if layout.zones.is_empty() && loader.problems.is_empty() {
        return Err(LoadError::Unreadable { file: "layout".into(), cause: "no zones defined".into() });
    }
    if !loader.problems.is_empty() {
        return Err(LoadError::Invalid { count: loader.problems.len(), problems: loader.problems });
    }
    let mut ruleset = Ruleset::new(packs, rules, layout);
    ruleset.tables = tables;
    Ok(ruleset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built-in packs skip the glob and regex checks at load; this runs them, as on a user's file.
    #[test]
    fn builtin_packs_pass_user_validation() {
        let texts = std::iter::once(&builtin::LAYOUT).chain(builtin::PACKS).map(|pack| PackText { builtin: false, ..pack.text() }).collect();
        if let Err(err) = load(texts) {
            panic!("{:?}", miette::Report::new(err));
        }
    }

    #[test]
    fn finds_placeholders() {
        assert_eq!(placeholders("a {path} b {hint}"), vec!["path", "hint"]);
    }
}
