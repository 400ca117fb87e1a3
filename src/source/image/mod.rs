//! Container images as inputs: `docker save` / `podman save` tarballs (docker-archive:
//! `manifest.json` plus layer tars) and OCI image layouts (`index.json`, `oci-layout`,
//! `blobs/sha256/...`), tarred or as a folder. Layers are applied in order in memory, keeping
//! only the paths the image checks read, so memory follows what is kept, not the image's size.
//! Formats: https://github.com/moby/moby/blob/master/image/spec/v1.2.md and
//! https://github.com/opencontainers/image-spec (image-layout.md, layer.md for whiteouts).

mod layer;
mod store;

use std::path::Path;

use serde_json::Value;

use crate::entry::file_name;
use crate::source::limits::Limits;
use layer::{Expected, LayerError};
pub use layer::{Files, Node};
use store::Store;

/// What the user picked when an input holds several images.
#[derive(Clone, Debug, Default)]
pub struct Pick {
    /// `os/arch[/variant]` of an OCI index entry.
    pub platform: Option<String>,
    /// `name:tag` of a docker-archive entry (or an OCI `ref.name` annotation).
    pub image: Option<String>,
    /// Bounds on each layer, as on any archive (docs/security.md).
    pub limits: Limits,
    /// Hash the files under /opt/ml (for a snapshot that records sha256).
    pub digest: bool,
}

/// What an image is made of and how it starts.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub env: Vec<(String, String)>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub workdir: String,
    pub user: String,
}

impl Config {
    pub fn env(&self, name: &str) -> Option<&str> {
        self.env.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The folders of the image's PATH (without the leading `/`).
    pub fn path_dirs(&self) -> Vec<Vec<u8>> {
        // Docker's default when the config sets none.
        let path = self.env("PATH").unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':').map(|dir| dir.trim_matches('/').as_bytes().to_vec()).filter(|dir| !dir.is_empty()).collect()
    }
}

/// One layer of an image.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The blob's name in the archive or layout.
    pub blob: String,
    /// The build step that made it (`COPY model.pt /opt/ml/model/`), from the config's history.
    pub instruction: Option<String>,
}

impl Layer {
    /// `layer 3 (blobs/sha256/ab12...)`, 1-based as `docker history` users count.
    pub fn describe(&self, index: usize) -> String {
        format!("layer {} ({})", index + 1, self.blob)
    }
}

/// Why part of an image could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// A missing blob, an unparsable manifest, index or config, a layer that is not a tar.
    Broken,
    /// A blob whose bytes do not hash to its digest.
    DigestMismatch,
    /// A layer compressed with something other than gzip.
    UnsupportedCompression,
}

#[derive(Clone, Debug)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The part named: a blob or `manifest.json`; empty for the image as a whole.
    pub part: String,
    pub detail: String,
}

/// One image of an input, read.
#[derive(Debug, Default)]
pub struct Image {
    /// `name:tag` when the archive names it, else the manifest's or config's name.
    pub name: String,
    pub config: Config,
    pub layers: Vec<Layer>,
    /// The final file list, limited to the paths [`keeps`] accepts.
    pub files: Files,
    pub problems: Vec<Problem>,
    /// What was picked among several, and from what (`linux/amd64 of linux/amd64, linux/arm64`).
    pub note: Option<String>,
}

impl Image {
    /// The files below `folder` (no leading `/`) as entries named relative to it: what the
    /// report lists and a snapshot records. A hard link is the file it names.
    pub fn entries_under(&self, folder: &[u8]) -> Vec<crate::entry::Entry> {
        let prefix = [folder, b"/"].concat();
        self.files
            .range(prefix.clone()..)
            .take_while(|(path, _)| path.starts_with(&prefix))
            .map(|(path, node)| {
                let member = path[prefix.len()..].to_vec();
                let kind = if node.kind == crate::entry::EntryKind::Hardlink { crate::entry::EntryKind::File } else { node.kind };
                let mut entry = crate::entry::Entry::new(member, kind);
                entry.size = node.size;
                entry.mode = node.mode;
                entry.set_digest(node.digest);
                entry.set_link_target(if kind == crate::entry::EntryKind::Symlink { node.link_target.clone() } else { None });
                entry
            })
            .collect()
    }

    /// What went wrong reading it, as one sentence per problem.
    pub fn problem_text(&self) -> Option<String> {
        (!self.problems.is_empty()).then(|| self.problems.iter().map(|p| p.detail.as_str()).collect::<Vec<_>>().join("; "))
    }
}

