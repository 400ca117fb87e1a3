//! Globs made only of literals, `*` and whole-component `**` (the shapes rule packs use:
//! `model/**`, `**/*.pth`, `model/*/config.pbtxt`, `._*`), matched component by component.
//!
//! With `*` kept from crossing `/`, globset compiles most of these into one regex set, and it
//! builds a `Candidate` (the path's name and extension) for every set an entry meets. On a
//! many-file archive that was a third of a check. Here a path is tried only against the globs
//! that could match its file name: those ending in that literal name, those ending in
//! `*SUFFIX` with the name's extension, and the few that end in neither (`model/**`, `*`).
//! Globs with `?`, classes, alternation or escapes go to a globset under the same numbering.

use std::collections::HashMap;

use foldhash::fast::FixedState;
use globset::{Glob, GlobSet, GlobSetBuilder};
use memchr::memmem;

/// One `/`-separated part of a glob.
#[derive(Debug, Clone)]
enum Part {
    /// `**`: any number of components, and at least one at the end of a glob, as in globset
    /// (`model/**` matches `model/` and `model/x`, not `model`).
    AnyDepth,
    /// One component: the literal pieces between its `*`s; a single piece is a literal name.
    Component(Vec<Box<[u8]>>),
}

/// A glob of a fitting shape.
#[derive(Debug, Clone)]
struct Shaped {
    /// Its position in the list.
    position: usize,
    parts: Vec<Part>,
    /// For a glob that starts and ends with `**` (`**/__pycache__/**`), which the file name
    /// cannot rule out and which tries every depth: its longest literal piece, when that is 2
    /// bytes or more. A path without it cannot match, and one substring search says so.
    needle: Option<memmem::Finder<'static>>,
}

/// Globs by position, matched against `/`-separated paths as [`super::compile_glob`] would.
#[derive(Debug, Clone, Default)]
pub struct Globs {
    shaped: Vec<Shaped>,
    /// Indexes into `shaped` by the literal name the glob ends in.
    by_name: HashMap<Box<[u8]>, Vec<u32>, FixedState>,
    /// Indexes into `shaped` by the extension of the `*SUFFIX` the glob ends in.
    by_extension: HashMap<Box<[u8]>, Vec<u32>, FixedState>,
    /// The lengths (mod 64) of the keys of `by_name` and of `by_extension`, one bit each: most
    /// file names are not keys, and a bit test says so without hashing them.
    name_lengths: u64,
    extension_lengths: u64,
    /// Indexes into `shaped` of the globs that end in neither.
    unkeyed: Vec<u32>,
    /// The other globs, and their positions.
    rest: GlobSet,
    rest_positions: Vec<usize>,
}

impl Globs {
    /// Globs of `patterns`, each checked by `compile`, which also builds those of no fitting shape.
    pub fn new<S: AsRef<str>>(patterns: &[S], compile: fn(&str) -> Result<Glob, globset::Error>) -> Result<Globs, globset::Error> {
        let mut globs = Globs::default();
        let mut rest = GlobSetBuilder::new();
        for (position, pattern) in patterns.iter().enumerate() {
            let pattern = pattern.as_ref();
            let glob = compile(pattern)?;
            let Some(parts) = parts_of(pattern) else {
                rest.add(glob);
                globs.rest_positions.push(position);
                continue;
            };
            let index = globs.shaped.len() as u32;
            match parts.last() {
                Some(Part::Component(pieces)) if pieces.len() == 1 => globs.by_name.entry(pieces[0].clone()).or_default().push(index),
                Some(Part::Component(pieces)) if pieces.last().is_some_and(|suffix| suffix.contains(&b'.')) => {
                    globs.by_extension.entry(extension(pieces.last().unwrap()).into()).or_default().push(index)
                }
                _ => globs.unkeyed.push(index),
            }
            let floating = matches!((parts.first(), parts.last()), (Some(Part::AnyDepth), Some(Part::AnyDepth)));
            let longest = parts.iter().filter_map(|part| match part {
                Part::Component(pieces) => pieces.iter().max_by_key(|piece| piece.len()),
                Part::AnyDepth => None,
            });
            let needle =
                longest.max_by_key(|piece| piece.len()).filter(|piece| floating && piece.len() >= 2).map(|piece| memmem::Finder::new(piece).into_owned());
            globs.shaped.push(Shaped { position, parts, needle });
        }
        globs.name_lengths = globs.by_name.keys().fold(0, |mask, key| mask | length_bit(key));
        globs.extension_lengths = globs.by_extension.keys().fold(0, |mask, key| mask | length_bit(key));
        globs.rest = rest.build()?;
        Ok(globs)
    }

