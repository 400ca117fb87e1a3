//! Walks a live directory tree: never follows symlinks, never opens anything but regular files.

use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use walkdir::WalkDir;

use super::{capture, Problem, ProblemKind, Scan, ScanOptions};
use crate::entry::{normalize_name, Entry, EntryKind};

/// `lstat` relative to the parent directory's descriptor: walkdir's own `metadata()` resolves
/// the full path for every entry, which costs more than the walk itself on deep trees.
/// walkdir walks depth-first, so an entry's parent is the last directory seen one level up.
struct ParentDirs {
    fds: Vec<Option<OwnedFd>>,
}

/// What `lstat` says about an entry: permission bits and size.
struct Stat {
    mode: u32,
    size: u64,
}

impl ParentDirs {
    fn new(root: &Path) -> ParentDirs {
        ParentDirs { fds: vec![open_dir(root).ok()] }
    }

    /// Remember `path` (a directory at `depth`) as the parent of what follows.
    fn enter(&mut self, depth: usize, path: &Path) {
        self.fds.truncate(depth);
        self.fds.resize_with(depth, || None);
        self.fds.push(open_dir(path).ok());
    }

    fn lstat(&self, depth: usize, path: &Path, name: &OsStr) -> io::Result<Stat> {
        let parent = self.fds.get(depth.wrapping_sub(1)).and_then(Option::as_ref);
        let (Some(parent), Ok(name)) = (parent, CString::new(name.as_bytes())) else {
            let meta = fs::symlink_metadata(path)?;
            return Ok(Stat { mode: std::os::unix::fs::MetadataExt::mode(&meta), size: meta.len() });
        };
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `parent` is an open directory descriptor, `name` is NUL-terminated, and
        // `stat` is written by the kernel before it is read.
        let rc = unsafe { libc::fstatat(parent.as_raw_fd(), name.as_ptr(), stat.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let stat = unsafe { stat.assume_init() };
        Ok(Stat { mode: stat.st_mode, size: stat.st_size as u64 })
    }
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let path = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `path` is NUL-terminated; O_PATH opens without reading, so it never blocks.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Walk `root`. The root itself is followed if it is a symlink (the user named it); nothing
/// below it is. Unreadable directories and files become problems. Order is the directory
/// order; reports sort what they print.
pub fn scan(root: &Path, options: &ScanOptions) -> Scan {
    let mut scan = Scan::default();
    let mut parents = ParentDirs::new(root);
    let walker = WalkDir::new(root).follow_links(false).follow_root_links(true).min_depth(1);
    for (index, item) in walker.into_iter().enumerate() {
        let dirent = match item {
            Ok(dirent) => dirent,
            Err(err) => {
                let at = err.path().map(|p| relative(root, p)).unwrap_or_default();
                let cause = err.io_error().map(|e| e.to_string()).unwrap_or_else(|| err.to_string());
                scan.problems.push(unreadable(&at, &cause));
                continue;
            }
        };
        let member = relative(root, dirent.path());
        let file_type = dirent.file_type();
        let kind = if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_file() {
            EntryKind::File
        } else if file_type.is_symlink() {
            EntryKind::Symlink
        } else if file_type.is_fifo() {
            EntryKind::Fifo
        } else if file_type.is_socket() {
            EntryKind::Socket
        } else if file_type.is_char_device() {
            EntryKind::CharDevice
        } else if file_type.is_block_device() {
            EntryKind::BlockDevice
        } else {
            EntryKind::Other
        };
        let normalized = normalize_name(&member);
        let mut entry = Entry::new(normalized.name, kind);
        entry.invalid_name = normalized.invalid;
        entry.index = index;
        match parents.lstat(dirent.depth(), dirent.path(), dirent.file_name()) {
            Ok(stat) => {
                entry.mode = stat.mode & 0o7777;
                if kind == EntryKind::File {
                    entry.size = stat.size;
                }
            }
            Err(err) => scan.problems.push(unreadable(&member, &err.to_string())),
        }
        if kind == EntryKind::Symlink {
            match fs::read_link(dirent.path()) {
                Ok(target) => entry.link_target = Some(target.as_os_str().as_bytes().to_vec()),
                Err(err) => scan.problems.push(unreadable(&member, &err.to_string())),
            }
        }
        if kind == EntryKind::File && options.reads(&entry.member) {
            let read = File::open(dirent.path()).and_then(|mut file| capture(&mut file, &mut entry, options));
            if let Err(err) = read {
                scan.problems.push(unreadable(&member, &err.to_string()));
            }
        }
        if kind == EntryKind::Dir {
            parents.enter(dirent.depth(), dirent.path());
        }
        scan.entries.push(entry);
    }
    scan
}

fn unreadable(member: &[u8], cause: &str) -> Problem {
    let mut problem = Problem::new(ProblemKind::Unreadable, format!("cannot read `{}`: {cause}", String::from_utf8_lossy(member)));
    problem.path = member.to_vec();
    problem
}

fn relative(root: &Path, path: &Path) -> Vec<u8> {
    path.strip_prefix(root).unwrap_or(path).as_os_str().as_bytes().to_vec()
}
