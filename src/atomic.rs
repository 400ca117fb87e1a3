//! Atomic file writes: a temp file in the target's directory, synced, then renamed over the
//! target. A crash leaves either the old file or the new one, never half of one; SIGINT,
//! SIGTERM or SIGHUP during the write delete the temp file before optml exits with 128 + the
//! signal number (130, 143, 129), as a shell reports a process the signal killed.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};

use tempfile::NamedTempFile;

/// A file being written; nothing appears at `target` until [`AtomicFile::commit`].
pub struct AtomicFile {
    temp: NamedTempFile,
    target: PathBuf,
    registration: Registration,
}

/// The slot of [`IN_PROGRESS`] naming a temp file for the signal handler, if one was free;
/// dropped, the handler forgets the file (committed, or deleted by `NamedTempFile`).
struct Registration(Option<usize>);

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(slot) = self.0 {
            IN_PROGRESS[slot].store(std::ptr::null_mut(), Ordering::SeqCst);
        }
    }
}

/// Temp files being written, as NUL-terminated paths, for [`remove_and_exit`] to delete: a
/// signal handler may only read atomics and call async-signal-safe functions (`unlink`,
/// `_exit`). A path is leaked once registered (a few bytes per file written), so the handler
/// never reads freed memory. optml writes one or two files at a time; 16 slots are plenty.
static IN_PROGRESS: [AtomicPtr<libc::c_char>; 16] = [const { AtomicPtr::new(std::ptr::null_mut()) }; 16];

const CLEANUP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn remove_and_exit(signal: libc::c_int) {
    for slot in &IN_PROGRESS {
        let path = slot.swap(std::ptr::null_mut(), Ordering::SeqCst);
        if !path.is_null() {
            // SAFETY: `path` is a leaked, NUL-terminated CString; unlink is async-signal-safe.
            unsafe { libc::unlink(path) };
        }
    }
    // SAFETY: _exit is async-signal-safe and ends the process at once.
    unsafe { libc::_exit(128 + signal) };
}

/// Name `path` for the signal handler installed by [`install_handler`].
fn register(path: &Path) -> Registration {
    let Ok(path) = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str())) else { return Registration(None) };
    let path = path.into_raw();
    Registration(IN_PROGRESS.iter().position(|slot| slot.compare_exchange(std::ptr::null_mut(), path, Ordering::SeqCst, Ordering::SeqCst).is_ok()))
}

/// Make sure the cleanup handler is in place. Signals whose disposition is not the default are
/// left alone: ignored ones (`nohup`) stay ignored, and a handler someone installed (the run
/// harness forwarding stops to its children) stays.
fn install_handler() {
    for signal in CLEANUP_SIGNALS {
        // SAFETY: sigaction with a zeroed struct reads the current disposition; the handler
        // installed only touches atomics and calls unlink and _exit.
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut current);
            if current.sa_sigaction == libc::SIG_DFL {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = remove_and_exit as extern "C" fn(libc::c_int) as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    }
}

/// The cleanup signals held back on this thread while a temp file is created and registered,
/// so none lands between the two and leaves the file behind; a held signal arrives on drop.
struct SignalsHeld(libc::sigset_t);

impl SignalsHeld {
    fn new() -> SignalsHeld {
        // SAFETY: sigset_t is plain data, filled by sigemptyset/sigaddset before use.
        unsafe {
            let mut held: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut held);
            for signal in CLEANUP_SIGNALS {
                libc::sigaddset(&mut held, signal);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &held, &mut previous);
            SignalsHeld(previous)
        }
    }
}

impl Drop for SignalsHeld {
    fn drop(&mut self) {
        // SAFETY: restores the mask read in `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

impl AtomicFile {
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        only_replaces_a_file(target)?;
        // Through a symlink, the file it names is replaced, not the link: `-o /dev/stdout` must
        // not turn the system's /dev/stdout link into a file.
        let resolved;
        let target = if fs::symlink_metadata(target).is_ok_and(|meta| meta.file_type().is_symlink()) {
            resolved = fs::canonicalize(target)?;
            resolved.as_path()
        } else {
            target
        };
        let dir = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir)?;
        // Created 0600, so nobody reads it half-written; `commit` gives the finished file the
        // usual permissions.
        install_handler();
        let held = SignalsHeld::new();
        let temp = tempfile::Builder::new().prefix(".optml-").suffix(".tmp").tempfile_in(&dir)?;
        let registration = register(temp.path());
        drop(held);
        Ok(AtomicFile { temp, target: target.to_path_buf(), registration })
    }

    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// Flush to disk and move into place, readable by everyone like any file a tool writes
    /// (the temp file starts private, 0600).
    pub fn commit(self) -> io::Result<()> {
        let mode = 0o666 & !current_umask();
        self.temp.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
        self.temp.as_file().sync_all()?;
        // Once renamed, the temp path may name someone's next file: the handler forgets it first.
        let AtomicFile { temp, target, registration } = self;
        drop(registration);
        only_replaces_a_file(&target)?;
        temp.persist(&target).map_err(|err| err.error)?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// Refuse a target that exists and is not a regular file (or a symlink to one): renaming over
/// it would replace a device node, a FIFO or a socket (`--output /dev/zero` as root), and a
/// folder cannot be replaced at all.
fn only_replaces_a_file(target: &Path) -> io::Result<()> {
    let Ok(meta) = fs::metadata(target) else { return Ok(()) };
    let file_type = meta.file_type();
    if file_type.is_file() {
        return Ok(());
    }
    use std::os::unix::fs::FileTypeExt;
    let kind = if file_type.is_dir() {
        "a folder"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else {
        "a block device"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {kind}, not a regular file: optml writes a new file and renames it into place, and never replaces anything else"),
    ))
}

/// The process umask (read by setting it, then restoring it at once).
fn current_umask() -> u32 {
    // SAFETY: umask only swaps the process file-mode mask; it is restored on the next line.
    let mask = unsafe { libc::umask(0o022) };
    unsafe { libc::umask(mask) };
    mask as u32
}

/// Write `bytes` to `target` atomically.
pub fn write(target: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(target, |out| out.write_all(bytes))
}

/// Write to `target` atomically with `write`, through a buffer: for output too large to build
/// as one string first.
pub fn write_with(target: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(64 * 1024, AtomicFile::create(target)?);
    write(&mut out)?;
    out.into_inner().map_err(io::IntoInnerError::into_error)?.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("golden.txt");
        write(&target, b"old").unwrap();
        write(&target, b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left behind");
        let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !current_umask(), "written like any other file, not private");
    }

    #[test]
    fn uncommitted_write_leaves_target_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("golden.txt");
        write(&target, b"old").unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"half").unwrap();
        drop(file);
        assert_eq!(fs::read(&target).unwrap(), b"old");
    }
}
