//! Entries -> manifest lines: the one place that decides what a snapshot records.
//!
//! Paths are member names relative to the input (a tree's root, an archive's root), so
//! `/opt/ml/model` and the `model.tar.gz` made from it record the same lines. In a job folder
//! each artifact's members sit under the artifact's path (`output/model.tar.gz/model.pth`).
//! Folders that an archive implies but does not list are recorded like listed ones, because
//! extraction creates them either way.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::header::{Header, SizeTreatment};
use super::manifest::{Line, Manifest, Size};
use crate::entry::{join, normalize_name, Entry, EntryKind};
use crate::source::Subject;

/// The path an entry is recorded under, before redaction.
pub fn entry_path(subject: &Subject, entry: &Entry) -> Vec<u8> {
    join(subject.origins[entry.origin].path_prefix.as_bytes(), &entry.member)
}

/// The path an entry is recorded under, redacted.
pub fn recorded_path(subject: &Subject, entry: &Entry, header: &Header) -> Vec<u8> {
    header.redactor.apply(&entry_path(subject, entry))
}

/// Record every entry of `subject` with the header's fields and rules, sorted.
pub fn record(subject: &Subject, header: &Header) -> Vec<Line> {
    let mut by_path: BTreeMap<Vec<u8>, Line> = BTreeMap::new();
    for entry in &subject.entries {
        let prefix = subject.origins[entry.origin].path_prefix.as_bytes();
        // Deepest parent first: once one is recorded, so are all of its own parents (a sibling
        // or an earlier line put them there), so most entries look up one key, not one per level.
        for (i, _) in entry.member.iter().enumerate().rev().filter(|(_, &b)| b == b'/') {
            // Most parents were seen with a sibling: look up before allocating.
            let parent: Cow<[u8]> = if prefix.is_empty() { Cow::Borrowed(&entry.member[..i]) } else { Cow::Owned(join(prefix, &entry.member[..i])) };
            if by_path.contains_key(parent.as_ref()) {
                break;
            }
            let parent = parent.into_owned();
            by_path.insert(parent.clone(), Line::new(parent, EntryKind::Dir));
        }
        // A name listed twice in an archive: extraction keeps the last one.
        let path = entry_path(subject, entry);
        by_path.insert(path.clone(), line_of(path, entry, header));
    }
    // An empty path names the input itself (a member called `` or `/`), which a manifest never
    // lists: written out, it would be a line the parser rejects (found by fuzz/archive).
    let mut lines: Vec<Line> = by_path.into_values().map(|line| finish(line, header)).filter(|line| !line.path.is_empty()).collect();
    Manifest::sort(&mut lines);
    lines
}

/// The fields of one entry any line may record, before redaction (see [`finish`]).
pub fn line_of(path: Vec<u8>, entry: &Entry, header: &Header) -> Line {
    let fields = header.fields;
    let mut line = Line::new(path, entry.kind);
    if fields.size && entry.kind == EntryKind::File {
        line.size = Some(Size::Bytes(entry.size));
    }
    if fields.link {
        line.link = match entry.kind {
            EntryKind::Symlink => entry.link_target.clone(),
            // Hard link targets name other members, so they get the same `./` normalization.
            EntryKind::Hardlink => entry.link_target.as_deref().map(|target| normalize_name(target).name),
            _ => None,
        };
    }
    if fields.mode {
        line.mode = Some(entry.mode);
    }
    if fields.sha256 && entry.kind == EntryKind::File {
        line.sha256 = entry.digest;
    }
    line
}

/// Apply the header's redactions, per-path fields and size rules to a recorded line.
pub fn finish(mut line: Line, header: &Header) -> Line {
    line.path = header.redactor.apply(&line.path);
    let fields = header.fields_at(&line.path);
    if !fields.size {
        line.size = None;
    }
    if !fields.link {
        line.link = None;
    }
    if !fields.mode {
        line.mode = None;
    }
    if !fields.sha256 {
        line.sha256 = None;
    }
    if line.size.is_some() && header.size_treatment(&line.path) == Some(SizeTreatment::Ignore) {
        line.size = Some(Size::Ignored);
    }
    line
}
