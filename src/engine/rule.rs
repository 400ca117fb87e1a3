//! Compiled rules: what the evaluator runs. Built from [`super::pack`] definitions by the loader.

use std::ops::{Deref, Range};
use std::sync::OnceLock;

use regex::Regex;

use crate::entry::EntryKind;
use crate::finding::Severity;
use crate::glob::LazyGlobSet;
use crate::source::{InputKind, ProblemKind};

/// What a rule asserts.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Every selected entry is a finding.
    Forbid,
    /// Each of `paths` matches at least one selected entry.
    Require,
    /// At least one of `paths` matches a selected entry.
    RequireAny,
    /// The number of selected entries (or, with `top_folders`, of the distinct top-level
    /// folders holding them) is within bounds.
    Count { min: Option<u64>, max: Option<u64>, top_folders: bool },
    /// The zone holds at least one entry that is not a directory.
    NonEmpty,
    /// Closed world: selected entries not matching `paths` are findings.
    AllowOnly,
    /// Everything in the zone sits inside one top-level folder.
    SingleFolder,
    /// The source reported this problem while streaming.
    Problem(ProblemKind),
    /// The JSON object in `file` and the entries at `key_path` agree both ways.
    JsonKeys { file: Vec<u8>, key_path: String },
    /// Reported by another subsystem (snapshots, the run harness), which looks the rule up by
    /// code; the rule file still owns its code, severity, message, help and docs.
    External,
}

impl Check {
    pub const NAMES: [&'static str; 10] =
        ["forbid", "require", "require-any", "count", "non-empty", "allow-only", "single-folder", "problem", "json-keys", "external"];
}

/// A mechanical edit `optml fix` makes for a finding of a rule (`repair = "..."`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Leave the reported entry (and everything below it) out.
    Drop,
    /// The reported entry is a wrapper folder: its contents become the archive root.
    StripWrapper,
    /// Move the reported file into `code/` at the archive root.
    MoveToCode,
    /// Replace the reported symlink with a copy of the file it points to.
    Dereference,
}

impl Repair {
    pub const NAMES: [&'static str; 4] = ["drop", "strip-wrapper", "move-to-code", "dereference"];

    pub fn as_str(self) -> &'static str {
        match self {
            Repair::Drop => "drop",
            Repair::StripWrapper => "strip-wrapper",
            Repair::MoveToCode => "move-to-code",
            Repair::Dereference => "dereference",
        }
    }

    pub fn parse(name: &str) -> Option<Repair> {
        [Repair::Drop, Repair::StripWrapper, Repair::MoveToCode, Repair::Dereference].into_iter().find(|r| r.as_str() == name)
    }
}

/// Globs with their source text, so `require` can say which one is missing.
#[derive(Debug, Clone)]
pub struct Patterns {
    pub set: LazyGlobSet,
    pub patterns: Vec<String>,
}

/// A rule's globs as written (validated when loaded); the evaluator compiles them together
/// with every other rule's ([`super::index::RuleIndex`]).
#[derive(Debug, Clone)]
pub struct Globs {
    pub patterns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    Finished,
}

impl Phase {
    pub fn parse(name: &str) -> Option<Phase> {
        match name {
            "running" => Some(Phase::Running),
            "finished" => Some(Phase::Finished),
            _ => None,
        }
    }
}

/// Filters on entries (`[rule.where]`); `None` means "any".
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub kinds: Option<Vec<EntryKind>>,
    pub size_min: Option<u64>,
    pub size_max: Option<u64>,
    pub mode_any: Option<u32>,
    pub link_escapes: Option<bool>,
    pub absolute: Option<bool>,
    pub parent_dir: Option<bool>,
    pub invalid_name: Option<bool>,
    pub duplicate: Option<bool>,
    pub name_clash: Option<bool>,
    /// The entry's last path component matches this.
    pub name_matches: Option<LazyRegex>,
    /// The entry's path relative to the rule's frame does (not) match this.
    pub path_matches: Option<LazyRegex>,
    pub path_not_matches: Option<LazyRegex>,
    /// The file's zip listing lacks a member matching one of these (or it is no zip).
    pub zip_missing: Option<Patterns>,
    pub zip_unsure: Option<bool>,
    pub field: Option<Field>,
    pub content: ContentFilter,
}

