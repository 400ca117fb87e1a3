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

/// The artifacts of `dir` if it looks like a job folder: it holds at least one declared
/// archive, or a declared uncompressed folder while having no `model/` of its own (a live
/// /opt/ml tree has `model/` and `output/data/`, which must not be mistaken for a job).
pub fn detect(dir: &Path, artifacts: &[JobArtifact]) -> Option<Vec<Part>> {
    let is_opt_ml = dir.join("model").is_dir() || dir.join("input").is_dir();
    let mut parts = Vec::new();
    let mut has_archive = false;
    for artifact in artifacts {
        let path = dir.join(&artifact.path);
        let role = Role::parse(&artifact.role).unwrap_or(Role::Model);
        if artifact.is_dir() {
            if path.is_dir() {
                parts.push(Part::tree(&path, &artifact.path, role));
            }
        } else if path.is_file() {
            has_archive = true;
            parts.push(Part { fs_path: path, path_prefix: artifact.path.clone(), is_archive: true, role });
        }
    }
    if is_opt_ml {
        return None;
    }
    let uncompressed_model = parts.iter().any(|p| !p.is_archive && p.role == Role::Model);
    (has_archive || uncompressed_model).then_some(parts)
}
