//! Golden snapshots end to end: `optml snapshot`, `optml check --snapshot` with its update
//! workflow, `optml snapshot accept|reject|review`, and `optml diff`.

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};

use crate::common::*;

/// A small model folder: nested code, a symlink, a checkpoint and a TensorBoard file.
fn model_tree(dir: &TestDir, rel: &str) -> PathBuf {
    dir.file(&format!("{rel}/model.pth"), "weights");
    dir.file(&format!("{rel}/code/inference.py"), "def model_fn(d): pass\n");
    dir.file(&format!("{rel}/code/requirements.txt"), "torch\n");
    dir.dir(&format!("{rel}/empty"));
    symlink("model.pth", dir.join(&format!("{rel}/latest.pth"))).expect("symlink");
    dir.join(rel)
}

/// Tar (gzip) `tree` the way `tar czf out -C tree .` does: `./` names, a root entry, symlinks kept.
fn pack_tree(tree: &Path, out: &Path) {
    let file = fs::File::create(out).expect("create archive");
    let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    builder.append_dir_all(".", tree).expect("append tree");
    builder.into_inner().expect("finish tar").finish().expect("finish gzip");
}

fn run(args: &[&str], cwd: &Path) -> std::process::Output {
    optml().args(args).current_dir(cwd).output().expect("run optml")
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `optml check INPUT --pack snapshot --snapshot FILE --format json` in `cwd`, with extra env.
fn check_snapshot(cwd: &Path, input: &str, golden: &str, env: &[(&str, &str)]) -> (i32, serde_json::Value) {
    let mut cmd = optml();
    cmd.args(["check", "--as", "model", "--no-default-packs", "--pack", "snapshot", "--format", "json", input, "--snapshot", golden]).current_dir(cwd);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let output = cmd.output().expect("run optml");
    let doc = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("not JSON: {}{}", stdout(&output), String::from_utf8_lossy(&output.stderr)));
    (output.status.code().expect("exit code"), doc)
}

fn record(cwd: &Path, input: &str, golden: &str, extra: &[&str]) {
    let mut args = vec!["snapshot", "--as", "model", input, "-o", golden];
    args.extend_from_slice(extra);
    let output = run(&args, cwd);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn tree_and_archive_made_from_it_record_the_same_manifest() {
    let dir = TestDir::new();
    let tree = model_tree(&dir, "model");
    pack_tree(&tree, &dir.join("model.tar.gz"));
    let from_tree = run(&["snapshot", "--fields", "+sha256", "model"], dir.path());
    let from_archive = run(&["snapshot", "--fields", "+sha256", "model.tar.gz"], dir.path());
    assert_eq!(from_tree.status.code(), Some(0));
    assert_eq!(stdout(&from_tree), stdout(&from_archive));
    snapshot_settings("snapshot").bind(|| insta::assert_snapshot!("model_manifest", stdout(&from_tree)));
    // Byte-stable: recording again gives the same bytes.
    assert_eq!(stdout(&run(&["snapshot", "--fields", "+sha256", "model"], dir.path())), stdout(&from_tree));
    let diff = run(&["diff", "model", "model.tar.gz"], dir.path());
    assert_eq!(diff.status.code(), Some(0), "{}", stdout(&diff));
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

/// Every real corpus archive that reads cleanly equals its own safe extraction.
#[test]
fn real_corpus_archives_equal_their_extraction() {
    let mut compared = 0;
    for item in fs::read_dir(corpus()).expect("corpus") {
        let archive = item.expect("entry").path();
        if archive.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let manifest = optml().args(["snapshot", "--fields", "+sha256"]).arg(&archive).output().expect("run");
        if manifest.status.code() != Some(0) {
            continue; // not a readable tar: `optml check` reports those
        }
        let dir = TestDir::new();
        if !safe_extract(&archive, dir.path()) {
            continue;
        }
        let diff = optml().args(["diff", "--as", "model", "--fields", "+sha256", "--format", "json"]).arg(&archive).arg(dir.path()).output().expect("run");
        let doc: serde_json::Value = serde_json::from_slice(&diff.stdout).expect("JSON");
        assert_eq!(diff.status.code(), Some(0), "{}: {doc:#}", archive.display());
        compared += 1;
    }
    assert!(compared >= 15, "only {compared} corpus archives compared");
}

/// Extract with the tar crate, which refuses `..` and absolute names; skip archives whose
/// members it would not place faithfully (devices, links out of the tree).
fn safe_extract(archive: &Path, into: &Path) -> bool {
    let bytes = fs::read(archive).expect("read archive");
    let data = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let mut decoder = flate2::read::MultiGzDecoder::new(&bytes[..]);
        if std::io::Read::read_to_end(&mut decoder, &mut out).is_err() {
            return false;
        }
        out
    } else {
        bytes
    };
    let mut tar = tar::Archive::new(&data[..]);
    tar.set_preserve_permissions(true);
    tar.set_overwrite(true);
    let Ok(entries) = tar.entries() else { return false };
    for entry in entries {
        let Ok(mut entry) = entry else { return false };
        if entry.unpack_in(into).is_err() {
            return false;
        }
    }
    true
}

/// A real local-mode output.tar.gz (`success` beside `data/`) equals the output/data folder.
#[test]
fn real_local_mode_output_equals_its_data_folder() {
    let archive = corpus().join("Ransaka__Sagemaker-Local-Mode-Example__model__output.tar.gz");
    let dir = TestDir::new();
    assert!(safe_extract(&archive, dir.path()));
    let output = optml().arg("diff").arg(dir.join("data")).arg(&archive).output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("local-mode flavour"), "{}", stdout(&output));
}

