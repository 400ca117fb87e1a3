//! Lists the folders of a tree on worker threads while the caller consumes the listings in walk
//! order. `getdents64` and one `fstatat` per entry (relative to the folder's own descriptor) are
//! most of a tree check; here they run on the other core while the caller builds entries.
//!
//! Each folder is a [`Job`]. Listing a folder opens it with `O_NOFOLLOW | O_DIRECTORY` relative
//! to its parent's descriptor (a folder swapped for a symlink is never entered), reads its names,
//! `lstat`s and `readlink`s each relative to it, and queues its subfolders as new jobs. Workers
//! take jobs last-in first-out, which approximates the depth-first order the caller walks in;
//! the caller lists a folder itself when no worker has started it, so it never waits on a job
//! nobody holds. Finished listings the caller has not reached yet are capped ([`READ_AHEAD`]):
//! each holds a descriptor, so read-ahead never exhausts them. The order the caller sees is the
//! kernel's order within each folder, depth-first, whatever the threads' timing.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::entry::EntryKind;

/// Finished listings not yet consumed by the walk, at most.
const READ_AHEAD: usize = 64;
/// The `getdents64` buffer: glibc's `readdir` uses 32 KiB too.
const DIRENT_BUFFER: usize = 32 * 1024;

/// What `lstat` says about an entry: the mode (type and permission bits) and size.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub mode: u32,
    pub size: u64,
}

/// One name of a listed folder, as the folder read and `lstat` saw it.
pub struct Child {
    /// The name in [`Listing::names`], NUL-terminated.
    start: usize,
    len: usize,
    /// From the folder read, or from `lstat` when the file system does not say (`DT_UNKNOWN`).
    /// `None` when neither could tell.
    pub kind: Option<EntryKind>,
    /// The `errno` of a failed `lstat`.
    pub stat: Result<Stat, i32>,
    /// A symlink's target, or the `errno` of a failed `readlink`.
    pub link: Option<Result<Vec<u8>, i32>>,
    /// A subfolder within the depth cap: the job listing it.
    pub sub: Option<Arc<Job>>,
}

/// One folder's names, in the kernel's order.
#[derive(Default)]
pub struct Listing {
    /// The folder's descriptor, to open its files relative to it; `None` if it could not be opened.
    pub dir: Option<Arc<OwnedFd>>,
    names: Vec<u8>,
    pub children: Vec<Child>,
    /// Opening or reading the folder failed (after `children` were read, if any).
    pub error: Option<io::Error>,
    /// Listed by a worker: holds one of the [`READ_AHEAD`] places until consumed.
    read_ahead: bool,
}

impl Listing {
    pub fn failed(error: io::Error) -> Listing {
        Listing { error: Some(error), ..Listing::default() }
    }

    /// The name of `child` (without the NUL).
    pub fn name(&self, child: &Child) -> &[u8] {
        &self.names[child.start..child.start + child.len]
    }

    pub fn c_name(&self, child: &Child) -> &CStr {
        // The arena holds each name followed by its NUL, and names never contain one.
        CStr::from_bytes_with_nul(&self.names[child.start..=child.start + child.len]).unwrap_or_default()
    }
}

enum State {
    /// Not started: the parent's descriptor and the folder's name in it.
    Pending(Arc<OwnedFd>, CString),
    /// A worker is listing it.
    Claimed,
    /// The walk will not enter it; the worker listing it drops the result.
    Abandoned,
    Done(Listing),
    Taken,
}

/// One folder to list.
pub struct Job {
    state: Mutex<State>,
    done: Condvar,
    /// Components below the root: the root's children are at depth 1.
    depth: u64,
}

struct Queue {
    stack: Vec<Arc<Job>>,
    /// Places left for finished, unconsumed listings.
    read_ahead: usize,
    shutdown: bool,
}

