//! Streams a tar, tar.gz (or a stream named like one) once, never extracting: any `Read`
//! (a file, a layer blob, an HTTP body), seeking over member data when the input can seek.
//! The tar headers are driven by [`super::members`], gzip is inflated by [`super::gzip`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};

use super::gzip::{End, Inflated};
use super::limits::{Limit, Limits};
use super::members::{Member, Seeking, Stop, Stream, TarReader};
use super::{capture, name_too_long, Problem, ProblemKind, Scan, ScanOptions};
use crate::entry::{normalize_name, Entry, EntryKind};

/// How the archive bytes are compressed, sniffed from magic bytes, never from the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
    Lz4,
    Lzip,
    /// The legacy `.lzma` (xz-alone) format.
    Lzma,
    /// Unix `compress` (`.Z`).
    Compress,
}

impl Compression {
    /// Sniff the first bytes (up to 512) of the input.
    pub fn sniff(head: &[u8]) -> Compression {
        let magic: [(&[u8], Compression); 7] = [
            (&[0x1f, 0x8b], Compression::Gzip),
            (b"BZh", Compression::Bzip2),
            (&[0xfd, b'7', b'z', b'X', b'Z', 0], Compression::Xz),
            (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
            (&[0x04, 0x22, 0x4d, 0x18], Compression::Lz4),
            (b"LZIP", Compression::Lzip),
            (&[0x1f, 0x9d], Compression::Compress),
        ];
        if let Some((_, compression)) = magic.iter().find(|(magic, _)| head.starts_with(magic)) {
            return *compression;
        }
        if looks_like_lzma(head) {
            Compression::Lzma
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
            Compression::Lz4 => "lz4",
            Compression::Lzip => "lzip",
            Compression::Lzma => "lzma",
            Compression::Compress => "compress",
        }
    }
}

/// The `.lzma` header has no magic: a properties byte (lc/lp/pb, below 225), a dictionary size
/// of 2^n or 2^n + 2^(n-1), and an uncompressed size that is unknown (all ones) or plausible,
/// checked as libarchive and xz do. A tar's first bytes (a member name) never pass.
fn looks_like_lzma(head: &[u8]) -> bool {
    if head.len() < 13 || head[0] >= 225 {
        return false;
    }
    let dict = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
    let dict_ok = dict.is_power_of_two() || (dict.is_multiple_of(3) && (dict / 3).is_power_of_two());
    let size = u64::from_le_bytes(head[5..13].try_into().unwrap_or_default());
    dict_ok && dict >= 1 << 12 && (size == u64::MAX || size < 1 << 48)
}

/// Whether a file name promises gzip (`.gz`, `.tgz`).
pub fn named_gzip(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    name.ends_with(".gz") || name.ends_with(".tgz")
}

/// Read up to 512 bytes, the most sniffing needs.
fn read_head<R: Read>(input: &mut R) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    input.by_ref().take(512).read_to_end(&mut head)?;
    Ok(head)
}

/// The members of the archive at `path`, in the order and with the indices [`scan`] gives
/// them: for a second pass that copies member data (`optml fix`). Gzip is inflated on its own
/// thread; the caller reads each member's data with [`TarReader::data`].
pub fn members(path: &Path) -> io::Result<TarReader<Box<dyn Stream>>> {
    let mut file = crate::open::regular(path)?;
    let head = read_head(&mut file)?;
    file.seek(SeekFrom::Start(0))?;
    let stream: Box<dyn Stream> = match Compression::sniff(&head) {
        Compression::Gzip => Box::new(Inflated::spawn_file(file)?),
        _ => Box::new(BufReader::with_capacity(256 * 1024, file)),
    };
    Ok(TarReader::new(stream))
}

impl Stream for Box<dyn Stream> {
    fn fill(&mut self) -> io::Result<&[u8]> {
        (**self).fill()
    }
    fn consume(&mut self, n: usize) {
        (**self).consume(n)
    }
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        (**self).skip(n)
    }
}

/// Scan the archive file at `path`, seeking over plain-tar member data.
pub fn scan_file(path: &Path, options: &ScanOptions) -> io::Result<Scan> {
    scan_seekable(crate::open::regular(path)?, path, options)
}

/// Scan an archive that can only be read forward (an HTTP body, a pipe). `name` is the name it
/// goes by (a file name, an object key): a `.gz` name promises gzip.
pub fn scan<R: Read + Send + 'static>(mut input: R, name: &Path, options: &ScanOptions) -> io::Result<Scan> {
    let head = read_head(&mut input)?;
    let input = io::Cursor::new(head.clone()).chain(input);
    scan_sniffed(
        &head,
        name,
        options,
        input,
        |input| Ok(Inflated::spawn(input)),
        |input, options, scan| {
            let mut reader = TarReader::new(BufReader::with_capacity(256 * 1024, input));
            if read_members(&mut reader, options, scan, None) {
                // The rest of the stream, read only to count it.
                let rest = reader.offset() + reader.into_inner().skip(u64::MAX)?;
                scan.uncompressed_bytes = rest;
            }
            Ok(())
        },
    )
}