    pub fn is_match<P: AsRef<std::path::Path>>(&self, path: P) -> bool {
        let path = bytes_of(path.as_ref());
        self.candidates(path).any(|index| self.shaped_matches(index, path))
            || (!self.rest_positions.is_empty() && self.rest.is_match(crate::entry::as_path(path)))
    }

    /// The positions of every glob that matches `path`, ascending, into `into` (cleared first).
    pub fn matches_into<P: AsRef<std::path::Path>>(&self, path: P, into: &mut Vec<usize>) {
        let path = bytes_of(path.as_ref());
        into.clear();
        if !self.rest_positions.is_empty() {
            // globset clears what it is given, so it goes first.
            self.rest.matches_into(crate::entry::as_path(path), into);
            for at in into.iter_mut() {
                *at = self.rest_positions[*at];
            }
        }
        into.extend(self.candidates(path).filter(|&index| self.shaped_matches(index, path)).map(|index| self.shaped[index as usize].position));
        into.sort_unstable();
    }

    pub fn matches<P: AsRef<std::path::Path>>(&self, path: P) -> Vec<usize> {
        let mut into = Vec::new();
        self.matches_into(path, &mut into);
        into
    }

    /// Indexes into `shaped` of the globs that can match a path with this file name.
    fn candidates<'a>(&'a self, path: &[u8]) -> impl Iterator<Item = u32> + 'a {
        let name = file_name(path);
        let named = if self.name_lengths & length_bit(name) == 0 { None } else { self.by_name.get(name) };
        let extended = match name.iter().rposition(|&b| b == b'.') {
            Some(dot) if self.extension_lengths & length_bit(&name[dot + 1..]) != 0 => self.by_extension.get(&name[dot + 1..]),
            _ => None,
        };
        named.into_iter().chain(extended).flatten().chain(&self.unkeyed).copied()
    }

    fn shaped_matches(&self, index: u32, path: &[u8]) -> bool {
        let glob = &self.shaped[index as usize];
        // The file name first: most candidates fail on it, before any walk over the components.
        let name_fits = match glob.parts.last() {
            Some(Part::Component(pieces)) => component_matches(pieces, file_name(path)),
            _ => glob.needle.as_ref().is_none_or(|needle| needle.find(path).is_some()),
        };
        name_fits && parts_match(&glob.parts, Some(path))
    }
}

fn bytes_of(path: &std::path::Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes()
}

fn length_bit(key: &[u8]) -> u64 {
    1 << (key.len() % 64)
}

