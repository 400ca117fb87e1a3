//! Walks a live directory tree: never follows symlinks, never opens anything but regular files.

use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use walkdir::WalkDir;

use super::{capture, Problem, ProblemKind, Scan, ScanOptions};
use crate::entry::{normalize_name, Entry, EntryKind};

/// Walk `root` in file-name order. The root itself is followed if it is a symlink (the user
/// named it); nothing below it is. Unreadable directories and files become problems.
pub fn scan(root: &Path, options: &ScanOptions) -> Scan {
    let mut scan = Scan::default();
    let walker = WalkDir::new(root).follow_links(false).follow_root_links(true).sort_by_file_name().min_depth(1);
    for (index, item) in walker.into_iter().enumerate() {
        let dirent = match item {
            Ok(dirent) => dirent,
            Err(err) => {
                let at = err.path().map(|p| relative(root, p)).unwrap_or_default();
                let cause = err.io_error().map(|e| e.to_string()).unwrap_or_else(|| err.to_string());
                let mut problem = Problem::new(ProblemKind::Unreadable, format!("cannot read `{}`: {cause}", String::from_utf8_lossy(&at)));
                problem.path = at;
                scan.problems.push(problem);
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
        match dirent.metadata() {
            Ok(meta) => {
                entry.mode = meta.mode() & 0o7777;
                if kind == EntryKind::File {
                    entry.size = meta.len();
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
        if kind == EntryKind::File && ((options.wants_content)(&entry.member) || options.digest) {
            let read = File::open(dirent.path()).and_then(|mut file| capture(&mut file, &mut entry, options));
            if let Err(err) = read {
                scan.problems.push(unreadable(&member, &err.to_string()));
            }
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