/// Scan an archive file: plain-tar member data is skipped with a seek, and a large gzip member
/// may be inflated in parallel.
fn scan_seekable(mut input: File, name: &Path, options: &ScanOptions) -> io::Result<Scan> {
    let len = input.seek(SeekFrom::End(0))?;
    input.seek(SeekFrom::Start(0))?;
    let head = read_head(&mut input)?;
    input.seek(SeekFrom::Start(0))?;
    scan_sniffed(&head, name, options, input, Inflated::spawn_file, |input, options, scan| {
        let mut reader = TarReader::new(Seeking::new(input, len));
        read_members(&mut reader, options, scan, None);
        scan.uncompressed_bytes = len;
        Ok(())
    })
}

/// Report what the name and the first bytes say, then read the tar: inflated by `gzip` for
/// gzip, by `plain` for an uncompressed tar.
fn scan_sniffed<R: Read + Send + 'static>(
    head: &[u8],
    name: &Path,
    options: &ScanOptions,
    input: R,
    gzip: impl FnOnce(R) -> io::Result<Inflated>,
    plain: impl FnOnce(R, &ScanOptions, &mut Scan) -> io::Result<()>,
) -> io::Result<Scan> {
    let compression = Compression::sniff(head);
    let mut scan = Scan { compression: Some(compression), ..Scan::default() };
    let empty_input = head.is_empty();
    if named_gzip(name) && compression != Compression::Gzip && !empty_input {
        scan.problems.push(Problem::new(ProblemKind::NotGzip, format!("named like a gzip file, but its bytes are {}", describe(compression))));
    }
    if compression == Compression::None && !named_gzip(name) && !empty_input {
        scan.problems.push(Problem::new(ProblemKind::Uncompressed, "an uncompressed tar, not a gzip-compressed one".to_string()));
    }
    match compression {
        Compression::Gzip => read_gzip_tar(gzip(input)?, options, &mut scan),
        Compression::None => plain(input, options, &mut scan)?,
        other => {
            scan.problems.push(Problem::new(ProblemKind::UnsupportedCompression, format!("compressed with {}; SageMaker only unpacks gzip", other.as_str())))
        }
    }
    resolve_hardlinks(&mut scan);
    Ok(scan)
}

fn describe(compression: Compression) -> String {
    match compression {
        Compression::None => "not compressed".to_string(),
        other => format!("{}-compressed", other.as_str()),
    }
}

/// Read the tar inside a gzip stream, then the rest of the stream, so a corrupt or truncated
/// gzip trailer (CRC, length) after the end-of-archive marker is caught as `tar -xzf` would.
fn read_gzip_tar(inflated: Inflated, options: &ScanOptions, scan: &mut Scan) {
    let progress = inflated.progress.clone();
    let mut reader = TarReader::new(inflated);
    let complete = read_members(&mut reader, options, scan, Some(&progress.compressed));
    let offset = reader.offset();
    let mut inflated = reader.into_inner();
    if !complete {
        // Say what the gzip layer knows about why the tar stopped.
        let end = inflated.end();
        if let Some(problem) = scan.problems.last_mut().filter(|p| p.kind.stops_reading()) {
            if let End::Corrupt(why) | End::Truncated(why) = &end {
                problem.detail.push_str(&format!(" ({why})"));
            } else if problem.kind == ProblemKind::Truncated && offset < 512 && matches!(end, End::Clean) {
                // A whole, CRC-checked gzip stream shorter than one tar header is a gzipped
                // file, not a truncated tar.
                *problem = not_tar(true);
            }
        }
        return;
    }
    let (end, unread) = inflated.finish();
    scan.uncompressed_bytes = offset + unread;
    let compressed = progress.compressed.load(Ordering::Relaxed);
    match end {
        End::Clean => {}
        // Every gzip member before this point passed its CRC check; what failed is bytes that
        // are not a gzip header. Python's tarfile never reads them, `tar -xzf` fails on them.
        End::TrailingData(at) => scan
            .problems
            .push(Problem::new(ProblemKind::TrailingData, format!("bytes that are not gzip follow the compressed stream (from byte {at} of the file)"))),
        End::Truncated(why) | End::Corrupt(why) => {
            let mut problem = Problem::new(ProblemKind::Truncated, format!("the gzip stream after the end-of-archive marker is damaged: {why}"));
            problem.offset = Some(compressed);
            scan.problems.push(problem);
        }
        End::Io(err) => scan.problems.push(Problem::new(ProblemKind::Truncated, format!("reading the archive failed: {err}"))),
    }
}

