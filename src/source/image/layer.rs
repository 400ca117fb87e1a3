//! One layer blob: streamed once through optml's tar reader ([`crate::source::members`]),
//! hashed on the way (the blob as stored, and the uncompressed tar the config's `diff_ids`
//! name), and applied to the image's file list member by member, so nothing but the kept
//! paths is held: memory follows what the checks read, not the layer's size.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Seek};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::store::Blob;
use crate::entry::{file_name, normalize_name, EntryKind};
use crate::source::gzip::{End, Inflated};
use crate::source::limits::Limits;
use crate::source::members::{Stop, Stream, TarReader};
use crate::source::Compression;

/// The most bytes of a file's content kept (`/etc/passwd`, `/etc/group`); real ones are a few KiB.
pub const CONTENT_LIMIT: u64 = 1 << 20;

/// A file of the image as the layers leave it.
#[derive(Clone, Debug)]
pub struct Node {
    pub kind: EntryKind,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub link_target: Option<Vec<u8>>,
    /// The first [`CONTENT_LIMIT`] bytes, for the files [`Keep::content`] asks for.
    pub content: Option<Vec<u8>>,
    /// SHA-256 of the data, for the files [`Keep::digest`] asks for (snapshots).
    pub digest: Option<[u8; 32]>,
    /// Index of the layer that last wrote it.
    pub layer: usize,
}

impl Node {
    /// A regular file, or a hard link (which is the file it names).
    pub fn is_file(&self) -> bool {
        matches!(self.kind, EntryKind::File | EntryKind::Hardlink)
    }
}

/// Image paths (no leading `/`) -> what is there.
pub type Files = BTreeMap<Vec<u8>, Node>;

/// Which paths of a layer are kept, and which of them with their content.
pub trait Keep {
    fn keeps(&self, path: &[u8]) -> bool;
    fn content(&self, path: &[u8]) -> bool;
    fn digest(&self, path: &[u8]) -> bool;
}

/// What reading one layer found wrong, as the sentence that ends a finding.
pub enum LayerError {
    Broken(String),
    Unsupported(String),
    Mismatch(String),
}

/// Hex SHA-256 digests a layer must have.
pub struct Expected<'a> {
    /// Of the blob as stored (OCI descriptors; `docker save`'s `blobs/sha256/HEX` names).
    pub blob: Option<&'a str>,
    /// Of the uncompressed tar (`rootfs.diff_ids`).
    pub diff_id: Option<&'a str>,
}

/// The top folders (first two components) a layer wrote below: enough to tell, once a
/// symlinked /opt/ml's target is known, which earlier layers can have put files there.
pub type Touched = BTreeSet<Vec<u8>>;