/// The shared state of one walk: the job stack and the limits.
pub struct Walk {
    queue: Mutex<Queue>,
    wake: Condvar,
    shutdown: AtomicBool,
    /// Names read so far by every lister.
    listed: AtomicU64,
    /// No folder contributes more names than this, and workers stop past it in total: the walk
    /// stops at `--max-entries`, so reading on would be work and memory for nothing.
    max_names: u64,
    /// Folders deeper than this are not listed (one level past is still reported by the walk).
    max_depth: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Walk {
    pub fn new(max_entries: u64, max_depth: u64) -> Walk {
        Walk {
            queue: Mutex::new(Queue { stack: Vec::new(), read_ahead: READ_AHEAD, shutdown: false }),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
            listed: AtomicU64::new(0),
            max_names: max_entries.saturating_add(1),
            max_depth,
        }
    }

    /// List the root (the caller's own thread), following it if it is a symlink: the user named it.
    pub fn root(&self, root: &CStr, buf: &mut Vec<u8>) -> Listing {
        // SAFETY: `root` is NUL-terminated; opening a folder O_RDONLY never blocks.
        let fd = unsafe { libc::open(root.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        match owned(fd) {
            Ok(dir) => self.read(dir, 0, buf),
            Err(err) => Listing::failed(err),
        }
    }

    /// A worker: list queued folders until the walk shuts down.
    pub fn work(&self) {
        let mut buf = Vec::new();
        loop {
            let job = {
                let mut queue = lock(&self.queue);
                loop {
                    if queue.shutdown {
                        return;
                    }
                    if queue.read_ahead > 0 && self.listed.load(Ordering::Relaxed) <= self.max_names {
                        if let Some(job) = queue.stack.pop() {
                            queue.read_ahead -= 1;
                            break job;
                        }
                    }
                    queue = self.wake.wait(queue).unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            };
            let pending = std::mem::replace(&mut *lock(&job.state), State::Claimed);
            let State::Pending(parent, name) = pending else {
                // Taken by the walk itself, or abandoned, before a worker got to it.
                *lock(&job.state) = pending;
                self.release();
                continue;
            };
            let mut listing = self.open(&parent, &name, job.depth, &mut buf);
            listing.read_ahead = true;
            let mut state = lock(&job.state);
            if matches!(*state, State::Abandoned) {
                drop(state);
                self.discard_listing(listing);
            } else {
                *state = State::Done(listing);
                job.done.notify_all();
            }
        }
    }

    /// Stop the workers; queued jobs are dropped.
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
        lock(&self.queue).shutdown = true;
        self.wake.notify_all();
    }

    /// The listing of `job`: waits for the worker listing it, or lists it here if none has started.
    pub fn take(&self, job: &Job, buf: &mut Vec<u8>) -> Listing {
        let mut state = lock(&job.state);
        loop {
            match std::mem::replace(&mut *state, State::Taken) {
                State::Pending(parent, name) => {
                    drop(state);
                    return self.open(&parent, &name, job.depth, buf);
                }
                State::Done(listing) => {
                    if listing.read_ahead {
                        self.release();
                    }
                    return listing;
                }
                State::Claimed => {
                    *state = State::Claimed;
                    state = job.done.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                // Each job is taken or discarded once, by the one walk that holds it.
                State::Abandoned | State::Taken => return Listing::default(),
            }
        }
    }

    /// The walk will not enter `job`'s folder (a name over the caps, an entry that vanished):
    /// drop its listing, and its subfolders' jobs, wherever they are.
    pub fn discard(&self, job: &Job) {
        let mut state = lock(&job.state);
        match std::mem::replace(&mut *state, State::Taken) {
            State::Claimed => *state = State::Abandoned,
            State::Done(listing) => {
                drop(state);
                self.discard_listing(listing);
            }
            State::Pending(..) | State::Abandoned | State::Taken => {}
        }
    }

    fn discard_listing(&self, listing: Listing) {
        if listing.read_ahead {
            self.release();
        }
        for child in &listing.children {
            if let Some(job) = &child.sub {
                self.discard(job);
            }
        }
    }

    fn release(&self) {
        lock(&self.queue).read_ahead += 1;
        self.wake.notify_one();
    }

    /// Open the folder `name` in `parent` without following a symlink, and list it.
    fn open(&self, parent: &OwnedFd, name: &CStr, depth: u64, buf: &mut Vec<u8>) -> Listing {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
        // SAFETY: `parent` is an open folder descriptor and `name` is NUL-terminated.
        match owned(unsafe { libc::openat(parent.as_raw_fd(), name.as_ptr(), flags) }) {
            Ok(dir) => self.read(dir, depth, buf),
            Err(err) => Listing::failed(err),
        }
    }

    /// Read every name of the open folder `dir` (at `depth`), `lstat` each, queue its subfolders.
    fn read(&self, dir: OwnedFd, depth: u64, buf: &mut Vec<u8>) -> Listing {
        buf.resize(DIRENT_BUFFER, 0);
        let dir = Arc::new(dir);
        let mut listing = Listing { dir: Some(dir.clone()), ..Listing::default() };
        'read: loop {
            if self.shutdown.load(Ordering::Relaxed) {
                break;
            }
            // SAFETY: `dir` is an open folder descriptor; the kernel writes at most `buf.len()` bytes.
            let read = unsafe { libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
            if read < 0 {
                listing.error = Some(io::Error::last_os_error());
                break;
            }
            let mut records = &buf[..read as usize];
            if records.is_empty() {
                break;
            }
            // struct linux_dirent64: u64 d_ino, i64 d_off, u16 d_reclen, u8 d_type, d_name (NUL-terminated).
            while records.len() >= 20 {
                let record_len = usize::from(u16::from_ne_bytes([records[16], records[17]]));
                let Some(record) = records.get(..record_len).filter(|_| record_len >= 20) else {
                    listing.error = Some(io::Error::new(io::ErrorKind::InvalidData, "a malformed folder record from the kernel"));
                    break 'read;
                };
                records = &records[record_len..];
                let d_type = record[18];
                let name_len = record[19..].iter().position(|&b| b == 0).unwrap_or(record_len - 19);
                let name = &record[19..19 + name_len];
                if name == b"." || name == b".." {
                    continue;
                }
                if listing.children.len() as u64 >= self.max_names {
                    break 'read;
                }
                self.listed.fetch_add(1, Ordering::Relaxed);
                let child = self.child(&dir, &mut listing.names, name, d_type, depth + 1);
                listing.children.push(child);
            }
        }
        let subs: Vec<Arc<Job>> = listing.children.iter().rev().filter_map(|child| child.sub.clone()).collect();
        if !subs.is_empty() {
            lock(&self.queue).stack.extend(subs);
            self.wake.notify_all();
        }
        listing
    }

    fn child(&self, dir: &Arc<OwnedFd>, names: &mut Vec<u8>, name: &[u8], d_type: u8, depth: u64) -> Child {
        let start = names.len();
        names.extend_from_slice(name);
        names.push(0);
        let c_name = CStr::from_bytes_with_nul(&names[start..]).unwrap_or_default();
        let stat = lstat_at(dir, c_name);
        let kind = kind_of_dirent(d_type).or_else(|| stat.ok().map(|stat| kind_of_mode(stat.mode)));
        let link = (kind == Some(EntryKind::Symlink)).then(|| read_link_at(dir, c_name));
        let sub = (kind == Some(EntryKind::Dir) && depth <= self.max_depth)
            .then(|| Arc::new(Job { state: Mutex::new(State::Pending(dir.clone(), c_name.to_owned())), done: Condvar::new(), depth }));
        Child { start, len: name.len(), kind, stat, link, sub }
    }
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open/openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `lstat` of `name` relative to the folder `dir`.
fn lstat_at(dir: &OwnedFd, name: &CStr) -> Result<Stat, i32> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `dir` is an open folder descriptor, `name` is NUL-terminated, and `stat` is
    // written by the kernel before it is read.
    let rc = unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), stat.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if rc != 0 {
        return Err(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
    }
    // SAFETY: fstatat succeeded, so the kernel filled `stat`.
    let stat = unsafe { stat.assume_init() };
    Ok(Stat { mode: stat.st_mode, size: stat.st_size as u64 })
}

fn read_link_at(dir: &OwnedFd, name: &CStr) -> Result<Vec<u8>, i32> {
    let mut target = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `dir` is an open folder descriptor, `name` is NUL-terminated, and the kernel
    // writes at most `target.len()` bytes.
    let len = unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), target.as_mut_ptr().cast(), target.len()) };
    if len < 0 {
        return Err(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
    }
    target.truncate(len as usize);
    Ok(target)
}

fn kind_of_dirent(d_type: u8) -> Option<EntryKind> {
    Some(match d_type {
        libc::DT_DIR => EntryKind::Dir,
        libc::DT_REG => EntryKind::File,
        libc::DT_LNK => EntryKind::Symlink,
        libc::DT_FIFO => EntryKind::Fifo,
        libc::DT_SOCK => EntryKind::Socket,
        libc::DT_CHR => EntryKind::CharDevice,
        libc::DT_BLK => EntryKind::BlockDevice,
        _ => return None,
    })
}

fn kind_of_mode(mode: u32) -> EntryKind {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => EntryKind::Dir,
        libc::S_IFREG => EntryKind::File,
        libc::S_IFLNK => EntryKind::Symlink,
        libc::S_IFIFO => EntryKind::Fifo,
        libc::S_IFSOCK => EntryKind::Socket,
        libc::S_IFCHR => EntryKind::CharDevice,
        libc::S_IFBLK => EntryKind::BlockDevice,
        _ => EntryKind::Other,
    }
}
