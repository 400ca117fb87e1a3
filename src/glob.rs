//! One glob dialect for rules, zones and snapshots: `*` stops at `/`, `**` crosses it.

use std::ops::Deref;
use std::sync::OnceLock;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

pub fn compile_glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).backslash_escape(true).build()
}

pub fn compile_set<S: AsRef<str>>(patterns: &[S]) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(compile_glob(pattern.as_ref())?);
    }
    builder.build()
}

/// Globs (already validated, or known good) compiled into a set the first time one is matched:
/// building a set compiles matchers, and most loaded rules never test their globs on a given
/// input (their pack does not apply, or an earlier condition fails).
#[derive(Debug, Clone)]
pub struct LazyGlobSet {
    patterns: Vec<String>,
    compiled: OnceLock<GlobSet>,
}

impl LazyGlobSet {
    pub fn new(patterns: Vec<String>) -> LazyGlobSet {
        LazyGlobSet { patterns, compiled: OnceLock::new() }
    }
}

impl Deref for LazyGlobSet {
    type Target = GlobSet;

    fn deref(&self) -> &GlobSet {
        // Each glob parsed when its rule loaded; a set fails to build only past globset's size
        // limits, and then matches nothing.
        self.compiled.get_or_init(|| compile_set(&self.patterns).unwrap_or_else(|_| GlobSet::empty()))
    }
}

/// Globs as listed, each distinct one compiled once: rule files repeat globs (`model/code/*.py`,
/// `**/.DS_Store`), and globset compiles a matcher for every glob it is given, duplicates too.
/// Matches are reported by position in the list, as a [`GlobSet`] of the whole list would.
#[derive(Debug, Clone, Default)]
pub struct GlobList {
    set: GlobSet,
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
        Ok(GlobList { set: compile_set(&distinct)?, positions })
    }

    pub fn is_match<P: AsRef<std::path::Path>>(&self, path: P) -> bool {
        self.set.is_match(path)
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
