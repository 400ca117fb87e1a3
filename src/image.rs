//! The training image gate: the `sagemaker-image` pack's checks (rules/sagemaker-image.toml)
//! on an image's final file list and config, read by [`crate::source::image`]. Docs: docs/images.md.

use std::path::Path;

use crate::engine::builtin::IMAGE_PACK;
use crate::engine::eval::Vars;
use crate::engine::{ExternalCode, Ruleset};
use crate::entry::{self, lossy, EntryKind};
use crate::finding::Finding;
use crate::layout::{Placed, Placement};
use crate::report::Checked;
use crate::source::image::{self, Image, Pick, ProblemKind};
use crate::source::{InputKind, OpenError, Origin, Role, Subject};

/// The folders SageMaker mounts over the image when a training job starts.
const MOUNTED: [&str; 4] = ["model", "output", "input", "checkpoints"];

/// SM_* variables the training toolkit sets for each job, with the platform's value for the
/// ones that are fixed paths (a baked copy of that value is harmless). From the toolkit's
/// ENVIRONMENT_VARIABLES.md.
const PLATFORM_ENV: [(&str, Option<&str>); 12] = [
    ("SM_MODEL_DIR", Some("/opt/ml/model")),
    ("SM_INPUT_DIR", Some("/opt/ml/input")),
    ("SM_INPUT_CONFIG_DIR", Some("/opt/ml/input/config")),
    ("SM_OUTPUT_DIR", Some("/opt/ml/output")),
    ("SM_OUTPUT_DATA_DIR", Some("/opt/ml/output/data")),
    ("SM_CHANNELS", None),
    ("SM_HOSTS", None),
    ("SM_CURRENT_HOST", None),
    ("SM_HPS", None),
    ("SM_TRAINING_ENV", None),
    ("SM_NUM_GPUS", None),
    ("SM_NUM_CPUS", None),
];

/// Read and check every image of `input`: one checked subject per image.
pub fn check(ruleset: &Ruleset, input: &Path, pick: &Pick, code: Option<&Code>) -> Result<Vec<(Checked, Vec<Finding>)>, OpenError> {
    let display = input.to_string_lossy().into_owned();
    let images = image::open(input, pick).map_err(|err| OpenError { input: display.clone(), message: err.to_string() })?;
    let several = images.len() > 1;
    Ok(images
        .into_iter()
        .map(|image| {
            let label = if several { format!("{display} ({})", image.name) } else { display.clone() };
            let findings = findings(ruleset, &label, &image, code);
            (checked(ruleset, input, label, &image), findings)
        })
        .collect())
}

/// The files of the one image of `input` below `folder` (no leading `/`), as a subject to
/// snapshot or compare. An input holding several images, or an image that cannot be read
/// whole, is an error: a partial manifest would lie.
pub fn subject(input: &Path, pick: &Pick, folder: &[u8]) -> Result<Subject, OpenError> {
    let display = input.to_string_lossy().into_owned();
    let fail = |message: String| OpenError { input: display.clone(), message };
    let mut images = image::open(input, pick).map_err(|err| fail(err.to_string()))?;
    if images.len() != 1 {
        let names: Vec<&str> = images.iter().map(|image| image.name.as_str()).collect();
        return Err(fail(format!("it holds {} images ({}); save one image per archive", images.len(), names.join(", "))));
    }
    let image = images.remove(0);
    if let Some(problems) = image.problem_text() {
        return Err(fail(format!("the image cannot be read whole: {problems}")));
    }
    let role = if folder == b"opt/ml" { Role::OptMl } else { Role::Model };
    let origin = Origin::tree(input.to_path_buf(), role);
    Ok(Subject { input: display, kind: InputKind::Image, origins: vec![origin], entries: image.entries_under(folder) })
}

