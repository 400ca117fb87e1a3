//! The one normalized type every source produces and every later stage reads.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What an entry is, as tar headers and `lstat` both can express it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
    Other,
}

impl EntryKind {
    /// The name used in rule files, manifests and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::Hardlink => "hardlink",
            EntryKind::CharDevice => "char-device",
            EntryKind::BlockDevice => "block-device",
            EntryKind::Fifo => "fifo",
            EntryKind::Socket => "socket",
            EntryKind::Other => "other",
        }
    }

    pub const ALL: [EntryKind; 9] = [
        EntryKind::File,
        EntryKind::Dir,
        EntryKind::Symlink,
        EntryKind::Hardlink,
        EntryKind::CharDevice,
        EntryKind::BlockDevice,
        EntryKind::Fifo,
        EntryKind::Socket,
        EntryKind::Other,
    ];

    pub fn parse(name: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Devices, FIFOs and sockets: never opened, never packable.
    pub fn is_special(self) -> bool {
        matches!(self, EntryKind::CharDevice | EntryKind::BlockDevice | EntryKind::Fifo | EntryKind::Socket)
    }
}

/// The first bytes of a small file, captured while streaming when a rule needs them.
#[derive(Clone, Debug, Default)]
pub struct Content {
    pub bytes: Vec<u8>,
    /// The file was longer than the capture limit.
    pub truncated: bool,
}

impl Content {
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }
}

/// What a source captured of one entry beyond its header: rare, so it lives on the side and
/// an entry without any costs one pointer. A digest, captured for every file of a
/// `--fields +sha256` snapshot, is inline; the rarer captures are boxed again.
#[derive(Clone, Debug, Default)]
struct Captured {
    link_target: Option<Box<[u8]>>,
    content: Option<Box<Content>>,
    zip: Option<Box<crate::source::ziptail::ZipLook>>,
    digest: Option<[u8; 32]>,
}

/// One member of a tree or archive, normalized.
///
/// Kept small (56 bytes plus one allocation for the path) because a check holds every entry of
/// a million-file tree at once: indices are 32 bits (a subject never holds 4 billion entries)
/// and zones 16.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The path relative to the /opt/ml root once the layout stage placed the entry
    /// (`model/` + member, ...); until then the member name alone. One allocation holds both.
    path: Box<[u8]>,
    /// Where the member name starts in `path`: after the layout prefix, a short path.
    member_start: u16,
    pub mode: u32,
    pub size: u64,
    /// Index of the origin (tree or archive) this entry came from.
    origin: u32,
    /// Position in its archive (0-based) or walk order.
    index: u32,
    /// Index into the layout's zones, set by the layout stage.
    zone: u16,
    captured: Option<Box<Captured>>,
    pub kind: EntryKind,
    /// The raw name started with `/`.
    pub absolute: bool,
    /// The raw name has a `..` component.
    pub parent_dir: bool,
    /// A name SageMaker rejects for uncompressed models: empty component, NUL, component > 255 bytes.
    pub invalid_name: bool,
    /// Set by the analysis pass: another entry of the same origin has the same member name.
    pub duplicate: bool,
    /// Set by the analysis pass: this name is both a file and the parent of other entries.
    pub name_clash: bool,
    /// Set by the analysis pass: the link target resolves outside the origin's root.
    pub link_escapes: bool,
}

impl Entry {
    /// `member` is the normalized name inside its origin (`./a//b/` -> `a/b`); may be non-UTF-8.
    pub fn new(member: Vec<u8>, kind: EntryKind) -> Entry {
        Entry {
            path: member.into_boxed_slice(),
            member_start: 0,
            mode: 0,
            size: 0,
            origin: 0,
            index: 0,
            zone: 0,
            captured: None,
            kind,
            absolute: false,
            parent_dir: false,
            invalid_name: false,
            duplicate: false,
            name_clash: false,
            link_escapes: false,
        }
    }

    /// Index of the origin (tree or archive) this entry came from.
    pub fn origin(&self) -> usize {
        self.origin as usize
    }

    pub fn set_origin(&mut self, origin: usize) {
        self.origin = u32::try_from(origin).expect("a subject has a few origins");
    }