fn not_tar(compressed: bool) -> Problem {
    let detail = if compressed {
        "gzip-compressed data that is not a tar archive (a gzipped file, not a gzipped folder)"
    } else {
        "not a tar archive: its first 512 bytes are not a valid tar header"
    };
    Problem::new(ProblemKind::NotTar, detail.to_string())
}

/// Turn members into entries until the end or the first error. Returns whether the
/// end-of-archive marker (or a clean end of input) was reached; a stop is recorded as a problem.
fn read_members<S: Stream>(reader: &mut TarReader<S>, options: &ScanOptions, scan: &mut Scan, compressed: Option<&std::sync::atomic::AtomicU64>) -> bool {
    let mut last: Option<Vec<u8>> = None;
    let limits = options.limits;
    loop {
        let member = match reader.next_member() {
            Ok(Some(member)) => member,
            Ok(None) => {
                // A single member that inflated past the ratio is only seen at the end.
                let over = compressed.and_then(|c| limits.inflation(reader.offset(), c.load(Ordering::Relaxed)));
                scan.problems.extend(over.map(|limit| limit_problem(&limits, limit, reader.offset())));
                return over.is_none();
            }
            Err(stop) => {
                scan.problems.push(stop_problem(stop, reader.offset(), compressed, last.as_deref()));
                return false;
            }
        };
        // Checked before the member's data is read or skipped (inflated): the entry count, the
        // bytes the data would inflate to, and the ratio so far.
        let over = if scan.entries.len() as u64 >= limits.entries {
            Some(Limit::Entries)
        } else if let Some(compressed) = compressed {
            let end = reader.offset().saturating_add(member.stored);
            if end > limits.bytes {
                Some(Limit::Bytes)
            } else {
                limits.inflation(reader.offset(), compressed.load(Ordering::Relaxed))
            }
        } else {
            None
        };
        if let Some(limit) = over {
            scan.problems.push(limit_problem(&limits, limit, reader.offset()));
            return false;
        }
        // A name past the caps is reported, and costs nothing further: no entry, no layout work.
        if let Some(detail) = limits.name_problem(&member.name) {
            scan.problems.push(name_too_long(&member.name, detail));
            last = Some(member.name);
            continue;
        }
        let mut entry = to_entry(&member);
        entry.set_index(scan.entries.len());
        for warning in &member.warnings {
            let mut problem = Problem::new(ProblemKind::MalformedHeader, format!("member `{}`: {warning}", String::from_utf8_lossy(&member.name)));
            problem.path = member.name.clone();
            problem.offset = Some(member.offset);
            scan.problems.push(problem);
        }
        if entry.kind == EntryKind::File {
            if let Err(err) = capture(&mut reader.data(), &mut entry, options) {
                let stop = if err.kind() == io::ErrorKind::UnexpectedEof { Stop::Truncated(err.to_string()) } else { Stop::Io(err) };
                scan.problems.push(stop_problem(stop, reader.offset(), compressed, Some(&member.name)));
                scan.entries.push(entry);
                return false;
            }
            if let (Some(digest), Some(map)) = (entry.digest(), &member.sparse) {
                entry.set_digest(Some(sparse_digest(&digest, map)));
            }
        }
        // One member can be the whole bomb (4 GiB of zeros in 4 MB): its data is inflated in
        // steps, with the ratio checked after each, not only once it is all inflated.
        if let Some(compressed) = compressed {
            loop {
                match reader.skip_data(RATIO_STEP) {
                    Ok(more) => {
                        if let Some(limit) = limits.inflation(reader.offset(), compressed.load(Ordering::Relaxed)) {
                            scan.problems.push(limit_problem(&limits, limit, reader.offset()));
                            scan.entries.push(entry);
                            return false;
                        }
                        if !more {
                            break;
                        }
                    }
                    Err(stop) => {
                        scan.problems.push(stop_problem(stop, reader.offset(), Some(compressed), Some(&member.name)));
                        scan.entries.push(entry);
                        return false;
                    }
                }
            }
        }
        last = Some(member.name);
        scan.entries.push(entry);
    }
}

/// How much of one member's data is inflated between two checks of the ratio limit.
const RATIO_STEP: u64 = 16 * 1024 * 1024;

