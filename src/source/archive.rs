//! Streams a tar, tar.gz (or a stream named like one) once, never extracting.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
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
    /// Position in the stream (bytes read, or the offset after a seek).
    bytes: Cell<u64>,
    eof: Cell<bool>,
    failed: Cell<bool>,
    /// Where the data of the last member read ends.
    end_of_data: Cell<u64>,
}

impl<R: Read + Seek> Seek for Tracked<BufReader<R>> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let position = match pos {
            // tar skips member data with relative seeks; `seek_relative` keeps the buffer when
            // the target is inside it, where a plain seek would discard and refill it.
            SeekFrom::Current(offset) => {
                self.inner.seek_relative(offset)?;
                self.state.bytes.get().saturating_add_signed(offset)
            }
            other => self.inner.seek(other)?,
        };
        self.state.bytes.set(position);
        Ok(position)
    }
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

/// The archive at `path` as a tar byte stream, gunzipped when its bytes are gzip: for a second
/// pass that copies member data (`optml fix`). Members come in the same order, with the same
/// indices, as in [`scan`].
pub fn tar_stream(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut reader = BufReader::with_capacity(256 * 1024, File::open(path)?);
    Ok(match Compression::sniff(reader.fill_buf()?) {
        Compression::Gzip => Box::new(MultiGzDecoder::new(reader)),
        _ => Box::new(reader),
    })
}

/// Stream every member of the archive at `path`. I/O errors opening the file are returned;
/// everything wrong with the bytes themselves becomes a [`Problem`] in the scan.
pub fn scan(path: &Path, options: &ScanOptions) -> io::Result<Scan> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
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
    if compression == Compression::None && !named_gzip(path) && !empty_input {
        scan.problems.push(Problem::new(ProblemKind::Uncompressed, "an uncompressed tar, not a gzip-compressed one".to_string()));
    }
    match compression {
        Compression::Gzip => {
            let outer = Tracked { inner: reader, state: Rc::default() };
            let compressed = outer.state.clone();
            let decoder = MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, outer));
            // Inflate in large blocks: tar reads 512-byte headers, and one inflate call (and
            // CRC update) per header dominates archives of many small members.
            read_compressed_tar(BufReader::with_capacity(256 * 1024, decoder), options, &mut scan, compressed);
        }
        Compression::None => read_plain_tar(reader, file_len, options, &mut scan),
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

/// Stream a gzip-compressed tar: every byte is inflated once, then the gzip trailer is checked.
fn read_compressed_tar<R: Read>(reader: R, options: &ScanOptions, scan: &mut Scan, compressed: Rc<TrackState>) {
    let tracked = Tracked { inner: reader, state: Rc::default() };
    let stream = tracked.state.clone();
    let mut archive = tar::Archive::new(tracked);
    let Some(last_name) = archive.entries().ok().and_then(|entries| read_entries(entries, options, scan, &stream, Some(&compressed))) else {
        return;
    };
    // Read what follows the end-of-archive marker, so a corrupt or truncated gzip trailer
    // (CRC, length) is caught the way `tar -xzf` would catch it.
    let mut rest = archive.into_inner();
    if let Err(err) = io::copy(&mut rest, &mut io::sink()) {
        // Every gzip member before this point passed its CRC check; what failed is bytes that
        // are not a gzip header. Python's tarfile never reads them, `tar -xzf` fails on them.
        if err.to_string().contains("invalid gzip header") {
            let detail = format!("bytes that are not gzip follow the compressed stream (read up to byte {} of the file)", compressed.bytes.get());
            scan.problems.push(Problem::new(ProblemKind::TrailingData, detail));
        } else {
            scan.problems.push(stop_problem(ProblemKind::Truncated, &err, &stream, Some(&compressed), last_name.as_deref()));
            return;
        }
    }
    scan.uncompressed_bytes = stream.bytes.get();
}

/// Read a plain tar file, seeking over member data instead of reading it (as `tar -tf` does).
/// Seeking past the end is not an error, so the file length is checked against the last member.
fn read_plain_tar(reader: BufReader<File>, file_len: u64, options: &ScanOptions, scan: &mut Scan) {
    let tracked = Tracked { inner: reader, state: Rc::default() };
    let stream = tracked.state.clone();
    let mut archive = tar::Archive::new(tracked);
    let entries = match archive.entries_with_seek() {
        Ok(entries) => entries,
        Err(err) => return scan.problems.push(Problem::new(ProblemKind::NotTar, err.to_string())),
    };
    let Some(last_name) = read_entries(entries, options, scan, &stream, None) else { return };
    let needed = stream.end_of_data.get();
    if needed > file_len {
        let mut problem = Problem::new(
            ProblemKind::Truncated,
            format!(
                "the file ends at byte {file_len} but entry `{}` needs {needed} bytes",
                last_name.as_deref().unwrap_or_default()
            ),
        );
        problem.offset = Some(file_len);
        scan.problems.push(problem);
    }
    scan.uncompressed_bytes = file_len;
}

/// Turn tar members into entries until the end or the first error. Returns the last member's
/// name, or `None` when reading stopped on an error (already recorded as a problem).
fn read_entries<R: Read>(
    entries: tar::Entries<'_, Tracked<R>>,
    options: &ScanOptions,
    scan: &mut Scan,
    stream: &TrackState,
    compressed: Option<&TrackState>,
) -> Option<Option<String>> {
    let mut last_name: Option<String> = None;
    for (index, item) in entries.enumerate() {
        let mut member = match item {
            Ok(member) => member,
            Err(err) => {
                // A gzip stream that ended cleanly (its CRC checked) but held less than one tar
                // header is complete data that is not a tar, not a truncated tar.
                let short = truncated_first_block(stream) && compressed.is_none();
                let kind = if index == 0 && !stream.failed.get() && stream.bytes.get() > 0 && !short {
                    ProblemKind::NotTar
                } else {
                    ProblemKind::Truncated
                };
                scan.problems.push(stop_problem(kind, &err, stream, compressed, last_name.as_deref()));
                return None;
            }
        };
        let mut entry = to_entry(&member);
        entry.index = index;
        let name = String::from_utf8_lossy(&member.path_bytes()).into_owned();
        stream.end_of_data.set(member.raw_file_position() + member.size());
        if entry.kind == EntryKind::File {
            if let Err(err) = capture(&mut member, &mut entry, options) {
                scan.problems.push(stop_problem(ProblemKind::Truncated, &err, stream, compressed, Some(&name)));
                scan.entries.push(entry);
                return None;
            }
        }
        last_name = Some(name);
        scan.entries.push(entry);
    }
    if stream.failed.get() {
        scan.problems.push(Problem::new(ProblemKind::Truncated, "the stream ended with a read error".into()));
        return None;
    }
    Some(last_name)
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

fn to_entry<R: Read>(member: &tar::Entry<'_, R>) -> Entry {
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
    entry
}
