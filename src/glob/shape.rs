//! Globs matched by component. Most globs rule packs use are made only of literals, `*` and
//! whole-component `**` (`model/**`, `**/*.pth`, `model/*/config.pbtxt`, `._*`), and those are
//! matched here component by component; the others (`?`, classes, alternation, escapes) by
//! globset, one matcher each.
//!
//! With `*` kept from crossing `/`, globset compiles most globs into one regex set, and it
//! builds a `Candidate` (the path's name and extension) for every set an entry meets. On a
//! many-file archive that was a third of a check. Here a path is tried only against the globs
//! that could match it: those ending in its literal file name, those ending in `*SUFFIX` with
//! its extension, those starting with its first component (`model/**`, `output/data/**`), and
//! the few keyed by none of these (`**/checkpoint-*`, `*`).

use std::collections::HashMap;

use foldhash::fast::FixedState;
use globset::{Glob, GlobMatcher};
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

#[derive(Debug, Clone)]
enum Matcher {
    /// A glob of a fitting shape.
    Parts {
        parts: Vec<Part>,
        /// For a glob that starts and ends with `**` (`**/__pycache__/**`), which the file name
        /// cannot rule out and which tries every depth: its longest literal piece, when that is
        /// 2 bytes or more. A path without it cannot match, and one substring search says so.
        needle: Option<Box<memmem::Finder<'static>>>,
    },
    /// Any other glob.
    Glob(GlobMatcher),
}

#[derive(Debug, Clone)]
struct Keyed {
    /// The glob's position in the list.
    position: usize,
    matcher: Matcher,
}

/// What every path a glob matches has in common, found from the glob's text alone.
enum Key {
    /// This file name (`**/config.json`).
    Name(Box<[u8]>),
    /// A file name with this extension (`**/*.pth`, `model/[0-9]*.json`).
    Extension(Box<[u8]>),
    /// This first component (`model/**`).
    First(Box<[u8]>),
    None,
}

/// Globs by position, matched against `/`-separated paths as [`super::compile_glob`] would.
#[derive(Debug, Clone, Default)]
pub struct Globs {
    keyed: Vec<Keyed>,
    /// Indexes into `keyed` by [`Key`]: the literal name, extension or first component.
    by_name: Index,
    by_extension: Index,
    by_first: Index,
    /// Indexes into `keyed` of the globs with no key.
    unkeyed: Vec<u32>,
}

/// Globs by one key, with the lengths (mod 64) of the keys, one bit each: most file names and
/// components are not keys, and a bit test says so without hashing them.
#[derive(Debug, Clone, Default)]
struct Index {
    globs: HashMap<Box<[u8]>, Vec<u32>, FixedState>,
    lengths: u64,
}

impl Index {
    fn insert(&mut self, key: Box<[u8]>, glob: u32) {
        self.lengths |= length_bit(&key);
        self.globs.entry(key).or_default().push(glob);
    }

    fn get(&self, key: &[u8]) -> &[u32] {
        if self.lengths & length_bit(key) == 0 {
            return &[];
        }
        self.globs.get(key).map_or(&[], Vec::as_slice)
    }
}

impl Globs {
    /// Globs of `patterns`, each checked by `compile`, which also builds those of no fitting shape.
    pub fn new<S: AsRef<str>>(patterns: &[S], compile: fn(&str) -> Result<Glob, globset::Error>) -> Result<Globs, globset::Error> {
        let mut globs = Globs::default();
        for (position, pattern) in patterns.iter().enumerate() {
            let pattern = pattern.as_ref();
            let glob = compile(pattern)?;
            let (key, matcher) = match parts_of(pattern) {
                Some(parts) => (key_of_parts(&parts), Matcher::Parts { needle: needle_of(&parts), parts }),
                None => (key_of_other(pattern), Matcher::Glob(glob.compile_matcher())),
            };
            let index = globs.keyed.len() as u32;
            match key {
                Key::Name(name) => globs.by_name.insert(name, index),
                Key::Extension(extension) => globs.by_extension.insert(extension, index),
                Key::First(first) => globs.by_first.insert(first, index),
                Key::None => globs.unkeyed.push(index),
            }
            globs.keyed.push(Keyed { position, matcher });
        }
        Ok(globs)
    }

    pub fn is_match<P: AsRef<std::path::Path>>(&self, path: P) -> bool {
        let path = bytes_of(path.as_ref());
        self.candidates(path).any(|index| self.keyed_matches(index, path))
    }

    /// The positions of every glob that matches `path`, ascending, into `into` (cleared first).
    pub fn matches_into<P: AsRef<std::path::Path>>(&self, path: P, into: &mut Vec<usize>) {
        let path = bytes_of(path.as_ref());
        into.clear();
        into.extend(self.candidates(path).filter(|&index| self.keyed_matches(index, path)).map(|index| self.keyed[index as usize].position));
        into.sort_unstable();
    }

    pub fn matches<P: AsRef<std::path::Path>>(&self, path: P) -> Vec<usize> {
        let mut into = Vec::new();
        self.matches_into(path, &mut into);
        into
    }