    /// Position in its archive (0-based) or walk order.
    pub fn index(&self) -> usize {
        self.index as usize
    }

    /// Set the position; past 4 billion entries (which no limit allows) positions tie.
    pub fn set_index(&mut self, index: usize) {
        self.index = u32::try_from(index).unwrap_or(u32::MAX);
    }

    /// Index into the layout's zones, set by the layout stage.
    pub fn zone(&self) -> usize {
        usize::from(self.zone)
    }

    pub fn set_zone(&mut self, zone: usize) {
        self.zone = u16::try_from(zone).expect("a layout has a few zones");
    }

    /// The normalized name inside its origin.
    pub fn member(&self) -> &[u8] {
        &self.path[self.member_start as usize..]
    }

    /// The path relative to the /opt/ml root (the member name until the layout placed it).
    pub fn path(&self) -> &[u8] {
        &self.path
    }

    /// Place the entry under `prefix` (relative to /opt/ml), replacing any earlier placement.
    pub fn place_under(&mut self, prefix: &[u8]) {
        if prefix.is_empty() && self.member_start == 0 {
            return;
        }
        let member = self.member();
        let path = join(prefix, member);
        // An empty member is the prefix itself, without a `/`.
        let start = path.len() - member.len();
        // A prefix comes from the layout's mappings, which the loader keeps short.
        self.member_start = u16::try_from(start).expect("a layout prefix is short");
        self.path = path.into_boxed_slice();
    }

    /// Give the entry another member name; it is placed again by the layout stage.
    pub fn rename(&mut self, member: Vec<u8>) {
        self.path = member.into_boxed_slice();
        self.member_start = 0;
    }

    /// The last path component.
    pub fn file_name(&self) -> &[u8] {
        file_name(self.member())
    }

    pub fn link_target(&self) -> Option<&[u8]> {
        self.captured.as_ref()?.link_target.as_deref()
    }

    pub fn content(&self) -> Option<&Content> {
        self.captured.as_ref()?.content.as_deref()
    }

    pub fn zip(&self) -> Option<&crate::source::ziptail::ZipLook> {
        self.captured.as_ref()?.zip.as_deref()
    }

    pub fn digest(&self) -> Option<[u8; 32]> {
        self.captured.as_ref()?.digest
    }

    /// The side record, made on the first capture.
    fn captured_mut(&mut self) -> &mut Captured {
        self.captured.get_or_insert_with(Default::default)
    }

    pub fn set_link_target(&mut self, target: Option<Vec<u8>>) {
        if target.is_some() || self.captured.is_some() {
            self.captured_mut().link_target = target.map(Vec::into_boxed_slice);
        }
    }

    pub fn set_content(&mut self, content: Option<Content>) {
        if content.is_some() || self.captured.is_some() {
            self.captured_mut().content = content.map(Box::new);
        }
    }

    pub fn set_zip(&mut self, zip: Option<crate::source::ziptail::ZipLook>) {
        if zip.is_some() || self.captured.is_some() {
            self.captured_mut().zip = zip.map(Box::new);
        }
    }

    pub fn set_digest(&mut self, digest: Option<[u8; 32]>) {
        if digest.is_some() || self.captured.is_some() {
            self.captured_mut().digest = digest;
        }
    }
}

pub fn file_name(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// A byte path as a `Path`, for glob matching (Unix keeps bytes as they are).
pub fn as_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// Lossy, for messages. Terminal sanitising happens in the report layer.
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Join two relative byte paths with `/`, either side may be empty.
pub fn join(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 1 + rest.len());
    join_into(&mut out, prefix, rest);
    out
}

/// [`join`] into a reused buffer (cleared first), for loops that only look the result up.
pub fn join_into(buffer: &mut Vec<u8>, prefix: &[u8], rest: &[u8]) {
    buffer.clear();
    buffer.extend_from_slice(prefix);
    if !prefix.is_empty() && !rest.is_empty() {
        buffer.push(b'/');
    }
    buffer.extend_from_slice(rest);
}

/// `rest` if `path` is `prefix` or lies below it.
pub fn strip_prefix<'a>(path: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    if prefix.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(prefix)?;
    match rest.first() {
        None => Some(rest),
        Some(b'/') => Some(&rest[1..]),
        Some(_) => None,
    }
}