/// A limit reached at `offset` of the tar stream, as the problem that stops reading.
fn limit_problem(limits: &Limits, limit: Limit, offset: u64) -> Problem {
    let mut problem = Problem::new(ProblemKind::Limit, limits.reached(limit));
    problem.offset = Some(offset);
    problem
}

/// A sparse member's digest covers its stored data and its map, never the expanded holes
/// (which a hostile map can make petabytes long): SHA-256 of the data's SHA-256 followed by
/// `offset,length` lines.
fn sparse_digest(stored: &[u8; 32], map: &[(u64, u64)]) -> [u8; 32] {
    let mut sha = Sha256::new();
    sha.update(stored);
    for (offset, length) in map {
        sha.update(format!("{offset},{length}\n").as_bytes());
    }
    sha.finalize().into()
}

fn stop_problem(stop: Stop, offset: u64, compressed: Option<&std::sync::atomic::AtomicU64>, last: Option<&[u8]>) -> Problem {
    let (kind, why) = match stop {
        Stop::NotTar => return not_tar(compressed.is_some()),
        Stop::Truncated(why) | Stop::Corrupt(why) => (ProblemKind::Truncated, why),
        Stop::TooLarge(why) => (ProblemKind::HeaderTooLarge, why),
        Stop::Io(err) => (ProblemKind::Truncated, format!("read error: {err}")),
    };
    let mut detail = format!("reading stopped at byte {offset} of the tar stream");
    if let Some(compressed) = compressed {
        detail.push_str(&format!(" (within the first {} bytes of the compressed file)", compressed.load(Ordering::Relaxed)));
    }
    match last {
        Some(name) => detail.push_str(&format!(", after entry `{}`", String::from_utf8_lossy(name))),
        None => detail.push_str(", before the first entry"),
    }
    detail.push_str(&format!(": {why}"));
    let mut problem = Problem::new(kind, detail);
    problem.offset = Some(offset);
    problem
}

/// A hard link must name a member that came before it, is not itself, and stays inside the
/// archive: extraction fails otherwise (`tar: Cannot hard link`), and `optml fix` would write
/// the broken link out again.
fn resolve_hardlinks(scan: &mut Scan) {
    if !scan.entries.iter().any(|e| e.kind == EntryKind::Hardlink) {
        return;
    }
    let mut first: HashMap<&[u8], usize> = HashMap::new();
    for (index, entry) in scan.entries.iter().enumerate() {
        first.entry(entry.member()).or_insert(index);
    }
    for (index, entry) in scan.entries.iter().enumerate().filter(|(_, e)| e.kind == EntryKind::Hardlink) {
        let target = normalize_name(entry.link_target().unwrap_or_default());
        let why = match first.get(target.name.as_slice()) {
            _ if target.absolute || target.parent_dir => "its target is outside the archive".to_string(),
            _ if target.name == entry.member() => "it links to itself".to_string(),
            Some(&at) if at < index => {
                let target_entry = &scan.entries[at];
                if target_entry.absolute || target_entry.parent_dir {
                    "its target is a member that extracts outside the folder".to_string()
                } else {
                    continue;
                }
            }
            Some(_) => "its target comes after it in the archive".to_string(),
            None => "no member has its target's name".to_string(),
        };
        let name = String::from_utf8_lossy(entry.member());
        let target = String::from_utf8_lossy(entry.link_target().unwrap_or_default());
        let mut problem = Problem::new(ProblemKind::BadHardlink, format!("hard link `{name}` -> `{target}`: {why}"));
        problem.path = entry.member().to_vec();
        scan.problems.push(problem);
    }
}

fn to_entry(member: &Member) -> Entry {
    let normalized = normalize_name(&member.name);
    let mut entry = Entry::new(normalized.name, member.kind.entry_kind());
    entry.absolute = normalized.absolute;
    entry.parent_dir = normalized.parent_dir;
    entry.invalid_name = normalized.invalid;
    entry.size = if entry.kind == EntryKind::File { member.size } else { 0 };
    entry.mode = member.mode;
    entry.set_link_target(member.link.clone());
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressions_are_sniffed() {
        let lzma = [0x5d, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0];
        assert_eq!(Compression::sniff(&lzma), Compression::Lzma);
        assert_eq!(Compression::sniff(b"LZIP\x01"), Compression::Lzip);
        assert_eq!(Compression::sniff(&[0x04, 0x22, 0x4d, 0x18, 0x64]), Compression::Lz4);
        assert_eq!(Compression::sniff(&[0x1f, 0x9d, 0x90]), Compression::Compress);
        let mut tar = tar::Header::new_gnu();
        tar.set_path("model.pth").expect("path");
        tar.set_cksum();
        assert_eq!(Compression::sniff(tar.as_bytes()), Compression::None);
    }
}
