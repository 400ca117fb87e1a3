//! Which `when.exists` / `when.missing` glob sets match some entry of a subject, found in one
//! pass over the entries for every rule and plan step that may run. Asked per rule, each set
//! was a pass of its own, and a set that matches nothing (the usual `missing`) tests every entry.

use crate::entry::{as_path, Entry};
use crate::glob::{GlobList, LazyGlobSet};

use super::rule::When;

pub struct Presence<'a> {
    sets: Vec<&'a LazyGlobSet>,
    /// Per set of `sets`: whether some entry matches it.
    found: Vec<bool>,
}

impl<'a> Presence<'a> {
    /// The presence of the sets of `whens` among `entries`.
    pub fn of(whens: impl IntoIterator<Item = &'a When>, entries: &[Entry]) -> Presence<'a> {
        let sets: Vec<&LazyGlobSet> = whens.into_iter().flat_map(|when| when.exists.iter().chain(&when.missing)).filter(|set| !set.names_only()).collect();
        // All their globs in one list (each distinct glob compiled once), with the set of each.
        let mut patterns: Vec<&str> = Vec::new();
        let mut set_of_pattern: Vec<usize> = Vec::new();
        for (index, set) in sets.iter().enumerate() {
            patterns.extend(set.patterns().iter().map(String::as_str));
            set_of_pattern.extend(std::iter::repeat_n(index, set.patterns().len()));
        }
        // Validated when their rules loaded; a list too large for globset leaves the sets to `holds`' own scan.
        let found = match GlobList::new(&patterns) {
            Ok(list) if !sets.is_empty() => found_in(&list, &set_of_pattern, sets.len(), entries),
            _ => return Presence { sets: Vec::new(), found: Vec::new() },
        };
        Presence { sets, found }
    }

    /// Whether some entry matches `set`.
    pub fn any(&self, set: &LazyGlobSet, entries: &[Entry]) -> bool {
        match self.sets.iter().position(|known| std::ptr::eq(*known, set)) {
            Some(index) => self.found[index],
            // A set not asked for up front (a names-only set): its own pass.
            None => entries.iter().any(|entry| set.is_match(as_path(entry.path()))),
        }
    }
}

/// Per set: whether an entry matches one of its globs, on every core.
fn found_in(list: &GlobList, set_of_pattern: &[usize], sets: usize, entries: &[Entry]) -> Vec<bool> {
    let parts = crate::parts::map(entries, |_, entries| {
        let mut found = vec![false; sets];
        let mut matches = Vec::new();
        for entry in entries {
            list.matches_into(as_path(entry.path()), &mut matches);
            matches.iter().for_each(|&pattern| found[set_of_pattern[pattern]] = true);
        }
        found
    });
    parts.into_iter().fold(vec![false; sets], |all, part| all.into_iter().zip(part).map(|(a, b)| a || b).collect())
}
