//! Sources: turn an input (live tree, archive, job folder) into normalized entries, streaming once.

pub mod archive;
mod digest;
mod gzip;
pub mod image;
pub mod job;
pub mod limits;
pub mod members;
pub mod prefix;
pub mod s3;
pub mod tree;
mod walk;
pub mod ziptail;

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::entry::{Content, Entry};
use digest::Hasher;

pub use archive::Compression;
pub use limits::Limits;

/// What an input holds, before the layout stage maps it into /opt/ml.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A whole /opt/ml tree.
    OptMl,
    /// The contents of /opt/ml/model (model.tar.gz, or an uncompressed model folder).
    Model,
    /// output.tar.gz (either flavour) or an output folder.
    Output,
    /// A source bundle (sourcedir.tar.gz): the contents of /opt/ml/code, not a model.
    Code,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::OptMl => "opt-ml",
            Role::Model => "model",
            Role::Output => "output",
            Role::Code => "code",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "opt-ml" | "optml" | "tree" => Some(Role::OptMl),
            "model" => Some(Role::Model),
            "output" => Some(Role::Output),
            "code" | "sourcedir" => Some(Role::Code),
            _ => None,
        }
    }

    /// The role of a folder that is not a job folder: a folder holding `model/`, `output/` or
    /// `input/` is an /opt/ml root; any other folder is read as model contents, so that
    /// `optml check /opt/ml/model` (or an uncompressed model prefix) is checked as a model
    /// rather than as an /opt/ml root whose every file would be "lost".
    pub fn of_folder(dir: &dyn job::Holds) -> Role {
        if ["model", "output", "input"].iter().any(|marker| dir.has_dir(marker)) {
            Role::OptMl
        } else {
            Role::Model
        }
    }

    /// The role an archive's file name implies: a name whose stem ends in `output`
    /// (`output.tar.gz`, `job-output.tgz`) or mentions output but not model is output;
    /// a source bundle the SDK uploads for training or serving code (`sourcedir.tar.gz`,
    /// `*_source_code.tar.gz`, `user_code.tar.gz`, ModelTrainer's `code.tar.gz`) is code;
    /// anything else is a model archive.
    pub fn from_archive_name(path: &Path) -> Role {
        let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        let stem = name.split(".t").next().unwrap_or(&name);
        // Only the names the SDK and the toolkits give source bundles: `weights_in_code.tar.gz`
        // or `sklearn_code.tar.gz` may well be a model archive. `__` stands for a path separator
        // in flattened copies (`tests__data__script_mode__code.tar.gz`).
        let code = stem.contains("sourcedir")
            || stem.contains("source_code")
            || stem.contains("source-code")
            || stem.contains("sourcecode")
            || matches!(stem.rsplit("__").next(), Some("code" | "user_code"));
        if stem.ends_with("output") || (stem.contains("output") && !stem.contains("model")) {
            Role::Output
        } else if code && !stem.contains("model") {
            Role::Code
        } else {
            Role::Model
        }
    }
}

/// How an input was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Tree,
    Archive,
    Job,
    /// A container image (docker-archive or OCI layout), checked by the image gate.
    Image,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Tree => "tree",
            InputKind::Archive => "archive",
            InputKind::Job => "job",
            InputKind::Image => "image",
        }
    }
}