/// The report's view of an image: its /opt/ml files as entries, only the image pack applied.
fn checked(ruleset: &Ruleset, input: &Path, label: String, image: &Image) -> Checked {
    let entries = image.entries_under(b"opt/ml");
    let origin = Origin::tree(input.to_path_buf(), Role::OptMl);
    let mut flavour = format!("image {}, {} layer(s)", image.name, image.layers.len());
    if let Some(note) = &image.note {
        flavour.push_str(&format!("; {note}"));
    }
    let placed = Placed { origins: vec![Placement { flavour, prefix: Vec::new(), covers: Vec::new() }], covered: vec![false; ruleset.layout.zones.len()] };
    let packs: Vec<bool> = ruleset.packs.iter().map(|pack| pack.name == IMAGE_PACK).collect();
    let rules = ruleset.rules.iter().zip(&ruleset.enabled).map(|(rule, &enabled)| enabled && packs[rule.pack]).collect();
    let subject = Subject { input: label, kind: InputKind::Image, origins: vec![origin], entries };
    Checked { subject, placed, packs, rules, detection: None, plan: Vec::new(), overflow: Vec::new() }
}

fn findings(ruleset: &Ruleset, input: &str, image: &Image, code: Option<&Code>) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut raise = |code: ExternalCode, member: &str, vars: &mut Vars| found.extend(ruleset.external_finding(code, input, None, member.as_bytes(), vars));
    for problem in &image.problems {
        let code = match problem.kind {
            ProblemKind::Broken => ExternalCode::ImageBroken,
            ProblemKind::DigestMismatch => ExternalCode::LayerDigestMismatch,
            ProblemKind::UnsupportedCompression => ExternalCode::LayerCompressionUnsupported,
        };
        raise(code, &problem.part, Vars::default().set("detail", problem.detail.as_str()));
    }
    // Nothing of the image could be read (no manifest, no config): there is nothing to judge.
    if image.layers.is_empty() && !image.problems.is_empty() {
        return found;
    }
    let files = |folder: &str| {
        let prefix = format!("{folder}/");
        image.files.iter().filter(move |(path, node)| path.starts_with(prefix.as_bytes()) && node.kind != EntryKind::Dir)
    };
    for mount in MOUNTED {
        let folder = format!("opt/ml/{mount}");
        // One finding per layer: a COPY of a model folder is one mistake, not a thousand.
        let mut by_layer: Vec<(usize, usize, &[u8])> = Vec::new();
        for (path, node) in files(&folder) {
            match by_layer.iter_mut().find(|(layer, _, _)| *layer == node.layer) {
                Some((_, count, _)) => *count += 1,
                None => by_layer.push((node.layer, 1, path)),
            }
        }
        for (layer, count, first) in by_layer {
            let detail = format!("{} from {} (first: /{})", count_files(count), by_whom(image, layer), lossy(first));
            raise(ExternalCode::BakedUnderMount, &format!("/{}", lossy(first)), Vars::default().set("detail", detail).set("name", format!("/{folder}")));
        }
    }
    let baked_code = files("opt/ml/code").count();
    if baked_code > 0 {
        raise(ExternalCode::CodeBaked, "/opt/ml/code", Vars::default().set("detail", format!("the image bakes {}", count_files(baked_code))));
    }
    entry_point(image, code, &mut raise);
    user_can_write(image, &mut raise);
    for (path, node) in image.files.iter().filter(|(path, node)| node.kind != EntryKind::Dir && image::is_credential(path)) {
        raise(ExternalCode::CredentialBaked, &format!("/{}", lossy(path)), Vars::default().set("detail", by_whom(image, node.layer)));
    }
    for (name, value) in &image.config.env {
        let fights = PLATFORM_ENV.iter().any(|(known, platform)| known == name && platform.is_none_or(|path| path != value)) || name.starts_with("SM_CHANNEL_");
        if fights {
            raise(ExternalCode::SmEnvBaked, "", Vars::default().set("name", name.as_str()).set("detail", value.as_str()));
        }
    }
    found
}

