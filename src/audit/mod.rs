//! `optml audit`: the artifacts below a folder, each one's identity, and the record of its
//! check (docs/audit.md). A record depends only on the artifact and the settings, never on the
//! run (no timestamps, no order of completion), so shards, `--jobs` and `--state` re-use all
//! give byte-identical records.

mod local;
pub mod progress;
mod s3;
pub mod state;
pub mod summary;
mod tree;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::cli::Shard;
use crate::finding::Summary;
use crate::source::job::JobArtifact;
use crate::source::s3::{ObjectMeta, S3Location};

/// One thing to check: an archive file or object, or a job folder or prefix (one record for
/// all its archives).
#[derive(Debug)]
pub struct Artifact {
    /// The path as given to check and shown in the record (`<target>/<relative>`; an S3 job
    /// prefix ends in `/`).
    pub path: PathBuf,
    /// The path below the target, `/`-separated (`.` for the target itself): what shards hash.
    pub relative: String,
    pub kind: &'static str,
    /// What identifies this version of the artifact: locally `size` and `mtime_ns` (plus
    /// `files` for a job folder), on S3 `key`, `etag` and `size` (docs/audit.md). A changed
    /// identity means the stored record is stale.
    pub identity: Value,
    /// The size of what checking it reads (an archive, or all of a job folder): what the
    /// progress bar counts.
    pub bytes: u64,
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

/// Every artifact below `target`, a local folder or file, or an `s3://` prefix or object
/// (docs/audit.md). `Err` says why the target itself cannot be listed.
pub fn list(target: &str, job_artifacts: &[JobArtifact]) -> Result<Listing, String> {
    if S3Location::is_s3(target) {
        s3::list(target, job_artifacts)
    } else {
        local::list(Path::new(target), job_artifacts)
    }
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

/// The record of a checked artifact: `diagnostics` are check's JSON diagnostics; `objects`
/// the metadata of the S3 objects it was streamed from (none for a local artifact).
pub fn record(artifact: &Artifact, summary: &Summary, diagnostics: Value, objects: &[ObjectMeta]) -> Value {
    let mut record = json!({
        "artifact": artifact.name(),
        "kind": artifact.kind,
        "identity": artifact.identity,
        "verdict": Verdict::of(summary).as_str(),
        "counts": summary,
        "diagnostics": diagnostics,
    });
    if !objects.is_empty() {
        record["objects"] = json!(objects);
    }
    record
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
