//! Where an image's blobs are: members of a tar (`docker save`, a tarred OCI layout), indexed
//! once by seeking over their data, or files of an OCI layout folder.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::source::members::{Kind, Seeking, Stop, TarReader};

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
        let mut reader = seeking_reader(path)?;
        let mut members = HashMap::new();
        let mut links = Vec::new();
        loop {
            let member = match reader.next_member() {
                Ok(Some(member)) => member,
                Ok(None) => break,
                Err(Stop::Io(err)) => return Err(err),
                Err(Stop::NotTar) => return Err(io::Error::new(io::ErrorKind::InvalidData, "not a tar archive")),
                Err(Stop::Truncated(why) | Stop::Corrupt(why) | Stop::TooLarge(why)) => return Err(io::Error::new(io::ErrorKind::InvalidData, why)),
            };
            let name = clean(&String::from_utf8_lossy(&member.name));
            match (member.kind, member.link) {
                (kind @ (Kind::Symlink | Kind::Hardlink), Some(target)) => {
                    links.push((name, String::from_utf8_lossy(&target).into_owned(), kind == Kind::Symlink))
                }
                // The header is consumed: the data starts where the reader stands.
                (Kind::File, _) => {
                    members.insert(name, (reader.offset(), member.stored));
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

    /// Whether the index has a file (or a link to one) named `name`.
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
/// optml's own reader over the plain tar at `path`, seeking over member data inside a large
/// buffer: reading the headers of 200,000 members costs a few reads, not a read and a seek each.
fn seeking_reader(path: &Path) -> io::Result<TarReader<Seeking<File>>> {
    let mut file = crate::open::regular(path)?;
    let len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    Ok(TarReader::new(Seeking::new(file, len)))
}

/// Whether the tar at `path` has a member named one of `names` (as the index names them),
/// found without building the index: every uncompressed `.tar` given to `check` is asked this,
/// so it hashes and allocates nothing per member and stops at the first match.
pub fn tar_has_member(path: &Path, names: &[&str]) -> bool {
    let Ok(mut reader) = seeking_reader(path) else { return false };
    while let Ok(Some(member)) = reader.next_member() {
        let named = |name: &&str| member.name.ends_with(name.as_bytes()) && clean(&String::from_utf8_lossy(&member.name)) == **name;
        if matches!(member.kind, Kind::File | Kind::Symlink | Kind::Hardlink) && names.iter().any(named) {
            return true;
        }
    }
    false
}

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
