//! Folders to a deterministic tar.gz, as `optml pack` and the run harness write them: members
//! sorted by name, bare names (no `./`, no root entry), modes normalised to 0644/0755, owner
//! root, mtime 0 (see [`crate::tarwriter`]). Several folders (one per host) merge into one
//! archive the way SageMaker aggregates hosts: a later host's file replaces an earlier one's,
//! and every such collision is reported.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::entry::{lossy, Entry, EntryKind};
use crate::facts::link_escapes;
use crate::source::Role;
use crate::tarwriter::TarWriter;

#[derive(Clone, Copy, Debug)]
pub struct PackOptions {
    /// gzip level, 0-9.
    pub level: u32,
    /// Store what symlinks point to instead of the links (and allow links leaving the folder).
    pub dereference: bool,
}

/// One folder to pack; `label` names it in collisions (a host name).
pub struct PackSource<'a> {
    pub label: &'a str,
    pub dir: &'a Path,
}

/// A member more than one source holds: the last label's copy is the one packed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collision {
    /// The member name (lossy where it is not UTF-8).
    pub member: String,
    pub labels: Vec<String>,
    /// Every copy has the same type and bytes.
    pub identical: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Packed {
    pub files: usize,
    /// Bytes of regular files packed (before compression).
    pub bytes: u64,
    /// Size of the archive written.
    pub archive_bytes: u64,
    pub collisions: Vec<Collision>,
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path} is a symlink to {target}, outside the folder being packed; pass --dereference to store the file it points to")]
    EscapingSymlink { path: String, target: String },
    #[error("{path} is a {kind}; an archive for SageMaker can hold only files, folders and symlinks")]
    Special { path: String, kind: &'static str },
}

#[derive(Clone, Debug)]
enum Kind {
    Dir,
    File { size: u64, executable: bool },
    Symlink(PathBuf),
}

#[derive(Clone, Debug)]
struct Member {
    kind: Kind,
    fs_path: PathBuf,
    label: usize,
    /// Listed with --dereference: the file may be reached through a symlink.
    dereference: bool,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PackError + '_ {
    move |source| PackError::Io { path: path.display().to_string(), source }
}

/// List one source: member name (any bytes) -> what is there, walking in name order.
fn list(dir: &Path, label: usize, options: PackOptions) -> Result<Vec<(Vec<u8>, Member)>, PackError> {
    let mut members = Vec::new();
    for item in WalkDir::new(dir).follow_links(options.dereference).follow_root_links(true).sort_by_file_name().min_depth(1) {
        let item = item.map_err(|err| {
            let path = err.path().unwrap_or(dir).display().to_string();
            PackError::Io { path, source: err.into() }
        })?;
        let rel = item.path().strip_prefix(dir).unwrap_or(item.path());
        let name = rel.as_os_str().as_bytes().to_vec();
        let file_type = item.file_type();
        let kind = if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_symlink() {
            let target = fs::read_link(item.path()).map_err(io_error(item.path()))?;
            let mut entry = Entry::new(rel.as_os_str().as_bytes().to_vec(), EntryKind::Symlink);
            entry.set_link_target(Some(target.as_os_str().as_bytes().to_vec()));
            if link_escapes(&entry, Role::Model) {
                return Err(PackError::EscapingSymlink { path: item.path().display().to_string(), target: lossy(target.as_os_str().as_bytes()) });
            }
            Kind::Symlink(target)
        } else if file_type.is_file() {
            let meta = item.metadata().map_err(|err| PackError::Io { path: item.path().display().to_string(), source: err.into() })?;
            Kind::File { size: meta.len(), executable: meta.mode() & 0o111 != 0 }
        } else {
            let kind = if file_type.is_fifo() {
                "FIFO"
            } else if file_type.is_socket() {
                "socket"
            } else {
                "device"
            };
            return Err(PackError::Special { path: item.path().display().to_string(), kind });
        };
        members.push((name, Member { kind, fs_path: item.path().to_path_buf(), label, dereference: options.dereference }));
    }
    Ok(members)
}

