//! optml's own streaming tar reader: it drives the headers (extensions, sparse maps, numbers,
//! checksums) with the policy GNU tar, bsdtar and Python's tarfile share, and bounds every
//! allocation a header can ask for. The `tar` crate's `Header` types decode the fixed fields.
//! Dialects, bounds and limits are described in docs/archive-reader.md.

use std::io::{self, BufRead, BufReader, Read, Seek};

use crate::entry::EntryKind;

/// The most bytes one extension header (GNU long name or link, pax records, a pax 1.0 sparse
/// map) may hold. Real ones are a few hundred bytes; PATH_MAX is 4 KiB.
pub const EXTENSION_LIMIT: u64 = 1 << 20;
/// The most segments a sparse map may have (an old GNU map of this many takes 3,121 blocks).
pub const SPARSE_SEGMENTS_LIMIT: usize = 1 << 16;

const BLOCK: u64 = 512;

/// A byte stream the reader consumes block by block, and skips over without copying.
pub trait Stream {
    fn fill(&mut self) -> io::Result<&[u8]>;
    fn consume(&mut self, n: usize);
    /// Skip up to `n` bytes; fewer only at the end of the input.
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let mut left = n;
        while left > 0 {
            let available = self.fill()?.len();
            if available == 0 {
                break;
            }
            let step = available.min(usize::try_from(left).unwrap_or(usize::MAX));
            self.consume(step);
            left -= step as u64;
        }
        Ok(n - left)
    }
}

/// Any reader, skipped by reading forward (a pipe, an HTTP body, a plain tar without seeking).
impl<R: Read> Stream for BufReader<R> {
    fn fill(&mut self) -> io::Result<&[u8]> {
        self.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        BufRead::consume(self, n)
    }
}

/// A seekable input of known length: member data is skipped with a seek, as `tar -tf` does.
pub struct Seeking<R> {
    inner: BufReader<R>,
    position: u64,
    len: u64,
}

impl<R: Read + Seek> Seeking<R> {
    pub fn new(inner: R, len: u64) -> Seeking<R> {
        Seeking { inner: BufReader::with_capacity(256 * 1024, inner), position: 0, len }
    }
}

impl<R: Read + Seek> Stream for Seeking<R> {
    fn fill(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        BufRead::consume(&mut self.inner, n);
        self.position += n as u64;
    }
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        // Seeking past the end is not an error: clamp to the length so a short file reads short.
        let step = n.min(self.len.saturating_sub(self.position));
        // `seek_relative` keeps the buffer when the target is inside it.
        self.inner.seek_relative(i64::try_from(step).unwrap_or(i64::MAX))?;
        self.position += step;
        Ok(step)
    }
}

/// Why reading stopped before the end-of-archive marker.
#[derive(Debug)]
pub enum Stop {
    /// The first block is not a tar header.
    NotTar,
    /// The input ended inside a header or member data.
    Truncated(String),
    /// A header is damaged or lies (bad checksum, impossible size).
    Corrupt(String),
    /// An extension header is larger than [`EXTENSION_LIMIT`] or a sparse map longer than
    /// [`SPARSE_SEGMENTS_LIMIT`].
    TooLarge(String),
    /// The input failed to read.
    Io(io::Error),
}

/// One member as the archive means it, after its extension headers.
#[derive(Debug, Default)]
pub struct Member {
    /// The name, cut at the first NUL.
    pub name: Vec<u8>,
    pub link: Option<Vec<u8>>,
    pub kind: Kind,
    /// The size of the file it stands for (the real size of a sparse file).
    pub size: u64,
    /// Bytes of data stored in the archive after the header (the data segments of a sparse file).
    pub stored: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Where the member's first header starts in the tar stream.
    pub offset: u64,
    /// `(offset, length)` of the data segments of a sparse file.
    pub sparse: Option<Vec<(u64, u64)>>,
    /// What was read leniently or ignored (a NUL inside a long name, a malformed pax record, an
    /// inconsistent sparse map): the member is listed, the caller reports these.
    pub warnings: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    #[default]
    File,
    Dir,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
}