/// Something wrong with the bytes or the filesystem, found while streaming.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// Named `.gz`/`.tgz` but not gzip.
    NotGzip,
    /// bzip2, xz, zstd, lz4, lzip, lzma or Unix compress: SageMaker only unpacks gzip.
    UnsupportedCompression,
    NotTar,
    /// Truncated or corrupt: reading stopped before the end.
    Truncated,
    /// No entries at all.
    Empty,
    /// Non-gzip bytes after the end of the gzip stream.
    TrailingData,
    /// A plain (uncompressed) tar not named like a gzip file: ModelDataUrl must be a tar.gz.
    Uncompressed,
    /// Permission denied or another I/O error on part of a tree.
    Unreadable,
    /// A header read leniently or partly ignored: a NUL inside a long name, a malformed pax
    /// record, a sparse map that does not describe the stored data. The member is listed.
    MalformedHeader,
    /// An extension header (long name, pax records, sparse map) over the reader's bound.
    HeaderTooLarge,
    /// A hard link to a missing, later, escaping member or to itself.
    BadHardlink,
    /// A file of a tree vanished, or stopped being what the walk saw, before it was read.
    Changed,
    /// A limit on the work one input may cause (`--max-entries`, `--max-bytes`, `--max-ratio`).
    Limit,
    /// A member name beyond `--max-path-bytes` or `--max-path-depth`: reported, not read.
    NameTooLong,
}

impl ProblemKind {
    /// The name rule files use (`check = "problem"`, `problem = "..."`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::NotGzip => "not-gzip",
            ProblemKind::UnsupportedCompression => "unsupported-compression",
            ProblemKind::NotTar => "not-tar",
            ProblemKind::Truncated => "truncated",
            ProblemKind::Empty => "empty",
            ProblemKind::TrailingData => "trailing-data",
            ProblemKind::Uncompressed => "uncompressed",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::MalformedHeader => "malformed-header",
            ProblemKind::HeaderTooLarge => "header-too-large",
            ProblemKind::BadHardlink => "bad-hardlink",
            ProblemKind::Changed => "changed",
            ProblemKind::Limit => "limit",
            ProblemKind::NameTooLong => "name-too-long",
        }
    }

    pub const ALL: [ProblemKind; 14] = [
        ProblemKind::NotGzip,
        ProblemKind::UnsupportedCompression,
        ProblemKind::NotTar,
        ProblemKind::Truncated,
        ProblemKind::Empty,
        ProblemKind::TrailingData,
        ProblemKind::Uncompressed,
        ProblemKind::Unreadable,
        ProblemKind::MalformedHeader,
        ProblemKind::HeaderTooLarge,
        ProblemKind::BadHardlink,
        ProblemKind::Changed,
        ProblemKind::Limit,
        ProblemKind::NameTooLong,
    ];

    pub fn parse(name: &str) -> Option<ProblemKind> {
        ProblemKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Reading stopped before the end (or never started): what was read is not all there is.
    pub fn stops_reading(self) -> bool {
        matches!(
            self,
            ProblemKind::NotTar
                | ProblemKind::Truncated
                | ProblemKind::UnsupportedCompression
                | ProblemKind::Unreadable
                | ProblemKind::HeaderTooLarge
                | ProblemKind::Limit
        )
    }
}

#[derive(Clone, Debug)]
pub struct Problem {
    pub kind: ProblemKind,
    pub detail: String,
    /// The member the problem is about; empty for the archive as a whole.
    pub path: Vec<u8>,
    /// Byte offset in the (decompressed) tar stream where reading stopped.
    pub offset: Option<u64>,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: String) -> Problem {
        Problem { kind, detail, path: Vec::new(), offset: None }
    }
}

/// What a scan needs beyond names and headers.
pub struct ScanOptions<'a> {
    /// Capture the first `content_limit` bytes of regular files whose member name this accepts.
    pub wants_content: &'a dyn Fn(&[u8]) -> bool,
    pub content_limit: usize,
    /// Keep the last [`ziptail::TAIL_LIMIT`] bytes of regular files whose member name this
    /// accepts, and read their zip listing from it (`where.zip-missing`).
    pub wants_tail: &'a dyn Fn(&[u8]) -> bool,
    /// Compute a SHA-256 of every regular file while streaming.
    pub digest: bool,
    pub limits: Limits,
}

/// A member name beyond the path caps, as a problem about (the start of) that name.
pub(crate) fn name_too_long(name: &[u8], detail: String) -> Problem {
    let mut problem = Problem::new(ProblemKind::NameTooLong, detail);
    // Enough of the name to find it; all of it could be megabytes.
    problem.path = name[..name.len().min(200)].to_vec();
    problem
}

