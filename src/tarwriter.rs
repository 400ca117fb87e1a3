//! Deterministic, atomic tar.gz writing: fixed mtime, owner and modes, names as given (any
//! bytes: a name need not be UTF-8). Used by `optml pack`, the run harness and `optml fix`;
//! callers decide member order.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::atomic::AtomicFile;

/// The fixed modification time of every member (and of the gzip header): 0, the epoch.
pub const MTIME: u64 = 0;

pub struct TarWriter {
    builder: tar::Builder<GzEncoder<AtomicFile>>,
}

impl TarWriter {
    /// Start writing `target`; nothing appears there until [`TarWriter::finish`].
    /// `level` is the gzip level, 0-9.
    pub fn create(target: &Path, level: u32) -> io::Result<TarWriter> {
        let file = AtomicFile::create(target)?;
        // GzBuilder with mtime 0 and no file name keeps the gzip header byte-stable.
        let encoder = flate2::GzBuilder::new().mtime(0).write(file, Compression::new(level.min(9)));
        let mut builder = tar::Builder::new(encoder);
        builder.mode(tar::HeaderMode::Deterministic);
        Ok(TarWriter { builder })
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(MTIME);
        header.set_uid(0);
        header.set_gid(0);
        // Empty names are fine for ustar; set_username fails only on over-long names.
        let _ = header.set_username("root");
        let _ = header.set_groupname("root");
        header
    }

    pub fn append_dir(&mut self, name: impl AsRef<Path>, mode: u32) -> io::Result<()> {
        let mut header = Self::header(tar::EntryType::Directory, mode, 0);
        let mut name = name.as_ref().as_os_str().as_bytes().to_vec();
        if name.last() != Some(&b'/') {
            name.push(b'/');
        }
        self.builder.append_data(&mut header, OsStr::from_bytes(&name), io::empty())
    }

    pub fn append_file<R: Read>(&mut self, name: impl AsRef<Path>, mode: u32, size: u64, data: R) -> io::Result<()> {
        let mut header = Self::header(tar::EntryType::Regular, mode, size);
        self.builder.append_data(&mut header, name, data)
    }

    pub fn append_symlink(&mut self, name: impl AsRef<Path>, target: impl AsRef<Path>) -> io::Result<()> {
        let mut header = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.builder.append_link(&mut header, name, target)
    }

    /// A hard link to `target`, a member written earlier.
    pub fn append_hardlink(&mut self, name: impl AsRef<Path>, target: impl AsRef<Path>) -> io::Result<()> {
        let mut header = Self::header(tar::EntryType::Link, 0o644, 0);
        self.builder.append_link(&mut header, name, target)
    }

    /// Finish the tar and gzip streams and move the archive into place.
    pub fn finish(self) -> io::Result<()> {
        let encoder = self.builder.into_inner()?;
        let mut file = encoder.finish()?;
        file.flush()?;
        file.commit()
    }
}