/// Read `blob` as layer `layer` and apply it to `files`, keeping the paths `keep` accepts.
pub fn apply(blob: Blob, layer: usize, expected: &Expected, keep: &dyn Keep, limits: Limits, files: &mut Files) -> Result<Touched, LayerError> {
    let cannot = |err: io::Error| LayerError::Broken(format!("cannot be read: {err}"));
    let Blob { mut file, start, len } = blob;
    let mut head = [0u8; 512];
    let got = read_up_to(&mut (&file).take(len), &mut head).map_err(cannot)?;
    let compression = Compression::sniff(&head[..got]);
    if !matches!(compression, Compression::None | Compression::Gzip) {
        return Err(LayerError::Unsupported(format!("is {}-compressed; optml reads only gzip and uncompressed layers", compression.as_str())));
    }
    file.seek(io::SeekFrom::Start(start)).map_err(cannot)?;
    // The clone shares the file position: after the tar ends it says how far the reader got.
    let rest = file.try_clone().map_err(cannot)?;
    let blob_hash = Arc::new(Mutex::new(Sha256::new()));
    let raw = Hashing { inner: file.take(len), hash: blob_hash.clone() };
    let mut touched = Touched::new();
    let tar_digest = match compression {
        // Inflated on its own thread, hashed as the tar reader consumes it.
        Compression::Gzip => {
            let inflated = Inflated::spawn(raw);
            let progress = inflated.progress.clone();
            let mut reader = TarReader::new(HashingStream { inner: inflated, hash: Sha256::new() });
            let applied = apply_members(&mut reader, layer, keep, limits, files, &mut touched, Some(&progress.compressed));
            let mut stream = reader.into_inner();
            if let Err(error) = applied {
                let why = match stream.inner.end() {
                    End::Corrupt(why) | End::Truncated(why) => format!(" ({why})"),
                    _ => String::new(),
                };
                return Err(match error {
                    LayerError::Broken(detail) => LayerError::Broken(format!("{detail}{why}")),
                    other => other,
                });
            }
            // The rest of the tar stream (the end-of-archive blocks), hashed, then the gzip trailer.
            stream.skip(u64::MAX).map_err(cannot)?;
            let (end, _) = stream.inner.finish();
            match end {
                End::Clean | End::TrailingData(_) => {}
                End::Truncated(why) | End::Corrupt(why) => return Err(LayerError::Broken(format!("has a damaged gzip stream: {why}"))),
                End::Io(err) => return Err(cannot(err)),
            }
            Some(hex(stream.hash.finalize()))
        }
        _ => {
            let mut reader = TarReader::new(io::BufReader::with_capacity(256 * 1024, raw));
            apply_members(&mut reader, layer, keep, limits, files, &mut touched, None)?;
            None
        }
    };
    drain(rest, start + len, &blob_hash).map_err(cannot)?;
    let blob_digest = blob_hash.lock().map(|sha| hex(sha.clone().finalize())).unwrap_or_default();
    let tar_digest = tar_digest.unwrap_or_else(|| blob_digest.clone());
    for (what, want, got) in [("the blob", expected.blob, &blob_digest), ("its uncompressed tar", expected.diff_id, &tar_digest)] {
        if let Some(want) = want.filter(|want| *want != got.as_str()) {
            return Err(LayerError::Mismatch(format!("{what} hashes to sha256:{got}, but the image says sha256:{want}")));
        }
    }
    Ok(touched)
}

/// Apply each member as it is read. Whiteouts and replacements delete only what lower layers
/// left (a layer's own members never hide each other), so the tar's member order does not matter.
fn apply_members<S: Stream>(
    reader: &mut TarReader<S>,
    layer: usize,
    keep: &dyn Keep,
    limits: Limits,
    files: &mut Files,
    touched: &mut Touched,
    compressed: Option<&std::sync::atomic::AtomicU64>,
) -> Result<(), LayerError> {
    let mut count = 0u64;
    loop {
        let member = match reader.next_member() {
            Ok(Some(member)) => member,
            Ok(None) => return Ok(()),
            Err(stop) => return Err(LayerError::Broken(stopped(stop, reader.offset()))),
        };
        count += 1;
        let inflated = compressed.and_then(|c| limits.inflation(reader.offset().saturating_add(member.stored), c.load(std::sync::atomic::Ordering::Relaxed)));
        if let Some(limit) = (count > limits.entries).then_some(crate::source::limits::Limit::Entries).or(inflated) {
            return Err(LayerError::Broken(limits.reached(limit)));
        }
        // Past the name caps: not applied (docs/security.md), as for any archive.
        if limits.name_problem(&member.name).is_some() {
            continue;
        }
        let path = normalize_name(&member.name).name;
        if path.is_empty() {
            continue;
        }
        let name = file_name(&path);
        if let Some(hidden) = name.strip_prefix(b".wh.") {
            let folder = path[..path.len() - name.len()].strip_suffix(b"/").unwrap_or_default();
            if hidden == b".wh..opq" {
                touched.insert(top(folder).to_vec());
                remove_below(files, folder, false, layer);
            } else if !hidden.starts_with(b".wh.") {
                let gone = crate::entry::join(folder, hidden);
                touched.insert(top(&gone).to_vec());
                remove_below(files, &gone, true, layer);
            }
            continue;
        }
        touched.insert(top(&path).to_vec());
        let kind = member.kind.entry_kind();
        if kind != EntryKind::Dir {
            // A file replaces a folder of a lower layer, and everything in it.
            remove_below(files, &path, false, layer);
        }
        if !keep.keeps(&path) {
            continue;
        }
        let unreadable = |err: io::Error| LayerError::Broken(format!("cannot be read: {err}"));
        let (mut content, mut digest) = (None, None);
        if kind == EntryKind::File && keep.content(&path) {
            let mut bytes = Vec::new();
            reader.data().take(CONTENT_LIMIT).read_to_end(&mut bytes).map_err(unreadable)?;
            content = Some(bytes);
        } else if kind == EntryKind::File && keep.digest(&path) {
            let mut sha = Sha256::new();
            io::copy(&mut reader.data(), &mut sha).map_err(unreadable)?;
            digest = Some(sha.finalize().into());
        }
        let mut node = Node {
            kind,
            size: if kind == EntryKind::File { member.size } else { 0 },
            mode: member.mode,
            uid: member.uid,
            gid: member.gid,
            link_target: member.link.clone(),
            content,
            digest,
            layer,
        };
        // A hard link is the file it names, which a lower layer or this one wrote.
        if kind == EntryKind::Hardlink {
            if let Some(target) = member.link.as_deref().and_then(|link| files.get(&normalize_name(link).name)).filter(|target| target.kind == EntryKind::File)
            {
                node.size = target.size;
                node.content.clone_from(&target.content);
                node.digest = target.digest;
            }
        }
        files.insert(path, node);
    }
}

