//! One layer blob: streamed once through the archive reader, hashed on the way (the blob as
//! stored, and the uncompressed tar the config's `diff_ids` name), then applied to the
//! image's file list.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek};
use std::path::Path;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::store::Blob;
use crate::entry::{file_name, EntryKind};
use crate::source::limits::Limits;
use crate::source::{archive, Compression, ScanOptions};

/// A file of the image as the layers leave it.
#[derive(Clone, Debug)]
pub struct Node {
    pub kind: EntryKind,
    pub size: u64,
    pub mode: u32,
    pub link_target: Option<Vec<u8>>,
    /// Index of the layer that last wrote it.
    pub layer: usize,
}

/// Image paths (no leading `/`) -> what is there.
pub type Files = BTreeMap<Vec<u8>, Node>;

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

/// Read `blob` as layer `layer` and apply it to `files`, keeping only paths `keep` accepts.
pub fn apply(blob: Blob, layer: usize, expected: &Expected, keep: &dyn Fn(&[u8]) -> bool, limits: Limits, files: &mut Files) -> Result<(), LayerError> {
    let Blob { mut file, start, len } = blob;
    let mut head = [0u8; 512];
    let got = read_up_to(&mut (&file).take(len), &mut head).map_err(|err| LayerError::Broken(format!("cannot be read: {err}")))?;
    let compression = Compression::sniff(&head[..got]);
    if !matches!(compression, Compression::None | Compression::Gzip) {
        return Err(LayerError::Unsupported(format!("is {}-compressed; optml reads only gzip and uncompressed layers", compression.as_str())));
    }
    file.seek(io::SeekFrom::Start(start)).map_err(|err| LayerError::Broken(format!("cannot be read: {err}")))?;
    // The clone shares the file position: after the scan it says how far the reader got.
    let rest = file.try_clone().map_err(|err| LayerError::Broken(format!("cannot be read: {err}")))?;
    let blob_hash = Arc::new(Mutex::new(Sha256::new()));
    let raw = Hashing { inner: file.take(len), hash: blob_hash.clone() };
    let tar_hash = Arc::new(Mutex::new(Sha256::new()));
    let plain: Box<dyn Read + Send> = match compression {
        Compression::Gzip => Box::new(Hashing { inner: flate2::read::MultiGzDecoder::new(io::BufReader::new(raw)), hash: tar_hash.clone() }),
        _ => Box::new(raw),
    };
    let options = ScanOptions { limits, ..ScanOptions::headers(false) };
    let scan = archive::scan(plain, Path::new("layer.tar"), &options).map_err(|err| LayerError::Broken(format!("cannot be read: {err}")))?;
    if let Some(problem) = scan.problems.iter().find(|p| p.kind.stops_reading()) {
        return Err(LayerError::Broken(format!("is not a readable tar: {}", problem.detail)));
    }
    drain(rest, start + len, &blob_hash).map_err(|err| LayerError::Broken(format!("cannot be read: {err}")))?;
    let blob_digest = hex(&blob_hash);
    let tar_digest = if compression == Compression::Gzip { hex(&tar_hash) } else { blob_digest.clone() };
    for (what, want, got) in [("the blob", expected.blob, &blob_digest), ("its uncompressed tar", expected.diff_id, &tar_digest)] {
        if let Some(want) = want.filter(|want| *want != got.as_str()) {
            return Err(LayerError::Mismatch(format!("{what} hashes to sha256:{got}, but the image says sha256:{want}")));
        }
    }
    // Whiteouts delete what lower layers left, so they apply before this layer's own files.
    for entry in &scan.entries {
        let name = file_name(&entry.member);
        let Some(hidden) = name.strip_prefix(b".wh.") else { continue };
        let folder = &entry.member[..entry.member.len() - name.len()];
        if hidden == b".wh..opq" {
            remove_below(files, folder.strip_suffix(b"/").unwrap_or(folder), false);
        } else {
            remove_below(files, &[folder, hidden].concat(), true);
        }
    }
    for entry in scan.entries.iter().filter(|e| !file_name(&e.member).starts_with(b".wh.") && !e.member.is_empty()) {
        if entry.kind != EntryKind::Dir {
            // A file replaces a folder of a lower layer, and everything in it.
            remove_below(files, &entry.member, false);
        }
        if keep(&entry.member) {
            let node = Node { kind: entry.kind, size: entry.size, mode: entry.mode, link_target: entry.link_target.clone(), layer };
            files.insert(entry.member.clone(), node);
        }
    }
    Ok(())
}

/// Remove everything below `path` (and `path` itself when `itself`); `path` empty is the root.
fn remove_below(files: &mut Files, path: &[u8], itself: bool) {
    if itself {
        files.remove(path);
    }
    let prefix = if path.is_empty() { Vec::new() } else { [path, b"/"].concat() };
    let doomed: Vec<Vec<u8>> = files.range(prefix.clone()..).map(|(key, _)| key).take_while(|key| key.starts_with(&prefix)).cloned().collect();
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

/// Hash what the scan left unread of the blob (it stops at the tar's end-of-archive marker).
fn drain(mut file: std::fs::File, end: u64, hash: &Mutex<Sha256>) -> io::Result<()> {
    let at = file.stream_position()?;
    let mut sink = Hashing { inner: file.take(end.saturating_sub(at)), hash };
    io::copy(&mut sink, &mut io::sink())?;
    Ok(())
}

fn hex(hash: &Mutex<Sha256>) -> String {
    let digest = hash.lock().map(|sha| sha.clone().finalize()).unwrap_or_default();
    digest.iter().map(|b| format!("{b:02x}")).collect()
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