#[test]
fn local_mismatch_writes_pending_and_keeps_golden() {
    let dir = TestDir::new();
    model_tree(&dir, "model");
    record(dir.path(), "model", "golden.manifest", &[]);
    let golden_before = fs::read_to_string(dir.join("golden.manifest")).unwrap();
    dir.file("model/model.pth", "bigger weights");
    dir.file("model/stray.log", "x");
    fs::remove_file(dir.join("model/code/requirements.txt")).unwrap();
    let (code, doc) = check_snapshot(dir.path(), "model", "golden.manifest", &[]);
    assert_eq!(code, 1);
    assert_eq!(codes(&doc), ["SNAP001", "SNAP002", "SNAP003", "SNAP006"]);
    assert_eq!(paths_for(&doc, "SNAP003"), ["model.pth"]);
    let snapshot = &doc["snapshot"];
    assert_eq!(snapshot["status"], "mismatched");
    assert_eq!(snapshot["written"], "golden.manifest.new");
    assert_eq!(snapshot["counts"], serde_json::json!({"missing": 1, "extra": 1, "changed": 1}));
    let changed = snapshot["differences"].as_array().unwrap().iter().find(|d| d["kind"] == "changed").unwrap();
    assert_eq!(changed["changes"], serde_json::json!([{"field": "size", "expected": "7", "actual": "14"}]));
    assert_eq!(changed["expected"]["size"], 7);
    assert_eq!(fs::read_to_string(dir.join("golden.manifest")).unwrap(), golden_before);
    let pending = fs::read_to_string(dir.join("golden.manifest.new")).unwrap();
    assert!(pending.contains("stray.log type=file size=1\n"), "{pending}");

    // Accepting makes the check pass; nothing stays pending.
    let accept = run(&["snapshot", "accept", "golden.manifest"], dir.path());
    assert_eq!(accept.status.code(), Some(0));
    assert!(!dir.join("golden.manifest.new").exists());
    let (code, doc) = check_snapshot(dir.path(), "model", "golden.manifest", &[]);
    assert_eq!((code, doc["snapshot"]["status"].as_str()), (0, Some("matched")));
}

#[test]
fn ci_never_writes_and_a_missing_snapshot_fails() {
    let dir = TestDir::new();
    model_tree(&dir, "model");
    let (code, doc) = check_snapshot(dir.path(), "model", "golden.manifest", &[("CI", "true"), ("OPTML_UPDATE", "always")]);
    assert_eq!(code, 1);
    assert_eq!(codes(&doc), ["SNAP005"]);
    assert_eq!(doc["snapshot"]["status"], "missing");
    assert!(doc["snapshot"]["written"].is_null());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "nothing but the model folder");

    record(dir.path(), "model", "golden.manifest", &[]);
    dir.file("model/extra.bin", "x");
    let (code, doc) = check_snapshot(dir.path(), "model", "golden.manifest", &[("CI", "1")]);
    assert_eq!(code, 1);
    assert_eq!(codes(&doc), ["SNAP002"]);
    assert!(!dir.join("golden.manifest.new").exists());
}