/// Whether `path` is an image: an OCI layout or docker-archive folder, or an uncompressed tar
/// holding `manifest.json` or `oci-layout` at its root.
pub fn sniff(path: &Path) -> bool {
    if path.is_dir() {
        return path.join("oci-layout").is_file() || (path.join("manifest.json").is_file() && !path.join("model").exists());
    }
    let mut head = [0u8; 512];
    let plain_tar = crate::open::regular(path)
        .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut head))
        .is_ok_and(|_| crate::source::Compression::sniff(&head) == crate::source::Compression::None && &head[257..262] == b"ustar");
    plain_tar && store::tar_has_member(path, &["manifest.json", "oci-layout"])
}

/// Read every image of `path` (or the one `pick` names). `Err` only when the file cannot be
/// opened at all; a damaged image is an image with problems.
pub fn open(path: &Path, pick: &Pick) -> Result<Vec<Image>, std::io::Error> {
    let store = if path.is_dir() {
        Store::Folder(path.to_path_buf())
    } else {
        crate::open::regular(path)?;
        match Store::tar(path) {
            Ok(store) => store,
            Err(err) => return Ok(vec![broken("", format!("the image tarball cannot be read: {err}"))]),
        }
    };
    let manifests = if store.has("index.json") { oci_manifests(&store, pick) } else { docker_manifests(&store, pick) };
    Ok(match manifests {
        Ok(manifests) if manifests.is_empty() => vec![broken("", "the image archive lists no image".to_string())],
        Ok(manifests) => manifests.into_iter().map(|manifest| read_image(&store, manifest, pick)).collect(),
        Err(problem) => vec![Image { problems: vec![problem], ..Image::default() }],
    })
}

fn broken(part: &str, detail: String) -> Image {
    Image { problems: vec![Problem { kind: ProblemKind::Broken, part: part.to_string(), detail }], ..Image::default() }
}

/// One image to read: where its config and layers are, with the digests they must have.
struct Manifest {
    name: String,
    config: String,
    /// Blob name and, for OCI, its descriptor digest and media type.
    layers: Vec<(String, Option<String>, String)>,
    note: Option<String>,
}

fn bad(part: &str, detail: impl Into<String>) -> Problem {
    Problem { kind: ProblemKind::Broken, part: part.to_string(), detail: detail.into() }
}

/// `blobs/sha256/HEX` for `sha256:HEX`; other algorithms are not read.
fn blob_name(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| format!("blobs/sha256/{hex}"))
}

fn docker_manifests(store: &Store, pick: &Pick) -> Result<Vec<Manifest>, Problem> {
    let doc = store.json("manifest.json").map_err(|detail| bad("manifest.json", detail))?;
    let entries = doc.as_array().ok_or_else(|| bad("manifest.json", "manifest.json is not a JSON array of images"))?;
    let mut manifests = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let field = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_string);
        let config = field("Config").ok_or_else(|| bad("manifest.json", format!("image {} in manifest.json has no \"Config\"", index + 1)))?;
        let layers = entry
            .get("Layers")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("manifest.json", format!("image {} in manifest.json has no \"Layers\" list", index + 1)))?;
        let layers = layers
            .iter()
            .map(|layer| layer.as_str().map(|name| (name.to_string(), None, String::new())))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("manifest.json", format!("image {} in manifest.json lists a layer that is not a file name", index + 1)))?;
        let tags: Vec<String> = entry.get("RepoTags").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
        if pick.image.as_ref().is_some_and(|wanted| !tags.contains(wanted)) {
            continue;
        }
        let name = tags.first().cloned().unwrap_or_else(|| config.clone());
        manifests.push(Manifest { name, config, layers, note: None });
    }
    if manifests.is_empty() {
        if let Some(wanted) = &pick.image {
            return Err(bad("manifest.json", format!("no image in manifest.json is tagged {wanted}")));
        }
    }
    Ok(manifests)
}

const INDEX_TYPES: [&str; 2] = ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];

