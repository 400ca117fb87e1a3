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
    /// Lookup tables a container keeps in its code (`where.field.in-table`, plan values).
    #[serde(default)]
    pub table: Vec<TableDef>,
    /// What the container will do with the model: items of the serving plan.
    #[serde(default)]
    pub plan: Vec<PlanDef>,
}

/// A lookup table kept as data (the Hugging Face toolkit's architecture-to-task map).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TableDef {
    pub name: Spanned<String>,
    /// `exact`: a key equals the value; `suffix`: the value ends with a key, the last such row
    /// winning (as a loop over a Python dict without `break` does).
    #[serde(rename = "match")]
    pub matching: Spanned<String>,
    /// The code the table is read from.
    pub source: String,
    pub rows: Vec<(String, String)>,
}

/// One way the serving plan states an item (`[[plan]]`); the first entry of an item whose
/// `when` holds (and whose `paths` match, when given) states it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PlanDef {
    /// `container`, `module`, `model-files`, `task`, `models`, `requirements`.
    pub item: Spanned<String>,
    /// A template: `{files}` (the entries `paths` matched), `{field}` (the value `field` read),
    /// `{mapped}` (that value looked up in `table`), `{env:NAME}`.
    pub value: Spanned<String>,
    pub when: Option<WhenDef>,
    /// Globs relative to the model root whose matching entries `{files}` lists.
    pub paths: Option<Vec<Spanned<String>>>,
    /// A value read from a file (root-relative path) for `{field}`.
    pub file: Option<String>,
    pub field: Option<FieldDef>,
    /// A table (of any loaded pack) `{mapped}` looks `{field}` up in.
    pub table: Option<Spanned<String>>,
    /// The container code this item follows: repo, file and function.
    pub source: String,
}

/// A condition on the deployment environment with a value (`[[rule.when.env]]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EnvDef {
    pub name: Spanned<String>,
    /// The value the container assumes when the variable is not set.
    pub default: Option<String>,
    /// The value (or the default) matches this regex; false when unset without default.
    pub matches: Option<Spanned<String>>,
    /// The value (or the default) does not match; true when unset without default.
    pub not_matches: Option<Spanned<String>>,
}

/// A structured read of a file's value at a key (`where.field`, `when.contains.field`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FieldDef {
    /// `json`, `properties` or `pbtxt`.
    pub format: Spanned<String>,
    /// `architectures[0]`, `option.model_id`, `backend`.
    pub key: String,
    /// The key is (`true`) or is not (`false`) there.
    pub present: Option<bool>,
    /// A value at the key matches / no value matches.
    pub matches: Option<Spanned<String>>,
    pub not_matches: Option<Spanned<String>>,
    /// A value at the key is found in this table / no value is (also when the key is absent).
    pub in_table: Option<Spanned<String>>,
    pub not_in_table: Option<Spanned<String>>,
    /// A value at the key is (`true`) or is not (`false`) the name of the file's own folder
    /// (a Triton `name` must be its model folder's).
    pub equals_folder: Option<bool>,
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
    pub regex: Option<Spanned<String>>,
    /// Instead of (or with) a regex: a structured read of the file.
    pub field: Option<FieldDef>,
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
    /// For `check = "count"`: count the distinct top-level folders the matches are in (a
    /// folder's own entry counts for it), as `find -mindepth 1 -maxdepth 1 -type d` does.
    #[serde(default)]
    pub count_top_folders: bool,
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
    /// Codes whose findings about the same entry (or one above or below it, or the input as a
    /// whole) this rule's findings replace: one cause, one finding.
    #[serde(default)]
    pub supersedes: Vec<Spanned<String>>,
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
    /// A regex the entry's path (relative to the rule's frame) must (not) match: exact name
    /// tests such as a container's `^\d+$` version folders.
    pub path_matches: Option<Spanned<String>>,
    pub path_not_matches: Option<Spanned<String>>,
    /// The file's zip listing (read from its tail) is known and lacks a member matching one of
    /// these globs, or the file is no zip at all.
    pub zip_missing: Option<Vec<Spanned<String>>>,
    /// `true`: optml could not read the file's zip listing from the tail it keeps.
    pub zip_unsure: Option<bool>,
    /// A structured read of the file's content.
    pub field: Option<FieldDef>,
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
    /// Conditions on variables' values, defaults included.
    pub env: Option<Vec<EnvDef>>,
}

/// Where a misplaced file probably belonged (`{hint}` in messages).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HintDef {
    /// Globs matched against the file name.
    pub names: Vec<String>,
    pub text: String,
}
