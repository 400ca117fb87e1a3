//! Where on disk a finding is: the file a CI annotation or a SARIF artifact can point at.
//! Findings keep their place as data (input, part, member); this turns it into repository paths.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::finding::Finding;

/// The file that exists on disk for `finding`: an archive itself (its members are not files),
/// a tree's file, or, for a file a tree lacks, its nearest folder that exists.
pub fn real_file(finding: &Finding) -> PathBuf {
    let (base, member) = match &finding.part {
        Some(part) if part.is_archive => return part.fs_path.clone(),
        Some(part) => (part.fs_path.clone(), finding.member.as_slice()),
        None => (PathBuf::from(&finding.input), finding.member.as_slice()),
    };
    // Member names are relative; one that is not (`/etc/x`, `../x`) never leaves the base.
    let relative = Path::new(OsStr::from_bytes(member)).components().filter(|c| matches!(c, Component::Normal(_)));
    let mut path = base.clone();
    path.extend(relative);
    while path != base && std::fs::symlink_metadata(&path).is_err() {
        path.pop();
    }
    path
}

/// The folder CI paths are relative to: `$GITHUB_WORKSPACE` when set, else the current folder.
/// Paths are compared canonically (a symlinked checkout still matches), and each folder is
/// canonicalized once however many findings are in it.
pub struct Workspace {
    root: PathBuf,
    folders: HashMap<PathBuf, PathBuf>,
}

impl Workspace {
    pub fn from_env() -> Workspace {
        let root = std::env::var_os("GITHUB_WORKSPACE").filter(|w| !w.is_empty()).map(PathBuf::from).unwrap_or_default();
        Workspace::at(&root)
    }

    /// The workspace at `root` (relative to the current folder; "" is the current folder).
    pub fn at(root: &Path) -> Workspace {
        let root = absolute(root);
        Workspace { root: root.canonicalize().unwrap_or(root), folders: HashMap::new() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `path` relative to the workspace when it is inside it (`.` for the workspace itself),
    /// else absolute.
    pub fn relative(&mut self, path: &Path) -> PathBuf {
        let path = absolute(path);
        // The file itself is not resolved: a symlink in the repository is where it is.
        let path = match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => {
                let folder = self.folders.entry(parent.to_path_buf()).or_insert_with(|| parent.canonicalize().unwrap_or_else(|_| parent.to_path_buf()));
                folder.join(name)
            }
            _ => path,
        };
        match path.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
            Ok(rel) => rel.to_path_buf(),
            Err(_) => path,
        }
    }
}

/// `path` made absolute against the current folder, `.` and `..` resolved lexically.
fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(path) };
    lexical(&joined)
}

/// `path` with `.` and `..` resolved without touching the file system.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` as a URI reference: relative paths stay relative, absolute ones become `file://`
/// URIs; every byte outside RFC 3986's unreserved set and `/` is percent-encoded.
pub fn uri(path: &Path) -> String {
    let mut out = String::from(if path.is_absolute() { "file://" } else { "" });
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_inside_the_workspace_absolute_outside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ws/models")).unwrap();
        std::fs::write(dir.path().join("ws/models/model.tar.gz"), b"").unwrap();
        let ws = dir.path().join("ws");
        std::os::unix::fs::symlink(&ws, dir.path().join("link")).unwrap();
        let mut workspace = Workspace::at(&dir.path().join("link"));
        assert_eq!(workspace.relative(&ws.join("models/./model.tar.gz")), Path::new("models/model.tar.gz"));
        assert_eq!(workspace.relative(&ws.join("models/../models/gone.tar.gz")), Path::new("models/gone.tar.gz"));
        assert_eq!(workspace.relative(&ws), Path::new("."));
        assert!(workspace.relative(&dir.path().join("elsewhere.tar.gz")).is_absolute());
    }

    #[test]
    fn uris_encode_what_is_not_plain() {
        assert_eq!(uri(Path::new("models/my model#1.tar.gz")), "models/my%20model%231.tar.gz");
        assert_eq!(uri(Path::new("/tmp/x:y")), "file:///tmp/x%3Ay");
        assert_eq!(uri(Path::new(OsStr::from_bytes(b"caf\xc3\xa9\n"))), "caf%C3%A9%0A");
    }
}
