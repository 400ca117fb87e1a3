//! Facts about entries that need the whole listing: duplicates, file/dir clashes, link escapes.
//! Computed once per subject so rules can filter on them like on any other entry field.

use std::hash::BuildHasher;

use foldhash::quality::RandomState;
use hashbrown::hash_table::{Entry as Slot, HashTable};

use crate::entry::{Entry, EntryKind};
use crate::source::{Role, Subject};

pub fn compute(subject: &mut Subject) {
    let roles: Vec<Role> = subject.origins.iter().map(|o| o.role).collect();
    // One insert per entry and per new folder: a randomly seeded foldhash, not SipHash, keeps
    // this cheap while a crafted archive still cannot predict collisions.
    let state = RandomState::default();
    let hash = |origin: usize, name: &[u8]| state.hash_one((origin, name));
    let entries = &subject.entries;
    // Both sets hold entry indices, not names: 4 bytes a slot keeps a million-entry archive
    // inside the per-entry memory budget. `seen` holds the first entry of each name; `parents`
    // each folder an entry implies, as the entry and the length of that folder's name.
    let parent_name = |&(i, len): &(u32, u32)| &entries[i as usize].member()[..len as usize];
    let mut duplicates = Vec::new();
    // A filesystem cannot hold two entries of one name, nor a file that is also a folder:
    // only archives need the bookkeeping.
    let from_archive: Vec<bool> = subject.origins.iter().map(|o| o.is_archive()).collect();
    // Sized once: growing rehashes every name again, about as often as there are doublings.
    let mut seen: HashTable<u32> = HashTable::with_capacity(entries.iter().filter(|e| from_archive[e.origin()]).count());
    let mut parents: HashTable<(u32, u32)> = HashTable::new();
    for (i, entry) in entries.iter().enumerate().filter(|(_, e)| from_archive[e.origin()]) {
        let (origin, member) = (entry.origin(), entry.member());
        let same_name = |&j: &u32| entries[j as usize].origin() == origin && entries[j as usize].member() == member;
        let rehash = |&j: &u32| hash(entries[j as usize].origin(), entries[j as usize].member());
        match seen.entry(hash(origin, member), same_name, rehash) {
            Slot::Occupied(first) => {
                let earlier = entries[*first.get() as usize].kind;
                if earlier != EntryKind::Dir || entry.kind != EntryKind::Dir {
                    duplicates.push((i, earlier != entry.kind));
                }
            }
            Slot::Vacant(slot) => {
                slot.insert(i as u32);
            }
        }
        // Deepest folder first: once one is already recorded, so are all folders above it
        // (every insert records the whole chain), so siblings cost one lookup, not one per level.
        for (pos, &b) in member.iter().enumerate().rev() {
            if b != b'/' {
                continue;
            }
            let folder = &member[..pos];
            let same_folder = |key: &(u32, u32)| entries[key.0 as usize].origin() == origin && parent_name(key) == folder;
            let rehash = |key: &(u32, u32)| hash(entries[key.0 as usize].origin(), parent_name(key));
            match parents.entry(hash(origin, folder), same_folder, rehash) {
                Slot::Occupied(_) => break,
                Slot::Vacant(slot) => {
                    slot.insert((i as u32, pos as u32));
                }
            }
        }
    }
    let clashes: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            let is_folder = |key: &(u32, u32)| entries[key.0 as usize].origin() == e.origin() && parent_name(key) == e.member();
            e.kind != EntryKind::Dir && parents.find(hash(e.origin(), e.member()), is_folder).is_some()
        })
        .map(|(i, _)| i)
        .collect();
    drop(seen);
    drop(parents);
    for (i, kinds_differ) in duplicates {
        subject.entries[i].duplicate = true;
        if kinds_differ {
            subject.entries[i].name_clash = true;
        }
    }
    for i in clashes {
        subject.entries[i].name_clash = true;
    }
    for entry in &mut subject.entries {
        entry.link_escapes = link_escapes(entry, roles[entry.origin()]);
    }
}

/// Whether a symlink or hardlink target leaves the directory that gets packed: the archive
/// root, or for a live /opt/ml tree the top-level folder (`model/`, `output/`) holding it.
pub fn link_escapes(entry: &Entry, role: Role) -> bool {
    let Some(target) = entry.link_target() else { return false };
    if !matches!(entry.kind, EntryKind::Symlink | EntryKind::Hardlink) {
        return false;
    }
    if target.first() == Some(&b'/') {
        return true;
    }
    let mut depth: Vec<&[u8]> = Vec::new();
    if entry.kind == EntryKind::Symlink {
        // A symlink resolves from its own directory; a hardlink target is a member name.
        let mut components: Vec<&[u8]> = entry.member().split(|&b| b == b'/').collect();
        components.pop();
        depth = components;
    }
    let floor = if role == Role::OptMl { 1 } else { 0 };
    if entry.kind == EntryKind::Symlink && depth.len() < floor {
        return true;
    }
    for component in target.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                if depth.len() <= floor {
                    return true;
                }
                depth.pop();
            }
            other => depth.push(other),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(member: &str, target: &str, kind: EntryKind) -> Entry {
        let mut entry = Entry::new(member.as_bytes().to_vec(), kind);
        entry.set_link_target(Some(target.as_bytes().to_vec()));
        entry
    }

    #[test]
    fn symlinks_inside_stay() {
        assert!(!link_escapes(&link("a/b", "../c", EntryKind::Symlink), Role::Model));
        assert!(!link_escapes(&link("model/a", "b", EntryKind::Symlink), Role::OptMl));
    }

    #[test]
    fn symlinks_outside_escape() {
        assert!(link_escapes(&link("a", "../c", EntryKind::Symlink), Role::Model));
        assert!(link_escapes(&link("a", "/etc/passwd", EntryKind::Symlink), Role::Model));
        assert!(link_escapes(&link("model/a", "../input/x", EntryKind::Symlink), Role::OptMl));
    }

    #[test]
    fn hardlinks_resolve_from_the_root() {
        assert!(!link_escapes(&link("a/b", "c/d", EntryKind::Hardlink), Role::Model));
        assert!(link_escapes(&link("a/b", "../d", EntryKind::Hardlink), Role::Model));
    }
}