fn oci_manifests(store: &Store, pick: &Pick) -> Result<Vec<Manifest>, Problem> {
    let index = store.json("index.json").map_err(|detail| bad("index.json", detail))?;
    let mut found = Vec::new();
    collect_manifests(store, "index.json", &index, pick, &mut found, 0)?;
    if found.is_empty() {
        return Err(bad("index.json", "index.json lists no image manifest"));
    }
    // The manifests of one multi-platform image, or several tagged images.
    let platforms: Vec<String> = found.iter().filter_map(|(_, platform, _)| platform.clone()).collect();
    let chosen: Vec<(String, Option<String>, String)> = match &pick.platform {
        Some(wanted) => {
            let chosen: Vec<_> = found.into_iter().filter(|(_, platform, _)| platform.as_deref() == Some(wanted.as_str())).collect();
            if chosen.is_empty() {
                return Err(bad("index.json", format!("no manifest for platform {wanted}; the index has {}", platforms.join(", "))));
            }
            chosen
        }
        None if platforms.len() > 1 => {
            let first = found.iter().position(|(_, p, _)| p.as_deref() == Some("linux/amd64")).unwrap_or(0);
            vec![found.swap_remove(first)]
        }
        None => found,
    };
    let note = (platforms.len() > 1)
        .then(|| format!("picked {} of the index's platforms {} (choose with --platform)", chosen[0].1.as_deref().unwrap_or("?"), platforms.join(", ")));
    chosen
        .into_iter()
        .map(|(digest, platform, name)| {
            let part = blob_name(&digest).ok_or_else(|| bad("index.json", format!("manifest digest {digest} is not sha256:HEX")))?;
            let doc = store.json(&part).map_err(|detail| bad(&part, detail))?;
            let config = doc
                .pointer("/config/digest")
                .and_then(Value::as_str)
                .and_then(blob_name)
                .ok_or_else(|| bad(&part, format!("manifest {part} names no sha256 config")))?;
            let layers = doc.get("layers").and_then(Value::as_array).ok_or_else(|| bad(&part, format!("manifest {part} has no \"layers\" list")))?;
            let layers = layers
                .iter()
                .map(|layer| {
                    let digest = layer.get("digest").and_then(Value::as_str)?;
                    let media = layer.get("mediaType").and_then(Value::as_str).unwrap_or_default();
                    Some((blob_name(digest)?, Some(digest.trim_start_matches("sha256:").to_string()), media.to_string()))
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad(&part, format!("manifest {part} lists a layer without a sha256 digest")))?;
            let name = if name.is_empty() { platform.clone().unwrap_or(digest) } else { name };
            Ok(Manifest { name, config, layers, note: note.clone() })
        })
        .collect()
}

/// Image manifests of an index, nested indexes followed: (digest, `os/arch[/variant]`, ref name).
fn collect_manifests(
    store: &Store,
    part: &str,
    index: &Value,
    pick: &Pick,
    found: &mut Vec<(String, Option<String>, String)>,
    depth: u32,
) -> Result<(), Problem> {
    let entries = index.get("manifests").and_then(Value::as_array).ok_or_else(|| bad(part, format!("{part} has no \"manifests\" list")))?;
    for entry in entries {
        let digest = entry.get("digest").and_then(Value::as_str).ok_or_else(|| bad(part, format!("{part} lists a manifest without a digest")))?;
        let name = entry.pointer("/annotations/org.opencontainers.image.ref.name").and_then(Value::as_str).unwrap_or_default();
        if pick.image.as_ref().is_some_and(|wanted| depth == 0 && !wanted.ends_with(name)) {
            continue;
        }
        let media = entry.get("mediaType").and_then(Value::as_str).unwrap_or_default();
        if INDEX_TYPES.contains(&media) && depth < 4 {
            let nested = blob_name(digest).ok_or_else(|| bad(part, format!("index digest {digest} is not sha256:HEX")))?;
            let doc = store.json(&nested).map_err(|detail| bad(&nested, detail))?;
            collect_manifests(store, &nested, &doc, pick, found, depth + 1)?;
            continue;
        }
        let platform = entry.get("platform").map(|p| {
            let field = |name: &str| p.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
            let variant = field("variant");
            if variant.is_empty() {
                format!("{}/{}", field("os"), field("architecture"))
            } else {
                format!("{}/{}/{variant}", field("os"), field("architecture"))
            }
        });
        // BuildKit's attestation manifests are `unknown/unknown`: not images to run.
        if platform.as_deref() == Some("unknown/unknown") {
            continue;
        }
        found.push((digest.to_string(), platform, name.to_string()));
    }
    Ok(())
}

fn read_image(store: &Store, manifest: Manifest, pick: &Pick) -> Image {
    let limits = pick.limits;
    let mut image = Image { name: manifest.name, note: manifest.note, ..Image::default() };
    let config = match store.json(&manifest.config) {
        Ok(config) => config,
        Err(detail) => {
            image.problems.push(bad(&manifest.config, detail));
            return image;
        }
    };
    image.config = parse_config(&config);
    let diff_ids: Vec<Option<String>> = config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().map(|id| id.as_str().and_then(|id| id.strip_prefix("sha256:")).map(str::to_string)).collect())
        .unwrap_or_default();
    // History entries that made a layer, in order (`empty_layer` ones set config only).
    let instructions: Vec<String> = config
        .get("history")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|step| !step.get("empty_layer").and_then(Value::as_bool).unwrap_or(false))
        .map(|step| instruction(step.get("created_by").and_then(Value::as_str).unwrap_or_default()))
        .collect();
    let mut plan = Vec::new();
    for (index, (blob, descriptor, media)) in manifest.layers.into_iter().enumerate() {
        // `docker save` names layers by their digest since Docker 25.
        let blob_digest = descriptor.or_else(|| blob.strip_prefix("blobs/sha256/").map(str::to_string));
        let diff_id = diff_ids.get(index).cloned().flatten();
        plan.push(Planned { zstd: media.contains("zstd").then_some(media), blob_digest, diff_id });
        image.layers.push(Layer { instruction: instructions.get(index).filter(|i| !i.is_empty()).cloned(), blob });
    }
    let kept = Kept { path_dirs: image.config.path_dirs(), digest: pick.digest };
    let every: Vec<usize> = (0..image.layers.len()).collect();
    let (files, problems, touched) = apply_layers(store, &image.layers, &plan, &every, &kept, limits);
    image.files = files;
    image.problems = problems;
    // A symlinked /opt/ml (`/opt/ml -> /srv/ml`): its target is only known now, so the layers
    // that wrote anything near it (the same two top folders) are read once more, keeping the
    // target, and its files are checked as /opt/ml. Other layers are not read again.
    if let Some(target) = symlinked_opt_ml(&image.files) {
        let near = layer::top(&target).to_vec();
        let again: Vec<usize> = touched
            .iter()
            .enumerate()
            .filter(|(_, tops)| tops.iter().any(|top| top.is_empty() || near == *top || near.starts_with(&[top.as_slice(), b"/"].concat())))
            .map(|(index, _)| index)
            .collect();
        let (files, _, _) = apply_layers(store, &image.layers, &plan, &again, &Under(&target, kept.digest), limits);
        image.files.remove(&b"opt/ml"[..]);
        for (path, node) in files {
            image.files.insert([&b"opt/ml"[..], &path[target.len()..]].concat(), node);
        }
        let note = format!("/opt/ml is a symlink to /{}, checked there", String::from_utf8_lossy(&target));
        image.note = Some(image.note.take().map_or(note.clone(), |other| format!("{other}; {note}")));
    }
    image
}

