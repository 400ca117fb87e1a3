//! Entries -> manifest lines: the one place that decides what a snapshot records.
//!
//! Paths are member names relative to the input (a tree's root, an archive's root), so
//! `/opt/ml/model` and the `model.tar.gz` made from it record the same lines. In a job folder
//! each artifact's members sit under the artifact's path (`output/model.tar.gz/model.pth`).
//! Folders that an archive implies but does not list are recorded like listed ones, because
//! extraction creates them either way.

use std::borrow::Cow;
use std::collections::HashSet;

use super::header::{Header, SizeTreatment};
use super::manifest::{Line, Manifest, Size};
use crate::entry::{join, normalize_name, Entry, EntryKind};
use crate::source::Subject;

/// The path an entry is recorded under, before redaction.
pub fn entry_path(subject: &Subject, entry: &Entry) -> Vec<u8> {
    join(subject.origins[entry.origin].path_prefix.as_bytes(), entry.member())
}

/// The path an entry is recorded under, redacted.
pub fn recorded_path(subject: &Subject, entry: &Entry, header: &Header) -> Vec<u8> {
    header.redactor.apply(&entry_path(subject, entry))
}

/// Record every entry of `subject` with the header's fields and rules, sorted.
pub fn record(subject: &Subject, header: &Header) -> Vec<Line> {
    // Implied folders, each once; a listed entry of the same path replaces its implied line.
    let mut implied: HashSet<Cow<[u8]>> = HashSet::new();
    let mut listed: Vec<Line> = Vec::with_capacity(subject.entries.len());
    for entry in &subject.entries {
        let prefix = subject.origins[entry.origin].path_prefix.as_bytes();
        // Deepest parent first: once one is recorded, so are all of its own parents, so most
        // entries look up one key, not one per level.
        for (i, _) in entry.member().iter().enumerate().rev().filter(|(_, &b)| b == b'/') {
            // Most parents were seen with a sibling: look up before allocating.
            let parent: Cow<[u8]> = if prefix.is_empty() { Cow::Borrowed(&entry.member()[..i]) } else { Cow::Owned(join(prefix, &entry.member()[..i])) };
            if !implied.insert(parent) {
                break;
            }
        }
        listed.push(line_of(entry_path(subject, entry), entry, header));
    }
    let mut lines: Vec<Line> = implied.into_iter().map(|path| Line::new(path.into_owned(), EntryKind::Dir)).collect();
    lines.append(&mut listed);
    // Stable: among lines of one path, implied folders come first and listed entries in archive
    // order; the last one wins (a name listed twice in an archive: extraction keeps the last).
    lines.sort_by(|a, b| a.path.cmp(&b.path));
    lines.dedup_by(|later, earlier| {
        let same = later.path == earlier.path;
        if same {
            std::mem::swap(later, earlier);
        }
        same
    });
    // An empty path names the input itself (a member called `` or `/`), which a manifest never
    // lists: written out, it would be a line the parser rejects (found by fuzz/archive).
    let mut lines: Vec<Line> = lines.into_iter().map(|line| finish(line, header)).filter(|line| !line.path.is_empty()).collect();
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
            EntryKind::Symlink => entry.link_target().map(<[u8]>::to_vec),
            // Hard link targets name other members, so they get the same `./` normalization.
            EntryKind::Hardlink => entry.link_target().map(|target| normalize_name(target).name),
            _ => None,
        };
    }
    if fields.mode {
        line.mode = Some(entry.mode);
    }
    if fields.sha256 && entry.kind == EntryKind::File {
        line.sha256 = entry.digest();
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