/// `usr/lib` of `usr/lib/x/y`, `bin` of `bin`.
pub fn top(path: &[u8]) -> &[u8] {
    match path.iter().enumerate().filter(|(_, &b)| b == b'/').nth(1) {
        Some((at, _)) => &path[..at],
        None => path,
    }
}

fn stopped(stop: Stop, offset: u64) -> String {
    let why = match stop {
        Stop::NotTar => return "is not a readable tar: its first 512 bytes are not a tar header".to_string(),
        Stop::Truncated(why) | Stop::Corrupt(why) | Stop::TooLarge(why) => why,
        Stop::Io(err) => format!("read error: {err}"),
    };
    format!("is not a readable tar: reading stopped at byte {offset} of its tar stream: {why}")
}

/// Remove what lower layers than `layer` left below `path` (and `path` itself when `itself`);
/// `path` empty is the root.
fn remove_below(files: &mut Files, path: &[u8], itself: bool, layer: usize) {
    if itself && files.get(path).is_some_and(|node| node.layer < layer) {
        files.remove(path);
    }
    let prefix = if path.is_empty() { Vec::new() } else { [path, b"/"].concat() };
    let doomed: Vec<Vec<u8>> = files
        .range(prefix.clone()..)
        .take_while(|(key, _)| key.starts_with(&prefix))
        .filter(|(_, node)| node.layer < layer)
        .map(|(key, _)| key.clone())
        .collect();
    for key in doomed {
        files.remove(&key);
    }
}

fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Hash what the tar reader left unread of the blob (it stops at the end-of-archive marker).
fn drain(mut file: std::fs::File, end: u64, hash: &Mutex<Sha256>) -> io::Result<()> {
    let at = file.stream_position()?;
    let mut sink = Hashing { inner: file.take(end.saturating_sub(at)), hash };
    io::copy(&mut sink, &mut io::sink())?;
    Ok(())
}

fn hex(digest: impl AsRef<[u8]>) -> String {
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Passes bytes through, hashing them.
struct Hashing<R, H> {
    inner: R,
    hash: H,
}

impl<R: Read, H: std::ops::Deref<Target = Mutex<Sha256>>> Read for Hashing<R, H> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut sha) = self.hash.lock() {
            sha.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// A tar stream hashed as it is consumed (or skipped).
struct HashingStream<S> {
    inner: S,
    hash: Sha256,
}

impl<S: Stream> Stream for HashingStream<S> {
    fn fill(&mut self) -> io::Result<&[u8]> {
        self.inner.fill()
    }
    fn consume(&mut self, n: usize) {
        // The buffer `fill` returned is still there: hash the part consumed.
        if let Ok(bytes) = self.inner.fill() {
            self.hash.update(&bytes[..n.min(bytes.len())]);
        }
        self.inner.consume(n);
    }
}