/// What a layer's blob must be: its digests, and the media type when it is zstd.
struct Planned {
    zstd: Option<String>,
    blob_digest: Option<String>,
    diff_id: Option<String>,
}

/// Apply the layers `which` (indices, in order), keeping the paths `keep` accepts; problems
/// name the layer. Also returns, per layer, the top folders it wrote below.
fn apply_layers(
    store: &Store,
    layers: &[Layer],
    plan: &[Planned],
    which: &[usize],
    keep: &dyn layer::Keep,
    limits: Limits,
) -> (Files, Vec<Problem>, Vec<layer::Touched>) {
    let mut files = Files::new();
    let mut problems = Vec::new();
    let mut touched = vec![layer::Touched::new(); layers.len()];
    for &index in which {
        let (layer, planned) = (&layers[index], &plan[index]);
        let name = layer.describe(index);
        let part = layer.blob.clone();
        if let Some(media) = &planned.zstd {
            let detail = format!("{name} is zstd-compressed ({media}); optml reads only gzip and uncompressed layers");
            problems.push(Problem { kind: ProblemKind::UnsupportedCompression, part, detail });
            continue;
        }
        let expected = Expected { blob: planned.blob_digest.as_deref(), diff_id: planned.diff_id.as_deref() };
        let blob = match store.open(&part) {
            Ok(Some(blob)) => blob,
            Ok(None) => {
                problems.push(bad(&part, format!("{name} is missing from the image archive")));
                continue;
            }
            Err(err) => {
                problems.push(bad(&part, format!("{name} cannot be read: {err}")));
                continue;
            }
        };
        match layer::apply(blob, index, &expected, keep, limits, &mut files) {
            Ok(tops) => touched[index] = tops,
            Err(error) => {
                let (kind, detail) = match error {
                    LayerError::Broken(detail) => (ProblemKind::Broken, detail),
                    LayerError::Unsupported(detail) => (ProblemKind::UnsupportedCompression, detail),
                    LayerError::Mismatch(detail) => (ProblemKind::DigestMismatch, detail),
                };
                problems.push(Problem { kind, part, detail: format!("{name} {detail}") });
            }
        }
    }
    (files, problems, touched)
}