impl ScanOptions<'_> {
    /// Options that read names and headers only (plus digests when `digest`).
    pub fn headers(digest: bool) -> ScanOptions<'static> {
        ScanOptions { wants_content: &|_| false, content_limit: 0, wants_tail: &|_| false, digest, limits: Limits::default() }
    }

    /// Whether a regular file named `member` is read at all.
    pub fn reads(&self, member: &[u8]) -> bool {
        self.digest || (self.wants_content)(member) || (self.wants_tail)(member)
    }
}

/// The entries and problems of one tree or archive.
#[derive(Default, Debug)]
pub struct Scan {
    pub entries: Vec<Entry>,
    pub problems: Vec<Problem>,
    pub compression: Option<Compression>,
    pub uncompressed_bytes: u64,
}

/// Read a regular file's bytes once: the first `content_limit` into `entry.content` when
/// wanted, all of them through SHA-256 when digests are on, and its last bytes into a bounded
/// tail when its zip listing is wanted.
pub(crate) fn capture<R: Read>(reader: &mut R, entry: &mut Entry, options: &ScanOptions) -> io::Result<()> {
    let wants = (options.wants_content)(entry.member());
    let mut tail = (options.wants_tail)(entry.member()).then(|| ziptail::Tail::new(ziptail::TAIL_LIMIT, entry.size));
    if !wants && !options.digest && tail.is_none() {
        return Ok(());
    }
    let mut hasher = options.digest.then(|| Hasher::new(entry.size));
    let mut content = wants.then(Content::default);
    // Sized to the file: a million small files must not each zero a large buffer.
    let mut buf = vec![0u8; (entry.size.min(256 * 1024) as usize).max(4096)];
    let mut read = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        read += n as u64;
        if let Some(tail) = tail.as_mut() {
            tail.push(&buf[..n]);
        }
        if let Some(content) = content.as_mut() {
            let room = options.content_limit.saturating_sub(content.bytes.len());
            content.bytes.extend_from_slice(&buf[..n.min(room)]);
            if n > room {
                content.truncated = true;
                if hasher.is_none() && tail.is_none() {
                    break;
                }
            }
        }
        // After the content: a threaded hasher takes the buffer.
        if let Some(hasher) = hasher.as_mut() {
            hasher.update(&mut buf, n);
        }
    }
    entry.set_zip(tail.map(|tail| if read < entry.size { ziptail::ZipLook::Unsure("the member ends early".into()) } else { tail.look() }));
    entry.set_content(content);
    entry.set_digest(hasher.map(Hasher::finish));
    Ok(())
}

/// One tree or archive inside an input (an input has one, a job folder several).
#[derive(Clone, Debug)]
pub struct Origin {
    /// The file or directory on disk.
    pub fs_path: PathBuf,
    /// Prefix of JSON paths: empty for a single input, `output/model.tar.gz` inside a job folder.
    pub path_prefix: String,
    pub role: Role,
    /// How the archive's bytes are compressed; `None` for a tree.
    pub compression: Option<Compression>,
    pub uncompressed_bytes: u64,
    pub problems: Vec<Problem>,
    /// The S3 object this origin was streamed from (size, ETag, last-modified, checksums).
    pub object: Option<s3::ObjectMeta>,
}

impl Origin {
    /// An origin that is a tree (no archive, no S3 object, no problems yet).
    pub fn tree(fs_path: PathBuf, role: Role) -> Origin {
        Origin { fs_path, path_prefix: String::new(), role, compression: None, uncompressed_bytes: 0, problems: Vec::new(), object: None }
    }

    pub fn is_archive(&self) -> bool {
        self.compression.is_some()
    }
}

