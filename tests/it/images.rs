//! The training image gate: image tarballs and OCI layouts built here (docker-archive and OCI,
//! tarred and as folders), each rule of rules/sagemaker-image.toml on its failing and passing
//! side, whiteouts, digests and broken images. A real `docker save` runs where a runtime exists.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::*;

/// One layer to build: its members, whether the blob is gzip, and its history line.
struct Layer<'a> {
    members: Vec<Member<'a>>,
    gzip: bool,
    created_by: &'a str,
}

fn layer<'a>(created_by: &'a str, members: Vec<Member<'a>>) -> Layer<'a> {
    Layer { members, gzip: false, created_by }
}

fn gz(layer: Layer) -> Layer {
    Layer { gzip: true, ..layer }
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The image config: `config` is its `config` section (Env, Entrypoint, Cmd...).
fn config_json(layers: &[(Vec<u8>, Vec<u8>, &Layer)], config: &Value) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|(tar, _, _)| format!("sha256:{}", sha(tar))).collect();
    let history: Vec<Value> = layers.iter().map(|(_, _, layer)| json!({"created_by": layer.created_by})).collect();
    serde_json::to_vec(
        &json!({"architecture": "amd64", "os": "linux", "config": config, "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history}),
    )
    .expect("config")
}

/// (uncompressed tar, blob as stored, layer) for each layer.
fn blobs<'a>(layers: &'a [Layer<'a>]) -> Vec<(Vec<u8>, Vec<u8>, &'a Layer<'a>)> {
    layers
        .iter()
        .map(|layer| {
            let tar = tar_bytes(&layer.members);
            let blob = if layer.gzip { gzip(&tar) } else { tar.clone() };
            (tar, blob, layer)
        })
        .collect()
}

/// Write `files` as an uncompressed tar (the outer archive of an image).
fn outer_tar(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_path(name).expect("path");
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data.as_slice()).expect("append");
    }
    fs::write(path, builder.into_inner().expect("tar")).expect("write image");
}

/// The files of a `docker save` archive (manifest.json last, as docker writes it).
fn docker_files(layers: &[Layer], config: &Value) -> Vec<(String, Vec<u8>)> {
    let built = blobs(layers);
    let config = config_json(&built, config);
    let config_name = format!("{}.json", sha(&config));
    let mut files = vec![(config_name.clone(), config)];
    let mut names = Vec::new();
    for (tar, blob, _) in &built {
        let name = format!("{}/layer.tar", sha(tar));
        names.push(name.clone());
        files.push((name, blob.clone()));
    }
    let manifest = json!([{"Config": config_name, "RepoTags": ["trainer:latest"], "Layers": names}]);
    files.push(("manifest.json".to_string(), serde_json::to_vec(&manifest).expect("manifest")));
    files
}

fn docker_archive(dir: &TestDir, layers: &[Layer], config: &Value) -> PathBuf {
    let path = dir.join("image.tar");
    outer_tar(&path, &docker_files(layers, config));
    path
}

/// The files of an OCI layout holding one manifest per `(platform, layers)`, under one index.
fn oci_files(images: &[(&str, &[Layer])], config: &Value) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![("oci-layout".to_string(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec())];
    let mut manifests = Vec::new();
    for (platform, layers) in images {
        let built = blobs(layers);
        let config = config_json(&built, config);
        let mut descriptors = Vec::new();
        for (_, blob, layer) in &built {
            let media = if layer.gzip { "application/vnd.oci.image.layer.v1.tar+gzip" } else { "application/vnd.oci.image.layer.v1.tar" };
            descriptors.push(json!({"mediaType": media, "digest": format!("sha256:{}", sha(blob)), "size": blob.len()}));
            files.push((format!("blobs/sha256/{}", sha(blob)), blob.clone()));
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", sha(&config)), "size": config.len()},
            "layers": descriptors,
        }))
        .expect("manifest");
        let (os, arch) = platform.split_once('/').expect("os/arch");
        manifests.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", sha(&manifest)), "size": manifest.len(), "platform": {"os": os, "architecture": arch}}));
        files.push((format!("blobs/sha256/{}", sha(&config)), config));
        files.push((format!("blobs/sha256/{}", sha(&manifest)), manifest));
    }
    files.push(("index.json".to_string(), serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": manifests})).expect("index")));
    files
}

fn write_folder(root: &Path, files: &[(String, Vec<u8>)]) {
    for (name, data) in files {
        let path = root.join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, data).expect("write");
    }
}

