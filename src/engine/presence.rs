//! Which `when.exists` / `when.missing` glob sets match some entry of a subject, found in one
//! pass over the entries for every rule and plan step that may run. Asked per rule, each set
//! was a pass of its own, and a set that matches nothing (the usual `missing`) tests every entry.

use crate::entry::{as_path, Entry};
use crate::glob::{LazyGlobSet, OwnedGlobs};

use super::rule::When;

pub struct Presence<'a> {
    sets: Vec<&'a LazyGlobSet>,
    /// Per set of `sets`: whether some entry matches it.
    found: Vec<bool>,
}

impl<'a> Presence<'a> {
    /// The presence of the sets of `whens` among `entries`.
    pub fn of(whens: impl IntoIterator<Item = &'a When>, entries: &[Entry]) -> Presence<'a> {
        Presence::of_sets(whens.into_iter().flat_map(|when| when.exists.iter().chain(&when.missing)), entries)
    }

    /// The presence of `sets` among `entries`.
    pub fn of_sets(sets: impl IntoIterator<Item = &'a LazyGlobSet>, entries: &[Entry]) -> Presence<'a> {
        let sets: Vec<&LazyGlobSet> = sets.into_iter().collect();
        // Validated when their rules loaded; globs too many for globset leave every set to the
        // scan of its own in `any`.
        match OwnedGlobs::new(sets.iter().map(|set| set.patterns().iter().map(String::as_str))) {
            Ok(owned) => Presence { found: owned.any(entries, |entry| Some(entry.path()), |_, _| true), sets },
            Err(_) => Presence { sets: Vec::new(), found: Vec::new() },
        }
    }

    /// Whether some entry matches `set`.
    pub fn any(&self, set: &LazyGlobSet, entries: &[Entry]) -> bool {
        match self.sets.iter().position(|known| std::ptr::eq(*known, set)) {
            Some(index) => self.found[index],
            None => entries.iter().any(|entry| set.is_match(as_path(entry.path()))),
        }
    }
}
