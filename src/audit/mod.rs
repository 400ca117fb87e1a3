//! `optml audit`: the artifacts below a folder, each one's identity, and the record of its
//! check (docs/audit.md). A record depends only on the artifact and the settings, never on the
//! run (no timestamps, no order of completion), so shards, `--jobs` and `--state` re-use all
//! give byte-identical records.

pub mod state;
pub mod summary;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::cli::Shard;
use crate::finding::Summary;
use crate::source::job::{self, JobArtifact};
use crate::source::Role;

/// One thing to check: an archive file, or a job folder (one record for all its archives).
#[derive(Debug)]
pub struct Artifact {
    /// The path as given to check and shown in the record (`<target>/<relative>`).
    pub path: PathBuf,
    /// The path below the target, `/`-separated (`.` for the target itself): what shards hash.
    pub relative: String,
    pub kind: &'static str,
    /// What identifies this version of the artifact: `size` and `mtime_ns` (plus `files` for
    /// a job folder). A changed identity means the stored record is stale.
    pub identity: Value,
}

impl Artifact {
    /// The record's `artifact` field.
    pub fn name(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

/// What the listing found: the artifacts, sorted by path, and the folders it could not read.
pub struct Listing {
    pub artifacts: Vec<Artifact>,
    /// A folder below the target that could not be listed: (path, why).
    pub unlisted: Vec<(String, String)>,
}

/// Whether a file name is that of a gzip-compressed tar, the only archive SageMaker unpacks.
fn is_artifact_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// The kind of an archive, from its name the way check reads it.
fn archive_kind(path: &Path) -> &'static str {
    match Role::from_archive_name(path) {
        Role::Output => "output",
        Role::Code => "source",
        Role::Model | Role::OptMl => "model",
    }
}

fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    use std::os::unix::fs::MetadataExt;
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

/// `size`, `mtime_ns` and the number of files of everything below a job folder: a change to
/// any part (an uncompressed model's files included) changes it.
fn folder_identity(dir: &Path) -> Value {
    let (mut size, mut newest, mut files) = (0u64, i128::MIN, 0u64);
    for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if let Ok(meta) = entry.metadata() {
            newest = newest.max(mtime_ns(&meta));
            if meta.is_file() {
                size += meta.len();
                files += 1;
            }
        }
    }
    json!({"size": size, "mtime_ns": newest, "files": files})
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// Every artifact below `root`: job folders (as `job::detect` recognises them; not descended
/// into) and `.tar.gz`/`.tgz` files outside them. Symbolic links are not followed. `Err` when
/// `root` itself cannot be read.
pub fn list(root: &Path, job_artifacts: &[JobArtifact]) -> Result<Listing, String> {
    let meta = std::fs::metadata(root).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => err.to_string(),
    })?;
    if meta.is_file() {
        let identity = json!({"size": meta.len(), "mtime_ns": mtime_ns(&meta)});
        let artifact = Artifact { path: root.to_path_buf(), relative: ".".into(), kind: archive_kind(root), identity };
        return Ok(Listing { artifacts: vec![artifact], unlisted: Vec::new() });
    }
    if !meta.is_dir() {
        return Err("not a folder or a regular file".into());
    }
    std::fs::read_dir(root).map_err(|err| format!("cannot read the folder: {err}"))?;
    let mut artifacts = Vec::new();
    let mut unlisted = Vec::new();
    let mut walk = walkdir::WalkDir::new(root).into_iter();
    while let Some(entry) = walk.next() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                let path = err.path().map_or_else(|| root.to_string_lossy().into_owned(), |p| p.to_string_lossy().into_owned());
                let why = err.io_error().map_or_else(|| err.to_string(), |io| io.to_string());
                unlisted.push((path, why));
                continue;
            }
        };
        let path = entry.path();
        if entry.file_type().is_dir() {
            if job::detect(path, job_artifacts).is_some() {
                artifacts.push(Artifact { path: path.to_path_buf(), relative: relative(root, path), kind: "job", identity: folder_identity(path) });
                walk.skip_current_dir();
            }
        } else if entry.file_type().is_file() && is_artifact_name(&entry.file_name().to_string_lossy()) {
            let Ok(meta) = entry.metadata() else { continue };
            let identity = json!({"size": meta.len(), "mtime_ns": mtime_ns(&meta)});
            artifacts.push(Artifact { path: path.to_path_buf(), relative: relative(root, path), kind: archive_kind(path), identity });
        }
    }
    artifacts.sort_by(|a, b| a.relative.cmp(&b.relative));
    unlisted.sort();
    Ok(Listing { artifacts, unlisted })
}

/// Whether `relative` falls in `shard`: the first 8 bytes of SHA-256 of the UTF-8 path below
/// the target, as a big-endian integer, modulo N, equals i - 1.
pub fn in_shard(relative: &str, shard: Shard) -> bool {
    let digest = Sha256::digest(relative.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(head) % shard.count == shard.index - 1
}

/// How a check of one artifact ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// Warnings or infos only.
    Findings,
    /// At least one error-severity finding (a corrupt archive is one).
    Errors,
    /// optml could not read the artifact (exit 2 for the run).
    Unreadable,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Findings => "findings",
            Verdict::Errors => "errors",
            Verdict::Unreadable => "unreadable",
        }
    }

    pub const ALL: [Verdict; 4] = [Verdict::Clean, Verdict::Findings, Verdict::Errors, Verdict::Unreadable];

    pub fn parse(name: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|verdict| verdict.as_str() == name)
    }

    pub fn of(summary: &Summary) -> Verdict {
        if summary.errors > 0 {
            Verdict::Errors
        } else if summary.warnings + summary.infos > 0 {
            Verdict::Findings
        } else {
            Verdict::Clean
        }
    }
}

/// The record of a checked artifact: `diagnostics` are check's JSON diagnostics.
pub fn record(artifact: &Artifact, summary: &Summary, diagnostics: Value) -> Value {
    json!({
        "artifact": artifact.name(),
        "kind": artifact.kind,
        "identity": artifact.identity,
        "verdict": Verdict::of(summary).as_str(),
        "counts": summary,
        "diagnostics": diagnostics,
    })
}

/// The record of an artifact optml could not read.
pub fn unreadable_record(artifact: &Artifact, message: &str) -> Value {
    json!({
        "artifact": artifact.name(),
        "kind": artifact.kind,
        "identity": artifact.identity,
        "verdict": Verdict::Unreadable.as_str(),
        "error": message,
        "counts": Summary::default(),
        "diagnostics": [],
    })
}

/// A record's verdict (records are built here, so it is always one of [`Verdict::ALL`]).
pub fn verdict_of(record: &Value) -> Verdict {
    record["verdict"].as_str().and_then(Verdict::parse).unwrap_or(Verdict::Unreadable)
}

/// A record's counts.
pub fn counts_of(record: &Value) -> Summary {
    let count = |key: &str| record["counts"][key].as_u64().unwrap_or(0) as usize;
    Summary { errors: count("errors"), warnings: count("warnings"), infos: count("infos") }
}

/// One record as a JSON Lines line (keys sorted; dangerous characters escaped).
pub fn line(record: &Value) -> String {
    let mut text = crate::report::sanitize::inert_json(serde_json::to_string(record).expect("JSON of plain data"));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_and_cover_everything() {
        for path in ["a/model.tar.gz", "b/output.tar.gz", ".", "job-7"] {
            let hits = (1..=5).filter(|&index| in_shard(path, Shard { index, count: 5 })).count();
            assert_eq!(hits, 1, "{path}");
        }
        assert!(in_shard("anything", Shard { index: 1, count: 1 }));
    }
}