/// How `docker run IMAGE train` starts, and whether the script it runs is there.
fn entry_point(image: &Image, code: Option<&Code>, raise: &mut impl FnMut(ExternalCode, &str, &mut Vars)) {
    let config = &image.config;
    let entrypoint = config.entrypoint.as_deref().unwrap_or_default();
    if entrypoint.is_empty() {
        let found = config.path_dirs().iter().any(|dir| {
            let folder = resolve(&image.files, dir);
            image.files.get(&entry::join(&folder, b"train")).is_some_and(|node| node.kind == EntryKind::Symlink || (node.is_file() && node.mode & 0o111 != 0))
        });
        if !found {
            let path = config.env("PATH").map_or_else(|| "PATH is Docker's default".to_string(), |path| format!("PATH={path}"));
            raise(ExternalCode::TrainNotFound, "", Vars::default().set("detail", path));
        }
    }
    // `["/bin/sh", "-c", SCRIPT, ARGS...]` (what a shell-form ENTRYPOINT becomes), possibly
    // behind an init such as tini: `train` is appended after ARGS.
    let shell = entrypoint.iter().position(|word| SHELLS.contains(&entry::lossy(entry::file_name(word.as_bytes())).as_str()));
    if let Some(at) = shell.filter(|&at| entrypoint.get(at + 1).is_some_and(|flag| flag.starts_with('-') && flag.ends_with('c'))) {
        let script = entrypoint.get(at + 2).map(String::as_str).unwrap_or_default();
        let shown = entrypoint.join(" ");
        if !script.trim_start().starts_with("exec ") {
            raise(ExternalCode::ShellFormEntryPoint, "", Vars::default().set("detail", shown.as_str()));
        }
        // The script sees `train` as `$N`, N the count of arguments after it.
        let n = entrypoint.len() - (at + 3);
        let uses = |name: &str| script.contains(&format!("${name}")) || script.contains(&format!("${{{name}"));
        if !(uses(&n.to_string()) || (n >= 1 && (uses("@") || uses("*")))) {
            raise(ExternalCode::EntryPointIgnoresArgument, "", Vars::default().set("detail", shown.as_str()).set("name", format!("${n}")));
        }
    }
    if let Some(program) = config.env("SAGEMAKER_PROGRAM").filter(|p| !p.is_empty()) {
        let program = program.trim_start_matches('/');
        let (present, place) = match code {
            Some(code) => (code.has(program), format!("the source_dir {}", code.shown)),
            None => (image.files.contains_key(format!("opt/ml/code/{program}").as_bytes()), "the image's /opt/ml/code".to_string()),
        };
        if !present {
            raise(ExternalCode::ProgramMissing, "", Vars::default().set("name", program).set("detail", place));
        }
    }
}

/// The shells whose `-c SCRIPT` makes an entry point shell form.
const SHELLS: [&str; 6] = ["sh", "bash", "dash", "ash", "zsh", "busybox"];

/// `path` with the image's symlinks in its folders followed (`bin` -> `usr/bin`), as far as the
/// kept file list knows them; at most 40 links, as Linux.
fn resolve(files: &image::Files, path: &[u8]) -> Vec<u8> {
    let mut path = path.to_vec();
    for _ in 0..40 {
        let link = (1..=path.len()).filter(|&end| end == path.len() || path[end] == b'/').find_map(|end| {
            files.get(&path[..end]).filter(|node| node.kind == EntryKind::Symlink).map(|node| (end, node.link_target.clone().unwrap_or_default()))
        });
        let Some((end, target)) = link else { return path };
        let parent = &path[..end - entry::file_name(&path[..end]).len()];
        let joined = if target.starts_with(b"/") { target.clone() } else { [parent, target.as_slice()].concat() };
        path = [entry::normalize_name(&joined).name.as_slice(), &path[end..]].concat();
    }
    path
}

