//! Walks a live directory tree: never follows symlinks, never opens anything but regular files.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::limits::Limit;
use super::walk::{Child, Listing, Walk};
use super::{capture, name_too_long, Problem, ProblemKind, Scan, ScanOptions};
use crate::entry::{normalize_name, Entry, EntryKind};
use crate::open::Beneath;

/// Threads listing folders beside the one building entries: the machines optml runs on in CI
/// have two cores or more, and a walk is bound by `getdents64` and `lstat`.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1)).clamp(1, 3)
}

/// Stops the workers however the walk ends, so the thread scope never waits on them.
struct Shutdown<'a>(&'a Walk);

impl Drop for Shutdown<'_> {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

/// Walk `root`. The root itself is followed if it is a symlink (the user named it); nothing
/// below it is. Unreadable folders and files become problems. Folders are listed on worker
/// threads ([`super::walk`]); entries come out depth-first, each folder in the kernel's order,
/// the same on every run of an unchanged tree; reports sort what they print.
pub fn scan(root: &Path, options: &ScanOptions) -> Scan {
    let walk = Walk::new(options.limits.entries, options.limits.path_depth);
    std::thread::scope(|threads| {
        let _shutdown = Shutdown(&walk);
        for _ in 0..workers() {
            threads.spawn(|| walk.work());
        }
        assemble(&walk, root, options)
    })
}

/// One folder being walked: its listing, the next child, and the length of its member prefix.
struct Frame {
    listing: Listing,
    next: usize,
    prefix: usize,
}

/// Turn the listings into entries and problems, depth-first, reading wanted files on the way.
fn assemble(walk: &Walk, root: &Path, options: &ScanOptions) -> Scan {
    let mut scan = Scan::default();
    let limits = options.limits;
    let mut buf = Vec::new();
    let device = crate::open::device(root).unwrap_or(0);
    let root_listing = match CString::new(root.as_os_str().as_bytes()) {
        Ok(name) => walk.root(&name, &mut buf),
        Err(_) => Listing::failed(io::Error::from(io::ErrorKind::InvalidInput)),
    };
    let mut index = 0usize;
    // The member name of the current child; a frame's prefix is its folder's name and a slash.
    let mut member = Vec::new();
    let mut frames = Vec::new();
    listing_error(&mut scan, &mut index, &root_listing, b"");
    frames.push(Frame { listing: root_listing, next: 0, prefix: 0 });
    while let Some(frame) = frames.last_mut() {
        let at = frame.next;
        let Some(child) = frame.listing.children.get_mut(at) else {
            frames.pop();
            continue;
        };
        frame.next += 1;
        let (sub, link) = (child.sub.take(), child.link.take());
        if index as u64 >= limits.entries {
            scan.problems.push(Problem::new(ProblemKind::Limit, limits.reached(Limit::Entries)));
            break;
        }
        index += 1;
        let child = &frame.listing.children[at];
        member.truncate(frame.prefix);
        member.extend_from_slice(frame.listing.name(child));
        let entered = add_entry(&mut scan, &frame.listing, child, link, &member, index - 1, device, options);
        let Some(job) = sub else { continue };
        if !entered {
            walk.discard(&job);
            continue;
        }
        let listing = walk.take(&job, &mut buf);
        listing_error(&mut scan, &mut index, &listing, &member);
        member.push(b'/');
        frames.push(Frame { listing, next: 0, prefix: member.len() });
    }
    scan
}

/// A folder that could not be opened or read to the end, as a problem about it.
fn listing_error(scan: &mut Scan, index: &mut usize, listing: &Listing, member: &[u8]) {
    let Some(err) = &listing.error else { return };
    *index += 1;
    scan.problems.push(match err.raw_os_error() {
        // Listed, then gone before it could be read.
        Some(libc::ENOENT) => changed(member, "vanished"),
        // Listed as a folder, now a symlink or something else: never entered.
        Some(libc::ELOOP | libc::ENOTDIR) => changed(member, "is no longer a folder; it was not entered"),
        _ => unreadable(member, &err.to_string()),
    });
}