impl Kind {
    pub fn entry_kind(self) -> EntryKind {
        match self {
            Kind::File => EntryKind::File,
            Kind::Dir => EntryKind::Dir,
            Kind::Symlink => EntryKind::Symlink,
            Kind::Hardlink => EntryKind::Hardlink,
            Kind::CharDevice => EntryKind::CharDevice,
            Kind::BlockDevice => EntryKind::BlockDevice,
            Kind::Fifo => EntryKind::Fifo,
        }
    }
}

/// The pax keys optml uses. Repeated records and repeated headers: the last one wins.
#[derive(Clone, Debug, Default)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<Vec<u8>>,
    uid: Option<Vec<u8>>,
    gid: Option<Vec<u8>>,
    sparse_name: Option<Vec<u8>>,
    sparse_realsize: Option<Vec<u8>>,
    sparse_major: Option<Vec<u8>>,
    sparse_map: Option<Vec<u8>>,
    /// GNU.sparse.offset / GNU.sparse.numbytes pairs of the 0.0 format, in order.
    sparse_pairs: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Pax {
    /// Parse `data` as pax records (`LEN KEY=VALUE\n`), driven by the length of each record so a
    /// value may hold newlines. Malformed records stop the parse with a warning; the records
    /// before them are kept.
    fn parse(&mut self, data: &[u8], warnings: &mut Vec<String>) {
        let mut rest = data;
        while !rest.is_empty() {
            // Padding after the last record.
            if rest.iter().all(|&b| b == 0) {
                break;
            }
            let Some(record) = next_record(rest) else {
                warnings.push(format!("malformed pax record at byte {} of its header: the rest of the header is ignored", data.len() - rest.len()));
                break;
            };
            let (key, value, used) = record;
            rest = &rest[used..];
            self.set(key, value);
        }
    }

    fn set(&mut self, key: &[u8], value: &[u8]) {
        let value = value.to_vec();
        match key {
            b"path" => self.path = Some(value),
            b"linkpath" => self.linkpath = Some(value),
            b"size" => self.size = Some(value),
            b"uid" => self.uid = Some(value),
            b"gid" => self.gid = Some(value),
            b"GNU.sparse.name" => self.sparse_name = Some(value),
            b"GNU.sparse.realsize" | b"GNU.sparse.size" => self.sparse_realsize = Some(value),
            b"GNU.sparse.major" => self.sparse_major = Some(value),
            b"GNU.sparse.map" => self.sparse_map = Some(value),
            b"GNU.sparse.offset" if self.sparse_pairs.len() < SPARSE_SEGMENTS_LIMIT => self.sparse_pairs.push((value, None)),
            b"GNU.sparse.numbytes" => {
                if let Some(last) = self.sparse_pairs.last_mut().filter(|pair| pair.1.is_none()) {
                    last.1 = Some(value);
                }
            }
            _ => {}
        }
    }

    /// Keys of `later` replace those of `self` (a member's own header over the global ones).
    fn overlay(&self, later: &Pax) -> Pax {
        let pick = |a: &Option<Vec<u8>>, b: &Option<Vec<u8>>| b.clone().or_else(|| a.clone());
        Pax {
            path: pick(&self.path, &later.path),
            linkpath: pick(&self.linkpath, &later.linkpath),
            size: pick(&self.size, &later.size),
            uid: pick(&self.uid, &later.uid),
            gid: pick(&self.gid, &later.gid),
            sparse_name: pick(&self.sparse_name, &later.sparse_name),
            sparse_realsize: pick(&self.sparse_realsize, &later.sparse_realsize),
            sparse_major: pick(&self.sparse_major, &later.sparse_major),
            sparse_map: pick(&self.sparse_map, &later.sparse_map),
            sparse_pairs: if later.sparse_pairs.is_empty() { self.sparse_pairs.clone() } else { later.sparse_pairs.clone() },
        }
    }
}

