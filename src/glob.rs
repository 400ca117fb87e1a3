//! One glob dialect for rules, zones and snapshots: `*` stops at `/`, `**` crosses it.

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