/// A well-formed script-mode training image: the toolkit's `train` on PATH and the script it runs.
fn good_layers<'a>() -> Vec<Layer<'a>> {
    vec![
        layer("/bin/sh -c pip install sagemaker-training", vec![Member::Dir("usr/local/bin/"), Member::Mode("usr/local/bin/train", 0o755)]),
        layer("COPY train.py /opt/ml/code/ # buildkit", vec![Member::Dir("opt/ml/code/"), Member::File("opt/ml/code/train.py", b"print('hi')\n")]),
    ]
}

fn good_config() -> Value {
    json!({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SAGEMAKER_PROGRAM=train.py"]})
}

fn check(image: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args: Vec<&std::ffi::OsStr> = extra.iter().map(|a| a.as_ref()).collect();
    args.push(image.as_os_str());
    check_json(&args)
}

fn messages(doc: &Value, code: &str) -> Vec<String> {
    doc["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["rule"] == code)
        .map(|d| d["message"].as_str().expect("message").to_string())
        .collect()
}

#[test]
fn a_good_training_image_passes_with_a_note_about_baked_code() {
    let dir = TestDir::new();
    let (code, doc) = check(&docker_archive(&dir, &good_layers(), &good_config()), &[]);
    assert_eq!(codes(&doc), ["IMG102"], "{doc:#}");
    assert_eq!(code, 0);
    assert_eq!(doc["inputs"][0]["kind"], "image");
    assert_eq!(doc["inputs"][0]["packs"], json!(["sagemaker-image"]));
}

#[test]
fn files_under_mounted_folders_name_their_layer_and_instruction() {
    let dir = TestDir::new();
    let mut layers = good_layers();
    layers.push(layer(
        "/bin/sh -c #(nop) COPY dir:ab12 in /opt/ml/model/",
        vec![Member::Dir("opt/ml/model/"), Member::File("opt/ml/model/model.pt", b"w"), Member::File("opt/ml/model/extra.pt", b"w")],
    ));
    layers.push(gz(layer("COPY ckpt /opt/ml/checkpoints/ # buildkit", vec![Member::File("opt/ml/checkpoints/step-1.pt", b"c")])));
    let (code, doc) = check(&docker_archive(&dir, &layers, &good_config()), &[]);
    assert_eq!(code, 1, "{doc:#}");
    let baked = messages(&doc, "IMG101");
    assert_eq!(baked.len(), 2, "one finding per layer and folder: {baked:?}");
    let model = baked.iter().find(|m| m.starts_with("/opt/ml/model holds")).expect("model finding");
    assert!(model.contains("2 files from layer 3") && model.contains("`COPY dir:ab12 in /opt/ml/model/`"), "{model}");
    let checkpoints = baked.iter().find(|m| m.starts_with("/opt/ml/checkpoints holds")).expect("checkpoints finding");
    assert!(checkpoints.contains("1 file from layer 4") && checkpoints.contains("`COPY ckpt /opt/ml/checkpoints/`"), "{checkpoints}");
}

#[test]
fn whiteouts_and_opaque_folders_remove_what_lower_layers_baked() {
    let dir = TestDir::new();
    let mut layers = good_layers();
    layers.push(gz(layer(
        "COPY . /opt/ml/",
        vec![Member::File("opt/ml/model/old.pt", b"w"), Member::File("opt/ml/output/data/x", b"x"), Member::File("opt/ml/input/config/a.json", b"{}")],
    )));
    layers.push(layer(
        "RUN rm -rf /opt/ml/model/old.pt /opt/ml/output/* /opt/ml/input",
        vec![
            Member::File("opt/ml/model/.wh.old.pt", b""),
            Member::Dir("opt/ml/output/"),
            Member::File("opt/ml/output/.wh..wh..opq", b""),
            Member::File("opt/ml/.wh.input", b""),
        ],
    ));
    let (code, doc) = check(&docker_archive(&dir, &layers, &good_config()), &[]);
    assert_eq!(codes(&doc), ["IMG102"], "{doc:#}");
    assert_eq!(code, 0);
    // The opaque folder hides only lower layers: a file its own layer adds stays.
    layers.push(layer(
        "COPY x /opt/ml/output/",
        vec![Member::Dir("opt/ml/output/"), Member::File("opt/ml/output/.wh..wh..opq", b""), Member::File("opt/ml/output/new", b"n")],
    ));
    let (_, doc) = check(&docker_archive(&dir, &layers, &good_config()), &[]);
    assert_eq!(paths_for(&doc, "IMG101"), ["/opt/ml/output/new"], "{doc:#}");
}

#[test]
fn a_layer_that_does_not_match_its_digest_is_named() {
    let dir = TestDir::new();
    let mut files = docker_files(&good_layers(), &good_config());
    let (name, blob) = &mut files[2];
    let name = name.clone();
    // Same size, one byte of file data changed: still a valid tar.
    let at = blob.windows(2).position(|w| w == b"hi").expect("the script");
    blob[at] = b'H';
    outer_tar(&dir.join("image.tar"), &files);
    let (code, doc) = check(&dir.join("image.tar"), &[]);
    assert_eq!(code, 1);
    assert_eq!(paths_for(&doc, "IMG902"), [name.as_str()], "{doc:#}");
    assert!(messages(&doc, "IMG902")[0].contains("layer 2"), "{doc:#}");
}

#[test]
fn broken_images_are_errors_naming_the_part() {
    let dir = TestDir::new();
    let files = docker_files(&good_layers(), &good_config());
    // A layer blob left out.
    let without: Vec<_> =
        files.iter().filter(|(name, _)| !name.ends_with("layer.tar") || files.iter().position(|f| &f.0 == name) != Some(1)).cloned().collect();
    outer_tar(&dir.join("missing.tar"), &without);
    let (code, doc) = check(&dir.join("missing.tar"), &[]);
    assert_eq!((code, codes(&doc)), (1, vec!["IMG102".to_string(), "IMG201".to_string(), "IMG901".to_string()]), "{doc:#}");
    assert!(messages(&doc, "IMG901")[0].contains("layer 1") && messages(&doc, "IMG901")[0].contains("missing"), "{doc:#}");
    // manifest.json that is not JSON.
    let mut bad = files.clone();
    bad.last_mut().expect("manifest").1 = b"{not json".to_vec();
    outer_tar(&dir.join("bad.tar"), &bad);
    let (code, doc) = check(&dir.join("bad.tar"), &[]);
    assert_eq!((code, paths_for(&doc, "IMG901")), (1, vec!["manifest.json".to_string()]), "{doc:#}");
    // A layer that is not a tar (and so does not match its diff_id either: reported once).
    let mut garbage = files.clone();
    garbage[1].1 = b"this is not a tar archive at all".repeat(40);
    outer_tar(&dir.join("garbage.tar"), &garbage);
    let (code, doc) = check(&dir.join("garbage.tar"), &[]);
    assert_eq!(code, 1);
    assert!(messages(&doc, "IMG901").iter().any(|m| m.contains("layer 1") && m.contains("not a readable tar")), "{doc:#}");
    // A file that is no image at all, forced with --as image.
    let model = tar_gz(&dir, "model.tar.gz", &[Member::File("model.pt", b"w")]);
    let (code, doc) = check(&model, &["--as", "image"]);
    assert_eq!((code, codes(&doc)), (1, vec!["IMG901".to_string()]), "{doc:#}");
}

#[test]
fn the_entry_point_must_accept_train() {
    let dir = TestDir::new();
    let code_only = vec![layer("COPY train.py /opt/ml/code/", vec![Member::File("opt/ml/code/train.py", b"x")])];
    // No ENTRYPOINT and no `train` on PATH.
    let (code, doc) = check(&docker_archive(&dir, &code_only, &good_config()), &[]);
    assert_eq!((code, codes(&doc)), (1, vec!["IMG102".to_string(), "IMG201".to_string()]), "{doc:#}");
    // A `train` that is not executable does not count.
    let not_exec = vec![layer("COPY train /usr/local/bin/", vec![Member::File("usr/local/bin/train", b"#!/bin/sh\n")])];
    let (_, doc) = check(&docker_archive(&dir, &not_exec, &json!({})), &[]);
    assert_eq!(codes(&doc), ["IMG201"], "{doc:#}");
    // An exec-form ENTRYPOINT gets `train` as its argument.
    let exec = json!({"Entrypoint": ["python", "/opt/program/train.py"]});
    let (code, doc) = check(&docker_archive(&dir, &code_only, &exec), &[]);
    assert_eq!((code, codes(&doc)), (0, vec!["IMG102".to_string()]), "{doc:#}");
    // A shell-form one drops it, and keeps SIGTERM from the script.
    let shell = json!({"Entrypoint": ["/bin/sh", "-c", "python /opt/program/train.py"]});
    let (code, doc) = check(&docker_archive(&dir, &code_only, &shell), &[]);
    assert_eq!((code, codes(&doc)), (0, vec!["IMG102".to_string(), "IMG203".to_string(), "IMG401".to_string()]), "{doc:#}");
}

#[test]
fn sagemaker_program_must_name_a_baked_script() {
    let dir = TestDir::new();
    let config = json!({"Env": ["SAGEMAKER_PROGRAM=missing.py"]});
    let (code, doc) = check(&docker_archive(&dir, &good_layers(), &config), &[]);
    assert_eq!(code, 1);
    assert_eq!(codes(&doc), ["IMG102", "IMG202"], "{doc:#}");
    assert!(messages(&doc, "IMG202")[0].contains("missing.py"));
}

#[test]
fn credentials_are_reported_by_path_only() {
    let dir = TestDir::new();
    let secret = b"aws_secret_access_key = TOPSECRETVALUE";
    let mut layers = good_layers();
    layers.push(layer(
        "COPY credentials /root/.aws/",
        vec![
            Member::File("root/.aws/credentials", secret),
            Member::File("home/ci/.ssh/id_rsa", b"KEY"),
            Member::File("home/ci/notes.txt", b"ok"),
            Member::File("etc/ssl/certs/ca.pem", b"CA"),
        ],
    ));
    let image = docker_archive(&dir, &layers, &good_config());
    let (code, doc) = check(&image, &[]);
    assert_eq!(code, 0, "a warning does not fail by default");
    assert_eq!(paths_for(&doc, "IMG301"), ["/home/ci/.ssh/id_rsa", "/root/.aws/credentials"], "{doc:#}");
    let human = optml().arg("check").arg(&image).output().expect("run");
    assert!(!String::from_utf8_lossy(&human.stdout).contains("TOPSECRET") && !doc.to_string().contains("TOPSECRET"));
    let (_, doc) = check(&docker_archive(&dir, &good_layers(), &good_config()), &[]);
    assert!(paths_for(&doc, "IMG301").is_empty());
}

#[test]
fn sm_variables_baked_with_env_are_reported_unless_they_match_the_platform() {
    let dir = TestDir::new();
    let config = json!({"Env": ["SAGEMAKER_PROGRAM=train.py", "SM_MODEL_DIR=/models", "SM_CHANNELS=[\"train\"]", "SM_OUTPUT_DATA_DIR=/opt/ml/output/data", "SM_LOG_LEVEL=20"]});
    let (_, doc) = check(&docker_archive(&dir, &good_layers(), &config), &[]);
    let found = messages(&doc, "IMG302");
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().any(|m| m.contains("SM_MODEL_DIR=/models")) && found.iter().any(|m| m.contains("SM_CHANNELS")), "{found:?}");
}

#[test]
fn oci_layouts_are_read_tarred_and_as_folders() {
    let dir = TestDir::new();
    let mut layers = good_layers();
    layers.push(gz(layer("COPY model.pt /opt/ml/model/", vec![Member::File("opt/ml/model/model.pt", b"w")])));
    let files = oci_files(&[("linux/amd64", &layers)], &good_config());
    outer_tar(&dir.join("oci.tar"), &files);
    write_folder(&dir.join("layout"), &files);
    for image in [dir.join("oci.tar"), dir.join("layout")] {
        let (code, doc) = check(&image, &[]);
        assert_eq!((code, codes(&doc)), (1, vec!["IMG101".to_string(), "IMG102".to_string()]), "{}: {doc:#}", image.display());
    }
    // A blob changed in the folder: its descriptor digest no longer matches.
    let (name, blob) = files.iter().find(|(_, data)| data.starts_with(&[0x1f, 0x8b])).expect("a gzip layer");
    let other = gzip(&tar_bytes(&[Member::File("opt/ml/model/other.pt", b"x")]));
    assert_ne!(&other, blob);
    fs::write(dir.join("layout").join(name), other).expect("tamper");
    let (_, doc) = check(&dir.join("layout"), &[]);
    assert_eq!(paths_for(&doc, "IMG902"), [name.as_str()], "{doc:#}");
}

#[test]
fn a_multi_platform_index_checks_one_platform_and_says_which() {
    let dir = TestDir::new();
    let arm = vec![layer("COPY model.pt /opt/ml/model/", vec![Member::File("opt/ml/model/model.pt", b"w"), Member::Mode("usr/local/bin/train", 0o755)])];
    let amd = good_layers();
    let files = oci_files(&[("linux/arm64", &arm), ("linux/amd64", &amd)], &good_config());
    outer_tar(&dir.join("multi.tar"), &files);
    let image = dir.join("multi.tar");
    let (code, doc) = check(&image, &[]);
    assert_eq!((code, codes(&doc)), (0, vec!["IMG102".to_string()]), "linux/amd64 is picked by default: {doc:#}");
    let human = optml().arg("check").arg(&image).output().expect("run");
    assert!(String::from_utf8_lossy(&human.stdout).contains("picked linux/amd64"), "{}", String::from_utf8_lossy(&human.stdout));
    let (code, doc) = check(&image, &["--platform", "linux/arm64"]);
    assert_eq!((code, codes(&doc)), (1, vec!["IMG101".to_string(), "IMG202".to_string()]), "{doc:#}");
    let (code, doc) = check(&image, &["--platform", "linux/s390x"]);
    assert_eq!(code, 1);
    assert!(messages(&doc, "IMG901")[0].contains("linux/arm64, linux/amd64"), "{doc:#}");
}

#[test]
fn zstd_layers_are_reported_unsupported() {
    let dir = TestDir::new();
    let mut files = oci_files(&[("linux/amd64", &good_layers())], &good_config());
    // Relabel the first layer as zstd in its manifest.
    for (_, data) in files.iter_mut() {
        let text = String::from_utf8_lossy(data).into_owned();
        if text.contains("\"layers\"") {
            *data = text.replacen("vnd.oci.image.layer.v1.tar\"", "vnd.oci.image.layer.v1.tar+zstd\"", 1).into_bytes();
        }
    }
    // The manifest's digest changed with it: rename its blob and fix the index.
    let manifest_at = files.iter().position(|(_, d)| String::from_utf8_lossy(d).contains("+zstd")).expect("manifest");
    let old = files[manifest_at].0.clone();
    let new = format!("blobs/sha256/{}", sha(&files[manifest_at].1));
    files[manifest_at].0 = new.clone();
    let index = files.iter_mut().find(|(name, _)| name == "index.json").expect("index");
    index.1 = String::from_utf8_lossy(&index.1).replace(old.trim_start_matches("blobs/sha256/"), new.trim_start_matches("blobs/sha256/")).into_bytes();
    outer_tar(&dir.join("zstd.tar"), &files);
    let (code, doc) = check(&dir.join("zstd.tar"), &[]);
    assert_eq!(code, 1);
    assert!(messages(&doc, "IMG903")[0].contains("zstd"), "{doc:#}");
}

/// Said on the test's real stderr, which libtest does not capture: a skip is seen, not a pass.
fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED images::a_real_saved_image_is_read_where_a_container_runtime_exists: {why}");
}

#[test]
fn a_real_saved_image_is_read_where_a_container_runtime_exists() {
    let answers = |tool: &str, args: &[&str]| std::process::Command::new(tool).args(args).output().is_ok_and(|o| o.status.success());
    // docker and podman build and save; buildah builds and pushes to an archive.
    let runtime = ["docker", "podman", "buildah"].into_iter().find(|tool| answers(tool, &["version"]));
    let Some(runtime) = runtime else {
        let present: Vec<&str> = ["docker", "podman", "skopeo", "buildah"].into_iter().filter(|tool| answers(tool, &["--version"])).collect();
        skipped(&format!("no docker, podman or buildah that can build (present: {}; a docker client without an engine cannot build)", present.join(", ")));
        return;
    };
    let dir = TestDir::new();
    fs::write(dir.join("Dockerfile"), "FROM scratch\nCOPY model.pt /opt/ml/model/\n").expect("dockerfile");
    fs::write(dir.join("model.pt"), "w").expect("model");
    let tag = "optml-image-gate-test:latest";
    let built = std::process::Command::new(runtime).args(["build", "-q", "-t", tag]).arg(dir.path()).output().expect("build");
    if !built.status.success() {
        skipped(&format!("{runtime} build failed: {}", String::from_utf8_lossy(&built.stderr)));
        return;
    }
    let archive = dir.join("real.tar");
    let saved = if runtime == "buildah" {
        std::process::Command::new(runtime).args(["push", tag]).arg(format!("docker-archive:{}", archive.display())).status()
    } else {
        std::process::Command::new(runtime).args(["save", "-o"]).arg(&archive).arg(tag).status()
    };
    assert!(saved.expect("save").success());
    let (code, doc) = check(&archive, &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(paths_for(&doc, "IMG101"), ["/opt/ml/model/model.pt"], "{doc:#}");
}

#[test]
fn symlinked_path_folders_and_hard_links_across_layers_are_followed() {
    let dir = TestDir::new();
    let config = json!({"Env": ["PATH=/opt/conda/bin:/usr/bin"]});
    // `train` lives where the PATH folder's symlink points, outside the PATH.
    let linked = vec![
        layer("RUN install miniconda", vec![Member::Dir("opt/miniconda/bin/"), Member::Mode("opt/miniconda/bin/train", 0o755)]),
        layer("RUN ln -s miniconda /opt/conda", vec![Member::Symlink("opt/conda", "miniconda")]),
    ];
    let (code, doc) = check(&docker_archive(&dir, &linked, &config), &[]);
    assert_eq!((code, codes(&doc)), (0, Vec::<String>::new()), "{doc:#}");
    let (code, doc) = check(&docker_archive(&dir, &linked[..1], &config), &[]);
    assert_eq!((code, codes(&doc)), (1, vec!["IMG201".to_string()]), "{doc:#}");
    // A hard link under /opt/ml/model to a file a lower layer wrote is a baked file too.
    let layers = vec![
        layer("RUN download weights", vec![Member::Dir("usr/share/"), Member::File("usr/share/weights.bin", b"weights")]),
        layer(
            "RUN ln /usr/share/weights.bin /opt/ml/model/",
            vec![Member::Dir("opt/ml/model/"), Member::Hardlink("opt/ml/model/weights.bin", "usr/share/weights.bin")],
        ),
    ];
    let (_, doc) = check(&docker_archive(&dir, &layers, &json!({"Entrypoint": ["python", "t.py"]})), &[]);
    assert_eq!(paths_for(&doc, "IMG101"), ["/opt/ml/model/weights.bin"], "{doc:#}");
    assert!(messages(&doc, "IMG101")[0].contains("layer 2"), "{doc:#}");
}

#[test]
fn a_shell_entry_point_must_exec_and_read_its_argument() {
    let dir = TestDir::new();
    let with = |entrypoint: Value| {
        let (_, doc) = check(&docker_archive(&dir, &good_layers(), &json!({"Entrypoint": entrypoint, "Env": ["SAGEMAKER_PROGRAM=train.py"]})), &[]);
        codes(&doc).into_iter().filter(|code| code != "IMG102").collect::<Vec<_>>()
    };
    // What `ENTRYPOINT python train.py` (shell form) becomes.
    assert_eq!(with(json!(["/bin/sh", "-c", "python train.py"])), ["IMG203", "IMG401"]);
    assert_eq!(with(json!(["/bin/sh", "-c", "exec python train.py"])), ["IMG401"]);
    assert_eq!(with(json!(["bash", "-c", "python train.py \"$0\""])), ["IMG203"]);
    assert_eq!(with(json!(["/usr/bin/tini", "--", "sh", "-c", "exec python train.py \"$0\""])), Vec::<String>::new());
    // One argument after the script: `train` is $1, and in "$@".
    assert_eq!(with(json!(["sh", "-c", "exec python train.py \"$@\"", "sh"])), Vec::<String>::new());
    assert_eq!(with(json!(["sh", "-c", "exec python train.py \"$0\"", "sh"])), ["IMG401"]);
    // Exec form: the program gets `train` as its first argument.
    assert_eq!(with(json!(["python", "/opt/ml/code/train.py"])), Vec::<String>::new());
    let (_, doc) = check(&docker_archive(&dir, &good_layers(), &json!({"Entrypoint": ["/bin/sh", "-c", "python train.py"]})), &[]);
    assert!(messages(&doc, "IMG401")[0].contains("never reads $0"), "{doc:#}");
}

#[test]
fn a_non_root_user_must_be_able_to_write_the_job_folders() {
    let dir = TestDir::new();
    let with = |model_owner: u64, user: &str| {
        let mut layers = good_layers();
        layers.push(layer(
            "RUN useradd trainer",
            vec![Member::Dir("etc/"), Member::File("etc/passwd", b"root:x:0:0:root:/root:/bin/bash\ntrainer:x:1000:1000::/home/trainer:/bin/sh\n")],
        ));
        layers.push(layer(
            "RUN mkdir -p /opt/ml/model /opt/ml/output",
            vec![Member::OwnedDir("opt/ml/model/", 0o755, model_owner), Member::OwnedDir("opt/ml/output/", 0o777, 0)],
        ));
        let mut config = good_config();
        config["User"] = json!(user);
        check(&docker_archive(&dir, &layers, &config), &[])
    };
    let (code, doc) = with(0, "trainer");
    assert_eq!((code, paths_for(&doc, "IMG402")), (0, vec!["/opt/ml/model".to_string()]), "{doc:#}");
    assert!(messages(&doc, "IMG402")[0].contains("trainer (uid 1000)") && messages(&doc, "IMG402")[0].contains("mode 755, owner 0:0"), "{doc:#}");
    // Owned by the user, by uid given as a number, or running as root: nothing to say.
    assert!(paths_for(&with(1000, "trainer").1, "IMG402").is_empty());
    assert!(paths_for(&with(1000, "1000:1000").1, "IMG402").is_empty());
    assert!(paths_for(&with(0, "root").1, "IMG402").is_empty());
    assert_eq!(paths_for(&with(0, "2000").1, "IMG402"), ["/opt/ml/model"]);
    // A name /etc/passwd lacks: the container cannot start.
    let (code, doc) = with(0, "ghost");
    assert_eq!((code, paths_for(&doc, "IMG403")), (1, vec!["/etc/passwd".to_string()]), "{doc:#}");
}

#[test]
fn code_shipped_as_a_source_dir_is_where_sagemaker_program_is_looked_for() {
    let dir = TestDir::new();
    // The image bakes no script: the estimator's source_dir brings it.
    let image = docker_archive(&dir, &good_layers()[..1], &good_config());
    let (code, doc) = check(&image, &[]);
    assert_eq!((code, codes(&doc)), (1, vec!["IMG202".to_string()]), "{doc:#}");
    let source = dir.join("src");
    fs::create_dir_all(&source).expect("mkdir");
    let code_arg = source.to_string_lossy().into_owned();
    let (code, doc) = check(&image, &["--code", &code_arg]);
    assert!(messages(&doc, "IMG202")[0].contains("the source_dir"), "{doc:#}");
    assert_eq!(code, 1);
    fs::write(source.join("train.py"), "print('hi')").expect("script");
    let (code, doc) = check(&image, &["--code", &code_arg]);
    assert_eq!((code, codes(&doc)), (0, Vec::<String>::new()), "{doc:#}");
    // The sourcedir.tar.gz the SDK uploads.
    let tarball = tar_gz(&dir, "sourcedir.tar.gz", &[Member::File("train.py", b"x")]).to_string_lossy().into_owned();
    assert!(codes(&check(&image, &["--code", &tarball]).1).is_empty());
    let other = tar_gz(&dir, "other.tar.gz", &[Member::File("main.py", b"x")]).to_string_lossy().into_owned();
    assert_eq!(codes(&check(&image, &["--code", &other]).1), ["IMG202"]);
    // A --code that cannot be read stops the run.
    optml().args(["check", "--code"]).arg(dir.join("absent.tar.gz")).arg(&image).assert().code(2);
}

#[test]
fn a_symlinked_opt_ml_is_checked_at_its_target() {
    let dir = TestDir::new();
    let mut layers = good_layers();
    // good_layers bakes /opt/ml/code; a real folder there would hide the link, so start over.
    layers.truncate(1);
    layers.push(layer("RUN ln -s /srv/ml /opt/ml", vec![Member::Dir("opt/"), Member::Symlink("opt/ml", "/srv/ml")]));
    layers.push(gz(layer("COPY model.pt /srv/ml/model/", vec![Member::File("srv/ml/model/model.pt", b"w"), Member::File("srv/ml/code/train.py", b"x")])));
    let image = docker_archive(&dir, &layers, &good_config());
    let (code, doc) = check(&image, &[]);
    assert_eq!((code, codes(&doc)), (1, vec!["IMG101".to_string(), "IMG102".to_string()]), "{doc:#}");
    assert_eq!(paths_for(&doc, "IMG101"), ["/opt/ml/model/model.pt"]);
    let human = optml().arg("check").arg(&image).output().expect("run");
    assert!(String::from_utf8_lossy(&human.stdout).contains("/opt/ml is a symlink to /srv/ml"), "{}", String::from_utf8_lossy(&human.stdout));
    // The link alone, with nothing at its target, bakes nothing.
    layers.pop();
    let (code, doc) = check(&docker_archive(&dir, &layers, &json!({})), &[]);
    assert_eq!((code, codes(&doc)), (0, Vec::<String>::new()), "{doc:#}");
}

#[test]
fn images_work_with_every_format_select_and_baselines() {
    let dir = TestDir::new();
    let mut layers = good_layers();
    layers.push(layer("COPY model.pt /opt/ml/model/", vec![Member::File("opt/ml/model/model.pt", b"w")]));
    let image = docker_archive(&dir, &layers, &good_config());
    let junit = optml().args(["check", "--format", "junit"]).arg(&image).output().expect("run");
    assert_eq!(junit.status.code(), Some(1));
    let junit = String::from_utf8_lossy(&junit.stdout);
    assert!(junit.contains(r#"classname="optml.sagemaker-image" name="IMG101 baked-under-mount""#) && !junit.contains("SM101"), "{junit}");
    let github = optml().args(["check", "--format", "github"]).arg(&image).output().expect("run");
    assert!(String::from_utf8_lossy(&github.stdout).contains("::error file=") && String::from_utf8_lossy(&github.stdout).contains("IMG101"));
    let (code, doc) = check(&image, &["--ignore", "IMG101"]);
    assert_eq!((code, codes(&doc)), (0, vec!["IMG102".to_string()]));
    let baseline = dir.join("baseline.json");
    optml().args(["check", "--write-baseline"]).arg(&baseline).arg(&image).assert().code(0);
    optml().args(["check", "--baseline"]).arg(&baseline).arg(&image).assert().code(0);
}

#[test]
fn snapshots_and_diffs_record_the_images_opt_ml() {
    let dir = TestDir::new();
    let old = dir.join("old.tar");
    outer_tar(&old, &docker_files(&good_layers(), &good_config()));
    let mut layers = good_layers();
    layers.push(layer("COPY util.py /opt/ml/code/", vec![Member::File("opt/ml/code/util.py", b"u")]));
    let new = dir.join("new.tar");
    outer_tar(&new, &docker_files(&layers, &good_config()));
    let golden = dir.join("image.manifest");
    optml().args(["snapshot", "--under", "/opt/ml", "--fields", "+sha256", "-o"]).arg(&golden).arg(&old).assert().code(0);
    let text = fs::read_to_string(&golden).expect("manifest");
    assert!(text.contains("code/train.py") && !text.contains("usr/local"), "{text}");
    // The same image matches its snapshot; the rebuild does not, and diff says what changed.
    optml().args(["check", "--snapshot"]).arg(&golden).arg(&old).assert().code(0);
    let (code, doc) = check(&new, &["--snapshot", golden.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{doc:#}");
    assert!(codes(&doc).contains(&"SNAP002".to_string()), "{doc:#}");
    let diff = optml().args(["diff", "--under", "/opt/ml"]).arg(&old).arg(&new).output().expect("run");
    assert_eq!(diff.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&diff.stdout).contains("code/util.py"), "{}", String::from_utf8_lossy(&diff.stdout));
    let code_only = optml().args(["snapshot", "--under", "/opt/ml/code"]).arg(&new).output().expect("run");
    assert_eq!(String::from_utf8_lossy(&code_only.stdout).lines().filter(|line| !line.starts_with('#') && !line.starts_with('/')).count(), 2);
    // Outside /opt/ml is not kept, and a broken image is not recorded.
    optml().args(["snapshot", "--under", "/usr"]).arg(&new).assert().code(2);
    let mut broken = docker_files(&good_layers(), &good_config());
    broken[1].1 = b"not a tar".repeat(100);
    outer_tar(&dir.join("broken.tar"), &broken);
    optml().arg("snapshot").arg(dir.join("broken.tar")).assert().code(2);
}