/// One pax record at the start of `data`: key, value and the bytes it takes. `tar`'s
/// `PaxExtensions` splits on newlines, which a value may contain, so lengths are followed here.
fn next_record(data: &[u8]) -> Option<(&[u8], &[u8], usize)> {
    let space = data.iter().take(20).position(|&b| b == b' ')?;
    let len: usize = std::str::from_utf8(&data[..space]).ok()?.parse().ok()?;
    if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
        return None;
    }
    let body = &data[space + 1..len - 1];
    let equals = body.iter().position(|&b| b == b'=')?;
    Some((&body[..equals], &body[equals + 1..], len))
}

/// A decimal pax number (size, uid, realsize): digits only.
fn pax_number(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// A numeric header field as GNU tar and tarfile read it: base-256 when the top bit of the
/// first byte is set; otherwise octal after leading spaces, ending at the first non-digit (a
/// NUL ends the field, so an empty or all-NUL field is 0, as tarfile reads it). `None` for a negative or too-large base-256 value.
pub fn header_number(field: &[u8]) -> Option<u64> {
    match field.first() {
        Some(&first) if first & 0x80 != 0 => {
            if first == 0xff {
                return None;
            }
            let mut value: u64 = u64::from(first & 0x7f);
            for &byte in &field[1..] {
                value = value.checked_mul(256)?.checked_add(u64::from(byte))?;
            }
            Some(value)
        }
        _ => {
            let digits = field.iter().skip_while(|&&b| b == b' ');
            let mut value: u64 = 0;
            for &byte in digits.take_while(|b| (b'0'..=b'7').contains(b)) {
                value = value.checked_mul(8)?.checked_add(u64::from(byte - b'0'))?;
            }
            Some(value)
        }
    }
}

/// Whether the header's checksum matches, computed over unsigned or (old v7, HP-UX and SunOS
/// writers) signed bytes, with the checksum field read as spaces.
fn checksum_ok(block: &[u8; 512]) -> bool {
    let Some(stored) = header_number(&block[148..156]) else {
        return false;
    };
    // Whole-block sums the compiler vectorizes (a per-byte branch on the field took a tenth of
    // reading 200,000 small members); the field's own bytes are then swapped for 8 spaces. The
    // signed sum is the unsigned one less 256 for every byte with its top bit set.
    // Summed in 16 bits, 256 bytes at a time (256 * 255 fits), for twice the vector lanes.
    let sum = |bytes: &[u8]| bytes.chunks(256).map(|c| u32::from(c.iter().map(|&b| u16::from(b)).sum::<u16>())).sum::<u32>();
    let high = |bytes: &[u8]| bytes.chunks(256).map(|c| u32::from(c.iter().map(|&b| u16::from(b >> 7)).sum::<u16>())).sum::<u32>();
    let field = &block[148..156];
    let unsigned = sum(block) - sum(field) + 8 * u32::from(b' ');
    let signed = i64::from(unsigned) - 256 * i64::from(high(block) - high(field));
    stored == u64::from(unsigned) || i64::try_from(stored).ok() == Some(signed)
}

/// Cut `bytes` at the first NUL; whether anything but NULs followed it.
fn cut_at_nul(mut bytes: Vec<u8>) -> (Vec<u8>, bool) {
    match bytes.iter().position(|&b| b == 0) {
        Some(at) => {
            let cut = bytes[at..].iter().any(|&b| b != 0);
            bytes.truncate(at);
            (bytes, cut)
        }
        None => (bytes, false),
    }
}

/// Streams the members of a tar. Call [`TarReader::next_member`] for each member; its data can be
/// read with [`TarReader::data`] before the next call, or is skipped.
pub struct TarReader<S> {
    stream: S,
    /// Bytes of the tar stream consumed so far.
    offset: u64,
    /// Data bytes of the current member not yet read, then its padding.
    remaining: u64,
    padding: u64,
    globals: Pax,
    finished: bool,
}

impl<S: Stream> TarReader<S> {
    pub fn new(stream: S) -> TarReader<S> {
        TarReader { stream, offset: 0, remaining: 0, padding: 0, globals: Pax::default(), finished: false }
    }

    /// Bytes of the tar stream read (or skipped) so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Skip up to `max` bytes of the current member's data (`next_member` skips the rest), so a
    /// caller can check its limits between steps through one huge member; whether data is left.
    pub fn skip_data(&mut self, max: u64) -> Result<bool, Stop> {
        let n = self.remaining.min(max);
        self.remaining -= n;
        self.skip(n, "member data")?;
        Ok(self.remaining > 0)
    }

    /// The current member's stored data (the data segments, for a sparse file).
    pub fn data(&mut self) -> Data<'_, S> {
        Data { reader: self }
    }

    /// The next member, `None` after the end-of-archive marker (or a clean end of input).
    pub fn next_member(&mut self) -> Result<Option<Member>, Stop> {
        if self.finished {
            return Ok(None);
        }
        let rest = self.remaining + self.padding;
        self.remaining = 0;
        self.padding = 0;
        self.skip(rest, "member data")?;

        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut local = Pax::default();
        let mut warnings = Vec::new();
        let mut start: Option<u64> = None;
        loop {
            let header_at = self.offset;
            let Some(block) = self.block(start.is_none() && header_at == 0)? else {
                self.finished = true;
                return match start {
                    None => Ok(None),
                    Some(_) => Err(Stop::Truncated(format!("the stream ends after extension headers, before the header they belong to (byte {header_at})"))),
                };
            };
            start.get_or_insert(header_at);
            let header = tar::Header::from_byte_slice(&block);
            let typeflag = block[156];
            let field_size =
                header_number(&header.as_old().size).ok_or_else(|| Stop::Corrupt(format!("the header at byte {header_at} has a size that is not a number")))?;
            match typeflag {
                b'x' | b'X' | b'g' | b'L' | b'K' => {
                    let data = self.extension(field_size, typeflag, header_at)?;
                    match typeflag {
                        b'L' => long_name = Some(self.long_name(data, "GNU long name", &mut warnings)),
                        b'K' => long_link = Some(self.long_name(data, "GNU long link name", &mut warnings)),
                        b'g' => self.globals.parse(&data, &mut warnings),
                        // A repeated pax header replaces the previous one.
                        _ => {
                            local = Pax::default();
                            local.parse(&data, &mut warnings);
                        }
                    }
                    continue;
                }
                // A GNU volume label names the archive, not a member (bsdtar does not list it
                // either); no data follows.
                b'V' => {
                    start = None;
                    continue;
                }
                _ => {}
            }
            let pax = self.globals.overlay(&local);
            let member = self.member(&block, header_at, field_size, pax, long_name, long_link, warnings)?;
            return Ok(Some(member));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn member(
        &mut self,
        block: &[u8; 512],
        header_at: u64,
        field_size: u64,
        pax: Pax,
        long_name: Option<Vec<u8>>,
        long_link: Option<Vec<u8>>,
        mut warnings: Vec<String>,
    ) -> Result<Member, Stop> {
        let header = tar::Header::from_byte_slice(block);
        let typeflag = block[156];
        let name = match (&pax.sparse_name, &pax.path, long_name) {
            (Some(name), _, _) | (None, Some(name), _) => self.long_name(name.clone(), "pax path", &mut warnings),
            (None, None, Some(name)) => name,
            (None, None, None) => header.path_bytes().into_owned(),
        };
        let link = match (&pax.linkpath, long_link) {
            (Some(link), _) => Some(self.long_name(link.clone(), "pax linkpath", &mut warnings)),
            (None, Some(link)) => Some(link),
            (None, None) => header.link_name_bytes().map(|l| l.into_owned()),
        };
        let stored = match &pax.size {
            Some(value) => pax_number(value).ok_or_else(|| {
                Stop::Corrupt(format!(
                    "the pax size `{}` of the member at byte {header_at} is not a size, so where the next header starts is unknown",
                    String::from_utf8_lossy(value)
                ))
            })?,
            None => field_size,
        };
        let number = |value: &Option<Vec<u8>>, field: &[u8]| value.as_deref().and_then(pax_number).or_else(|| header_number(field)).unwrap_or(0);
        let old = header.as_old();
        let (uid, gid) = (number(&pax.uid, &old.uid), number(&pax.gid, &old.gid));
        let mode = header_number(&old.mode).unwrap_or(0) as u32 & 0o7777;
        let (kind, has_data) = match typeflag {
            b'1' => (Kind::Hardlink, false),
            b'2' => (Kind::Symlink, false),
            b'3' => (Kind::CharDevice, false),
            b'4' => (Kind::BlockDevice, false),
            // Directories carry no data: old writers put the directory's disk size here.
            // Before typeflag `5`, a trailing slash on a regular entry marked a directory
            // (bsdtar and tarfile read no data for it either; GNU tar skips its size).
            b'5' | b'0' | 0 if name.ends_with(b"/") => (Kind::Dir, false),
            b'5' => (Kind::Dir, false),
            b'6' => (Kind::Fifo, false),
            // A GNU dumpdir: a directory with a listing as data.
            b'D' => (Kind::Dir, true),
            // Regular, contiguous, old GNU sparse, and (as GNU tar and tarfile do) any
            // vendor type: a regular file with data.
            _ if name.ends_with(b"/") => (Kind::Dir, true),
            _ => (Kind::File, true),
        };
        let mut member = Member { link, kind, mode, uid, gid, offset: header_at, ..Member::default() };
        member.stored = if has_data { stored } else { 0 };
        member.size = member.stored;
        if typeflag == b'S' {
            self.old_sparse(block, header_at, &mut member)?;
        } else if has_data && (pax.sparse_major.is_some() || pax.sparse_map.is_some() || !pax.sparse_pairs.is_empty()) {
            self.pax_sparse(&pax, header_at, &mut member)?;
        }
        if member.sparse.is_some() {
            check_sparse_map(&mut member);
        }
        member.name = name;
        member.warnings.extend(warnings);
        self.remaining = member.stored;
        self.padding = padding(member.stored);
        Ok(member)
    }

    /// An old GNU sparse header (`S`): up to 4 segments in the header, then extension blocks of
    /// 21 while `isextended` is set; the real size is in the header.
    fn old_sparse(&mut self, block: &[u8; 512], header_at: u64, member: &mut Member) -> Result<(), Stop> {
        let header = tar::Header::from_byte_slice(block);
        let Some(gnu) = header.as_gnu() else {
            member.warnings.push(format!("the sparse member at byte {header_at} has no GNU header: read as a regular file"));
            return Ok(());
        };
        let mut segments = Vec::new();
        push_segments(gnu.sparse.iter().map(|s| (&s.offset[..], &s.numbytes[..])), &mut segments);
        let mut extended = gnu.isextended[0] != 0;
        member.size = header_number(&gnu.realsize).unwrap_or(member.stored);
        while extended {
            if segments.len() > SPARSE_SEGMENTS_LIMIT {
                return Err(Stop::TooLarge(format!("the sparse map of the member at byte {header_at} has more than {SPARSE_SEGMENTS_LIMIT} segments")));
            }
            let ext = self.raw_block(header_at)?;
            // The extension block: 21 (offset, numbytes) pairs of 12 bytes, then `isextended`.
            push_segments((0..21).map(|i| (&ext[i * 24..i * 24 + 12], &ext[i * 24 + 12..i * 24 + 24])), &mut segments);
            extended = ext[504] != 0;
        }
        member.sparse = Some(segments);
        Ok(())
    }

    /// GNU sparse in pax form: 0.0 (offset/numbytes records), 0.1 (`GNU.sparse.map`) or 1.0
    /// (the map in decimal lines at the start of the data, padded to a block).
    fn pax_sparse(&mut self, pax: &Pax, header_at: u64, member: &mut Member) -> Result<(), Stop> {
        let bad = |what: &str| Stop::Corrupt(format!("the sparse map of the member at byte {header_at} is malformed: {what}"));
        let numbers: Vec<u64> = if pax.sparse_major.as_deref() == Some(b"1") {
            let (numbers, map_bytes) = self.sparse_map_in_data(member.stored, header_at)?;
            member.stored -= map_bytes;
            numbers
        } else if let Some(map) = &pax.sparse_map {
            if map.is_empty() {
                Vec::new()
            } else {
                map.split(|&b| b == b',').map(pax_number).collect::<Option<_>>().ok_or_else(|| bad("GNU.sparse.map holds a non-number"))?
            }
        } else {
            let mut numbers = Vec::new();
            for (offset, numbytes) in &pax.sparse_pairs {
                numbers.push(pax_number(offset).ok_or_else(|| bad("GNU.sparse.offset is not a number"))?);
                numbers.push(numbytes.as_deref().and_then(pax_number).ok_or_else(|| bad("GNU.sparse.numbytes is missing or not a number"))?);
            }
            numbers
        };
        if !numbers.len().is_multiple_of(2) {
            return Err(bad("an odd count of numbers"));
        }
        if numbers.len() / 2 > SPARSE_SEGMENTS_LIMIT {
            return Err(Stop::TooLarge(format!("the sparse map of the member at byte {header_at} has more than {SPARSE_SEGMENTS_LIMIT} segments")));
        }
        member.sparse = Some(numbers.chunks(2).map(|pair| (pair[0], pair[1])).collect());
        member.size = match &pax.sparse_realsize {
            Some(value) => pax_number(value).ok_or_else(|| bad("GNU.sparse.realsize is not a number"))?,
            None => member.stored,
        };
        Ok(())
    }

    /// Read the pax 1.0 sparse map at the start of the member data: a count, then that many
    /// offset/length pairs, one decimal number a line (and `#` comment lines), padded to a
    /// whole block. Returns the numbers and the bytes the map took.
    fn sparse_map_in_data(&mut self, stored: u64, header_at: u64) -> Result<(Vec<u64>, u64), Stop> {
        let mut text: Vec<u8> = Vec::new();
        let mut numbers: Vec<u64> = Vec::new();
        let mut wanted: Option<usize> = None;
        let mut parsed_to = 0;
        loop {
            if let Some(count) = wanted {
                if numbers.len() == count * 2 {
                    return Ok((numbers, text.len() as u64));
                }
            }
            if text.len() as u64 >= stored.min(EXTENSION_LIMIT) {
                let why = if stored > EXTENSION_LIMIT {
                    return Err(Stop::TooLarge(format!("the sparse map of the member at byte {header_at} is larger than {EXTENSION_LIMIT} bytes")));
                } else {
                    "it is longer than the member's data"
                };
                return Err(Stop::Corrupt(format!("the sparse map of the member at byte {header_at} is malformed: {why}")));
            }
            text.extend_from_slice(&self.raw_block(header_at)?);
            while let Some(newline) = text[parsed_to..].iter().position(|&b| b == b'\n') {
                let line = &text[parsed_to..parsed_to + newline];
                // A line starting with `#` is a comment (`#!gnu-sparse-format`), skipped as
                // bsdtar does; GNU tar lists the member too.
                if line.first() == Some(&b'#') {
                    parsed_to += newline + 1;
                    continue;
                }
                let number = pax_number(line).ok_or_else(|| Stop::Corrupt(format!("the sparse map of the member at byte {header_at} holds a non-number")))?;
                parsed_to += newline + 1;
                match wanted {
                    None if number as usize > SPARSE_SEGMENTS_LIMIT => {
                        return Err(Stop::TooLarge(format!("the sparse map of the member at byte {header_at} has more than {SPARSE_SEGMENTS_LIMIT} segments")));
                    }
                    None => wanted = Some(number as usize),
                    Some(count) if numbers.len() < count * 2 => numbers.push(number),
                    Some(_) => break,
                }
            }
        }
    }

    /// Read an extension header's data, at most [`EXTENSION_LIMIT`] bytes.
    fn extension(&mut self, size: u64, typeflag: u8, header_at: u64) -> Result<Vec<u8>, Stop> {
        let what = match typeflag {
            b'L' => "GNU long name",
            b'K' => "GNU long link name",
            b'g' => "pax global header",
            _ => "pax header",
        };
        if size > EXTENSION_LIMIT {
            return Err(Stop::TooLarge(format!("the {what} at byte {header_at} claims {size} bytes; optml reads at most {EXTENSION_LIMIT}")));
        }
        let mut data = vec![0u8; size as usize];
        self.read_exact(&mut data, what)?;
        self.skip(padding(size), what)?;
        Ok(data)
    }

    fn long_name(&self, data: Vec<u8>, what: &str, warnings: &mut Vec<String>) -> Vec<u8> {
        let (name, cut) = cut_at_nul(data);
        if cut {
            warnings.push(format!("the {what} `{}` holds a NUL; the name is cut there, as tar readers do", String::from_utf8_lossy(&name)));
        }
        name
    }

    /// The next 512-byte header block; `None` at the end-of-archive marker or a clean end of
    /// input. `first` marks the first block of the stream, where a bad checksum means "not a tar".
    fn block(&mut self, first: bool) -> Result<Option<[u8; 512]>, Stop> {
        let at = self.offset;
        let mut block = [0u8; 512];
        let got = self.fill_from_stream(&mut block)?;
        if got == 0 {
            return Ok(None);
        }
        if got < block.len() {
            return Err(if first {
                Stop::Truncated(format!("the stream is {got} bytes, shorter than one tar header"))
            } else {
                Stop::Truncated(format!("the stream ends inside the header at byte {at}"))
            });
        }
        if block.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        if !checksum_ok(&block) {
            return Err(if first { Stop::NotTar } else { Stop::Corrupt(format!("the block at byte {at} is not a valid tar header (checksum mismatch)")) });
        }
        Ok(Some(block))
    }

    /// A block of a sparse map (no checksum: it is data) of the member at `header_at`.
    fn raw_block(&mut self, header_at: u64) -> Result<[u8; 512], Stop> {
        let mut block = [0u8; 512];
        if self.fill_from_stream(&mut block)? < block.len() {
            return Err(Stop::Truncated(format!("the stream ends inside the sparse map of the member at byte {header_at}")));
        }
        Ok(block)
    }

    /// Copy up to `buf.len()` bytes from the stream; fewer only at the end of input.
    fn fill_from_stream(&mut self, buf: &mut [u8]) -> Result<usize, Stop> {
        let mut got = 0;
        while got < buf.len() {
            let available = self.stream.fill().map_err(Stop::Io)?;
            if available.is_empty() {
                break;
            }
            let n = available.len().min(buf.len() - got);
            buf[got..got + n].copy_from_slice(&available[..n]);
            self.stream.consume(n);
            got += n;
        }
        self.offset += got as u64;
        Ok(got)
    }

    fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), Stop> {
        if self.fill_from_stream(buf)? < buf.len() {
            return Err(Stop::Truncated(format!("the stream ends inside a {what} (byte {})", self.offset)));
        }
        Ok(())
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), Stop> {
        let skipped = self.stream.skip(n).map_err(Stop::Io)?;
        self.offset += skipped;
        if skipped < n {
            return Err(Stop::Truncated(format!("the stream ends inside {what} at byte {}, {} bytes short", self.offset, n - skipped)));
        }
        Ok(())
    }
}

/// Reads the current member's stored data; an input that ends early is an `UnexpectedEof` error.
pub struct Data<'a, S> {
    reader: &'a mut TarReader<S>,
}