/// A non-root `USER` must be able to write the folders the job writes (and its WORKDIR).
fn user_can_write(image: &Image, raise: &mut impl FnMut(ExternalCode, &str, &mut Vars)) {
    let user = image.config.user.trim();
    let (name, group) = user.split_once(':').unwrap_or((user, ""));
    if name.is_empty() || name == "root" || name == "0" {
        return;
    }
    let passwd = image.files.get(&b"etc/passwd"[..]).and_then(|node| node.content.as_deref()).map(String::from_utf8_lossy).unwrap_or_default();
    let account = passwd.lines().map(|line| line.split(':').collect::<Vec<_>>()).find(|fields| fields.len() > 3 && (fields[0] == name || fields[2] == name));
    let uid = match (account.as_ref(), name.parse::<u64>()) {
        (Some(fields), _) => fields[2].parse::<u64>().unwrap_or(u64::MAX),
        (None, Ok(uid)) => uid,
        (None, Err(_)) => {
            raise(ExternalCode::UserUnknown, "/etc/passwd", Vars::default().set("name", name));
            return;
        }
    };
    if uid == 0 {
        return;
    }
    let groups = image.files.get(&b"etc/group"[..]).and_then(|node| node.content.as_deref()).map(String::from_utf8_lossy).unwrap_or_default();
    let login = account.as_ref().map_or(name, |fields| fields[0]);
    let mut gids: Vec<u64> = account.as_ref().and_then(|fields| fields[3].parse().ok()).into_iter().collect();
    gids.extend(group.parse::<u64>().ok());
    for fields in groups.lines().map(|line| line.split(':').collect::<Vec<_>>()).filter(|fields| fields.len() > 3) {
        if fields[0] == group || fields[3].split(',').any(|member| member == login) {
            gids.extend(fields[2].parse::<u64>().ok());
        }
    }
    let workdir = image.config.workdir.trim_matches('/');
    let mut folders: Vec<(String, &str)> = ["model", "output", "checkpoints"].iter().map(|folder| (format!("opt/ml/{folder}"), "")).collect();
    if !workdir.is_empty() {
        folders.push((workdir.to_string(), " (the WORKDIR)"));
    }
    for (folder, role) in folders {
        let Some(node) = image.files.get(folder.as_bytes()).filter(|node| node.kind == EntryKind::Dir) else { continue };
        let writable = (node.uid == uid && node.mode & 0o200 != 0) || (gids.contains(&node.gid) && node.mode & 0o020 != 0) || node.mode & 0o002 != 0;
        if !writable {
            let detail = format!("mode {:o}, owner {}:{}{role}", node.mode & 0o7777, node.uid, node.gid);
            raise(ExternalCode::UserCannotWrite, &format!("/{folder}"), Vars::default().set("name", format!("{user} (uid {uid})")).set("detail", detail));
        }
    }
}

/// Where the code arrives at run time when the estimator ships a `source_dir` (`--code`).
pub struct Code {
    shown: String,
    /// Its file names, relative to the source_dir's root.
    files: Vec<Vec<u8>>,
}

impl Code {
    /// Read `path`: a folder, or a `sourcedir.tar.gz` (names only).
    pub fn open(path: &Path) -> Result<Code, OpenError> {
        let shown = path.to_string_lossy().into_owned();
        let fail = |message: String| OpenError { input: format!("--code {shown}"), message };
        if path.is_dir() {
            return Ok(Code { shown, files: Vec::new() });
        }
        let scan = crate::source::archive::scan_file(path, &crate::source::ScanOptions::headers(false)).map_err(|err| fail(err.to_string()))?;
        if let Some(problem) = scan.problems.iter().find(|p| p.kind.stops_reading()) {
            return Err(fail(format!("not a readable source_dir archive: {}", problem.detail)));
        }
        Ok(Code { shown, files: scan.entries.into_iter().filter(|e| e.kind != EntryKind::Dir).map(|e| e.member().to_vec()).collect() })
    }

    fn has(&self, program: &str) -> bool {
        let root = Path::new(&self.shown);
        if root.is_dir() {
            return root.join(program).is_file();
        }
        self.files.iter().any(|file| file == program.as_bytes())
    }
}

/// `layer 3 (blobs/sha256/ab12...), `COPY model.pt /opt/ml/model/``.
fn by_whom(image: &Image, layer: usize) -> String {
    let Some(info) = image.layers.get(layer) else { return format!("layer {}", layer + 1) };
    match &info.instruction {
        Some(instruction) => format!("{}, `{instruction}`", info.describe(layer)),
        None => info.describe(layer),
    }
}

fn count_files(count: usize) -> String {
    if count == 1 {
        "1 file".to_string()
    } else {
        format!("{count} files")
    }
}
