//! One glob dialect for rules, zones and snapshots: `*` stops at `/`, `**` crosses it.

use std::ops::Deref;
use std::sync::OnceLock;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

mod shape;
pub use shape::Globs;

pub fn compile_glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).backslash_escape(true).build()
}

pub fn compile_set<S: AsRef<str>>(patterns: &[S]) -> Result<GlobSet, globset::Error> {
    set_of(patterns, compile_glob)
}

fn set_of<S: AsRef<str>>(patterns: &[S], compile: fn(&str) -> Result<Glob, globset::Error>) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(compile(pattern.as_ref())?);
    }
    builder.build()
}

/// A glob matched against file names only, never against paths. In a name without `/`, `*`, `?`
/// and classes match as in [`compile_glob`]'s dialect whether or not they may match `/`, and
/// without that restriction globset matches `*.pt` by its extension instead of compiling a regex
/// for each such glob (those [`Globs`] does not match itself).
fn compile_name_glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(false).backslash_escape(true).build()
}

/// Globs (already validated, or known good) compiled into a set the first time one is matched:
/// building a set compiles matchers, and most loaded rules never test their globs on a given
/// input (their pack does not apply, or an earlier condition fails).
#[derive(Debug, Clone)]
pub struct LazyGlobSet {
    patterns: Vec<String>,
    /// Matched against file names only ([`LazyGlobSet::for_names`]).
    names_only: bool,
    compiled: OnceLock<Globs>,
}

impl LazyGlobSet {
    pub fn new(patterns: Vec<String>) -> LazyGlobSet {
        LazyGlobSet { patterns, names_only: false, compiled: OnceLock::new() }
    }

