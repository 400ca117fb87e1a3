//! Deciding what `optml fix` changes: every finding whose rule names a `repair` becomes an edit
//! of the member list. Pure: entries and findings in, a plan out; nothing is read or written.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::engine::rule::Repair;
use crate::engine::Ruleset;
use crate::entry::{file_name, join, lossy, normalize_name, strip_prefix, Entry, EntryKind};
use crate::finding::Finding;
use crate::source::Subject;

/// One member of the fixed archive: its new name and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub name: Vec<u8>,
    pub kind: EntryKind,
}

#[derive(Debug, Default)]
pub struct Plan {
    /// Archive index of each member that stays, with its new name; the rest are left out.
    pub kept: BTreeMap<usize, Kept>,
    /// Symlinks replaced by copies: (name of the copy, archive index of the file it copies).
    pub copies: Vec<(Vec<u8>, usize)>,
    /// Old member name -> new name, for hard links whose target moved.
    pub renamed: HashMap<Vec<u8>, Vec<u8>>,
    /// What changes, one line each, for humans.
    pub changes: Vec<String>,
}

/// The edits the findings ask for, collected by kind.
#[derive(Default)]
struct Requests {
    drops: Vec<Vec<u8>>,
    wrapper: Option<Vec<u8>>,
    moves: HashSet<Vec<u8>>,
    dereferences: HashSet<Vec<u8>>,
}

impl Requests {
    fn from_findings(ruleset: &Ruleset, findings: &[Finding]) -> Requests {
        let mut requests = Requests::default();
        for finding in findings {
            // The member's own bytes: a non-UTF-8 name is repaired as the archive spells it.
            let path = finding.member.clone();
            match ruleset.rules[finding.rule].repair {
                Some(Repair::Drop) => requests.drops.push(path),
                Some(Repair::StripWrapper) => {
                    requests.wrapper.get_or_insert(path);
                }
                Some(Repair::MoveToCode) => {
                    requests.moves.insert(path);
                }
                Some(Repair::Dereference) => {
                    requests.dereferences.insert(path);
                }
                None => {}
            }
        }
        requests.drops.sort();
        requests.drops.dedup();
        requests
    }

    /// The member's name after drops and the wrapper strip; `None` when it is left out.
    fn name_of(&self, member: &[u8]) -> Option<Vec<u8>> {
        if self.drops.iter().any(|dropped| strip_prefix(member, dropped).is_some()) {
            return None;
        }
        match &self.wrapper {
            Some(wrapper) if member == wrapper.as_slice() => None,
            Some(wrapper) => Some(strip_prefix(member, wrapper).unwrap_or(member).to_vec()),
            None => Some(member.to_vec()),
        }
    }
}

/// Plan the fix of `subject` (one archive) from its `findings`.
pub fn plan(ruleset: &Ruleset, subject: &Subject, findings: &[Finding]) -> Plan {
    let requests = Requests::from_findings(ruleset, findings);
    let mut plan = Plan::default();
    if let Some(wrapper) = &requests.wrapper {
        plan.changes.push(format!("stripped the wrapper folder `{}/`: its contents are now the archive root", lossy(wrapper)));
    }
    for dropped in &requests.drops {
        plan.changes.push(format!("dropped `{}`", lossy(dropped)));
    }
    // Members that keep their place first, so a move never takes an existing name.
    let mut taken: HashMap<Vec<u8>, usize> = HashMap::new();
    for entry in &subject.entries {
        if requests.moves.contains(entry.member()) || requests.dereferences.contains(entry.member()) {
            continue;
        }
        let Some(name) = requests.name_of(entry.member()) else { continue };
        plan.keep(entry, name, &mut taken);
    }
    for entry in subject.entries.iter().filter(|e| requests.moves.contains(e.member())) {
        let Some(stays) = requests.name_of(entry.member()) else { continue };
        let target = join(b"code", file_name(entry.member()));
        if taken.contains_key(&target) {
            plan.changes.push(format!("left `{}` where it is: `{}` already exists", lossy(entry.member()), lossy(&target)));
            plan.keep(entry, stays, &mut taken);
        } else {
            plan.changes.push(format!("moved `{}` to `{}`", lossy(entry.member()), lossy(&target)));
            plan.keep(entry, target, &mut taken);
        }
    }
    for link in subject.entries.iter().filter(|e| requests.dereferences.contains(e.member())) {
        let Some(name) = requests.name_of(link.member()) else { continue };
        match resolve_file(subject, link) {
            Some(target) => {
                plan.changes.push(format!("replaced the symlink `{}` with a copy of `{}`", lossy(link.member()), lossy(target.member())));
                taken.insert(name.clone(), link.index());
                plan.copies.push((name, target.index()));
            }
            None => {
                let to = lossy(link.link_target().unwrap_or_default());
                plan.changes.push(format!("left the symlink `{}` as it is: `{to}` is not a file inside the archive", lossy(link.member())));
                plan.keep(link, name, &mut taken);
            }
        }
    }
    plan
}

impl Plan {
    /// Keep `entry` as `name`. A second member with the same name replaces the first, as on
    /// extraction (the last copy wins); a repeated folder entry is simply not written twice.
    fn keep(&mut self, entry: &Entry, name: Vec<u8>, taken: &mut HashMap<Vec<u8>, usize>) {
        if let Some(&earlier) = taken.get(&name) {
            if entry.kind == EntryKind::Dir {
                return;
            }
            self.kept.remove(&earlier);
            self.changes.push(format!("kept only the last copy of the duplicate member `{}`", lossy(entry.member())));
        }
        taken.insert(name.clone(), entry.index());
        if name != entry.member() {
            self.renamed.insert(entry.member().to_vec(), name.clone());
        }
        self.kept.insert(entry.index(), Kept { name, kind: entry.kind });
    }
}

/// The regular file a symlink leads to inside the archive, following link chains.
fn resolve_file<'a>(subject: &'a Subject, link: &'a Entry) -> Option<&'a Entry> {
    let mut current = link;
    for _ in 0..16 {
        if current.kind == EntryKind::File {
            return Some(current);
        }
        if current.kind != EntryKind::Symlink || current.link_escapes {
            return None;
        }
        let parent = current.member().iter().rposition(|&b| b == b'/').map_or(&b""[..], |slash| &current.member()[..slash]);
        let target = normalize_name(&join(parent, current.link_target()?));
        let resolved = collapse_parents(&target.name)?;
        // The last member with a name is the one extraction leaves behind.
        current = subject.entries.iter().rev().find(|e| e.member() == resolved)?;
    }
    None
}

/// `a/b/../c` -> `a/c`; `None` when `..` climbs above the root.
fn collapse_parents(path: &[u8]) -> Option<Vec<u8>> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|&b| b == b'/') {
        if part == b".." {
            parts.pop()?;
        } else {
            parts.push(part);
        }
    }
    Some(parts.join(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::collapse_parents;

    #[test]
    fn collapses_parent_components() {
        assert_eq!(collapse_parents(b"a/b/../c"), Some(b"a/c".to_vec()));
        assert_eq!(collapse_parents(b"../c"), None);
    }
}