/// One input as the user named it, scanned: every origin's entries in one list.
#[derive(Debug)]
pub struct Subject {
    pub input: String,
    pub kind: InputKind,
    pub origins: Vec<Origin>,
    pub entries: Vec<Entry>,
}

impl Subject {
    /// The job folder `input` holding `parts` (the path of each archive in the folder, and the
    /// archive, already read), as [`open`] reads it, without reading the archives again. The
    /// entries keep what their own check set (paths, zones, facts): a job to record, not to check.
    pub fn job(input: String, parts: &[(&str, &Subject)]) -> Subject {
        let mut job = Subject { input, kind: InputKind::Job, origins: Vec::new(), entries: Vec::new() };
        for (prefix, part) in parts {
            let first = job.origins.len();
            job.origins.extend(part.origins.iter().map(|origin| Origin { path_prefix: prefix.to_string(), ..origin.clone() }));
            job.entries.extend(part.entries.iter().map(|entry| {
                let mut entry = entry.clone();
                entry.set_origin(entry.origin() + first);
                entry
            }));
        }
        job
    }

    /// Add one scanned part (a tree or an archive) as an origin, with its entries.
    pub(crate) fn add(&mut self, part: job::Part, scan: Scan, object: Option<s3::ObjectMeta>) {
        let role = part.role;
        let origin_index = self.origins.len();
        let mut problems = scan.problems;
        let mut files = 0usize;
        let mut folders = 0usize;
        let mut entries = scan.entries;
        // Root entries (`.`, `./`, `/`) say nothing about the layout.
        entries.retain(|entry| !(entry.member().is_empty() && entry.kind == crate::entry::EntryKind::Dir));
        for entry in &mut entries {
            entry.set_origin(origin_index);
            if entry.kind == crate::entry::EntryKind::Dir {
                folders += 1;
            } else {
                files += 1;
            }
        }
        // Moved, not copied: a second list of a million entries would double the peak.
        if self.entries.is_empty() {
            self.entries = entries;
        } else {
            self.entries.append(&mut entries);
        }
        // A streamed list grew by doubling: give back the slack (up to half of it) before the
        // later stages run. A list this large is mapped memory, which shrinks in place.
        self.entries.shrink_to_fit();
        // An archive that reads cleanly but holds nothing but folders has nothing to serve.
        if part.is_archive && files == 0 && problems.iter().all(|p| matches!(p.kind, ProblemKind::TrailingData | ProblemKind::Uncompressed)) {
            let detail = match folders {
                0 => "the archive holds no entries".to_string(),
                n => format!("the archive holds only {n} empty folder(s)"),
            };
            problems.push(Problem::new(ProblemKind::Empty, detail));
        }
        self.origins.push(Origin {
            fs_path: part.fs_path,
            path_prefix: part.path_prefix,
            role,
            compression: scan.compression,
            uncompressed_bytes: scan.uncompressed_bytes,
            problems,
            object,
        });
    }
}

/// optml could not read the input at all (exit 2), as opposed to problems inside it.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{input}: {message}")]
pub struct OpenError {
    pub input: String,
    pub message: String,
}

/// Where the content wanted by rules is, per origin role: built by the engine.
pub trait ContentWants {
    fn wants(&self, role: Role, member: &[u8]) -> bool;

    /// Whether the zip listing of this member is wanted (see [`ziptail`]).
    fn wants_tail(&self, _role: Role, _member: &[u8]) -> bool {
        false
    }
}