/// The image path (no leading `/`) that a symlinked /opt/ml points to, resolved against /opt
/// when relative; `None` when /opt/ml is not a symlink or points outside the image's tree.
fn symlinked_opt_ml(files: &Files) -> Option<Vec<u8>> {
    let node = files.get(&b"opt/ml"[..]).filter(|node| node.kind == crate::entry::EntryKind::Symlink)?;
    let target = node.link_target.as_deref()?;
    let joined = if target.starts_with(b"/") { target.to_vec() } else { [&b"opt/"[..], target].concat() };
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in joined.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    let resolved = parts.join(&b'/');
    (!resolved.is_empty() && resolved != b"opt/ml").then_some(resolved)
}

fn parse_config(doc: &Value) -> Config {
    let config = doc.get("config").or_else(|| doc.get("container_config")).cloned().unwrap_or(Value::Null);
    let strings =
        |name: &str| config.get(name).and_then(Value::as_array).map(|list| list.iter().filter_map(Value::as_str).map(str::to_string).collect::<Vec<_>>());
    let text = |name: &str| config.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    let env = strings("Env")
        .unwrap_or_default()
        .into_iter()
        .map(|pair| pair.split_once('=').map_or((pair.clone(), String::new()), |(k, v)| (k.to_string(), v.to_string())))
        .collect();
    Config { env, entrypoint: strings("Entrypoint"), cmd: strings("Cmd"), workdir: text("WorkingDir"), user: text("User") }
}

/// The Dockerfile instruction of a history step: the classic builder writes
/// `/bin/sh -c #(nop) COPY file:ab12 in /opt/ml/model/`, BuildKit `COPY x /y # buildkit`.
fn instruction(created_by: &str) -> String {
    let text = created_by.trim();
    let text = text
        .strip_prefix("/bin/sh -c #(nop) ")
        .map_or_else(|| text.strip_prefix("/bin/sh -c ").map_or(text.to_string(), |run| format!("RUN {run}")), |nop| nop.trim().to_string());
    text.strip_suffix(" # buildkit").unwrap_or(&text).trim().to_string()
}

/// Files named like credentials: found anywhere under /root, /home or /opt/ml.
pub fn is_credential(path: &[u8]) -> bool {
    let name = file_name(path);
    let parent = &path[..path.len() - name.len()];
    name == b".netrc"
        || name == b"_netrc"
        || name.starts_with(b"id_rsa")
        || name.starts_with(b"id_ed25519")
        || name.starts_with(b"id_ecdsa")
        || (name.ends_with(b".pem") && !parent.ends_with(b"certs/"))
        || (name == b"credentials" && (parent.ends_with(b".aws/") || parent.ends_with(b".docker/")))
        || (name == b"config.json" && parent.ends_with(b".docker/"))
}

/// The paths image checks read: /opt/ml, each PATH folder and its parents (any may be a
/// symlink), every `train`, credentials under /root and /home, and the user and group files.
struct Kept {
    path_dirs: Vec<Vec<u8>>,
    digest: bool,
}

/// `/etc/passwd` and `/etc/group`: how `USER name` resolves to a uid and its groups.
const ACCOUNTS: [&[u8]; 2] = [b"etc/passwd", b"etc/group"];

fn under(path: &[u8], prefix: &[u8]) -> bool {
    path == prefix || (path.starts_with(prefix) && path.get(prefix.len()) == Some(&b'/'))
}

impl layer::Keep for Kept {
    fn keeps(&self, path: &[u8]) -> bool {
        under(path, b"opt/ml")
            || path == b"opt"
            || file_name(path) == b"train"
            || self.path_dirs.iter().any(|dir| under(dir, path))
            || ((under(path, b"root") || under(path, b"home")) && is_credential(path))
            || ACCOUNTS.contains(&path)
    }
    fn content(&self, path: &[u8]) -> bool {
        ACCOUNTS.contains(&path)
    }
    fn digest(&self, path: &[u8]) -> bool {
        self.digest && under(path, b"opt/ml")
    }
}

/// Everything below one folder (a symlinked /opt/ml's target).
/// Everything below one folder (a symlinked /opt/ml's target), hashed when `.1`.
struct Under<'a>(&'a [u8], bool);

impl layer::Keep for Under<'_> {
    fn keeps(&self, path: &[u8]) -> bool {
        under(path, self.0)
    }
    fn content(&self, _: &[u8]) -> bool {
        false
    }
    fn digest(&self, _: &[u8]) -> bool {
        self.1
    }
}
