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

/// The artifacts of `dir` if it looks like a job folder (see [`held`]), as parts to scan.
pub fn detect(dir: &Path, artifacts: &[JobArtifact]) -> Option<Vec<Part>> {
    detect_in(&Folder(dir), artifacts)
}

/// The artifacts of a folder on disk or an S3 listing if it is a job folder (see [`held`]).
pub fn detect_in(dir: &dyn Holds, artifacts: &[JobArtifact]) -> Option<Vec<Part>> {
    let held = held(artifacts, |path| dir.has_file(path), |path| dir.has_dir(path))?;
    let part = |artifact: &JobArtifact| {
        let (path, role) = (dir.join(&artifact.path), Role::parse(&artifact.role).unwrap_or(Role::Model));
        if artifact.is_dir() {
            Part::tree(&path, &artifact.path, role)
        } else {
            Part { fs_path: path, path_prefix: artifact.path.clone(), is_archive: true, role }
        }
    };
    Some(held.into_iter().map(part).collect())
}

/// The declared artifacts a folder holds if it is a job folder, asking `is_file` and `is_dir`
/// about paths relative to it (a folder on disk, or a listing of S3 keys): it holds at least one
/// declared archive, or a declared uncompressed model folder, while having no `model/` or
/// `input/` of its own (a live /opt/ml tree has those, and must not be mistaken for a job).
pub fn held(artifacts: &[JobArtifact], is_file: impl Fn(&str) -> bool, is_dir: impl Fn(&str) -> bool) -> Option<Vec<&JobArtifact>> {
    if is_dir("model") || is_dir("input") {
        return None;
    }
    let held: Vec<&JobArtifact> =
        artifacts.iter().filter(|artifact| if artifact.is_dir() { is_dir(&artifact.path) } else { is_file(&artifact.path) }).collect();
    let role = |artifact: &JobArtifact| Role::parse(&artifact.role).unwrap_or(Role::Model);
    held.iter().any(|artifact| !artifact.is_dir() || role(artifact) == Role::Model).then_some(held)
}
