//! Entries -> manifest lines: the one place that decides what a snapshot records.
//!
//! Paths are member names relative to the input (a tree's root, an archive's root), so
//! `/opt/ml/model` and the `model.tar.gz` made from it record the same lines. In a job folder
//! each artifact's members sit under the artifact's path (`output/model.tar.gz/model.pth`).
//! Folders that an archive implies but does not list are recorded like listed ones, because
//! extraction creates them either way.

use std::collections::HashSet;

use foldhash::quality::RandomState;

use super::header::{Header, SizeTreatment};
use super::manifest::{Line, Manifest, Size};
use crate::entry::{join, join_into, normalize_name, Entry, EntryKind};
use crate::source::Subject;

/// The path an entry is recorded under, before redaction.
pub fn entry_path(subject: &Subject, entry: &Entry) -> Vec<u8> {
    join(subject.origins[entry.origin()].path_prefix.as_bytes(), entry.member())
}

/// The path an entry is recorded under, redacted.
pub fn recorded_path(subject: &Subject, entry: &Entry, header: &Header) -> Vec<u8> {
    header.redactor.apply(&entry_path(subject, entry))
}

/// Record every entry of `subject` with the header's fields and rules, sorted.
pub fn record(subject: &Subject, header: &Header) -> Vec<Line> {
    let implied = implied_folders(subject);
    let listed = subject.entries.iter().map(|entry| line_of(entry_path(subject, entry), entry, header)).collect();
    assemble(listed, implied, header)
}

/// [`record`], consuming the subject: each entry's memory becomes its line's (the list is
/// reused in place and each path freed as its line is made), so a snapshot of a million
/// entries needs little more than the entries did.
pub fn record_owned(subject: Subject, header: &Header) -> Vec<Line> {
    let implied = implied_folders(&subject);
    let Subject { origins, entries, .. } = subject;
    let listed = entries
        .into_iter()
        .map(|entry| {
            let path = join(origins[entry.origin()].path_prefix.as_bytes(), entry.member());
            line_of(path, &entry, header)
        })
        .collect();
    assemble(listed, implied, header)
}

/// Folders the entries imply but do not list, each once: extraction creates them either way.
fn implied_folders(subject: &Subject) -> Vec<Vec<u8>> {
    let mut implied: HashSet<Vec<u8>, RandomState> = HashSet::default();
    let mut path = Vec::new();
    for entry in &subject.entries {
        let prefix = subject.origins[entry.origin()].path_prefix.as_bytes();
        let member = entry.member();
        // Deepest parent first: once one is recorded, so are all of its own parents, so most
        // entries look up one key, not one per level; the key is built in one reused buffer.
        for (i, _) in member.iter().enumerate().rev().filter(|(_, &b)| b == b'/') {
            join_into(&mut path, prefix, &member[..i]);
            if implied.contains(&path) {
                break;
            }
            implied.insert(path.clone());
        }
    }
    // A listed entry of an implied folder's path is recorded as listed.
    for entry in &subject.entries {
        if implied.is_empty() {
            break;
        }
        join_into(&mut path, subject.origins[entry.origin()].path_prefix.as_bytes(), entry.member());
        implied.remove(&path);
    }
    implied.into_iter().collect()
}

/// Listed lines plus implied folders, deduplicated, finished and sorted.
fn assemble(mut lines: Vec<Line>, implied: Vec<Vec<u8>>, header: &Header) -> Vec<Line> {
    // Exactly, not doubled: the list may hold a million lines.
    lines.reserve_exact(implied.len());
    lines.extend(implied.into_iter().map(|path| Line::new(path, EntryKind::Dir)));
    // Stable: listed entries of one path stay in archive order and the last one wins (a name
    // listed twice in an archive: extraction keeps the last). Implied folders never tie with a
    // listed path.
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
        line.set_link(match entry.kind {
            EntryKind::Symlink => entry.link_target().map(Box::from),
            // Hard link targets name other members, so they get the same `./` normalization.
            EntryKind::Hardlink => entry.link_target().map(|target| normalize_name(target).name.into()),
            _ => None,
        });
    }
    if fields.mode {
        line.mode = Some(entry.mode);
    }
    if fields.sha256 && entry.kind == EntryKind::File {
        line.set_sha256(entry.digest());
    }
    line
}

/// Apply the header's redactions, per-path fields and size rules to a recorded line.
pub fn finish(mut line: Line, header: &Header) -> Line {
    line.path = header.redactor.apply(&line.path).into();
    let fields = header.fields_at(&line.path);
    if !fields.size {
        line.size = None;
    }
    if !fields.link {
        line.set_link(None);
    }
    if !fields.mode {
        line.mode = None;
    }
    if !fields.sha256 {
        line.set_sha256(None);
    }
    if line.size.is_some() && header.size_treatment(&line.path) == Some(SizeTreatment::Ignore) {
        line.size = Some(Size::Ignored);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_fits_in_the_memory_of_an_entry() {
        // `record_owned` turns the entry list into the line list in place only while a line is
        // no larger than an entry and aligned alike.
        assert!(std::mem::size_of::<Line>() <= std::mem::size_of::<Entry>());
        assert_eq!(std::mem::align_of::<Line>(), std::mem::align_of::<Entry>());
    }
}
