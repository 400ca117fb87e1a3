//! Which listed paths are artifacts: the one classification of a local folder's walk and of an
//! S3 prefix's listing, so both audits find the same artifacts in the same files.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use crate::source::job::{self, JobArtifact};
use crate::source::Role;

/// What a listing holds, by `/`-separated path below the target (`.` is the target itself).
pub struct Tree<M> {
    /// Regular files (S3 objects), with what the source knows of each.
    pub files: BTreeMap<String, M>,
    /// Folders (S3: every prefix of a key), the target included.
    pub dirs: BTreeSet<String>,
}

/// One artifact the classification found.
#[derive(Debug, PartialEq, Eq)]
pub struct Found {
    pub relative: String,
    /// `job`, or the kind of an archive (`model`, `output`, `source`).
    pub kind: &'static str,
}

/// `name` inside the folder `dir` (both below the target).
pub fn join(dir: &str, name: &str) -> String {
    if dir == "." {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The folders holding `path`, innermost first, the target (`.`) last.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let parents = path.rmatch_indices('/').map(move |(at, _)| &path[..at]);
    parents.chain((path != ".").then_some("."))
}

/// Whether a file name is that of a gzip-compressed tar, the only archive SageMaker unpacks.
fn is_artifact_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// The kind of an archive, from its name the way check reads it.
pub fn archive_kind(path: &str) -> &'static str {
    match Role::from_archive_name(Path::new(path)) {
        Role::Output => "output",
        Role::Code => "source",
        Role::Model | Role::OptMl => "model",
    }
}

/// The entries of `map` below the folder `dir` (all of them for `.`), in path order.
pub fn below<'a, V>(map: &'a BTreeMap<String, V>, dir: &str) -> impl Iterator<Item = (&'a String, &'a V)> + 'a {
    let start = if dir == "." { String::new() } else { format!("{dir}/") };
    map.range(start.clone()..).take_while(move |(path, _)| path.starts_with(&start))
}

impl<M> Default for Tree<M> {
    fn default() -> Tree<M> {
        Tree { files: BTreeMap::new(), dirs: BTreeSet::from([".".to_string()]) }
    }
}

impl<M> Tree<M> {
    /// Add a file, and the folders holding it.
    pub fn add_file(&mut self, path: String, meta: M) {
        for folder in ancestors(&path) {
            if !self.dirs.insert(folder.to_string()) {
                break;
            }
        }
        self.files.insert(path, meta);
    }

    /// Add a folder, and the folders holding it.
    pub fn add_dir(&mut self, path: &str) {
        for folder in std::iter::once(path).chain(ancestors(path)) {
            if !self.dirs.insert(folder.to_string()) {
                break;
            }
        }
    }

    /// The files below the folder `dir`, in path order.
    pub fn files_below<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a String, &'a M)> + 'a {
        below(&self.files, dir)
    }

    /// Every artifact, sorted by path: job folders (as `optml check` recognises one: see
    /// [`job::held`]), not looked into, and `.tar.gz`/`.tgz` files outside them.
    pub fn classify(&self, job_artifacts: &[JobArtifact]) -> Vec<Found> {
        let mut jobs = HashSet::new();
        let mut found = Vec::new();
        // Sorted, so every folder comes after the folders holding it.
        for dir in &self.dirs {
            if ancestors(dir).any(|folder| jobs.contains(folder)) {
                continue;
            }
            let is_file = |path: &str| self.files.contains_key(&join(dir, path));
            let is_dir = |path: &str| self.dirs.contains(&join(dir, path));
            if job::held(job_artifacts, is_file, is_dir).is_some() {
                jobs.insert(dir.as_str());
                found.push(Found { relative: dir.clone(), kind: "job" });
            }
        }
        for path in self.files.keys() {
            let name = path.rsplit('/').next().unwrap_or(path);
            if is_artifact_name(name) && !ancestors(path).any(|folder| jobs.contains(folder)) {
                found.push(Found { relative: path.clone(), kind: archive_kind(path) });
            }
        }
        found.sort_by(|a, b| a.relative.cmp(&b.relative));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Vec<JobArtifact> {
        let artifact = |path: &str, role: &str, form: Option<&str>| JobArtifact { path: path.into(), role: role.into(), form: form.map(str::to_string) };
        vec![
            artifact("output/model.tar.gz", "model", None),
            artifact("model.tar.gz", "model", None),
            artifact("output/model", "model", Some("dir")),
            artifact("output/data", "output", Some("dir")),
        ]
    }

    fn classify(keys: &[&str]) -> Vec<(String, &'static str)> {
        let mut tree = Tree::default();
        for key in keys {
            tree.add_file(key.to_string(), ());
        }
        tree.classify(&layout()).into_iter().map(|f| (f.relative, f.kind)).collect()
    }

    #[test]
    fn jobs_are_not_looked_into_and_loose_archives_are_artifacts() {
        let found = classify(&[
            "a/output/model.tar.gz",
            "a/output/model.tar.gz-extra/sourcedir.tar.gz",
            "a-b/loose-output.tar.gz",
            "b/output/model/weights.bin",
            "c/output/data/metrics.json",
            "d/model/x.bin",
            "d/model.tar.gz",
            "e/sourcedir.tar.gz",
            "notes.txt",
        ]);
        assert_eq!(
            found,
            [
                ("a".to_string(), "job"),
                ("a-b/loose-output.tar.gz".into(), "output"),
                ("b".into(), "job"),
                ("d/model.tar.gz".into(), "model"),
                ("e/sourcedir.tar.gz".into(), "source"),
            ]
        );
    }

    #[test]
    fn the_target_itself_may_be_the_job() {
        assert_eq!(classify(&["output/model.tar.gz", "x/model.tar.gz"]), [(".".to_string(), "job")]);
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a/b", "a", "."]);
        assert_eq!(ancestors(".").count(), 0);
    }
}