    /// A set that is only ever matched against a file name (no `/` in it).
    pub fn for_names(patterns: Vec<String>) -> LazyGlobSet {
        LazyGlobSet { patterns, names_only: true, compiled: OnceLock::new() }
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

impl Deref for LazyGlobSet {
    type Target = Globs;

    fn deref(&self) -> &Globs {
        // Each glob parsed when its rule loaded; a set fails to build only past globset's size
        // limits, and then matches nothing.
        let compile = if self.names_only { compile_name_glob } else { compile_glob };
        self.compiled.get_or_init(|| Globs::new(&self.patterns, compile).unwrap_or_default())
    }
}

/// Globs as listed, each distinct one compiled once: rule files repeat globs (`model/code/*.py`,
/// `**/.DS_Store`), and globset compiles a matcher for every glob it is given, duplicates too.
/// Matches are reported by position in the list, as a [`GlobSet`] of the whole list would.
#[derive(Debug, Clone, Default)]
pub struct GlobList {
    set: Globs,
    /// For each distinct glob of `set`: its positions in the list.
    positions: Vec<Vec<usize>>,
}

impl GlobList {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<GlobList, globset::Error> {
        let mut distinct: Vec<&str> = Vec::new();
        let mut positions: Vec<Vec<usize>> = Vec::new();
        let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (position, pattern) in patterns.iter().enumerate() {
            let pattern = pattern.as_ref();
            let index = *seen.entry(pattern).or_insert_with(|| {
                distinct.push(pattern);
                positions.push(Vec::new());
                distinct.len() - 1
            });
            positions[index].push(position);
        }
        Ok(GlobList { set: Globs::new(&distinct, compile_glob)?, positions })
    }

    pub fn is_match<P: AsRef<std::path::Path>>(&self, path: P) -> bool {
        self.set.is_match(path)
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The positions of every glob that matches `path`, in list order, into `into` (cleared
    /// first, as [`GlobSet::matches_into`] does).
    pub fn matches_into<P: AsRef<std::path::Path>>(&self, path: P, into: &mut Vec<usize>) {
        self.set.matches_into(path, into);
        let distinct = into.len();
        for at in 0..distinct {
            let glob = into[at];
            into.extend_from_slice(&self.positions[glob]);
        }
        into.drain(..distinct);
        into.sort_unstable();
    }
}

/// The globs of many owners (rule conditions, plan steps, detection signals) in one
/// [`GlobList`]: one pass over the entries, on every core, finds what each owner matches,
/// where a pass per owner would test every entry once per owner.
#[derive(Debug, Clone, Default)]
pub struct OwnedGlobs {
    list: GlobList,
    /// For each glob of `list`: its owner. An owner's globs are adjacent and owners are in
    /// order, so the owners of matches reported in list order ascend.
    owner_of: Vec<usize>,
    owners: usize,
}

impl OwnedGlobs {
    /// `owners`: the globs of each owner, in owner order (an owner may have none).
    pub fn new<'a, G: IntoIterator<Item = &'a str>>(owners: impl IntoIterator<Item = G>) -> Result<OwnedGlobs, globset::Error> {
        let (mut patterns, mut owner_of, mut count) = (Vec::new(), Vec::new(), 0);
        for globs in owners {
            for pattern in globs {
                patterns.push(pattern);
                owner_of.push(count);
            }
            count += 1;
        }
        Ok(OwnedGlobs { list: GlobList::new(&patterns)?, owner_of, owners: count })
    }

    /// The owners with a glob that matches `path`, ascending and each once, into `into`.
    fn owners_into(&self, path: &[u8], into: &mut Vec<usize>) {
        self.list.matches_into(crate::entry::as_path(path), into);
        into.iter_mut().for_each(|glob| *glob = self.owner_of[*glob]);
        into.dedup();
    }

    /// One pass over `items` on every core: `visit(state, owner, item, path)` for each owner
    /// with a glob matching the item's path (`path_of`; `None` skips the item). Each part of
    /// the items starts from `start()`, and the parts' states are merged in item order.
    pub fn scan<T: Sync, S: Send>(
        &self,
        items: &[T],
        path_of: impl Fn(&T) -> Option<&[u8]> + Sync,
        start: impl Fn() -> S + Sync,
        visit: impl Fn(&mut S, usize, &T, &[u8]) + Sync,
        mut merge: impl FnMut(&mut S, S),
    ) -> S {
        if self.owner_of.is_empty() {
            return start();
        }
        let parts = crate::parts::map(items, |_, items| {
            let mut state = start();
            let mut owners = Vec::new();
            for (item, path) in items.iter().filter_map(|item| path_of(item).map(|path| (item, path))) {
                self.owners_into(path, &mut owners);
                owners.iter().for_each(|&owner| visit(&mut state, owner, item, path));
            }
            state
        });
        let mut parts = parts.into_iter();
        let mut all = parts.next().unwrap_or_else(start);
        parts.for_each(|part| merge(&mut all, part));
        all
    }

    /// Per owner: whether some item's path matches one of its globs and `accept`s the item.
    pub fn any<T: Sync>(&self, items: &[T], path_of: impl Fn(&T) -> Option<&[u8]> + Sync, accept: impl Fn(usize, &T) -> bool + Sync) -> Vec<bool> {
        self.scan(
            items,
            path_of,
            || vec![false; self.owners],
            |found, owner, item, _| found[owner] = found[owner] || accept(owner, item),
            |all, part| all.iter_mut().zip(part).for_each(|(all, part)| *all |= part),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_sets_match_names_as_path_sets_do() {
        let globs = ["*.pt", "model.*", "?x.bin", "[a-c]*.json", "[!.]*", "**/*.h5", "*.tar.gz", "a\\*b", "{x,y}.txt"];
        let names = ["w.pt", "model.bin", "ax.bin", "b1.json", ".hidden", "k.h5", "m.tar.gz", "a*b", "y.txt", "line\nbreak.pt", "none"];
        for glob in globs {
            let (by_path, by_name) = (compile_set(&[glob]).unwrap(), set_of(&[glob], compile_name_glob).unwrap());
            for name in names {
                assert_eq!(by_name.is_match(name), by_path.is_match(name), "{glob} on {name}");
            }
        }
    }

    #[test]
    fn glob_lists_report_matches_by_position() {
        let list = GlobList::new(&["*.py", "model/*", "*.py", "**"]).unwrap();
        let mut matches = Vec::new();
        list.matches_into("a.py", &mut matches);
        assert_eq!(matches, vec![0, 2, 3]);
        list.matches_into("model/x", &mut matches);
        assert_eq!(matches, vec![1, 3]);
    }

    #[test]
    fn owned_globs_report_each_owner_once() {
        let owned = OwnedGlobs::new([vec!["*.py", "model/*", "model/*.py"], vec![], vec!["**"], vec!["*.txt"]]).unwrap();
        let mut owners = Vec::new();
        owned.owners_into(b"model/a.py", &mut owners);
        assert_eq!(owners, vec![0, 2]);
        owned.owners_into(b"x/b.txt", &mut owners);
        assert_eq!(owners, vec![2]);
        let paths: Vec<&[u8]> = vec![b"a.py", b"b.txt"];
        assert_eq!(owned.any(&paths, |p| Some(*p), |_, _| true), vec![true, false, true, true]);
        assert_eq!(owned.any(&paths, |p| Some(*p), |owner, _| owner != 2), vec![true, false, false, true]);
    }
}