/// The file a listing found, at most `size` bytes of it (a file that grew since it was listed
/// must not overrun its header's size). Without --dereference, a symlink swapped in since the
/// listing is refused rather than followed out of the folder.
fn open_listed(member: &Member, size: u64) -> Result<io::Take<fs::File>, PackError> {
    let path = &member.fs_path;
    let file = if member.dereference { crate::open::regular(path) } else { crate::open::regular_no_follow(path) };
    Ok(file.map_err(io_error(path))?.take(size))
}

/// Whether two members have the same type and content.
fn same(a: &Member, b: &Member) -> Result<bool, PackError> {
    match (&a.kind, &b.kind) {
        (Kind::Dir, Kind::Dir) => Ok(true),
        (Kind::Symlink(x), Kind::Symlink(y)) => Ok(x == y),
        (Kind::File { size: x, .. }, Kind::File { size: y, .. }) if x == y => {
            let read = |m: &Member| {
                let mut bytes = Vec::new();
                open_listed(m, *x)?.read_to_end(&mut bytes).map_err(io_error(&m.fs_path))?;
                Ok::<_, PackError>(bytes)
            };
            Ok(read(a)? == read(b)?)
        }
        _ => Ok(false),
    }
}

/// The member name `target` has inside `dir`, when it lies there: `optml pack DIR -o
/// DIR/model.tar.gz` must not pack the previous archive into the new one. (Its temp file is
/// created after the listing, so it is never listed.)
fn name_inside(dir: &Path, target: &Path) -> Option<Vec<u8>> {
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let below = parent.canonicalize().ok()?.strip_prefix(dir.canonicalize().ok()?).ok()?.to_path_buf();
    Some(below.join(target.file_name()?).into_os_string().into_vec())
}

/// Pack `sources` (merged in order) into `target`, atomically.
pub fn pack(sources: &[PackSource], target: &Path, options: PackOptions) -> Result<Packed, PackError> {
    let mut merged: BTreeMap<Vec<u8>, Member> = BTreeMap::new();
    let mut collisions: BTreeMap<Vec<u8>, Collision> = BTreeMap::new();
    for (index, source) in sources.iter().enumerate() {
        if !source.dir.is_dir() {
            continue;
        }
        let output = name_inside(source.dir, target);
        for (name, member) in list(source.dir, index, options)? {
            if output.as_ref() == Some(&name) {
                continue;
            }
            if let Some(earlier) = merged.get(&name) {
                let both_dirs = matches!((&earlier.kind, &member.kind), (Kind::Dir, Kind::Dir));
                if !both_dirs {
                    let identical = same(earlier, &member)?;
                    let collision = collisions.entry(name.clone()).or_insert_with(|| Collision {
                        member: lossy(&name),
                        labels: vec![sources[earlier.label].label.to_string()],
                        identical: true,
                    });
                    collision.labels.push(source.label.to_string());
                    collision.identical &= identical;
                }
            }
            merged.insert(name, member);
        }
    }
    let mut writer = TarWriter::create(target, options.level).map_err(io_error(target))?;
    let mut packed = Packed::default();
    for (name, member) in &merged {
        let name = OsStr::from_bytes(name);
        let path = &member.fs_path;
        match &member.kind {
            Kind::Dir => writer.append_dir(name, 0o755),
            Kind::Symlink(link) => writer.append_symlink(name, link),
            Kind::File { size, executable } => {
                packed.files += 1;
                packed.bytes += size;
                let file = open_listed(member, *size)?;
                writer.append_file(name, if *executable { 0o755 } else { 0o644 }, *size, file)
            }
        }
        .map_err(io_error(path))?;
    }
    writer.finish().map_err(io_error(target))?;
    packed.archive_bytes = fs::metadata(target).map_err(io_error(target))?.len();
    packed.collisions = collisions.into_values().collect();
    Ok(packed)
}
