//! The one way optml opens a file it reads. A path given on the command line (an input
//! archive, `--rules`, `--config`, `--snapshot`, `--hyperparameters`) or found in a tree may
//! name a FIFO, a device or a socket: opening a FIFO blocks until a writer comes, `/dev/zero`
//! never ends. So every open is `O_NONBLOCK` (it returns at once, whatever the file is), then
//! `fstat` on the descriptor decides: only a regular file is read. Config-like files are also
//! read against a size cap, so a huge file is an error, not a memory spike.
//!
//! Files inside a tree are opened relative to their parent directory's descriptor with
//! `O_NOFOLLOW` and must still be a regular file on the tree's device: a file swapped for a
//! symlink, a FIFO or a mount between the walk and the read is reported, never read.

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The cap for rule files, snapshot configs and hyperparameter files.
pub const CONFIG_LIMIT: u64 = 16 * 1024 * 1024;
/// The cap for golden manifests and baselines: one line per entry or finding, so far larger than a config.
pub const MANIFEST_LIMIT: u64 = 1024 * 1024 * 1024;

const FLAGS: libc::c_int = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;

/// What kind of file a descriptor is, by `fstat`, as the rest of a message: "a FIFO".
fn kind_of(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => "a directory",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFSOCK => "a socket",
        libc::S_IFLNK => "a symlink",
        _ => "not a regular file",
    }
}

fn fstat(file: &File) -> io::Result<libc::stat> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: the descriptor is open; the kernel fills `stat` before it is read.
    if unsafe { libc::fstat(file.as_raw_fd(), stat.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { stat.assume_init() })
}

fn owned(fd: libc::c_int) -> io::Result<File> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open/openat and is owned by nobody else.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn not_regular(mode: libc::mode_t) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{}, not a regular file (FIFOs, devices and sockets are never read)", kind_of(mode)))
}

/// Open `path` (following a symlink: the user named it) for reading, if it is a regular file.
pub fn regular(path: &Path) -> io::Result<File> {
    regular_with(path, FLAGS)
}

/// [`regular`] for a file a walk found as a regular file: a symlink there now (swapped in since
/// the walk) is refused, not followed out of the folder.
pub fn regular_no_follow(path: &Path) -> io::Result<File> {
    regular_with(path, FLAGS | libc::O_NOFOLLOW)
}

fn regular_with(path: &Path, flags: libc::c_int) -> io::Result<File> {
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))?;
    // SAFETY: `name` is NUL-terminated.
    let file = owned(unsafe { libc::open(name.as_ptr(), flags) })?;
    let stat = fstat(&file)?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(not_regular(stat.st_mode));
    }
    Ok(file)
}

/// The bytes of the regular file at `path`, at most `limit` of them (else an error).
pub fn read_capped(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = regular(path)?;
    let too_big = || io::Error::new(io::ErrorKind::InvalidData, format!("larger than the {limit}-byte limit for this kind of file"));
    if fstat(&file)?.st_size as u64 > limit {
        return Err(too_big());
    }
    // The size can change after fstat (and /proc files say 0): read one byte past the cap.
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_capped(path, limit)?).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Why a file found by a walk could not be opened as the file the walk saw.
#[derive(Debug)]
pub enum Beneath {
    /// Gone since the walk listed it.
    Vanished,
    /// No longer a regular file on the tree's device (a symlink, a FIFO, a mount): `what` it is now.
    Changed(String),
    Io(io::Error),
}

/// Open `name` in the directory `parent` without following a symlink, and only if it is still
/// a regular file on `device`.
pub fn beneath(parent: &OwnedFd, name: &CStr, device: u64) -> Result<File, Beneath> {
    // SAFETY: `parent` is an open directory descriptor and `name` is NUL-terminated.
    let file = owned(unsafe { libc::openat(parent.as_raw_fd(), name.as_ptr(), FLAGS | libc::O_NOFOLLOW) }).map_err(|err| match err.raw_os_error() {
        Some(libc::ENOENT) => Beneath::Vanished,
        // O_NOFOLLOW on a symlink.
        Some(libc::ELOOP) => Beneath::Changed("a symlink".into()),
        _ => Beneath::Io(err),
    })?;
    let stat = fstat(&file).map_err(Beneath::Io)?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Beneath::Changed(kind_of(stat.st_mode).into()));
    }
    if stat.st_dev as u64 != device {
        return Err(Beneath::Changed("a file on another filesystem (a mount)".into()));
    }
    Ok(file)
}

/// The device of the file or directory at `path`.
pub fn device(path: &Path) -> io::Result<u64> {
    Ok(std::os::unix::fs::MetadataExt::dev(&std::fs::metadata(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_never_read() {
        let err = read_capped(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(err.to_string().contains("a character device"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let name = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        assert!(regular(&fifo).unwrap_err().to_string().contains("a FIFO"));
        assert!(regular(dir.path()).unwrap_err().to_string().contains("a directory"));
    }

    #[test]
    fn the_cap_holds() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big");
        std::fs::write(&file, vec![b'x'; 11]).unwrap();
        assert!(read_capped(&file, 10).unwrap_err().to_string().contains("10-byte limit"));
        assert_eq!(read_capped(&file, 11).unwrap().len(), 11);
    }
}