impl<S: Stream> Read for Data<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let reader = &mut *self.reader;
        if reader.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let available = reader.stream.fill()?;
        if available.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the stream ends inside member data at byte {}, {} bytes short", reader.offset, reader.remaining),
            ));
        }
        let n = available.len().min(buf.len()).min(usize::try_from(reader.remaining).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&available[..n]);
        reader.stream.consume(n);
        reader.offset += n as u64;
        reader.remaining -= n as u64;
        Ok(n)
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// Append old GNU sparse segments until the first empty slot.
fn push_segments<'a>(slots: impl Iterator<Item = (&'a [u8], &'a [u8])>, segments: &mut Vec<(u64, u64)>) {
    for (offset, numbytes) in slots {
        if offset.iter().all(|&b| b == 0) && numbytes.iter().all(|&b| b == 0) {
            break;
        }
        segments.push((header_number(offset).unwrap_or(0), header_number(numbytes).unwrap_or(0)));
    }
}

/// A sparse map must describe the stored data: segments in order, inside the real size,
/// their lengths adding up to the bytes stored. Anything else is listed with a warning.
fn check_sparse_map(member: &mut Member) {
    let Some(segments) = &member.sparse else {
        return;
    };
    let mut end = 0u64;
    let mut total = 0u64;
    for &(offset, length) in segments {
        let Some(segment_end) = offset.checked_add(length) else {
            member.warnings.push("a sparse segment ends past the largest file size".into());
            return;
        };
        if offset < end || segment_end > member.size {
            member
                .warnings
                .push(format!("the sparse map is inconsistent: segment ({offset}, {length}) overlaps another or ends past the real size {}", member.size));
            return;
        }
        end = segment_end;
        total = total.saturating_add(length);
    }
    if total != member.stored {
        member.warnings.push(format!("the sparse map describes {total} bytes of data, but {} are stored", member.stored));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_leniently() {
        assert_eq!(header_number(b"0000644\0"), Some(0o644));
        assert_eq!(header_number(&[0, 0, 0, b'6', b'4', b'4', b' ', 0]), Some(0), "a NUL ends the field");
        assert_eq!(header_number(b"  12 "), Some(0o12));
        assert_eq!(header_number(b"\0\0\0\0\0\0\0\0"), Some(0));
        assert_eq!(header_number(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]), Some(1 << 32));
        assert_eq!(header_number(&[0xff; 12]), None);
        assert_eq!(header_number(&[0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), None);
    }

    #[test]
    fn pax_records_follow_their_lengths() {
        let mut pax = Pax::default();
        let mut warnings = Vec::new();
        pax.parse(b"18 path=a\nb/c.txt\n11 size=42\n", &mut warnings);
        assert_eq!(pax.path.as_deref(), Some(&b"a\nb/c.txt"[..]));
        assert_eq!(pax.size.as_deref(), Some(&b"42"[..]));
        assert!(warnings.is_empty());
        pax.parse(b"99 path=x\n", &mut warnings);
        assert_eq!(warnings.len(), 1, "a length past the header's end is malformed");
    }

    #[test]
    fn signed_checksums_are_accepted() {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..3].copy_from_slice(b"\xe9t\xe9");
        header.set_size(0);
        let block = header.as_mut_bytes();
        let signed: i64 = block.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { i64::from(b as i8) }).sum();
        block[148..156].copy_from_slice(format!("{signed:06o}\0 ").as_bytes());
        assert!(checksum_ok(block));
        header.set_cksum();
        assert!(checksum_ok(header.as_bytes()), "the unsigned sum is accepted too");
        let block = header.as_mut_bytes();
        block[148..156].copy_from_slice(b"000001\0 ");
        assert!(!checksum_ok(block));
    }

    #[test]
    fn names_are_cut_at_nul() {
        assert_eq!(cut_at_nul(b"abc\0\0".to_vec()), (b"abc".to_vec(), false));
        assert_eq!(cut_at_nul(b"abc\0def".to_vec()), (b"abc".to_vec(), true));
    }
}
