//! Golden files on disk: reading them, the insta-style update policy, and pending `FILE.new`
//! snapshots. Every write goes through [`crate::atomic`], so a crash never leaves half a file.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use super::manifest::{Manifest, MAGIC};
use crate::atomic;
use crate::located::Located;

#[derive(Debug, Error, Diagnostic)]
pub enum StoreError {
    #[error("cannot read {file}: {cause}")]
    #[diagnostic(code(optml::snapshot_io))]
    Read { file: String, cause: String },
    #[error("cannot write {file}: {cause}")]
    #[diagnostic(code(optml::snapshot_io))]
    Write { file: String, cause: String },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Malformed(#[from] Box<Located>),
    #[error("OPTML_UPDATE={0} is not one of always (or 1), new, no")]
    #[diagnostic(code(optml::usage), help("always (or 1): overwrite the golden file; new: write FILE.new beside it (the local default); no: never write"))]
    BadMode(String),
    #[error("{0}")]
    #[diagnostic(code(optml::usage), help("see `optml snapshot --help`"))]
    Options(String),
    #[error("no pending snapshot {0}")]
    #[diagnostic(code(optml::usage), help("pending snapshots are written by `optml check --snapshot FILE` as FILE.new"))]
    NotPending(String),
}

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// When a golden file may be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateMode {
    /// Overwrite the golden file (`--update-snapshots`, `OPTML_UPDATE=always`).
    Always,
    /// Write `FILE.new` beside it for review: the local default.
    New,
    /// Never write: always under CI, or `OPTML_UPDATE=no`.
    No,
}

impl UpdateMode {
    /// The mode for this run. CI (the `CI` variable set to anything but `""`, `0` or `false`)
    /// never writes, whatever else is asked.
    pub fn resolve(update_flag: bool, env_mode: Option<&str>, ci: Option<&str>) -> Result<UpdateMode, StoreError> {
        let requested = match env_mode.map(str::trim) {
            None | Some("") | Some("auto") => UpdateMode::New,
            // `1` as well: the spelling of "yes" CI systems and pytest users reach for first.
            Some("always" | "1") => UpdateMode::Always,
            Some("new") => UpdateMode::New,
            Some("no") => UpdateMode::No,
            Some(other) => return Err(StoreError::BadMode(other.to_string())),
        };
        let in_ci = ci.is_some_and(|value| !matches!(value.trim(), "" | "0" | "false"));
        Ok(match (in_ci, update_flag) {
            (true, _) => UpdateMode::No,
            (false, true) => UpdateMode::Always,
            (false, false) => requested,
        })
    }

    pub fn from_env(update_flag: bool) -> Result<UpdateMode, StoreError> {
        let env = |name: &str| std::env::var(name).ok();
        UpdateMode::resolve(update_flag, env("OPTML_UPDATE").as_deref(), env("CI").as_deref())
    }
}

/// `FILE.new`, where a pending snapshot waits for review.
pub fn pending_path(golden: &Path) -> PathBuf {
    let mut name: OsString = golden.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// The golden file a pending one belongs to (`FILE.new` or `FILE` itself).
pub fn golden_path(path: &Path) -> PathBuf {
    match path.to_str().and_then(|p| p.strip_suffix(".new")) {
        Some(golden) => PathBuf::from(golden),
        None => path.to_path_buf(),
    }
}

/// Read and parse a manifest; `Ok(None)` when it does not exist.
pub fn read(path: &Path) -> Result<Option<Manifest>, StoreError> {
    let text = match crate::open::read_capped(path, crate::open::MANIFEST_LIMIT) {
        Ok(bytes) => {
            String::from_utf8(bytes).map_err(|_| StoreError::Read { file: display(path), cause: "not UTF-8 text (manifests escape non-UTF-8 names)".into() })?
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(StoreError::Read { file: display(path), cause: err.to_string() }),
    };
    Ok(Some(Manifest::parse(&display(path), &text)?))
}

pub fn write(path: &Path, text: &str) -> Result<(), StoreError> {
    write_manifest(path, |out| out.write_all(text.as_bytes()))
}

/// Write a manifest to `path` atomically with `write`, as it is rendered.
pub fn write_manifest(path: &Path, write: impl FnOnce(&mut dyn io::Write) -> io::Result<()>) -> Result<(), StoreError> {
    atomic::write_with(path, write).map_err(|err| StoreError::Write { file: display(path), cause: err.to_string() })
}

/// Remove a stale pending snapshot, if any.
pub fn discard_pending(golden: &Path) -> Result<bool, StoreError> {
    let pending = pending_path(golden);
    match fs::remove_file(&pending) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(StoreError::Write { file: display(&pending), cause: err.to_string() }),
    }
}

/// Move `FILE.new` over `FILE` (a rename: atomic on one filesystem).
pub fn accept(golden: &Path) -> Result<(), StoreError> {
    let pending = pending_path(golden);
    if !pending.is_file() {
        return Err(StoreError::NotPending(display(&pending)));
    }
    fs::rename(&pending, golden).map_err(|err| StoreError::Write { file: display(golden), cause: err.to_string() })
}

pub fn reject(golden: &Path) -> Result<(), StoreError> {
    if discard_pending(golden)? {
        Ok(())
    } else {
        Err(StoreError::NotPending(display(&pending_path(golden))))
    }
}

/// Golden files with a pending `.new` below `root` (only files that are manifests; `.git` and
/// `target` are skipped), sorted.
pub fn find_pending(root: &Path) -> Vec<PathBuf> {
    let walker = walkdir::WalkDir::new(root).sort_by_file_name().into_iter().filter_entry(|e| !matches!(e.file_name().to_str(), Some(".git" | "target")));
    walker
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.file_name().to_string_lossy().ends_with(".new"))
        .filter(|e| is_manifest(e.path()))
        .map(|e| golden_path(e.path()))
        .collect()
}

/// Whether the file starts like a manifest (how `optml diff` tells one from an archive).
pub fn is_manifest(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; MAGIC.len()];
    crate::open::regular(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && head == MAGIC.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_never_writes() {
        assert_eq!(UpdateMode::resolve(true, Some("always"), Some("true")).unwrap(), UpdateMode::No);
        assert_eq!(UpdateMode::resolve(false, None, Some("1")).unwrap(), UpdateMode::No);
        assert_eq!(UpdateMode::resolve(false, None, Some("false")).unwrap(), UpdateMode::New);
        assert_eq!(UpdateMode::resolve(false, None, None).unwrap(), UpdateMode::New);
        assert_eq!(UpdateMode::resolve(true, Some("no"), None).unwrap(), UpdateMode::Always);
        assert_eq!(UpdateMode::resolve(false, Some("no"), None).unwrap(), UpdateMode::No);
        assert_eq!(UpdateMode::resolve(false, Some("1"), None).unwrap(), UpdateMode::Always);
        assert_eq!(UpdateMode::resolve(false, Some("1"), Some("true")).unwrap(), UpdateMode::No);
        assert!(UpdateMode::resolve(false, Some("sometimes"), None).is_err());
    }

    #[test]
    fn pending_names() {
        assert_eq!(pending_path(Path::new("a/golden.manifest")), PathBuf::from("a/golden.manifest.new"));
        assert_eq!(golden_path(Path::new("a/golden.manifest.new")), PathBuf::from("a/golden.manifest"));
    }
}
