//! Streams a tar, tar.gz (or a stream named like one) once, never extracting.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use flate2::bufread::MultiGzDecoder;

use super::{capture, Problem, ProblemKind, Scan, ScanOptions};
use crate::entry::{normalize_name, Entry, EntryKind};

/// How the archive bytes are compressed, sniffed from magic bytes, never from the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compression {
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }
}

/// Counts bytes handed out, and remembers whether the reader hit end of input or failed,
/// so a tar error can be told apart as "truncated", "corrupt compression" or "not a tar".
struct Tracked<R> {
    inner: R,
    state: Rc<TrackState>,
}

#[derive(Default)]
struct TrackState {
    bytes: Cell<u64>,
    eof: Cell<bool>,
    failed: Cell<bool>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() => {
                self.state.eof.set(true);
                Ok(0)
            }
            Ok(n) => {
                self.state.bytes.set(self.state.bytes.get() + n as u64);
                Ok(n)
            }
            Err(err) => {
                self.state.failed.set(true);
                Err(err)
            }
        }
    }
}

/// Whether a file name promises gzip (`.gz`, `.tgz`).
pub fn named_gzip(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    name.ends_with(".gz") || name.ends_with(".tgz")
}

/// Stream every member of the archive at `path`. I/O errors opening the file are returned;
/// everything wrong with the bytes themselves becomes a [`Problem`] in the scan.
pub fn scan(path: &Path, options: &ScanOptions) -> io::Result<Scan> {
    let file = File::open(path)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let compression = Compression::sniff(reader.fill_buf()?);
    let mut scan = Scan { compression: Some(compression), ..Scan::default() };
    let empty_input = reader.fill_buf()?.is_empty();

    if named_gzip(path) && compression != Compression::Gzip && !empty_input {
        scan.problems.push(Problem::new(
            ProblemKind::NotGzip,
            format!("named like a gzip file, but its bytes are {}", describe(compression)),
        ));
    }
    match compression {
        Compression::Gzip => {
            let outer = Tracked { inner: reader, state: Rc::default() };
            let compressed = outer.state.clone();
            let decoder = MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, outer));
            read_tar(decoder, options, &mut scan, Some(compressed));
        }
        Compression::None => read_tar(reader, options, &mut scan, None),
        other => {
            scan.problems.push(Problem::new(
                ProblemKind::UnsupportedCompression,
                format!("compressed with {}; SageMaker only unpacks gzip", other.as_str()),
            ));
        }
    }
    Ok(scan)
}

fn describe(compression: Compression) -> String {
    match compression {
        Compression::None => "not compressed".to_string(),
        other => format!("{}-compressed", other.as_str()),
    }
}

fn read_tar<R: Read>(
    reader: R,
    options: &ScanOptions,
    scan: &mut Scan,
    compressed: Option<Rc<TrackState>>,
) {
    let tracked = Tracked { inner: reader, state: Rc::default() };
    let stream = tracked.state.clone();
    let mut archive = tar::Archive::new(tracked);
    let mut last_name: Option<String> = None;
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(err) => {
            scan.problems.push(Problem::new(ProblemKind::NotTar, err.to_string()));
            return;
        }
    };
    for (index, item) in entries.enumerate() {
        let mut member = match item {
            Ok(member) => member,
            Err(err) => {
                let kind = if index == 0 && !stream.failed.get() && stream.bytes.get() > 0 && !truncated_first_block(&stream) {
                    ProblemKind::NotTar
                } else {
                    ProblemKind::Truncated
                };
                scan.problems.push(stop_problem(kind, &err, &stream, compressed.as_deref(), last_name.as_deref()));
                return;
            }
        };
        let mut entry = match to_entry(&member) {
            Ok(entry) => entry,
            Err(err) => {
                scan.problems.push(stop_problem(ProblemKind::Truncated, &err, &stream, compressed.as_deref(), last_name.as_deref()));
                return;
            }
        };
        entry.index = index;
        let name_for_errors = String::from_utf8_lossy(&member.path_bytes()).into_owned();
        if entry.kind == EntryKind::File {
            if let Err(err) = capture(&mut member, &mut entry, options) {
                scan.problems.push(stop_problem(ProblemKind::Truncated, &err, &stream, compressed.as_deref(), Some(&name_for_errors)));
                scan.entries.push(entry);
                return;
            }
        }
        last_name = Some(name_for_errors);
        scan.entries.push(entry);
    }
    if stream.failed.get() {
        scan.problems.push(Problem::new(ProblemKind::Truncated, "the stream ended with a read error".into()));
        return;
    }
    // Read what follows the end-of-archive marker, so a corrupt or truncated gzip trailer
    // (CRC, length) is caught the way `tar -xzf` would catch it.
    let mut rest = archive.into_inner();
    if let Err(err) = io::copy(&mut rest, &mut io::sink()) {
        scan.problems.push(stop_problem(ProblemKind::Truncated, &err, &stream, compressed.as_deref(), last_name.as_deref()));
        return;
    }
    scan.uncompressed_bytes = stream.bytes.get();
}

