//! The training image gate: the `sagemaker-image` pack's checks (rules/sagemaker-image.toml)
//! on an image's final file list and config, read by [`crate::source::image`]. Docs: docs/images.md.

use std::path::Path;

use crate::engine::builtin::IMAGE_PACK;
use crate::engine::eval::Vars;
use crate::engine::{ExternalCode, Ruleset};
use crate::entry::{lossy, Entry, EntryKind};
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
pub fn check(ruleset: &Ruleset, input: &Path, pick: &Pick) -> Result<Vec<(Checked, Vec<Finding>)>, OpenError> {
    let display = input.to_string_lossy().into_owned();
    let images = image::open(input, pick).map_err(|err| OpenError { input: display.clone(), message: err.to_string() })?;
    let several = images.len() > 1;
    Ok(images
        .into_iter()
        .map(|image| {
            let label = if several { format!("{display} ({})", image.name) } else { display.clone() };
            let findings = findings(ruleset, &label, &image);
            (checked(ruleset, input, label, &image), findings)
        })
        .collect())
}

/// The report's view of an image: its /opt/ml files as entries, only the image pack applied.
fn checked(ruleset: &Ruleset, input: &Path, label: String, image: &Image) -> Checked {
    let entries = image
        .files
        .iter()
        .filter_map(|(path, node)| {
            let member = path.strip_prefix(b"opt/ml/")?.to_vec();
            let mut entry = Entry::new(member.clone(), node.kind);
            entry.path = member;
            entry.size = node.size;
            entry.mode = node.mode;
            entry.link_target = node.link_target.clone();
            Some(entry)
        })
        .collect();
    let origin = Origin {
        fs_path: input.to_path_buf(),
        path_prefix: String::new(),
        role: Role::OptMl,
        compression: None,
        uncompressed_bytes: 0,
        problems: Vec::new(),
        object: None,
    };
    let mut flavour = format!("image {}, {} layer(s)", image.name, image.layers.len());
    if let Some(note) = &image.note {
        flavour.push_str(&format!("; {note}"));
    }
    let placed = Placed { origins: vec![Placement { flavour, prefix: Vec::new(), covers: Vec::new() }], covered: vec![false; ruleset.layout.zones.len()] };
    let packs: Vec<bool> = ruleset.packs.iter().map(|pack| pack.name == IMAGE_PACK).collect();
    let rules = ruleset.rules.iter().zip(&ruleset.enabled).map(|(rule, &enabled)| enabled && packs[rule.pack]).collect();
    let subject = Subject { input: label, kind: InputKind::Image, origins: vec![origin], entries };
    Checked { subject, placed, packs, rules, detection: None, plan: Vec::new() }
}

fn findings(ruleset: &Ruleset, input: &str, image: &Image) -> Vec<Finding> {
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
    let code = files("opt/ml/code").count();
    if code > 0 {
        raise(ExternalCode::CodeBaked, "/opt/ml/code", Vars::default().set("detail", format!("the image bakes {}", count_files(code))));
    }
    entry_point(image, &mut raise);
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
fn entry_point(image: &Image, raise: &mut impl FnMut(ExternalCode, &str, &mut Vars)) {
    let config = &image.config;
    let entrypoint = config.entrypoint.as_deref().unwrap_or_default();
    match entrypoint {
        [] => {
            let found = config.path_dirs().iter().any(|dir| {
                let path = [dir.as_slice(), b"/train"].concat();
                image.files.get(&path).is_some_and(|node| node.kind == EntryKind::Symlink || (node.kind != EntryKind::Dir && node.mode & 0o111 != 0))
            });
            if !found {
                let path = config.env("PATH").map_or_else(|| "PATH is Docker's default".to_string(), |path| format!("PATH={path}"));
                raise(ExternalCode::TrainNotFound, "", Vars::default().set("detail", path));
            }
        }
        [shell, flag, ..] if matches!(shell.as_str(), "/bin/sh" | "sh" | "/bin/bash" | "bash") && flag == "-c" => {
            raise(ExternalCode::ShellFormEntryPoint, "", Vars::default().set("detail", entrypoint.join(" ")));
        }
        _ => {}
    }
    if let Some(program) = config.env("SAGEMAKER_PROGRAM").filter(|p| !p.is_empty()) {
        let path = format!("opt/ml/code/{}", program.trim_start_matches('/'));
        if !image.files.contains_key(path.as_bytes()) {
            raise(ExternalCode::ProgramMissing, "", Vars::default().set("name", program));
        }
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
