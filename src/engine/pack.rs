//! The rule-file schema, deserialized with spans so every problem points into the file.

use serde::Deserialize;
use toml::Spanned;

use crate::source::job::JobArtifact;

/// One rule file (`rules/*.toml` or a user's `--rules FILE`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackFile {
    pub pack: PackMeta,
    #[serde(default)]
    pub zone: Vec<Spanned<ZoneDef>>,
    #[serde(default)]
    pub archive: Vec<Spanned<ArchiveDef>>,
    #[serde(default, rename = "job-artifact")]
    pub job_artifact: Vec<JobArtifact>,
    #[serde(default)]
    pub rule: Vec<Spanned<RuleDef>>,
    /// Signals that the input is what this pack is about (`--pack auto`).
    #[serde(default)]
    pub detect: Vec<DetectDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackMeta {
    pub name: Spanned<String>,
    pub description: String,
    /// Where the generated rule documentation lives; rule anchors are appended.
    #[serde(default)]
    pub docs: Option<String>,
    /// Built-in packs loaded (and applied) together with this one.
    #[serde(default)]
    pub extends: Vec<Spanned<String>>,
    /// Rule codes (of any pack) this pack replaces: not run while this pack applies.
    #[serde(default)]
    pub supersedes: Vec<Spanned<String>>,
}

/// One detection signal (`[[detect]]`): globs relative to the /opt/ml root, like `when`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DetectDef {
    /// The signal fires when any of these matches an entry...
    pub paths: Vec<Spanned<String>>,
    /// ...and each of these matches some entry too.
    #[serde(default, rename = "with")]
    pub with_all: Vec<Spanned<String>>,
    /// ...counting only entries that match none of these.
    #[serde(default, rename = "except")]
    pub except: Vec<Spanned<String>>,
    /// ...and (if given) an entry matching `paths` has content matching this regex.
    pub content: Option<Spanned<String>>,
    /// How strongly the signal points at this pack, 1-100.
    pub weight: Spanned<u32>,
    /// Why, as printed: "a SavedModel (saved_model.pb)".
    pub why: String,
}

/// A content condition (`when.contains`, `when.lacks`): files matching `paths` (relative to
/// the /opt/ml root) and a regex their content is searched for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GrepDef {
    pub paths: Vec<Spanned<String>>,
    pub regex: Spanned<String>,
}

/// A zone of the /opt/ml contract: which paths belong to it (first zone to match wins).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ZoneDef {
    pub name: Spanned<String>,
    /// The directory rule paths in this zone are relative to (`model`, `output/data`, `` for the root).
    pub root: String,
    /// Globs relative to the /opt/ml root.
    pub paths: Vec<Spanned<String>>,
    pub description: String,
}

/// How an archive's members map into /opt/ml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ArchiveDef {
    pub role: Spanned<String>,
    pub flavour: String,
    /// Members land under this /opt/ml path (`model`, `output`, `output/data`).
    pub prefix: String,
    /// This flavour applies when any top-level member matches one of these; none = fallback.
    #[serde(default)]
    pub detect: Vec<Spanned<String>>,
    /// Zones the archive holds, so rules about other zones do not fire on it.
    pub covers: Vec<Spanned<String>>,
    pub description: String,
}

/// A string or a list of strings.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn items(&self) -> Vec<&String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many.iter().collect(),
        }
    }
}

/// A list of names with the span of the whole value, for diagnostics.
pub type Names = Spanned<OneOrMany>;

/// A size in bytes: an integer, or a string such as `"10 MiB"`.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum SizeDef {
    Bytes(u64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuleDef {
    pub code: Spanned<String>,
    pub name: Spanned<String>,
    pub severity: Spanned<String>,
    pub check: Spanned<String>,
    pub zone: Option<Names>,
    pub paths: Option<Vec<Spanned<String>>>,
    pub except: Option<Vec<Spanned<String>>>,
    #[serde(rename = "where")]
    pub filter: Option<FilterDef>,
    pub when: Option<WhenDef>,
    /// For `check = "problem"`.
    pub problem: Option<Spanned<String>>,
    /// For `check = "count"`.
    pub min: Option<u64>,
    pub max: Option<u64>,
    /// For `check = "json-keys"`: the JSON file (root-relative) whose object keys are checked.
    pub file: Option<Spanned<String>>,
    /// For `check = "json-keys"`: where each key must exist, e.g. `input/data/{key}`.
    pub key_path: Option<Spanned<String>>,
    pub message: Spanned<String>,
    pub help: String,
    pub docs: String,
    /// A shell command or edit that fixes the finding (placeholders allowed).
    pub fix: Option<String>,
    /// The mechanical edit `optml fix` applies to the reported entry (see [`super::rule::Repair`]).
    pub repair: Option<Spanned<String>>,
    #[serde(default)]
    pub hint: Vec<HintDef>,
}

/// Filters on the entries a rule looks at (`[rule.where]`).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FilterDef {
    #[serde(rename = "type")]
    pub kind: Option<Names>,
    pub size_min: Option<Spanned<SizeDef>>,
    pub size_max: Option<Spanned<SizeDef>>,
    /// Octal bits of which at least one must be set, e.g. `"6000"` (setuid/setgid).
    pub mode_any: Option<Spanned<String>>,
    pub link_escapes: Option<bool>,
    pub absolute: Option<bool>,
    pub parent_dir: Option<bool>,
    pub invalid_name: Option<bool>,
    pub duplicate: Option<bool>,
    pub name_clash: Option<bool>,
    pub content_empty: Option<bool>,
    /// More than this many characters.
    pub content_longer_than: Option<usize>,
    /// `true`: the content parses as JSON; `false`: it does not.
    pub content_json: Option<bool>,
    pub content_matches: Option<Spanned<String>>,
    pub content_not_matches: Option<Spanned<String>>,
    /// A regex the entry's last path component must match.
    pub name_matches: Option<Spanned<String>>,
}

/// Conditions for a rule to apply at all (`[rule.when]`).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WhenDef {
    /// `tree`, `archive`, `job`.
    pub input: Option<Names>,
    /// `running`, `finished`.
    pub phase: Option<Names>,
    /// Archive flavour: `model`, `cloud`, `local`, `tree`.
    pub flavour: Option<Names>,
    /// Every glob (relative to the /opt/ml root) matches some entry.
    pub exists: Option<Vec<Spanned<String>>>,
    /// No glob (relative to the /opt/ml root) matches any entry.
    pub missing: Option<Vec<Spanned<String>>>,
    /// Some file matching `paths` has content matching `regex`.
    pub contains: Option<GrepDef>,
    /// No file matching `paths` has content matching `regex` (also true when no file matches).
    pub lacks: Option<GrepDef>,
    /// Every variable is set in the deployment environment (`optml check --env NAME=VALUE`).
    pub env_set: Option<Names>,
    /// No variable is set in the deployment environment.
    pub env_unset: Option<Names>,
}

/// Where a misplaced file probably belonged (`{hint}` in messages).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HintDef {
    /// Globs matched against the file name.
    pub names: Vec<String>,
    pub text: String,
}
