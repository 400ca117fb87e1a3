//! SageMaker's packing rules, so that `optml diff` calls a folder and the archive made from it
//! equal (docs/sagemaker-contract.md section 4):
//! - `./x` and `x` name the same member, and the root entry (`./`, `/`) is not content: the
//!   sources already normalize both;
//! - the SDK's `create_tar_file` (local mode, sourcedir.tar.gz) uses `dereference=True`: a
//!   symlink in a tree that the other side holds as a regular file or a folder is compared by
//!   its target (a folder's content included);
//! - tar stores a second name of a file as a hard link: a hard link in an archive that the other
//!   side holds as a regular file is compared as the file it names;
//! - output.tar.gz flavours: local mode packs all of /opt/ml/output (`success`, `data/...`),
//!   real SageMaker only /opt/ml/output/data. When one side has the whole-output shape and the
//!   other does not, only the whole side's `data/` is compared.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

use super::header::Header;
use super::manifest::Line;
use super::record::recorded_path;
use crate::entry::{as_path, join, normalize_name, strip_prefix, EntryKind};
use crate::source::{capture, tree, ScanOptions, Subject};

/// What the other side records at each path, for the kinds the packing rules look for.
fn kinds(lines: &[Line]) -> HashMap<Box<[u8]>, EntryKind> {
    lines.iter().filter(|line| matches!(line.kind, EntryKind::File | EntryKind::Dir)).map(|line| (line.path.clone(), line.kind)).collect()
}

/// How many links one pass of [`as_packed`] resolved.
#[derive(Default)]
pub struct ResolvedLinks {
    files: usize,
    folders: usize,
    hardlinks: usize,
}

impl ResolvedLinks {
    pub fn any(&self) -> bool {
        self.files + self.folders + self.hardlinks > 0
    }

    fn add(&mut self, other: ResolvedLinks) {
        (self.files, self.folders, self.hardlinks) = (self.files + other.files, self.folders + other.folders, self.hardlinks + other.hardlinks);
    }

    pub fn notes(&self, input: &str) -> Vec<String> {
        let mut notes = Vec::new();
        if self.files + self.folders > 0 {
            notes.push(format!(
                "{input}: {} symlink(s) to files and {} to folders compared by their target, as the SDK's packer (dereference=True) stores them",
                self.files, self.folders
            ));
        }
        if self.hardlinks > 0 {
            notes.push(format!("{input}: {} hard link(s) compared as the file they name", self.hardlinks));
        }
        notes
    }
}

/// Apply the link rules to `subject` against the other side's lines until nothing changes (a
/// folder read in through a symlink may hold links itself; the bound stops link cycles).
pub fn resolve_links(subject: &mut Subject, header: &Header, other: &[Line]) -> ResolvedLinks {
    const PASSES: usize = 8;
    let other = kinds(other);
    let mut total = ResolvedLinks::default();
    for _ in 0..PASSES {
        let pass = as_packed(subject, header, &other);
        if !pass.any() {
            break;
        }
        total.add(pass);
    }
    total
}

/// One pass of the link rules where the other side (`other`, from [`kinds`]) holds a regular
/// file or a folder: a symlink in a tree becomes what it points to (a folder's content is read
/// in below the link's path; links inside it are left for the next pass), and a hard link in an
/// archive becomes the file it names.
fn as_packed(subject: &mut Subject, header: &Header, other: &HashMap<Box<[u8]>, EntryKind>) -> ResolvedLinks {
    let wanted: Vec<(usize, EntryKind)> = (0..subject.entries.len())
        .filter_map(|i| {
            let entry = &subject.entries[i];
            let kind = *other.get(recorded_path(subject, entry, header).as_slice())?;
            let resolvable = match entry.kind {
                EntryKind::Symlink => !subject.origins[entry.origin()].is_archive(),
                EntryKind::Hardlink => kind == EntryKind::File,
                _ => false,
            };
            resolvable.then_some((i, kind))
        })
        .collect();
    let mut resolved = ResolvedLinks::default();
    if wanted.is_empty() {
        return resolved;
    }
    let by_member: HashMap<(usize, Vec<u8>), usize> = subject.entries.iter().enumerate().map(|(i, e)| ((e.origin(), e.member().to_vec()), i)).collect();
    let digest = ScanOptions::headers(header.fields.sha256);
    let mut read_in = Vec::new();
    for (index, other_kind) in wanted {
        let entry = &subject.entries[index];
        let origin = entry.origin();
        if entry.kind == EntryKind::Hardlink {
            let target = normalize_name(entry.link_target().unwrap_or_default()).name;
            let Some(&target_index) = by_member.get(&(origin, target)) else {
                continue;
            };
            let target = subject.entries[target_index].clone();
            if target.kind != EntryKind::File {
                continue;
            }
            let entry = &mut subject.entries[index];
            entry.kind = EntryKind::File;
            (entry.size, entry.mode) = (target.size, target.mode);
            entry.set_digest(target.digest());
            entry.set_link_target(None);
            resolved.hardlinks += 1;
            continue;
        }
        let path = subject.origins[origin].fs_path.join(as_path(entry.member()));
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let member = entry.member().to_vec();
        let entry = &mut subject.entries[index];
        match other_kind {
            EntryKind::File if meta.is_file() => {
                (entry.kind, entry.size) = (EntryKind::File, meta.len());
                entry.set_link_target(None);
                entry.mode = meta.mode() & 0o7777;
                if let Ok(mut file) = crate::open::regular(&path) {
                    let _ = capture(&mut file, entry, &digest);
                }
                resolved.files += 1;
            }
            EntryKind::Dir if meta.is_dir() => {
                (entry.kind, entry.size) = (EntryKind::Dir, 0);
                entry.set_link_target(None);
                entry.mode = meta.mode() & 0o7777;
                for mut inner in tree::scan(&path, &digest).entries {
                    inner.rename(join(&member, inner.member()));
                    inner.set_origin(origin);
                    read_in.push(inner);
                }
                resolved.folders += 1;
            }
            _ => {}
        }
    }
    subject.entries.extend(read_in);
    resolved
}

/// Whether lines look like all of /opt/ml/output: a `data` folder beside a status marker.
fn whole_output(lines: &[Line]) -> bool {
    let has = |name: &[u8]| lines.iter().any(|line| *line.path == *name);
    has(b"data") && (has(b"success") || has(b"failure"))
}

/// When exactly one side has the whole-output shape (local mode) and `output` says an output
/// archive is involved, keep only that side's `data/`, re-rooted. Returns a note if it did.
pub fn reconcile_output(a: &mut Vec<Line>, b: &mut Vec<Line>, labels: [&str; 2], output: bool) -> Option<String> {
    let (whole_a, whole_b) = (whole_output(a), whole_output(b));
    if !output || whole_a == whole_b {
        return None;
    }
    let (lines, label) = if whole_a { (a, labels[0]) } else { (b, labels[1]) };
    let before = lines.len();
    let kept: Vec<Line> = lines
        .drain(..)
        .filter_map(|mut line| {
            let rest = strip_prefix(&line.path, b"data").filter(|rest| !rest.is_empty())?.into();
            line.path = rest;
            Some(line)
        })
        .collect();
    let left_out = before - kept.len();
    *lines = kept;
    Some(format!(
        "{label} holds all of /opt/ml/output (local-mode flavour); compared only its data/ ({left_out} other entries left out), as real SageMaker packs only output/data"
    ))
}