/// Add the entry for `child` (named `member`) of `listing`, or the problem that replaces it.
/// Whether a folder is to be entered.
#[allow(clippy::too_many_arguments)]
fn add_entry(
    scan: &mut Scan,
    listing: &Listing,
    child: &Child,
    link: Option<Result<Vec<u8>, i32>>,
    member: &[u8],
    index: usize,
    device: u64,
    options: &ScanOptions,
) -> bool {
    if let Some(detail) = options.limits.name_problem(member) {
        scan.problems.push(name_too_long(member, detail));
        return false;
    }
    let Some(kind) = child.kind else {
        let errno = child.stat.err().unwrap_or(libc::EIO);
        scan.problems.push(match errno {
            libc::ENOENT => changed(member, "vanished"),
            _ => unreadable(member, &io::Error::from_raw_os_error(errno).to_string()),
        });
        return false;
    };
    let normalized = normalize_name(member);
    let mut entry = Entry::new(normalized.name, kind);
    entry.invalid_name = normalized.invalid;
    entry.set_index(index);
    match child.stat {
        Ok(stat) => {
            entry.mode = stat.mode & 0o7777;
            if kind == EntryKind::File {
                entry.size = stat.size;
            }
        }
        // Listed, then gone before it could be looked at: one problem, no entry.
        Err(libc::ENOENT) => {
            scan.problems.push(changed(member, "vanished"));
            return false;
        }
        Err(errno) => scan.problems.push(unreadable(member, &io::Error::from_raw_os_error(errno).to_string())),
    }
    match link {
        Some(Ok(target)) => entry.set_link_target(Some(target)),
        Some(Err(libc::ENOENT)) => {
            scan.problems.push(changed(member, "vanished"));
            return false;
        }
        Some(Err(errno)) => scan.problems.push(unreadable(member, &io::Error::from_raw_os_error(errno).to_string())),
        None => {}
    }
    if kind == EntryKind::File && options.reads(entry.member()) {
        let opened = match &listing.dir {
            Some(dir) => crate::open::beneath(dir, listing.c_name(child), device),
            None => Err(Beneath::Changed("in a folder that changed".into())),
        };
        match opened {
            Ok(mut file) => {
                if let Err(err) = capture(&mut file, &mut entry, options) {
                    scan.problems.push(unreadable(member, &err.to_string()));
                }
            }
            Err(Beneath::Vanished) => {
                scan.problems.push(changed(member, "vanished"));
                return false;
            }
            Err(Beneath::Changed(now)) => scan.problems.push(changed(member, &format!("is now {now}, not the regular file the walk listed; it was not read"))),
            Err(Beneath::Io(err)) => scan.problems.push(unreadable(member, &err.to_string())),
        }
    }
    scan.entries.push(entry);
    kind == EntryKind::Dir
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Limits;
    use std::fs;

    /// Scan `root`, calling `meddle` with each file's name after the walk has listed and
    /// `lstat`ed it and before it is opened: the window a racing writer has.
    fn scan_meddling(root: &Path, meddle: impl Fn(&[u8])) -> Scan {
        let wants = |member: &[u8]| {
            meddle(member);
            true
        };
        scan(root, &ScanOptions { wants_content: &wants, content_limit: 1 << 20, wants_tail: &|_| false, digest: false, limits: Default::default() })
    }

    fn names(scan: &Scan) -> Vec<String> {
        scan.entries.iter().map(|e| String::from_utf8_lossy(e.member()).into_owned()).collect()
    }

    /// Depth-first, each folder in `read_dir` (the kernel's) order: what one thread would walk.
    fn preorder(root: &Path, prefix: &str, out: &mut Vec<String>) {
        for dirent in fs::read_dir(root).unwrap() {
            let dirent = dirent.unwrap();
            let name = format!("{prefix}{}", dirent.file_name().to_str().unwrap());
            out.push(name.clone());
            if dirent.file_type().unwrap().is_dir() {
                preorder(&dirent.path(), &format!("{name}/"), out);
            }
        }
    }

    /// Many folders, listed by several threads: the order is the one-thread depth-first order.
    fn many_folders() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for a in 0..30 {
            for b in 0..4 {
                let folder = dir.path().join(format!("d{a}/e{b}"));
                fs::create_dir_all(&folder).unwrap();
                for f in 0..3 {
                    fs::write(folder.join(format!("f{f}.json")), "{}").unwrap();
                }
            }
        }
        dir
    }

    #[test]
    fn the_parallel_walk_is_depth_first_in_the_same_order_every_run() {
        let dir = many_folders();
        let mut expected = Vec::new();
        preorder(dir.path(), "", &mut expected);
        assert_eq!(expected.len(), 30 + 30 * 4 + 30 * 4 * 3);
        for _ in 0..5 {
            let scan = scan(dir.path(), &ScanOptions::headers(false));
            assert!(scan.problems.is_empty(), "{:?}", scan.problems);
            assert_eq!(names(&scan), expected);
            let indexes: Vec<usize> = scan.entries.iter().map(|e| e.index()).collect();
            assert_eq!(indexes, (0..expected.len()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn max_entries_stops_the_parallel_walk_at_the_same_entry() {
        let dir = many_folders();
        let all = names(&scan(dir.path(), &ScanOptions::headers(false)));
        let limits = Limits { entries: 57, ..Limits::default() };
        let capped = scan(dir.path(), &ScanOptions { limits, ..ScanOptions::headers(false) });
        assert_eq!(names(&capped), all[..57]);
        assert_eq!(capped.problems.len(), 1);
        assert_eq!(capped.problems[0].kind, ProblemKind::Limit);
    }

    #[test]
    fn a_symlinked_folder_is_never_entered() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("real/deep")).unwrap();
        fs::write(dir.path().join("real/deep/config.json"), "{}").unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("real/up")).unwrap();
        let wants = |_: &[u8]| true;
        let scan =
            scan(dir.path(), &ScanOptions { wants_content: &wants, content_limit: 1 << 20, wants_tail: &wants, digest: true, limits: Limits::default() });
        assert!(scan.problems.is_empty(), "{:?}", scan.problems);
        let mut listed = names(&scan);
        listed.sort();
        assert_eq!(listed, ["link", "real", "real/deep", "real/deep/config.json", "real/up"]);
        let link = scan.entries.iter().find(|e| e.member() == b"link").unwrap();
        assert_eq!((link.kind, link.link_target()), (EntryKind::Symlink, Some(b"real".as_slice())));
        assert!(link.content().is_none() && link.digest().is_none());
    }

    #[test]
    fn a_fifo_is_listed_and_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let fifo = CString::new(dir.path().join("sub/pipe.json").as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        // Everything is wanted: opening the FIFO would be reported as "is now a FIFO".
        let wants = |_: &[u8]| true;
        let scan =
            scan(dir.path(), &ScanOptions { wants_content: &wants, content_limit: 1 << 20, wants_tail: &wants, digest: true, limits: Limits::default() });
        assert!(scan.problems.is_empty(), "{:?}", scan.problems);
        let pipe = scan.entries.iter().find(|e| e.member() == b"sub/pipe.json").unwrap();
        assert_eq!(pipe.kind, EntryKind::Fifo);
        assert!(pipe.content().is_none() && pipe.digest().is_none());
    }

    #[test]
    fn a_folder_over_the_name_cap_is_reported_and_not_entered() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..100 {
            fs::create_dir_all(dir.path().join(format!("a-long-folder-name/{i}/x"))).unwrap();
        }
        fs::create_dir(dir.path().join("short")).unwrap();
        let limits = Limits { path_bytes: 10, ..Limits::default() };
        let scan = scan(dir.path(), &ScanOptions { limits, ..ScanOptions::headers(false) });
        assert_eq!(names(&scan), ["short"]);
        assert_eq!(scan.problems.len(), 1, "{:?}", scan.problems);
        assert_eq!((scan.problems[0].kind, scan.problems[0].path.as_slice()), (ProblemKind::NameTooLong, b"a-long-folder-name".as_slice()));
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
        let names: Vec<&[u8]> = scan.entries.iter().map(|e| e.member()).collect();
        assert_eq!(names, [b"config.json".as_slice()], "a vanished file is no entry");
        assert!(scan.entries[0].content().is_none(), "nothing of /dev/zero was read");
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
