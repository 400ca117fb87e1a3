//! Job folders: a downloaded `<job>/` with `output/model.tar.gz`, `output/output.tar.gz`, or the
//! uncompressed form where the model is a plain folder. Which names count is layout data.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Role;

/// One artifact a job folder may hold, as declared in the layout (`[[job-artifact]]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobArtifact {
    /// Path relative to the job folder, e.g. `output/model.tar.gz`.
    pub path: String,
    pub role: String,
    /// `archive` (default) or `dir` for uncompressed output.
    #[serde(default)]
    pub form: Option<String>,
}

impl JobArtifact {
    fn is_dir(&self) -> bool {
        self.form.as_deref() == Some("dir")
    }
}

/// One tree or archive to scan.
pub struct Part {
    pub fs_path: PathBuf,
    pub path_prefix: String,
    pub is_archive: bool,
    pub role: Role,
}

impl Part {
    pub fn tree(path: &Path, prefix: &str, role: Role) -> Part {
        Part { fs_path: path.to_path_buf(), path_prefix: prefix.to_string(), is_archive: false, role }
    }
}

/// What a job folder (or an S3 prefix) holds, asked by path relative to it: job detection and
/// the folder-role guess read a listing the same way wherever it came from.
pub trait Holds {
    fn has_dir(&self, rel: &str) -> bool;
    fn has_file(&self, rel: &str) -> bool;
    /// Where `rel` is: a path on disk, or an s3:// url.
    fn join(&self, rel: &str) -> PathBuf;
}

/// A folder on disk.
pub struct Folder<'a>(pub &'a Path);

impl Holds for Folder<'_> {
    fn has_dir(&self, rel: &str) -> bool {
        self.0.join(rel).is_dir()
    }

    fn has_file(&self, rel: &str) -> bool {
        self.0.join(rel).is_file()
    }

    fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

/// The artifacts of `dir` if it looks like a job folder (see [`detect_in`]).
pub fn detect(dir: &Path, artifacts: &[JobArtifact]) -> Option<Vec<Part>> {
    detect_in(&Folder(dir), artifacts)
}

/// The artifacts of a folder if it looks like a job folder: it holds at least one declared
/// archive, or a declared uncompressed folder while having no `model/` of its own (a live
/// /opt/ml tree has `model/` and `output/data/`, which must not be mistaken for a job).
pub fn detect_in(dir: &dyn Holds, artifacts: &[JobArtifact]) -> Option<Vec<Part>> {
    let is_opt_ml = dir.has_dir("model") || dir.has_dir("input");
    let mut parts = Vec::new();
    let mut has_archive = false;
    for artifact in artifacts {
        let role = Role::parse(&artifact.role).unwrap_or(Role::Model);
        if artifact.is_dir() {
            if dir.has_dir(&artifact.path) {
                parts.push(Part::tree(&dir.join(&artifact.path), &artifact.path, role));
            }
        } else if dir.has_file(&artifact.path) {
            has_archive = true;
            parts.push(Part { fs_path: dir.join(&artifact.path), path_prefix: artifact.path.clone(), is_archive: true, role });
        }
    }
    if is_opt_ml {
        return None;
    }
    let uncompressed_model = parts.iter().any(|p| !p.is_archive && p.role == Role::Model);
    (has_archive || uncompressed_model).then_some(parts)
}
