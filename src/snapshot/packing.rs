//! SageMaker's packing rules, so that `optml diff` calls a folder and the archive made from it
//! equal (../shared/reference/sagemaker-contract.md section 4):
//! - `./x` and `x` name the same member, and the root entry (`./`, `/`) is not content: the
//!   sources already normalize both;
//! - the SDK's `create_tar_file` (local mode, sourcedir.tar.gz) uses `dereference=True`: a
//!   symlink in a tree that the other side holds as a regular file is compared by its target;
//! - tar stores a second name of a file as a hard link: a hard link in an archive that the other
//!   side holds as a regular file is compared as the file it names;
//! - output.tar.gz flavours: local mode packs all of /opt/ml/output (`success`, `data/...`),
//!   real SageMaker only /opt/ml/output/data. When one side has the whole-output shape and the
//!   other does not, only the whole side's `data/` is compared.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::MetadataExt;

use super::header::Header;
use super::manifest::Line;
use super::record::recorded_path;
use crate::entry::{as_path, normalize_name, strip_prefix, EntryKind};
use crate::source::{capture, ScanOptions, Subject};

/// Paths the other side records as regular files.
pub fn file_paths(lines: &[Line]) -> HashSet<Vec<u8>> {
    lines.iter().filter(|line| line.kind == EntryKind::File).map(|line| line.path.clone()).collect()
}

/// Turn symlinks (in trees) and hard links (in archives) into the files they name where the
/// other side has a regular file at that path. Returns a note per kind of change made.
pub fn as_packed(subject: &mut Subject, header: &Header, other_files: &HashSet<Vec<u8>>) -> Vec<String> {
    let wanted: Vec<usize> = (0..subject.entries.len())
        .filter(|&i| {
            let entry = &subject.entries[i];
            matches!(entry.kind, EntryKind::Symlink | EntryKind::Hardlink) && other_files.contains(&recorded_path(subject, entry, header))
        })
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let mut dereferenced = 0;
    let mut hardlinks = 0;
    let by_member: HashMap<(usize, Vec<u8>), usize> = subject.entries.iter().enumerate().map(|(i, e)| ((e.origin, e.member.clone()), i)).collect();
    for index in wanted {
        let entry = &subject.entries[index];
        let origin = &subject.origins[entry.origin];
        if entry.kind == EntryKind::Symlink && !origin.is_archive {
            let path = origin.fs_path.join(as_path(&entry.member));
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if !meta.is_file() {
                continue;
            }
            let entry = &mut subject.entries[index];
            entry.kind = EntryKind::File;
            entry.size = meta.len();
            entry.mode = meta.mode() & 0o7777;
            entry.link_target = None;
            if header.fields.sha256 {
                let options = ScanOptions { wants_content: &|_| false, content_limit: 0, digest: true };
                if let Ok(mut file) = File::open(&path) {
                    let _ = capture(&mut file, entry, &options);
                }
            }
            dereferenced += 1;
        } else if entry.kind == EntryKind::Hardlink {
            let target = normalize_name(entry.link_target.as_deref().unwrap_or_default()).name;
            let Some(&target_index) = by_member.get(&(entry.origin, target)) else { continue };
            let target = subject.entries[target_index].clone();
            if target.kind != EntryKind::File {
                continue;
            }
            let entry = &mut subject.entries[index];
            entry.kind = EntryKind::File;
            (entry.size, entry.mode, entry.digest, entry.link_target) = (target.size, target.mode, target.digest, None);
            hardlinks += 1;
        }
    }
    let mut notes = Vec::new();
    if dereferenced > 0 {
        notes.push(format!("{}: {dereferenced} symlink(s) compared by their target, as the SDK's packer (dereference=True) stores them", subject.input));
    }
    if hardlinks > 0 {
        notes.push(format!("{}: {hardlinks} hard link(s) compared as the file they name", subject.input));
    }
    notes
}

/// Whether lines look like all of /opt/ml/output: a `data` folder beside a status marker.
fn whole_output(lines: &[Line]) -> bool {
    let has = |name: &[u8]| lines.iter().any(|line| line.path == name);
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
            let rest = strip_prefix(&line.path, b"data").filter(|rest| !rest.is_empty())?.to_vec();
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