#[test]
fn local_missing_snapshot_is_written_as_new() {
    let dir = TestDir::new();
    model_tree(&dir, "model");
    let (code, doc) = check_snapshot(dir.path(), "model", "golden.manifest", &[]);
    assert_eq!(code, 1, "a new snapshot fails until accepted");
    assert_eq!(codes(&doc), ["SNAP005", "SNAP006"]);
    assert!(dir.join("golden.manifest.new").is_file());
    assert!(!dir.join("golden.manifest").exists());
    // `OPTML_UPDATE=no` writes nothing.
    fs::remove_file(dir.join("golden.manifest.new")).unwrap();
    check_snapshot(dir.path(), "model", "golden.manifest", &[("OPTML_UPDATE", "no")]);
    assert!(!dir.join("golden.manifest.new").exists());
    // A bad mode is a usage error.
    let output = optml().args(["check", "--snapshot", "g", "model"]).env("OPTML_UPDATE", "sometimes").current_dir(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_damaged_input_is_never_recorded() {
    let dir = TestDir::new();
    let mut bytes = gzip(&tar_bytes(&[Member::File("model.pth", &[7u8; 4096]), Member::File("code/inference.py", b"x")]));
    bytes.truncate(bytes.len() / 2);
    fs::write(dir.join("model.tar.gz"), bytes).unwrap();
    let (code, doc) = check_snapshot(dir.path(), "model.tar.gz", "golden.manifest", &[]);
    assert_eq!(code, 1);
    assert!(codes(&doc).contains(&"SNAP005".to_string()), "{doc:#}");
    assert!(doc["snapshot"]["written"].is_null());
    assert!(!dir.join("golden.manifest.new").exists());
    let output = run(&["snapshot", "model.tar.gz"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot snapshot model.tar.gz"));
}

#[test]
fn update_replaces_the_golden_file_atomically() {
    let dir = TestDir::new();
    model_tree(&dir, "model");
    record(dir.path(), "model", "golden.manifest", &[]);
    let old = fs::read_to_string(dir.join("golden.manifest")).unwrap();
    // A second name for the old file: an in-place rewrite would change what it shows.
    fs::hard_link(dir.join("golden.manifest"), dir.join("old.manifest")).unwrap();
    let inode = fs::metadata(dir.join("golden.manifest")).unwrap().ino();
    dir.file("model/new.txt", "x");
    fs::write(dir.join("golden.manifest.new"), "#optml-manifest v1\nstale type=file\n").unwrap();
    let output = optml()
        .args([
            "check",
            "--as",
            "model",
            "--no-default-packs",
            "--pack",
            "snapshot",
            "--format",
            "json",
            "model",
            "--snapshot",
            "golden.manifest",
            "--update-snapshots",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(codes(&doc), ["SNAP007"]);
    assert_eq!(doc["snapshot"]["status"], "updated");
    let new = fs::read_to_string(dir.join("golden.manifest")).unwrap();
    assert!(new.contains("new.txt type=file size=1\n"));
    assert_eq!(fs::read_to_string(dir.join("old.manifest")).unwrap(), old, "the old file was replaced by a rename, never rewritten");
    assert_ne!(fs::metadata(dir.join("golden.manifest")).unwrap().ino(), inode);
    let leftovers: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".optml-") || n.ends_with(".new"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn accept_reject_and_review() {
    let dir = TestDir::new();
    for name in ["a", "sub/b"] {
        dir.file(&format!("{name}.manifest"), "#optml-manifest v1\nold type=file\n");
        dir.file(&format!("{name}.manifest.new"), "#optml-manifest v1\nnew type=file\n");
    }
    dir.file("unrelated.new", "not a manifest");
    let output = run(&["snapshot", "reject", "sub/b.manifest.new"], dir.path());
    assert_eq!(output.status.code(), Some(0));
    assert!(!dir.join("sub/b.manifest.new").exists());
    assert!(dir.join("sub/b.manifest").exists());
    // Without arguments: every pending manifest below the current folder.
    let output = run(&["snapshot", "accept"], dir.path());
    assert_eq!(stdout(&output), "accepted ./a.manifest.new\n");
    assert_eq!(fs::read_to_string(dir.join("a.manifest")).unwrap(), "#optml-manifest v1\nnew type=file\n");
    assert!(dir.join("unrelated.new").exists());
    assert_eq!(run(&["snapshot", "accept", "a.manifest"], dir.path()).status.code(), Some(2), "nothing pending");
    let review = run(&["snapshot", "review"], dir.path());
    assert_eq!(review.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&review.stderr).contains("needs a terminal"));
}

/// `review` on a real terminal (a pty from util-linux `script`): accept the first, reject the next.
#[test]
fn review_on_a_terminal() {
    let dir = TestDir::new();
    dir.file("a.manifest", "#optml-manifest v1\nold type=file\n");
    dir.file("a.manifest.new", "#optml-manifest v1\nnew type=file\n");
    dir.file("b.manifest.new", "#optml-manifest v1\nx type=file\n");
    let Some(output) = review_on_pty(dir.path(), b"a\nr\n") else {
        return; // no `script` to provide a terminal
    };
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("+new type=file"), "the diff is shown: {}", stdout(&output));
    assert_eq!(fs::read_to_string(dir.join("a.manifest")).unwrap(), "#optml-manifest v1\nnew type=file\n");
    assert!(!dir.join("b.manifest.new").exists() && !dir.join("b.manifest").exists());
}

#[test]
fn malformed_manifest_points_at_the_line() {
    let dir = TestDir::new();
    model_tree(&dir, "model");
    dir.file("golden.manifest", "#optml-manifest v1\n/fields type size\nmodel.pth type=file size=7\ncode type=folder\n");
    let output = run(&["check", "--as", "model", "--color", "never", "model", "--snapshot", "golden.manifest"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let text = transcript(&output, dir.path());
    snapshot_settings("snapshot").bind(|| insta::assert_snapshot!("malformed_manifest", text));
}

#[test]
fn human_report_shows_the_manifest_diff() {
    let dir = TestDir::new();
    model_tree(&dir, "model");
    record(dir.path(), "model", "golden.manifest", &[]);
    dir.file("model/model.pth", "retrained weights");
    dir.file("model/code/.ipynb_checkpoints/inference-checkpoint.py", "x");
    let output =
        run(&["check", "--as", "model", "--no-default-packs", "--pack", "snapshot", "--color", "never", "model", "--snapshot", "golden.manifest"], dir.path());
    let text = transcript(&output, dir.path());
    snapshot_settings("snapshot").bind(|| insta::assert_snapshot!("human_diff", text));
}

#[test]
fn redaction_presets_absorb_volatile_names() {
    let dir = TestDir::new();
    let run_files = |root: &str, stamp: &str, step: &str| {
        dir.file(&format!("{root}/model.pth"), "w");
        dir.file(&format!("{root}/tensorboard/events.out.tfevents.{stamp}.algo-1.12.0"), &"e".repeat(stamp.len() % 7));
        dir.file(&format!("{root}/checkpoints/checkpoint-{step}/model-00001-of-00002.safetensors"), "s");
        dir.file(&format!("{root}/checkpoints/checkpoint-{step}/model-00002-of-00002.safetensors"), "s");
    };
    run_files("run1", "1700000000", "500");
    run_files("run2", "1700009999999", "1000");
    record(dir.path(), "run1", "golden.manifest", &["--redact", "sagemaker"]);
    let golden = fs::read_to_string(dir.join("golden.manifest")).unwrap();
    snapshot_settings("snapshot").bind(|| insta::assert_snapshot!("redacted_manifest", golden));
    let (code, doc) = check_snapshot(dir.path(), "run2", "golden.manifest", &[]);
    assert_eq!((code, codes(&doc)), (0, Vec::<String>::new()), "{doc:#}");
}

#[test]
fn per_path_fields() {
    let dir = TestDir::new();
    model_tree(&dir, "model");
    dir.file("model/train.log", "loss=1");
    dir.file("fields.snapshot", "/fields type size\n/fields +sha256 +mode in *.pth\n/fields -size in *.log\n");
    let output = run(&["snapshot", "--config", "fields.snapshot", "model"], dir.path());
    let text = stdout(&output);
    let line = |path: &str| text.lines().find(|l| l.starts_with(&format!("{path} "))).unwrap_or_default().to_string();
    assert!(line("model.pth").contains(" sha256=") && line("model.pth").contains(" mode=0"), "{text}");
    assert!(!line("code/inference.py").contains("sha256") && line("code/inference.py").contains("size="), "{text}");
    assert_eq!(line("train.log"), "train.log type=file");
    assert_eq!(line("latest.pth"), "latest.pth type=symlink mode=0777", "links are not recorded, the mode is");
}

#[test]
fn size_tolerance_and_budgets() {
    let dir = TestDir::new();
    dir.file("model/weights.bin", &"w".repeat(1000));
    dir.file("model/data/a.csv", "a");
    dir.file("config.snapshot", "# budgets for the model\n/size tolerance=5% weights.bin\n/budget weights.bin size=+3%\n/budget data/** count=1\n");
    record(dir.path(), "model", "golden.manifest", &["--config", "config.snapshot"]);
    dir.file("model/weights.bin", &"w".repeat(1040));
    let (code, doc) = check_snapshot(dir.path(), "model", "golden.manifest", &[]);
    assert_eq!(code, 1);
    assert_eq!(codes(&doc), ["SNAP004"], "within tolerance, but over budget");
    let messages: Vec<&str> = doc["diagnostics"].as_array().unwrap().iter().map(|d| d["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["weights.bin content grew 4% (1000 B -> 1.0 KiB), budget +3%"]);
    dir.file("model/data/b.csv", "b");
    let (_, doc) = check_snapshot(dir.path(), "model", "golden.manifest", &[]);
    let budgets: Vec<&str> =
        doc["snapshot"]["budgets"].as_array().unwrap().iter().filter(|b| b["exceeded"] == true).map(|b| b["message"].as_str().unwrap()).collect();
    assert_eq!(budgets, ["weights.bin content grew 4% (1000 B -> 1.0 KiB), budget +3%", "2 files in data/, budget 1"]);
}

#[test]
fn diff_exit_codes_and_report() {
    let dir = TestDir::new();
    model_tree(&dir, "a");
    model_tree(&dir, "b");
    dir.file("b/code/inference.py", "changed\n");
    dir.file("b/extra.txt", "");
    assert_eq!(run(&["diff", "a", "a"], dir.path()).status.code(), Some(0));
    let different = run(&["diff", "--color", "never", "a", "b"], dir.path());
    assert_eq!(different.status.code(), Some(1));
    snapshot_settings("snapshot").bind(|| insta::assert_snapshot!("diff_trees", transcript(&different, dir.path())));
    assert_eq!(run(&["diff", "a", "missing"], dir.path()).status.code(), Some(2));
    // A manifest is a side too, and its header rules the comparison.
    record(dir.path(), "a", "a.manifest", &["--fields", "+sha256"]);
    let json = run(&["diff", "--format", "json", "a.manifest", "b"], dir.path());
    assert_eq!(json.status.code(), Some(1));
    snapshot_settings("snapshot").bind(|| insta::assert_snapshot!("diff_json", stdout(&json)));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["equal"], false);
    let changed: Vec<&str> =
        doc["differences"].as_array().unwrap().iter().filter(|d| d["kind"] == "changed").map(|d| d["changes"][0]["field"].as_str().unwrap()).collect();
    assert_eq!(changed, ["size"]);
}

#[test]
fn diff_applies_sagemaker_packing_rules() {
    let dir = TestDir::new();
    // Local mode's packer stores the symlink as a copy of its target.
    model_tree(&dir, "model");
    tar_gz(
        &dir,
        "model.tar.gz",
        &[
            Member::File("model.pth", b"weights"),
            Member::File("latest.pth", b"weights"),
            Member::Dir("code"),
            Member::File("code/inference.py", b"def model_fn(d): pass\n"),
            Member::File("code/requirements.txt", b"torch\n"),
            Member::Dir("empty"),
        ],
    );
    let output = run(&["diff", "--color", "never", "model", "model.tar.gz"], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("1 symlink(s) to files and 0 to folders compared by their target"), "{}", stdout(&output));

    // A symlinked folder is packed with its content (and the links inside it, resolved too).
    dir.file("shared/util.py", "u");
    symlink("util.py", dir.join("shared/alias.py")).unwrap();
    dir.file("src/train.py", "t");
    symlink("../shared", dir.join("src/lib")).unwrap();
    tar_gz(
        &dir,
        "sourcedir.tar.gz",
        &[Member::File("train.py", b"t"), Member::Dir("lib"), Member::File("lib/util.py", b"u"), Member::File("lib/alias.py", b"u")],
    );
    let output = run(&["diff", "--fields", "+sha256", "src", "sourcedir.tar.gz"], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("1 symlink(s) to files and 1 to folders"), "{}", stdout(&output));

    // output.tar.gz, local-mode flavour, against the output/data folder it came from.
    dir.file("opt/ml/output/data/metrics.json", "{}");
    dir.file("opt/ml/output/success", "");
    tar_gz(&dir, "local/output.tar.gz", &[Member::File("success", b""), Member::Dir("data"), Member::File("data/metrics.json", b"{}")]);
    tar_gz(&dir, "cloud/output.tar.gz", &[Member::File("metrics.json", b"{}")]);
    for (a, b) in [("opt/ml/output/data", "local/output.tar.gz"), ("opt/ml/output", "cloud/output.tar.gz"), ("local/output.tar.gz", "cloud/output.tar.gz")] {
        let output = run(&["diff", a, b], dir.path());
        assert_eq!(output.status.code(), Some(0), "{a} vs {b}: {}", stdout(&output));
        assert!(stdout(&output).contains("local-mode flavour"), "{}", stdout(&output));
    }
}

#[test]
fn job_folder_records_each_artifact_under_its_path() {
    let dir = TestDir::new();
    tar_gz(&dir, "job/output/model.tar.gz", &[Member::File("model.pth", b"w"), Member::File("./code/inference.py", b"x")]);
    tar_gz(&dir, "job/output/output.tar.gz", &[Member::File("metrics.json", b"{}")]);
    let output = run(&["snapshot", "job"], dir.path());
    assert_eq!(output.status.code(), Some(0));
    snapshot_settings("snapshot").bind(|| insta::assert_snapshot!("job_manifest", stdout(&output)));
}

#[test]
fn diff_errors_say_compare_not_snapshot() {
    let dir = TestDir::new();
    dir.file("model/model.pth", "w");
    let output = run(&["diff", "model", "missing.tar.gz"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot compare missing.tar.gz"), "{stderr}");
}

/// Found by fuzz/archive: a member whose name is empty, `/` or `./` names the archive itself.
/// Recorded as a manifest line, it made a golden file that `check --snapshot` and `diff` could
/// not parse back. It is not listed, and the manifest round-trips.
#[test]
fn members_naming_the_archive_itself_are_not_recorded() {
    let dir = TestDir::new();
    let members = [Member::Dir(""), Member::Dir("/"), Member::Dir("./"), Member::File("", b"x"), Member::File("model.pth", b"weights")];
    tar_gz(&dir, "model.tar.gz", &members);
    record(dir.path(), "model.tar.gz", "golden.manifest", &[]);
    let manifest = fs::read_to_string(dir.join("golden.manifest")).expect("manifest");
    assert!(manifest.contains("model.pth"), "{manifest}");
    let (code, doc) = check_snapshot(dir.path(), "model.tar.gz", "golden.manifest", &[("CI", "true")]);
    assert_eq!(code, 0, "{doc:#}");
    let diff = run(&["diff", "golden.manifest", "model.tar.gz"], dir.path());
    assert_eq!(diff.status.code(), Some(0), "{}{}", stdout(&diff), String::from_utf8_lossy(&diff.stderr));
}