/// Open and scan `input`. `forced` overrides role detection (`--as`).
pub fn open(
    input: &Path,
    forced: Option<Role>,
    job_artifacts: &[job::JobArtifact],
    wants: &dyn ContentWants,
    content_limit: usize,
    digest: bool,
    limits: Limits,
) -> Result<Subject, OpenError> {
    let display = input.to_string_lossy().into_owned();
    if s3::S3Location::is_s3(&display) {
        let wants_content = |role: Role, member: &[u8]| wants.wants(role, member);
        let wants_tail = |role: Role, member: &[u8]| wants.wants_tail(role, member);
        return open_s3(display, forced, job_artifacts, &wants_content, &wants_tail, content_limit, digest, limits);
    }
    let fail = |message: String| OpenError { input: display.clone(), message };
    let meta = std::fs::metadata(input).map_err(|err| fail(describe_io(&err)))?;
    let (kind, parts) = if meta.is_dir() {
        // An input folder that cannot be listed is optml failing its job (exit 2), like an
        // unreadable archive; reading on would report a false "model/ is missing".
        std::fs::read_dir(input).map_err(|err| fail(format!("cannot read the folder: {}", describe_io(&err))))?;
        match forced {
            Some(role) => (InputKind::Tree, vec![job::Part::tree(input, "", role)]),
            None => match job::detect(input, job_artifacts) {
                Some(parts) => (InputKind::Job, parts),
                None => (InputKind::Tree, vec![job::Part::tree(input, "", Role::of_folder(&job::Folder(input)))]),
            },
        }
    } else if meta.is_file() {
        let role = forced.unwrap_or_else(|| Role::from_archive_name(input));
        (InputKind::Archive, vec![job::Part { fs_path: input.to_path_buf(), path_prefix: String::new(), is_archive: true, role }])
    } else {
        return Err(fail("not a regular file or directory (FIFOs, devices and sockets are never opened)".into()));
    };

    let mut subject = Subject { input: display.clone(), kind, origins: Vec::new(), entries: Vec::new() };
    for part in parts {
        let role = part.role;
        let wants_content = |member: &[u8]| wants.wants(role, member);
        let wants_tail = |member: &[u8]| wants.wants_tail(role, member);
        let options = ScanOptions { wants_content: &wants_content, content_limit, wants_tail: &wants_tail, digest, limits };
        let scan = if part.is_archive {
            archive::scan_file(&part.fs_path, &options)
                .map_err(|err| OpenError { input: part.fs_path.to_string_lossy().into_owned(), message: describe_io(&err) })?
        } else {
            tree::scan(&part.fs_path, &options)
        };
        subject.add(part, scan, None);
    }
    Ok(subject)
}

