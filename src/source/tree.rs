//! Walks a live directory tree: never follows symlinks, never opens anything but regular files.

use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use walkdir::WalkDir;

use super::limits::Limit;
use super::{capture, name_too_long, Problem, ProblemKind, Scan, ScanOptions};
use crate::entry::{normalize_name, Entry, EntryKind};
use crate::open::Beneath;

/// `lstat` relative to the parent directory's descriptor: walkdir's own `metadata()` resolves
/// the full path for every entry, which costs more than the walk itself on deep trees.
/// walkdir walks depth-first, so an entry's parent is the last directory seen one level up.
struct ParentDirs {
    fds: Vec<Option<OwnedFd>>,
    /// The root's device: a file on another one was mounted over the tree during the walk.
    device: u64,
}

/// What `lstat` says about an entry: permission bits and size.
struct Stat {
    mode: u32,
    size: u64,
}

impl ParentDirs {
    fn new(root: &Path) -> ParentDirs {
        // The root is followed if it is a symlink: the user named it.
        ParentDirs { fds: vec![open_dir(root, 0).ok()], device: crate::open::device(root).unwrap_or(0) }
    }

    /// Remember `path` (a directory at `depth`) as the parent of what follows. A directory
    /// swapped for a symlink since the walk listed it is not followed: its files then fail to
    /// open as "changed".
    fn enter(&mut self, depth: usize, path: &Path) {
        self.fds.truncate(depth);
        self.fds.resize_with(depth, || None);
        self.fds.push(open_dir(path, libc::O_NOFOLLOW).ok());
    }

    /// Open the regular file `name` at `depth` through its parent's descriptor.
    fn open(&self, depth: usize, name: &OsStr) -> Result<File, Beneath> {
        let parent = self.fds.get(depth.wrapping_sub(1)).and_then(Option::as_ref);
        let Some(parent) = parent else { return Err(Beneath::Changed("in a folder that changed".into())) };
        let name = CString::new(name.as_bytes()).map_err(|_| Beneath::Io(io::Error::from(io::ErrorKind::InvalidInput)))?;
        crate::open::beneath(parent, &name, self.device)
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

fn open_dir(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let path = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `path` is NUL-terminated; O_PATH opens without reading, so it never blocks.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC | flags) };
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
    let limits = options.limits;
    // One level past the depth cap is listed, to be reported; nothing deeper is walked.
    let walker = WalkDir::new(root).follow_links(false).follow_root_links(true).min_depth(1).max_depth(limits.path_depth.saturating_add(1) as usize);
    for (index, item) in walker.into_iter().enumerate() {
        if index as u64 >= limits.entries {
            scan.problems.push(Problem::new(ProblemKind::Limit, limits.reached(Limit::Entries)));
            break;
        }
        let dirent = match item {
            Ok(dirent) => dirent,
            Err(err) => {
                let at = err.path().map(|p| relative(root, p)).unwrap_or_default();
                if err.io_error().is_some_and(|e| e.kind() == io::ErrorKind::NotFound) {
                    scan.problems.push(changed(&at, "vanished"));
                    continue;
                }
                let cause = err.io_error().map(|e| e.to_string()).unwrap_or_else(|| err.to_string());
                scan.problems.push(unreadable(&at, &cause));
                continue;
            }
        };
        let member = relative(root, dirent.path());
        if let Some(detail) = limits.name_problem(&member) {
            scan.problems.push(name_too_long(&member, detail));
            continue;
        }
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
            // Listed, then gone before it could be looked at: one problem, no entry.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                scan.problems.push(changed(&member, "vanished"));
                continue;
            }
            Err(err) => scan.problems.push(unreadable(&member, &err.to_string())),
        }
        if kind == EntryKind::Symlink {
            match fs::read_link(dirent.path()) {
                Ok(target) => entry.link_target = Some(target.as_os_str().as_bytes().to_vec()),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    scan.problems.push(changed(&member, "vanished"));
                    continue;
                }
                Err(err) => scan.problems.push(unreadable(&member, &err.to_string())),
            }
        }
        if kind == EntryKind::File && options.reads(&entry.member) {
            match parents.open(dirent.depth(), dirent.file_name()) {
                Ok(mut file) => {
                    if let Err(err) = capture(&mut file, &mut entry, options) {
                        scan.problems.push(unreadable(&member, &err.to_string()));
                    }
                }
                Err(Beneath::Vanished) => {
                    scan.problems.push(changed(&member, "vanished"));
                    continue;
                }
                Err(Beneath::Changed(now)) => {
                    scan.problems.push(changed(&member, &format!("is now {now}, not the regular file the walk listed; it was not read")))
                }
                Err(Beneath::Io(err)) => scan.problems.push(unreadable(&member, &err.to_string())),
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

/// `member` vanished or changed between the walk listing it and optml reading it.
fn changed(member: &[u8], how: &str) -> Problem {
    let mut problem = Problem::new(ProblemKind::Changed, format!("`{}` changed during the check: {how}", String::from_utf8_lossy(member)));
    problem.path = member.to_vec();
    problem
}

fn relative(root: &Path, path: &Path) -> Vec<u8> {
    path.strip_prefix(root).unwrap_or(path).as_os_str().as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scan `root`, calling `meddle` with each file's name after the walk has listed and
    /// `lstat`ed it and before it is opened: the window a racing writer has.
    fn scan_meddling(root: &Path, meddle: impl Fn(&[u8])) -> Scan {
        let wants = |member: &[u8]| {
            meddle(member);
            true
        };
        scan(root, &ScanOptions { wants_content: &wants, content_limit: 1 << 20, wants_tail: &|_| false, digest: false, limits: Default::default() })
    }

    #[test]
    fn a_file_swapped_between_walk_and_open_is_reported_not_read() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("config.json"), "{}").unwrap();
        fs::write(dir.path().join("gone.json"), "{}").unwrap();
        let scan = scan_meddling(dir.path(), |member| {
            let path = dir.path().join(std::str::from_utf8(member).unwrap());
            fs::remove_file(&path).unwrap();
            if member == b"config.json" {
                std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
            }
        });
        let details: Vec<&str> = scan.problems.iter().map(|p| p.detail.as_str()).collect();
        assert_eq!(scan.problems.iter().filter(|p| p.kind == ProblemKind::Changed).count(), 2, "{details:?}");
        assert!(
            details.contains(&"`config.json` changed during the check: is now a symlink, not the regular file the walk listed; it was not read"),
            "{details:?}"
        );
        assert!(details.contains(&"`gone.json` changed during the check: vanished"), "{details:?}");
        let names: Vec<&[u8]> = scan.entries.iter().map(|e| e.member.as_slice()).collect();
        assert_eq!(names, [b"config.json".as_slice()], "a vanished file is no entry");
        assert!(scan.entries[0].content.is_none(), "nothing of /dev/zero was read");
    }

    #[test]
    fn a_file_swapped_for_a_fifo_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("config.json"), "{}").unwrap();
        let scan = scan_meddling(dir.path(), |member| {
            let path = dir.path().join(std::str::from_utf8(member).unwrap());
            fs::remove_file(&path).unwrap();
            let name = CString::new(path.as_os_str().as_bytes()).unwrap();
            assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
        });
        assert_eq!(scan.problems.len(), 1);
        assert!(scan.problems[0].detail.contains("is now a FIFO"), "{:?}", scan.problems);
    }
}