/// A stream shorter than one 512-byte header block is a truncated (or empty) tar, not "not a tar".
fn truncated_first_block(stream: &TrackState) -> bool {
    stream.eof.get() && stream.bytes.get() < 512
}

fn stop_problem(
    kind: ProblemKind,
    err: &io::Error,
    stream: &TrackState,
    compressed: Option<&TrackState>,
    last: Option<&str>,
) -> Problem {
    let mut detail = match kind {
        // The tar crate's message quotes the garbage bytes it met; say what it means instead.
        ProblemKind::NotTar => match compressed {
            Some(_) => "gzip-compressed data that is not a tar archive (a gzipped file, not a gzipped folder)".to_string(),
            None => "not a tar archive: its first 512 bytes are not a valid tar header".to_string(),
        },
        _ => format!("reading stopped at byte {} of the tar stream", stream.bytes.get()),
    };
    if kind != ProblemKind::NotTar {
        if let Some(compressed) = compressed {
            detail.push_str(&format!(" (byte {} of the compressed file)", compressed.bytes.get()));
        }
        match last {
            Some(name) => detail.push_str(&format!(", after entry `{name}`")),
            None => detail.push_str(", before the first entry"),
        }
        detail.push_str(&format!(": {err}"));
    }
    let mut problem = Problem::new(kind, detail);
    problem.offset = Some(stream.bytes.get());
    problem
}

fn to_entry<R: Read>(member: &tar::Entry<'_, R>) -> io::Result<Entry> {
    let header = member.header();
    let raw = member.path_bytes();
    let normalized = normalize_name(&raw);
    let kind = match header.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => EntryKind::File,
        tar::EntryType::Directory => EntryKind::Dir,
        tar::EntryType::Symlink => EntryKind::Symlink,
        tar::EntryType::Link => EntryKind::Hardlink,
        tar::EntryType::Char => EntryKind::CharDevice,
        tar::EntryType::Block => EntryKind::BlockDevice,
        tar::EntryType::Fifo => EntryKind::Fifo,
        // Old tars mark directories only by a trailing slash on a regular entry.
        _ if raw.ends_with(b"/") => EntryKind::Dir,
        _ => EntryKind::Other,
    };
    let kind = if kind == EntryKind::File && raw.ends_with(b"/") { EntryKind::Dir } else { kind };
    let mut entry = Entry::new(normalized.name, kind);
    entry.absolute = normalized.absolute;
    entry.parent_dir = normalized.parent_dir;
    entry.invalid_name = normalized.invalid;
    entry.size = if kind == EntryKind::File { member.size() } else { 0 };
    entry.mode = header.mode().unwrap_or(0) & 0o7777;
    entry.link_target = member.link_name_bytes().map(|target| target.into_owned());
    Ok(entry)
}
