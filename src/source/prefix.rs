//! An S3 prefix read as a folder: an uncompressed model (`ModelDataSource` `S3Prefix`,
//! `S3DataType=S3Prefix`) or the uncompressed `output/model/` of a job. Entries come from the
//! listing (keys, sizes; folders implied by keys); the only bytes fetched are those a rule reads
//! (the content captured from small files, with ranged GETs up to the capture limit, and the
//! last bytes of a file whose zip listing is wanted), so weights are never downloaded. Only a
//! recorded SHA-256 (`snapshot` with the `sha256` field) streams every object, as asked.

use std::collections::HashSet;
use std::path::PathBuf;

use super::job::Holds;
use super::limits::Limit;
use super::s3::{ObjectInfo, ObjectMeta, S3Client, S3Error, S3Location};
use super::ziptail::{self, ZipLook};
use super::{capture, name_too_long, Limits, Problem, ProblemKind, Scan, ScanOptions};
use crate::entry::{normalize_name, Content, Entry, EntryKind};

/// The mode a listed object is given: SageMaker downloads an S3 prefix as files 0644 in
/// folders 0755, which is what the container then sees.
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// A listing of everything under `root` (a prefix ending in `/`, or the bucket's top).
pub struct Listing<'a> {
    pub root: &'a S3Location,
    pub objects: &'a [ObjectInfo],
}

impl Listing<'_> {
    fn key(&self, rel: &str) -> String {
        format!("{}{rel}", self.root.key)
    }

    /// The objects below `rel/` (all of them for an empty `rel`), with their keys relative to it.
    fn below<'b>(&'b self, rel: &str) -> impl Iterator<Item = (&'b str, &'b ObjectInfo)> + 'b {
        let base = if rel.is_empty() { self.root.key.clone() } else { format!("{}{rel}/", self.root.key) };
        self.objects.iter().filter_map(move |object| object.key.strip_prefix(&base).map(|name| (name, object)))
    }

    /// What the listing says about the folder `rel` as an origin's object: its url, the bytes
    /// under it and the newest object's last-modified (a prefix has no ETag of its own).
    pub fn meta(&self, rel: &str) -> ObjectMeta {
        let url = if rel.is_empty() { self.root.to_string() } else { format!("{}{rel}/", self.root) };
        let objects: Vec<&ObjectInfo> = self.below(rel).map(|(_, object)| object).collect();
        ObjectMeta {
            url,
            size: objects.iter().map(|object| object.size).sum(),
            last_modified: objects.iter().filter_map(|object| object.last_modified.clone()).max(),
            ..ObjectMeta::default()
        }
    }
}

impl Holds for Listing<'_> {
    fn has_dir(&self, rel: &str) -> bool {
        let folder = format!("{}/", self.key(rel));
        self.objects.iter().any(|object| object.key.starts_with(&folder))
    }

    fn has_file(&self, rel: &str) -> bool {
        let key = self.key(rel);
        self.objects.iter().any(|object| object.key == key)
    }

    fn join(&self, rel: &str) -> PathBuf {
        PathBuf::from(self.root.with_key(&self.key(rel)).to_string())
    }
}

/// The folder `rel` of `listing` as a scan: one entry per object and per folder its keys imply
/// (a console "folder" marker, a key ending in `/`, is a folder too), in listing order.
pub fn scan(client: &S3Client, listing: &Listing, rel: &str, options: &ScanOptions) -> Result<Scan, S3Error> {
    let mut scan = Scan::default();
    let mut folders: HashSet<Vec<u8>> = HashSet::new();
    let limits = options.limits;
    for (name, object) in listing.below(rel) {
        if name.is_empty() {
            // The prefix's own folder marker.
            continue;
        }
        let (name, kind) = match name.strip_suffix('/') {
            Some(folder) => (folder, EntryKind::Dir),
            None => (name, EntryKind::File),
        };
        let member = name.as_bytes();
        if let Some(detail) = limits.name_problem(member) {
            scan.problems.push(name_too_long(member, detail));
            continue;
        }
        // The folders a key implies come before it, once each.
        let mut implied: Vec<&[u8]> = member.iter().enumerate().filter(|(_, byte)| **byte == b'/').map(|(at, _)| &member[..at]).collect();
        if kind == EntryKind::Dir {
            implied.push(member);
        }
        for folder in implied {
            if folders.insert(folder.to_vec()) && !push(&mut scan, folder, EntryKind::Dir, &limits) {
                return Ok(scan);
            }
        }
        if kind == EntryKind::File {
            if !push(&mut scan, member, kind, &limits) {
                return Ok(scan);
            }
            let entry = scan.entries.last_mut().expect("just pushed");
            entry.size = object.size;
            if options.reads(entry.member()) {
                read(client, &listing.root.with_key(&object.key), object, entry, options)?;
            }
        }
    }
    Ok(scan)
}

/// Add an entry unless the entry cap is reached (then a problem says so, and `false`).
fn push(scan: &mut Scan, member: &[u8], kind: EntryKind, limits: &Limits) -> bool {
    let index = scan.entries.len();
    if index as u64 >= limits.entries {
        scan.problems.push(Problem::new(ProblemKind::Limit, limits.reached(Limit::Entries)));
        return false;
    }
    let normalized = normalize_name(member);
    let mut entry = Entry::new(normalized.name, kind);
    entry.invalid_name = normalized.invalid;
    entry.set_index(index);
    entry.mode = if kind == EntryKind::Dir { DIR_MODE } else { FILE_MODE };
    scan.entries.push(entry);
    true
}

/// Fetch what the rules read of one object: with digests, every byte in one streamed pass (as a
/// local file is read); otherwise a ranged GET of the captured head and one of the zip tail.
fn read(client: &S3Client, location: &S3Location, object: &ObjectInfo, entry: &mut Entry, options: &ScanOptions) -> Result<(), S3Error> {
    let etag = object.etag.as_deref();
    if options.digest {
        let mut reader = client.open(location, etag)?;
        let broken = reader.failure();
        return capture(&mut reader, entry, options)
            .map_err(|err| broken.lock().ok().and_then(|mut failure| failure.take()).unwrap_or_else(|| S3Error::new(location.to_string(), err.to_string())));
    }
    if (options.wants_content)(entry.member()) {
        let head = object.size.min(options.content_limit as u64);
        let bytes = client.read_range(location, etag, 0..head)?;
        entry.set_content(Some(Content { bytes, truncated: object.size > head }));
    }
    if (options.wants_tail)(entry.member()) {
        let start = object.size.saturating_sub(ziptail::TAIL_LIMIT as u64);
        let tail = client.read_range(location, etag, start..object.size)?;
        entry.set_zip(Some(if (tail.len() as u64) < object.size - start {
            ZipLook::Unsure("the object ends early".into())
        } else {
            ziptail::look(&tail, start)
        }));
    }
    Ok(())
}