/// What follows the last `/` of `path`.
fn file_name(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// What follows the last `.` of `suffix`.
fn extension(suffix: &[u8]) -> &[u8] {
    suffix.rsplit(|&b| b == b'.').next().unwrap_or(suffix)
}

/// The parts of a glob of a fitting shape: no `?`, `[`, `{` or `\`, no empty component, and
/// `**` only as a whole component.
fn parts_of(pattern: &str) -> Option<Vec<Part>> {
    if pattern.bytes().any(|b| matches!(b, b'?' | b'[' | b']' | b'{' | b'}' | b'\\')) {
        return None;
    }
    pattern
        .split('/')
        .map(|component| match component {
            "" => None,
            "**" => Some(Part::AnyDepth),
            _ if component.contains("**") => None,
            _ => Some(Part::Component(component.split('*').map(|piece| piece.as_bytes().into()).collect())),
        })
        .collect()
}

/// Whether `parts` match `rest`: the path's components still to match, `None` when none are left.
fn parts_match(parts: &[Part], rest: Option<&[u8]>) -> bool {
    match parts {
        [] => rest.is_none(),
        [Part::AnyDepth] => rest.is_some(),
        [Part::AnyDepth, after @ ..] => {
            let mut rest = rest;
            loop {
                if parts_match(after, rest) {
                    return true;
                }
                match rest {
                    None => return false,
                    Some(path) => rest = split_first(path).1,
                }
            }
        }
        [Part::Component(pieces), after @ ..] => rest.is_some_and(|path| {
            let (name, tail) = split_first(path);
            component_matches(pieces, name) && parts_match(after, tail)
        }),
    }
}

fn split_first(path: &[u8]) -> (&[u8], Option<&[u8]>) {
    match path.iter().position(|&b| b == b'/') {
        Some(slash) => (&path[..slash], Some(&path[slash + 1..])),
        None => (path, None),
    }
}

/// Whether a component's `*`-separated `pieces` match `name`.
fn component_matches(pieces: &[Box<[u8]>], name: &[u8]) -> bool {
    let [first, rest @ ..] = pieces else { return false };
    let Some((last, middle)) = rest.split_last() else { return same(name, first) };
    if name.len() < first.len() + last.len() || !same(&name[..first.len()], first) || !same(&name[name.len() - last.len()..], last) {
        return false;
    }
    // Leftmost matches of the middle pieces, in order: with `*` as the only wildcard, a match
    // exists exactly when this finds one. Middle pieces are never empty (`**` is not a piece).
    let mut between = &name[first.len()..name.len() - last.len()];
    for piece in middle {
        match (0..(between.len() + 1).saturating_sub(piece.len())).find(|&at| same(&between[at..at + piece.len()], piece)) {
            Some(at) => between = &between[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// Byte equality without a call into libc's `memcmp`: names and pieces are a few bytes, and a
/// many-file check compares millions of them.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glob::compile_glob;

    /// Every glob built from these parts, against every path built from these components,
    /// matches as globset does.
    #[test]
    fn shaped_globs_match_as_globset_does() {
        let glob_parts = ["**", "*", "a", "b.py", "*.py", "a*", "*a", "a*b", "*a*", "*.tar.gz", ".*", "a*b*c"];
        let path_parts = ["a", "b.py", "x.py", "ab", "ba", "acb", "aXbYc", "abc", "m.tar.gz", ".x", "", "a.py.bak", "\u{e9}.py"];
        let mut globs = Vec::new();
        for first in glob_parts {
            globs.push(first.to_string());
            for second in glob_parts {
                globs.push(format!("{first}/{second}"));
                for third in ["**", "*.py", "a"] {
                    globs.push(format!("{first}/{second}/{third}"));
                }
            }
        }
        let mut paths: Vec<Vec<u8>> =
            vec![b"".to_vec(), b"/".to_vec(), b"a//a".to_vec(), b"/a".to_vec(), b"a/".to_vec(), b"\xff.py".to_vec(), b"a/\xffb".to_vec()];
        for first in path_parts {
            paths.push(first.into());
            for second in path_parts {
                paths.push(format!("{first}/{second}").into());
                for third in ["a", "x.py"] {
                    paths.push(format!("{first}/{second}/{third}").into());
                }
            }
        }
        let ours = Globs::new(&globs, compile_glob).unwrap();
        assert!(ours.rest_positions.is_empty(), "every glob here has a fitting shape");
        let theirs: Vec<_> = globs.iter().map(|glob| compile_glob(glob).unwrap().compile_matcher()).collect();
        let mut matched = Vec::new();
        for path in &paths {
            let path = crate::entry::as_path(path);
            ours.matches_into(path, &mut matched);
            for (position, glob) in globs.iter().enumerate() {
                let expected = theirs[position].is_match(path);
                assert_eq!(matched.binary_search(&position).is_ok(), expected, "{glob} on {path:?}");
            }
            assert_eq!(ours.is_match(path), !matched.is_empty(), "{path:?}");
        }
    }

    #[test]
    fn other_globs_keep_their_positions() {
        let globs = ["model/*.py", "model/[ab].py", "**", "{x,y}/*", "a\\*b", "model/?.py"];
        let ours = Globs::new(&globs, compile_glob).unwrap();
        assert_eq!(ours.rest_positions, vec![1, 3, 4, 5]);
        assert_eq!(ours.matches("model/a.py"), vec![0, 1, 2, 5]);
        assert_eq!(ours.matches("y/q"), vec![2, 3]);
        assert_eq!(ours.matches("a*b"), vec![2, 4]);
        assert!(Globs::new(&["a/[", "b"], compile_glob).is_err(), "an invalid glob is an error");
    }
}
