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