/// Open and scan an s3:// input. A key is one archive, streamed through the archive reader. A
/// prefix is read from its listing the way a local folder is: a training job's prefix (the
/// layout's `[[job-artifact]]`s: archives streamed in turn, an uncompressed `output/model/` read
/// as a folder) is a job; any other prefix is a folder, model contents unless it holds
/// `model/`, `output/` or `input/` (`--as` overrides), read from the listing (see [`prefix`]).
/// Nothing is written to disk.
#[allow(clippy::too_many_arguments)]
fn open_s3(
    display: String,
    forced: Option<Role>,
    job_artifacts: &[job::JobArtifact],
    wants_content: &dyn Fn(Role, &[u8]) -> bool,
    wants_tail: &dyn Fn(Role, &[u8]) -> bool,
    content_limit: usize,
    digest: bool,
    limits: Limits,
) -> Result<Subject, OpenError> {
    let location = s3::S3Location::parse(&display).map_err(|message| OpenError { input: display.clone(), message })?;
    let client = s3::shared().map_err(|err| OpenError { input: err.location, message: err.message })?;
    let fail = |err: s3::S3Error| {
        let err = client.explain(err);
        OpenError { input: err.location, message: err.message }
    };
    let scan_options = |role: Role, scan: &mut dyn FnMut(&ScanOptions) -> Result<Scan, s3::S3Error>| {
        let content = |member: &[u8]| wants_content(role, member);
        let tail = |member: &[u8]| wants_tail(role, member);
        scan(&ScanOptions { wants_content: &content, content_limit, wants_tail: &tail, digest, limits })
    };
    if !location.is_prefix() {
        let role = forced.unwrap_or_else(|| Role::from_archive_name(Path::new(&location.key)));
        let mut subject = Subject { input: display, kind: InputKind::Archive, origins: Vec::new(), entries: Vec::new() };
        let mut meta = None;
        let scan = scan_options(role, &mut |options| {
            let (scan, head) = stream_archive(client, &location, options)?;
            meta = Some(head);
            Ok(scan)
        })
        .map_err(fail)?;
        let part = job::Part { fs_path: PathBuf::from(location.to_string()), path_prefix: String::new(), is_archive: true, role };
        subject.add(part, scan, meta);
        return Ok(subject);
    }
    // One object past the entry cap, so that the scan reports the cap rather than stopping silently.
    let objects = client.list_up_to(&location.bucket, &location.key, usize::try_from(limits.entries.saturating_add(1)).unwrap_or(usize::MAX)).map_err(fail)?;
    if objects.is_empty() {
        return Err(OpenError { input: display, message: "no object under the prefix (nothing to check)".into() });
    }
    use job::Holds as _;
    let listing = prefix::Listing { root: &location, objects: &objects };
    let (kind, parts) = match forced {
        Some(role) => (InputKind::Tree, vec![job::Part::tree(&listing.join(""), "", role)]),
        None => match job::detect_in(&listing, job_artifacts) {
            Some(parts) => (InputKind::Job, parts),
            None => (InputKind::Tree, vec![job::Part::tree(&listing.join(""), "", Role::of_folder(&listing))]),
        },
    };
    let mut subject = Subject { input: display, kind, origins: Vec::new(), entries: Vec::new() };
    for part in parts {
        let (scan, meta) = if part.is_archive {
            let object = location.with_key(&format!("{}{}", location.key, part.path_prefix));
            let mut meta = None;
            let scan = scan_options(part.role, &mut |options| {
                let (scan, head) = stream_archive(client, &object, options)?;
                meta = Some(head);
                Ok(scan)
            });
            (scan.map_err(fail)?, meta)
        } else {
            let scan = scan_options(part.role, &mut |options| prefix::scan(client, &listing, &part.path_prefix, options));
            (scan.map_err(fail)?, Some(listing.meta(&part.path_prefix)))
        };
        subject.add(part, scan, meta);
    }
    Ok(subject)
}

/// Stream one object through the archive reader, with its HEAD metadata. An object replaced
/// while it was read (its pinned ETag no longer matches, so a resume cannot continue the same
/// bytes) is read again from the beginning, once, saying so; a second change fails.
fn stream_archive(client: &s3::S3Client, object: &s3::S3Location, options: &ScanOptions) -> Result<(Scan, s3::ObjectMeta), s3::S3Error> {
    let mut restarted = false;
    loop {
        let meta = client.head(object)?;
        let attempt = client.open(object, meta.etag.as_deref()).and_then(|reader| {
            let broken = reader.failure();
            let scan = archive::scan(reader, Path::new(&object.key), options);
            // A download that broke off for good is optml failing its job, not a truncated archive.
            match broken.lock().ok().and_then(|mut failure| failure.take()) {
                Some(err) => Err(err),
                None => scan.map_err(|err| s3::S3Error::new(object.to_string(), err.to_string())),
            }
        });
        match attempt {
            Ok(scan) => return Ok((scan, meta)),
            Err(err) if err.cause == s3::Cause::Changed && !restarted => {
                restarted = true;
                crate::stdio::err(&format!(
                    "optml: {}: the object changed while it was read (ETag {} no longer matches); reading it again from the beginning, once\n",
                    crate::report::sanitize::sanitize(&object.to_string()),
                    crate::report::sanitize::sanitize(meta.etag.as_deref().unwrap_or("?"))
                ));
            }
            Err(mut err) => {
                if err.cause == s3::Cause::Changed {
                    err.message.push_str("; it changed again after reading it again from the beginning");
                }
                return Err(err);
            }
        }
    }
}

fn describe_io(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => err.to_string(),
    }
}