impl Filter {
    /// Whether the filter reads the zip listing of the files it selects.
    pub fn needs_tail(&self) -> bool {
        self.zip_missing.is_some() || self.zip_unsure.is_some()
    }
}

/// A structured read of a file at a key, and what its value must be.
#[derive(Debug, Clone)]
pub struct Field {
    pub format: crate::fields::Format,
    pub key: String,
    pub present: Option<bool>,
    pub matches: Option<LazyRegex>,
    pub not_matches: Option<LazyRegex>,
    /// Index into the ruleset's tables.
    pub in_table: Option<usize>,
    pub not_in_table: Option<usize>,
    pub equals_folder: Option<bool>,
}

/// A condition on one deployment variable's value.
#[derive(Debug, Clone)]
pub struct EnvTest {
    pub name: String,
    pub default: Option<String>,
    pub matches: Option<LazyRegex>,
    pub not_matches: Option<LazyRegex>,
}

impl EnvTest {
    /// Whether the test holds for the variable's value (`None`: unset).
    pub fn holds(&self, value: Option<&str>) -> bool {
        match value.or(self.default.as_deref()) {
            Some(value) => self.matches.as_ref().is_none_or(|re| re.is_match(value)) && self.not_matches.as_ref().is_none_or(|re| !re.is_match(value)),
            None => self.matches.is_none(),
        }
    }
}

/// How a table's keys are compared with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableMatch {
    Exact,
    /// The value ends with the key; the last matching row wins.
    Suffix,
}

/// A lookup table kept as data in a pack.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub matching: TableMatch,
    pub source: String,
    pub rows: Vec<(String, String)>,
}

impl Table {
    pub fn lookup(&self, value: &str) -> Option<&str> {
        let hit = |key: &String| match self.matching {
            TableMatch::Exact => value == key,
            TableMatch::Suffix => value.ends_with(key.as_str()),
        };
        self.rows.iter().rev().find(|(key, _)| hit(key)).map(|(_, mapped)| mapped.as_str())
    }
}

/// One `[[plan]]` entry, compiled.
#[derive(Debug, Clone)]
pub struct PlanStep {
    pub item: String,
    pub value: String,
    pub when: When,
    pub paths: Option<Patterns>,
    pub file: Option<Vec<u8>>,
    pub field: Option<Field>,
    pub table: Option<usize>,
    pub source: String,
}

#[derive(Debug, Default, Clone)]
pub struct ContentFilter {
    pub empty: Option<bool>,
    pub longer_than: Option<usize>,
    pub json: Option<bool>,
    pub matches: Option<LazyRegex>,
    pub not_matches: Option<LazyRegex>,
}

impl ContentFilter {
    pub fn is_active(&self) -> bool {
        self.empty.is_some() || self.longer_than.is_some() || self.json.is_some() || self.matches.is_some() || self.not_matches.is_some()
    }
}

/// Conditions for a rule to apply (`[rule.when]`).
#[derive(Debug, Default, Clone)]
pub struct When {
    pub inputs: Option<Vec<InputKind>>,
    pub phases: Option<Vec<Phase>>,
    pub flavours: Option<Vec<String>>,
    pub exists: Vec<LazyGlobSet>,
    pub missing: Option<LazyGlobSet>,
    pub contains: Option<Grep>,
    pub lacks: Option<Grep>,
    pub env_set: Vec<String>,
    pub env_unset: Vec<String>,
    pub env: Vec<EnvTest>,
}

/// Files (globs relative to the /opt/ml root) and what their content is searched for.
#[derive(Debug, Clone)]
pub struct Grep {
    /// With the globs as written, so the source knows whose content to capture.
    pub paths: Patterns,
    pub regex: Option<LazyRegex>,
    pub field: Option<Field>,
}

/// One `[[detect]]` signal of a pack, compiled.
#[derive(Debug, Clone)]
pub struct Signal {
    /// Compiled with every other signal's into [`super::Ruleset::signal_paths`].
    pub paths: Globs,
    pub with_all: Vec<LazyGlobSet>,
    /// Entries matching this never fire the signal (built-in algorithm files that look like a framework's).
    pub except: Option<LazyGlobSet>,
    pub content: Option<LazyRegex>,
    pub weight: u32,
    pub why: String,
}

#[derive(Debug, Clone)]
pub struct Hint {
    /// Matched against the file name.
    pub names: LazyGlobSet,
    pub text: String,
}

