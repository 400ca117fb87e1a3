//! Where an image's blobs are: members of a tar (`docker save`, a tarred OCI layout), indexed
//! once by seeking over their data, or files of an OCI layout folder.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The JSON documents of an image (manifests, indexes, configs) are small; a larger one is
/// reported as broken rather than read into memory.
pub const JSON_LIMIT: u64 = 16 * 1024 * 1024;

pub enum Store {
    /// Member name -> (data offset, size) in the tar at `path`.
    Tar {
        path: PathBuf,
        members: HashMap<String, (u64, u64)>,
    },
    Folder(PathBuf),
}

/// One blob, opened: read `len` bytes of `file` from `start`.
pub struct Blob {
    pub file: File,
    pub start: u64,
    pub len: u64,
}

impl Store {
    /// Index the tar at `path`. Symlinked members (`docker save` links repeated layers) point
    /// at the member they name. An error means the outer tar itself is unreadable.
    pub fn tar(path: &Path) -> io::Result<Store> {
        let mut archive = tar::Archive::new(crate::open::regular(path)?);
        let mut members = HashMap::new();
        let mut links = Vec::new();
        for entry in archive.entries_with_seek()? {
            let entry = entry?;
            let name = clean(&String::from_utf8_lossy(&entry.path_bytes()));
            match entry.header().entry_type() {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    if let Some(target) = entry.link_name_bytes() {
                        links.push((name, String::from_utf8_lossy(&target).into_owned(), entry.header().entry_type().is_symlink()));
                    }
                }
                kind if kind.is_file() => {
                    members.insert(name, (entry.raw_file_position(), entry.size()));
                }
                _ => {}
            }
        }
        for (name, target, symlink) in links {
            // A symlink's target is relative to its folder; a hard link's to the archive root.
            let resolved = match name.rsplit_once('/') {
                Some((folder, _)) if symlink && !target.starts_with('/') => clean(&format!("{folder}/{target}")),
                _ => clean(&target),
            };
            if let Some(&place) = members.get(&resolved) {
                members.insert(name, place);
            }
        }
        Ok(Store::Tar { path: path.to_path_buf(), members })
    }

    pub fn has(&self, name: &str) -> bool {
        match self {
            Store::Tar { members, .. } => members.contains_key(name),
            Store::Folder(dir) => dir.join(name).is_file(),
        }
    }

    /// The blob called `name`; `Ok(None)` when there is none.
    pub fn open(&self, name: &str) -> io::Result<Option<Blob>> {
        match self {
            Store::Tar { path, members } => match members.get(name) {
                Some(&(start, len)) => {
                    let mut file = crate::open::regular(path)?;
                    file.seek(SeekFrom::Start(start))?;
                    Ok(Some(Blob { file, start, len }))
                }
                None => Ok(None),
            },
            Store::Folder(dir) => {
                let path = dir.join(name);
                if !path.is_file() {
                    return Ok(None);
                }
                let file = crate::open::regular(&path)?;
                let len = file.metadata()?.len();
                Ok(Some(Blob { file, start: 0, len }))
            }
        }
    }

    /// Parse the JSON blob `name`; the error says what is wrong with it.
    pub fn json(&self, name: &str) -> Result<serde_json::Value, String> {
        let blob = self.open(name).map_err(|err| format!("{name} cannot be read: {err}"))?.ok_or_else(|| format!("{name} is missing"))?;
        if blob.len > JSON_LIMIT {
            return Err(format!("{name} is {} bytes, more than any image manifest or config", blob.len));
        }
        let mut bytes = Vec::new();
        blob.file.take(blob.len).read_to_end(&mut bytes).map_err(|err| format!("{name} cannot be read: {err}"))?;
        serde_json::from_slice(&bytes).map_err(|err| format!("{name} is not valid JSON: {err}"))
    }
}

/// `./a//b` -> `a/b`, `x/../y` -> `y`.
fn clean(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}