    /// Indexes into `keyed` of the globs that can match `path`, each once.
    fn candidates<'a>(&'a self, path: &[u8]) -> impl Iterator<Item = u32> + 'a {
        let name = file_name(path);
        let extended = match name.iter().rposition(|&b| b == b'.') {
            Some(dot) => self.by_extension.get(&name[dot + 1..]),
            None => &[],
        };
        // A path of one component has no first component apart from its name: globs keyed by a
        // first component have a `/` after it.
        let first = match path.iter().position(|&b| b == b'/') {
            Some(slash) => self.by_first.get(&path[..slash]),
            None => &[],
        };
        self.by_name.get(name).iter().chain(extended).chain(first).chain(&self.unkeyed).copied()
    }

    fn keyed_matches(&self, index: u32, path: &[u8]) -> bool {
        match &self.keyed[index as usize].matcher {
            Matcher::Parts { parts, needle } => {
                // The file name first: most candidates fail on it, before any walk over the components.
                let name_fits = match parts.last() {
                    Some(Part::Component(pieces)) => component_matches(pieces, file_name(path)),
                    _ => needle.as_ref().is_none_or(|needle| needle.find(path).is_some()),
                };
                name_fits && parts_match(parts, Some(path))
            }
            Matcher::Glob(glob) => glob.is_match(crate::entry::as_path(path)),
        }
    }
}

/// The key of a glob of a fitting shape.
fn key_of_parts(parts: &[Part]) -> Key {
    match (parts.first(), parts.last()) {
        (_, Some(Part::Component(pieces))) if pieces.len() == 1 => Key::Name(pieces[0].clone()),
        (_, Some(Part::Component(pieces))) if pieces.last().is_some_and(|suffix| suffix.contains(&b'.')) => {
            Key::Extension(extension(pieces.last().unwrap()).into())
        }
        (Some(Part::Component(pieces)), _) if pieces.len() == 1 && parts.len() > 1 => Key::First(pieces[0].clone()),
        _ => Key::None,
    }
}

/// The key of any other glob, read from its text: only when it has no alternation or escape
/// (either can hide or make a `/`) and no `/` inside a class.
fn key_of_other(pattern: &str) -> Key {
    let wild = |b: u8| matches!(b, b'*' | b'?' | b'[' | b']');
    let mut in_class = false;
    for b in pattern.bytes() {
        match b {
            b'{' | b'}' | b'\\' => return Key::None,
            b'[' => in_class = true,
            b']' => in_class = false,
            b'/' if in_class => return Key::None,
            _ => {}
        }
    }
    let components: Vec<&[u8]> = pattern.as_bytes().split(|&b| b == b'/').collect();
    let (Some(first), Some(last)) = (components.first(), components.last()) else { return Key::None };
    // What follows the last wildcard of the last component is literal text every name ends in.
    let tail = last.iter().rposition(|&b| wild(b)).map_or(&last[..], |at| &last[at + 1..]);
    if !last.is_empty() && tail.len() == last.len() {
        Key::Name(tail.into())
    } else if tail.contains(&b'.') {
        Key::Extension(extension(tail).into())
    } else if components.len() > 1 && !first.is_empty() && !first.iter().any(|&b| wild(b)) {
        Key::First((*first).into())
    } else {
        Key::None
    }
}

/// The needle of [`Matcher::Parts`].
fn needle_of(parts: &[Part]) -> Option<Box<memmem::Finder<'static>>> {
    let floating = matches!((parts.first(), parts.last()), (Some(Part::AnyDepth), Some(Part::AnyDepth)));
    let longest = parts.iter().filter_map(|part| match part {
        Part::Component(pieces) => pieces.iter().max_by_key(|piece| piece.len()),
        Part::AnyDepth => None,
    });
    longest.max_by_key(|piece| piece.len()).filter(|piece| floating && piece.len() >= 2).map(|piece| Box::new(memmem::Finder::new(piece).into_owned()))
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
        assert!(ours.keyed.iter().all(|glob| matches!(glob.matcher, Matcher::Parts { .. })), "every glob here has a fitting shape");
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

    /// Globs of no fitting shape, keyed by what their text shows, match as globset does.
    #[test]
    fn keyed_globset_globs_match_as_globset_does() {
        let globs = [
            "model/*/[0-9]*/model.plan",
            "[ab]*.json",
            "model/?.py",
            "{a,b}/c.json",
            "m?/[0-9]/**",
            "**/[0-9]*/saved_model.pb",
            "a[/]b.json",
            "?",
            "x\\/y.json",
        ];
        let paths = [
            "model/m/1/model.plan",
            "model/m/x/model.plan",
            "a1.json",
            "b.json",
            "model/a.py",
            "a/c.json",
            "mo/1/x",
            "mo/1",
            "a/1/saved_model.pb",
            "a/b.json",
            "x",
            "x/y.json",
            "c.json",
        ];
        let ours = Globs::new(&globs, compile_glob).unwrap();
        for path in paths {
            let expected: Vec<usize> =
                globs.iter().enumerate().filter(|(_, glob)| compile_glob(glob).unwrap().compile_matcher().is_match(path)).map(|(at, _)| at).collect();
            assert_eq!(ours.matches(path), expected, "{path}");
        }
    }

    #[test]
    fn other_globs_keep_their_positions() {
        let globs = ["model/*.py", "model/[ab].py", "**", "{x,y}/*", "a\\*b", "model/?.py"];
        let ours = Globs::new(&globs, compile_glob).unwrap();
        let by_globset: Vec<usize> = ours.keyed.iter().filter(|glob| matches!(glob.matcher, Matcher::Glob(_))).map(|glob| glob.position).collect();
        assert_eq!(by_globset, vec![1, 3, 4, 5]);
        assert_eq!(ours.matches("model/a.py"), vec![0, 1, 2, 5]);
        assert_eq!(ours.matches("y/q"), vec![2, 3]);
        assert_eq!(ours.matches("a*b"), vec![2, 4]);
        assert!(Globs::new(&["a/[", "b"], compile_glob).is_err(), "an invalid glob is an error");
    }
}