/// A rule ready to evaluate, with the place in its rule file that defined it.
#[derive(Debug, Clone)]
pub struct Rule {
    pub code: String,
    pub name: String,
    pub severity: Severity,
    pub check: Check,
    /// Zones the rule looks in; empty means every entry, paths relative to the /opt/ml root.
    pub zones: Vec<usize>,
    pub paths: Option<Globs>,
    pub except: Option<Globs>,
    pub filter: Filter,
    pub when: When,
    pub message: String,
    pub help: String,
    pub docs: String,
    pub fix: Option<String>,
    pub repair: Option<Repair>,
    pub hints: Vec<Hint>,
    /// Codes whose findings about the same entry this rule's findings replace.
    pub supersedes: Vec<String>,
    /// Index of the pack (rule file) in the ruleset.
    pub pack: usize,
    /// Byte range of the rule's `code = "..."` value in its file.
    pub span: Range<usize>,
}

impl Rule {
    pub fn check_name(&self) -> &'static str {
        match self.check {
            Check::Forbid => "forbid",
            Check::Require => "require",
            Check::RequireAny => "require-any",
            Check::Count { .. } => "count",
            Check::NonEmpty => "non-empty",
            Check::AllowOnly => "allow-only",
            Check::SingleFolder => "single-folder",
            Check::Problem(_) => "problem",
            Check::JsonKeys { .. } => "json-keys",
            Check::External => "external",
        }
    }

    /// Whether a rule reads file contents (so the source must capture them).
    pub fn needs_content(&self) -> bool {
        self.filter.content.is_active() || self.filter.field.is_some() || self.message.contains("{first_line}") || matches!(self.check, Check::JsonKeys { .. })
    }

    /// Globs (relative to the /opt/ml root) of files the rule's `when` greps.
    pub fn grepped_patterns(&self) -> impl Iterator<Item = &String> {
        self.when.contains.iter().chain(&self.when.lacks).flat_map(|grep| &grep.paths.patterns)
    }
}

/// A rule's regular expression, checked when its pack loads and compiled the first time a rule
/// uses it: most loaded rules never run on a given input, and compiling every pattern of every
/// pack was most of optml's startup.
#[derive(Debug, Clone)]
pub struct LazyRegex {
    pattern: String,
    compiled: OnceLock<Regex>,
}

impl LazyRegex {
    /// Parse `pattern` (syntax and Unicode classes, as [`Regex::new`] does) without compiling it.
    /// The error text is the one [`Regex::new`] gives for the same pattern.
    pub fn parse(pattern: &str) -> Result<LazyRegex, regex::Error> {
        match regex_syntax::parse(pattern) {
            Ok(_) => Ok(LazyRegex::known_good(pattern)),
            Err(err) => Err(regex::Error::Syntax(err.to_string())),
        }
    }

    /// A pattern of a built-in pack, not parsed: a test parses every built-in pattern
    /// (`load::tests::builtin_packs_pass_user_validation`).
    pub fn known_good(pattern: &str) -> LazyRegex {
        LazyRegex { pattern: pattern.to_string(), compiled: OnceLock::new() }
    }
}

impl Deref for LazyRegex {
    type Target = Regex;

    fn deref(&self) -> &Regex {
        // A parsed pattern fails to compile only past the regex crate's size limit; such a
        // pattern matches nothing rather than taking optml down mid-check.
        self.compiled.get_or_init(|| Regex::new(&self.pattern).unwrap_or_else(|_| Regex::new(r"[^\s\S]").expect("an empty class compiles")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_regex_rejects_what_regex_rejects_with_the_same_text() {
        for pattern in ["(unclosed", r"\p{NoSuchClass}", "a{2,1}", "[z-a]", r"\"] {
            let eager = Regex::new(pattern).expect_err(pattern).to_string();
            let lazy = LazyRegex::parse(pattern).expect_err(pattern).to_string();
            assert_eq!(lazy, eager, "{pattern}");
        }
    }

    #[test]
    fn lazy_regex_matches_as_the_compiled_pattern() {
        let lazy = LazyRegex::parse(r"^model/[^/]+\.bin$").unwrap();
        assert!(lazy.is_match("model/weights.bin"));
        assert!(!lazy.is_match("model/sub/weights.bin"));
        assert_eq!(lazy.as_str(), r"^model/[^/]+\.bin$");
    }
}