/// The result of normalizing a raw member name.
#[derive(Debug, PartialEq, Eq)]
pub struct NormalizedName {
    pub name: Vec<u8>,
    pub absolute: bool,
    pub parent_dir: bool,
    pub invalid: bool,
}

/// Normalize a raw archive member name: `./x` -> `x`, `a//b/` -> `a/b`, `.` components dropped.
/// A leading `/` and `..` components are recorded (and `..` kept) for the safety rules.
/// Returns an empty name for root entries (`.`, `./`, `/`).
pub fn normalize_name(raw: &[u8]) -> NormalizedName {
    let absolute = raw.first() == Some(&b'/');
    let mut name = Vec::with_capacity(raw.len());
    let mut parent_dir = false;
    let mut invalid = raw.contains(&0);
    for component in raw.split(|&b| b == b'/') {
        match component {
            b"" | b"." => continue,
            b".." => parent_dir = true,
            _ => {}
        }
        if component.len() > 255 {
            invalid = true;
        }
        if !name.is_empty() {
            name.push(b'/');
        }
        name.extend_from_slice(component);
    }
    // `a//b` has an empty component: a name S3 (and so uncompressed models) cannot hold.
    let trimmed = raw.strip_prefix(b"./").unwrap_or(raw);
    let trimmed = trimmed.strip_prefix(b"/").unwrap_or(trimmed);
    let trimmed = trimmed.strip_suffix(b"/").unwrap_or(trimmed);
    if trimmed.windows(2).any(|w| w == b"//") {
        invalid = true;
    }
    NormalizedName { name, absolute, parent_dir, invalid }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_dot_prefixes_and_slashes() {
        assert_eq!(normalize_name(b"./a/b/").name, b"a/b");
        assert_eq!(normalize_name(b"a/./b").name, b"a/b");
        assert!(normalize_name(b"./").name.is_empty());
        assert!(normalize_name(b".").name.is_empty());
        assert!(normalize_name(b"/").name.is_empty());
    }

    #[test]
    fn keeps_unsafe_markers() {
        let abs = normalize_name(b"/etc/passwd");
        assert!(abs.absolute);
        assert_eq!(abs.name, b"etc/passwd");
        let up = normalize_name(b"../x");
        assert!(up.parent_dir);
        assert_eq!(up.name, b"../x");
    }

    #[test]
    fn flags_names_s3_rejects() {
        assert!(normalize_name(b"a//b").invalid);
        assert!(normalize_name(&[b'a'; 256]).invalid);
        assert!(!normalize_name(b"./a/b").invalid);
    }

    #[test]
    fn an_entry_is_small_and_its_member_survives_placement() {
        assert!(std::mem::size_of::<Entry>() <= 56, "{} bytes", std::mem::size_of::<Entry>());
        let mut entry = Entry::new(b"code/train.py".to_vec(), EntryKind::File);
        assert_eq!(entry.path(), b"code/train.py");
        entry.place_under(b"model");
        assert_eq!((entry.path(), entry.member()), (&b"model/code/train.py"[..], &b"code/train.py"[..]));
        entry.place_under(b"");
        assert_eq!((entry.path(), entry.member()), (&b"code/train.py"[..], &b"code/train.py"[..]));
        let mut root = Entry::new(Vec::new(), EntryKind::Dir);
        root.place_under(b"model");
        assert_eq!((root.path(), root.member()), (&b"model"[..], &b""[..]));
        entry.set_digest(None);
        assert!(entry.captured.is_none(), "nothing captured, nothing allocated");
        assert!(std::mem::size_of::<Captured>() <= 72, "a digest costs {} bytes", std::mem::size_of::<Captured>());
    }

    #[test]
    fn prefix_helpers() {
        assert_eq!(join(b"model", b"x"), b"model/x");
        assert_eq!(join(b"", b"x"), b"x");
        assert_eq!(strip_prefix(b"model/x", b"model"), Some(&b"x"[..]));
        assert_eq!(strip_prefix(b"model", b"model"), Some(&b""[..]));
        assert_eq!(strip_prefix(b"models/x", b"model"), None);
    }
}
