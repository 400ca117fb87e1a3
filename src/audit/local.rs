//! The artifacts below a local folder: one walk (symbolic links are not followed), classified
//! as [`super::tree`] does for every source.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use super::tree::{self, Tree};
use super::{Artifact, Listing};
use crate::source::job::JobArtifact;

/// What the walk keeps of a file.
struct FileMeta {
    size: u64,
    mtime_ns: i128,
}

fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    use std::os::unix::fs::MetadataExt;
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
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

/// Every artifact below `root` (see [`Tree::classify`]); a file is one artifact itself. `Err`
/// when `root` itself cannot be read.
pub fn list(root: &Path, job_artifacts: &[JobArtifact]) -> Result<Listing, String> {
    let meta = std::fs::metadata(root).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => err.to_string(),
    })?;
    if meta.is_file() {
        let identity = json!({"size": meta.len(), "mtime_ns": mtime_ns(&meta)});
        let name = root.to_string_lossy();
        let artifact = Artifact { path: root.to_path_buf(), relative: ".".into(), kind: tree::archive_kind(&name), identity, bytes: meta.len() };
        return Ok(Listing { artifacts: vec![artifact], unlisted: Vec::new() });
    }
    if !meta.is_dir() {
        return Err("not a folder or a regular file".into());
    }
    std::fs::read_dir(root).map_err(|err| format!("cannot read the folder: {err}"))?;
    let mut tree: Tree<FileMeta> = Tree::default();
    // Folders' and links' modification times: a rename inside a job folder changes only these.
    let mut other_mtimes: BTreeMap<String, i128> = BTreeMap::new();
    let mut unlisted = Vec::new();
    for entry in walkdir::WalkDir::new(root) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                let path = err.path().unwrap_or(root);
                let why = err.io_error().map_or_else(|| err.to_string(), |io| io.to_string());
                unlisted.push((relative(root, path), path.to_string_lossy().into_owned(), why));
                continue;
            }
        };
        let path = relative(root, entry.path());
        let Ok(meta) = entry.metadata() else { continue };
        if entry.file_type().is_file() {
            tree.add_file(path, FileMeta { size: meta.len(), mtime_ns: mtime_ns(&meta) });
        } else {
            if entry.file_type().is_dir() {
                tree.add_dir(&path);
            }
            other_mtimes.insert(path, mtime_ns(&meta));
        }
    }
    let found = tree.classify(job_artifacts);
    let artifacts: Vec<Artifact> = found
        .into_iter()
        .map(|found| {
            let path = if found.relative == "." { root.to_path_buf() } else { root.join(&found.relative) };
            let (identity, bytes) = if found.kind == "job" {
                // `size`, newest `mtime_ns` and number of files of everything below the folder:
                // a change to any part (an uncompressed model's files included) changes it.
                let (mut size, mut files) = (0u64, 0u64);
                let mut newest = other_mtimes.get(&found.relative).copied().unwrap_or(i128::MIN);
                for (_, file) in tree.files_below(&found.relative) {
                    (size, files, newest) = (size + file.size, files + 1, newest.max(file.mtime_ns));
                }
                for (_, mtime) in tree::below(&other_mtimes, &found.relative) {
                    newest = newest.max(*mtime);
                }
                (json!({"size": size, "mtime_ns": newest, "files": files}), size)
            } else {
                let file = &tree.files[&found.relative];
                (json!({"size": file.size, "mtime_ns": file.mtime_ns}), file.size)
            };
            Artifact { path, relative: found.relative, kind: found.kind, identity, bytes }
        })
        .collect();
    // A job folder is not looked into (its check reports what it cannot read), as before the walk.
    let in_job = |relative: &str| artifacts.iter().any(|a| a.kind == "job" && (a.relative == "." || relative.starts_with(&format!("{}/", a.relative))));
    let mut unlisted: Vec<(String, String)> = unlisted.into_iter().filter(|(rel, _, _)| !in_job(rel)).map(|(_, path, why)| (path, why)).collect();
    unlisted.sort();
    Ok(Listing { artifacts, unlisted })
}
