//! The config file: discovery (nearest folder wins), parsing with spans, and the keys' schema.
//! Values stay as written (with their spans) until the settings stage validates them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::located::{FileKind, Located};

/// The config file's own name; beats a pyproject.toml in the same folder.
pub const CONFIG_NAME: &str = "optml.toml";
pub const PYPROJECT_NAME: &str = "pyproject.toml";

/// The keys of `optml.toml` (or of `[tool.optml]`), as written. docs/configuration.md.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Values {
    /// Replaces the default packs.
    pub packs: Option<Vec<Spanned<String>>>,
    /// Extra rule files, relative to the config file.
    #[serde(default)]
    pub rules: Vec<Spanned<String>>,
    #[serde(default)]
    pub select: Vec<Spanned<String>>,
    #[serde(default)]
    pub extend_select: Vec<Spanned<String>>,
    #[serde(default)]
    pub ignore: Vec<Spanned<String>>,
    /// Code or prefix -> `error`, `warning`, `info` or `off`.
    #[serde(default)]
    pub severity: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Glob (matched against the entry's path inside the input) -> codes or prefixes.
    #[serde(default)]
    pub per_path_ignores: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    pub fail_on: Option<Spanned<String>>,
    /// The deployment environment serving rules read (`--env`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The inputs checked when none are given, relative to the config file.
    #[serde(default)]
    pub inputs: Vec<String>,
    pub format: Option<Spanned<String>>,
    /// A baseline of known findings, relative to the config file.
    pub baseline: Option<String>,
    /// Where rule documentation is published; rule anchors are appended.
    pub docs_url: Option<String>,
    /// The work limits (docs/security.md), as the `--max-*` flags.
    pub max_entries: Option<u64>,
    /// A size: bytes, or a string such as "500GiB".
    pub max_bytes: Option<Spanned<toml::Value>>,
    pub max_ratio: Option<u64>,
    pub max_path_bytes: Option<u64>,
    pub max_path_depth: Option<u64>,
    /// Where s3:// inputs are read from, as `--endpoint-url`, `--profile`, `--region`.
    pub s3_endpoint_url: Option<String>,
    pub s3_profile: Option<String>,
    pub s3_region: Option<String>,
}

#[derive(Deserialize)]
struct Pyproject {
    tool: Option<Tool>,
}

#[derive(Deserialize)]
struct Tool {
    optml: Option<Values>,
}

/// A config file that was read and parsed.
#[derive(Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub text: String,
    pub values: Values,
}

impl ConfigFile {
    /// The folder relative paths in the file are relative to.
    pub fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }

    /// `value` (a path written in the file) made relative to the file's folder.
    pub fn resolve(&self, value: &str) -> PathBuf {
        self.dir().join(value)
    }

    /// A diagnostic at `span` of this file.
    pub fn problem(&self, span: std::ops::Range<usize>, message: impl Into<String>, label: &str, help: Option<String>) -> Located {
        Located::new(FileKind::Config, &self.path.to_string_lossy(), &self.text, span, message, label).with_help(help)
    }
}

/// Why no settings could be read from a config file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConfigError {
    #[error("cannot read config file {file}: {cause}")]
    #[diagnostic(code(optml::config))]
    Unreadable { file: String, cause: String },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(Box<Located>),
}

/// The nearest config file from `start` up: in each folder `optml.toml`, else a pyproject.toml
/// with `[tool.optml]` (one without it is skipped). The first found is the only one read.
pub fn discover(start: &Path) -> Result<Option<ConfigFile>, ConfigError> {
    for dir in start.ancestors() {
        let own = dir.join(CONFIG_NAME);
        if own.is_file() {
            return read(&own).map(Some);
        }
        let pyproject = dir.join(PYPROJECT_NAME);
        if pyproject.is_file() {
            if let Some(file) = read_pyproject(&pyproject, false)? {
                return Ok(Some(file));
            }
        }
    }
    Ok(None)
}

/// Read the config file named with `--config`: optml.toml, or a pyproject.toml that must hold
/// `[tool.optml]`.
pub fn read(path: &Path) -> Result<ConfigFile, ConfigError> {
    if path.file_name().is_some_and(|name| name == PYPROJECT_NAME) {
        return read_pyproject(path, true)?
            .ok_or_else(|| ConfigError::Unreadable { file: path.to_string_lossy().into_owned(), cause: "it has no [tool.optml] table".into() });
    }
    let text = read_text(path)?;
    let values = parse::<Values>(path, &text)?;
    Ok(ConfigFile { path: path.to_path_buf(), text, values })
}

/// A pyproject.toml's `[tool.optml]`; `None` when it has none. A pyproject.toml that is not
/// TOML is skipped during discovery unless it mentions `tool.optml` (then it is an error).
fn read_pyproject(path: &Path, named: bool) -> Result<Option<ConfigFile>, ConfigError> {
    let text = read_text(path)?;
    if !named && !text.contains("tool.optml") {
        return Ok(None);
    }
    let values = parse::<Pyproject>(path, &text)?.tool.and_then(|tool| tool.optml);
    Ok(values.map(|values| ConfigFile { path: path.to_path_buf(), text, values }))
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    crate::open::read_text(path, crate::open::CONFIG_LIMIT)
        .map_err(|err| ConfigError::Unreadable { file: path.to_string_lossy().into_owned(), cause: err.to_string() })
}

fn parse<T: for<'de> Deserialize<'de>>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str::<T>(text).map_err(|err| {
        let span = err.span().unwrap_or(0..0);
        let file = path.to_string_lossy();
        let help = "see docs/configuration.md for the keys".to_string();
        ConfigError::Invalid(Box::new(Located::new(FileKind::Config, &file, text, span, err.message().to_string(), "here").with_help(Some(help))))
    })
}
