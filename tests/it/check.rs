//! `optml check` end to end: every training rule on its failing and its passing side,
//! the input kinds, hostile inputs and the exit-code contract.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use crate::common::*;

fn check(path: &Path) -> (i32, serde_json::Value) {
    check_json(&[path.as_os_str()])
}

fn check_with(path: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args: Vec<&OsStr> = extra.iter().map(OsStr::new).collect();
    args.push(path.as_os_str());
    check_json(&args)
}

fn assert_has(doc: &serde_json::Value, code: &str, path: &str) {
    let paths = paths_for(doc, code);
    assert!(paths.iter().any(|p| p == path), "expected {code} at `{path}`, got {paths:?} in {:#}", doc["diagnostics"]);
}

fn assert_lacks(doc: &serde_json::Value, code: &str) {
    assert!(paths_for(doc, code).is_empty(), "did not expect {code}: {:#}", doc["diagnostics"]);
}

#[test]
fn clean_tree_passes() {
    let dir = TestDir::new();
    let root = dir.opt_ml("opt/ml");
    let (code, doc) = check(&root);
    assert_eq!(codes(&doc), Vec::<String>::new());
    assert_eq!(code, 0);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["summary"]["errors"], 0);
    assert_eq!(doc["inputs"][0]["kind"], "tree");
}

// ------------------------------------------------------------------ status markers

#[test]
fn sm101_status_marker_missing() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    fs::remove_file(root.join("output/success")).unwrap();
    let (code, doc) = check(&root);
    assert_has(&doc, "SM101", "output");
    assert_eq!(code, 1);
    // A running job has no marker yet.
    let (code, doc) = check_with(&root, &["--phase", "running"]);
    assert_lacks(&doc, "SM101");
    assert_eq!(code, 0);
}

#[test]
fn sm102_both_markers() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("ml/output/failure", "OOM");
    let (_, doc) = check(&root);
    assert_has(&doc, "SM102", "output/failure");
    let (_, clean) = check(&dir.opt_ml("other"));
    assert_lacks(&clean, "SM102");
}

#[test]
fn sm103_job_failed_quotes_first_line() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    fs::remove_file(root.join("output/success")).unwrap();
    dir.file("ml/output/failure", "\nExecuteUserScriptError:\nExitCode 3\n");
    let (code, doc) = check(&root);
    assert_has(&doc, "SM103", "output/failure");
    let message = doc["diagnostics"].as_array().unwrap().iter().find(|d| d["rule"] == "SM103").unwrap()["message"].as_str().unwrap().to_string();
    assert_eq!(message, "the job failed: ExecuteUserScriptError:");
    assert_lacks(&doc, "SM101");
    assert_eq!(code, 1);
}

#[test]
fn sm104_failure_reason_truncated() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    fs::remove_file(root.join("output/success")).unwrap();
    dir.file("ml/output/failure", &"x".repeat(1025));
    let (_, doc) = check(&root);
    assert_has(&doc, "SM104", "output/failure");
    dir.file("ml/output/failure", &"x".repeat(1024));
    let (_, doc) = check(&root);
    assert_lacks(&doc, "SM104");
}

#[test]
fn sm105_failure_empty() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    fs::remove_file(root.join("output/success")).unwrap();
    dir.file("ml/output/failure", "");
    let (_, doc) = check(&root);
    assert_has(&doc, "SM105", "output/failure");
    assert_lacks(&doc, "SM103");
    dir.file("ml/output/failure", "reason");
    let (_, doc) = check(&root);
    assert_lacks(&doc, "SM105");
}

// ------------------------------------------------------------------ lost files

#[test]
fn sm201_files_outside_uploaded_dirs_are_lost() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("ml/columns.pkl", "x").file("ml/results/a.csv", "1").file("ml/results/b.csv", "2");
    let (code, doc) = check(&root);
    assert_has(&doc, "SM201", "columns.pkl");
    // A lost folder is one finding, not one per file.
    assert_has(&doc, "SM201", "results");
    assert_eq!(paths_for(&doc, "SM201").len(), 2);
    let message = doc["diagnostics"].as_array().unwrap().iter().find(|d| d["path"] == "columns.pkl").unwrap()["message"].as_str().unwrap().to_string();
    assert!(message.contains("belongs in /opt/ml/model"), "{message}");
    assert_eq!(code, 1);
    // Known folders are not lost.
    dir.file("ml/checkpoints/c.pt", "x").file("ml/code/train.py", "x").file("ml/shared/x", "x");
    fs::remove_file(root.join("columns.pkl")).unwrap();
    fs::remove_dir_all(root.join("results")).unwrap();
    let (_, doc) = check(&root);
    assert_lacks(&doc, "SM201");
}

#[test]
fn sm202_output_root_file() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("ml/output/train.log", "x").file("ml/output/tensorboard/events", "x").file("ml/output/data/m.json", "{}");
    let (code, doc) = check(&root);
    assert_eq!(paths_for(&doc, "SM202"), vec!["output/train.log"]);
    assert_eq!(code, 0, "a warning does not fail the check");
}

// ------------------------------------------------------------------ model/

#[test]
fn sm301_model_not_a_directory() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    fs::remove_dir_all(root.join("model")).unwrap();
    dir.file("ml/model", "not a dir");
    let (_, doc) = check(&root);
    assert_has(&doc, "SM301", "model");
}

#[test]
fn sm302_model_missing_or_empty() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    fs::remove_file(root.join("model/model.pth")).unwrap();
    dir.dir("ml/model/sub");
    let (code, doc) = check(&root);
    assert_has(&doc, "SM302", "model");
    assert_eq!(code, 1);
    fs::remove_dir_all(root.join("model")).unwrap();
    let (_, doc) = check(&root);
    assert_has(&doc, "SM302", "model");
}

#[test]
fn sm303_checkpoints_in_model() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("ml/model/checkpoint-500/pytorch_model.bin", "x").file("ml/model/checkpoint-500/optimizer.pt", "x").file("ml/model/last.ckpt", "x");
    let (_, doc) = check(&root);
    let mut paths = paths_for(&doc, "SM303");
    paths.sort();
    assert_eq!(paths, vec!["model/checkpoint-500", "model/last.ckpt"]);
}

#[test]
fn sm304_weights_in_output_data() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("ml/output/data/model.safetensors", "x").file("ml/output/data/metrics.json", "{}");
    let (_, doc) = check(&root);
    assert_eq!(paths_for(&doc, "SM304"), vec!["output/data/model.safetensors"]);
}

#[test]
fn sm305_model_saved_in_a_subfolder() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    fs::remove_file(root.join("model/model.pth")).unwrap();
    dir.file("ml/model/model/weights.pt", "x");
    let (_, doc) = check(&root);
    assert_has(&doc, "SM305", "model/model");
    // TF Serving version folders are the layout, not a wrapper.
    fs::remove_dir_all(root.join("model/model")).unwrap();
    dir.file("ml/model/1/saved_model.pb", "x");
    let (_, doc) = check(&root);
    assert_lacks(&doc, "SM305");
}

// ------------------------------------------------------------------ junk

#[test]
fn sm401_sm402_sm403_junk() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("ml/model/._model.pth", "x")
        .file("ml/model/.DS_Store", "x")
        .file("ml/model/code/__pycache__/inference.cpython-311.pyc", "x")
        .file("ml/output/data/.ipynb_checkpoints/a.json", "x");
    let (code, doc) = check(&root);
    assert_eq!(paths_for(&doc, "SM401"), vec!["model/._model.pth"]);
    assert_eq!(paths_for(&doc, "SM402"), vec!["model/.DS_Store"]);
    let mut dev = paths_for(&doc, "SM403");
    dev.sort();
    assert_eq!(dev, vec!["model/code/__pycache__", "output/data/.ipynb_checkpoints"]);
    assert_eq!(code, 0);
}

// ------------------------------------------------------------------ unsafe entries

#[test]
fn sm501_sm502_unsafe_names_in_archives() {
    let dir = TestDir::new();
    let archive =
        tar_gz(&dir, "model.tar.gz", &[Member::File("/etc/cron.d/x", b"x"), Member::File("../escape.py", b"x"), Member::File("model.pt", &TORCHSCRIPT)]);
    let (code, doc) = check(&archive);
    assert_has(&doc, "SM501", "etc/cron.d/x");
    assert_has(&doc, "SM502", "../escape.py");
    assert_eq!(code, 1);
    let good = tar_gz(&dir, "good/model.tar.gz", &[Member::File("./model.pt", &TORCHSCRIPT)]);
    let (code, doc) = check(&good);
    assert_eq!(codes(&doc), Vec::<String>::new());
    assert_eq!(code, 0);
}

#[test]
fn sm503_links_escaping_the_root() {
    let dir = TestDir::new();
    let archive = tar_gz(
        &dir,
        "model.tar.gz",
        &[
            Member::File("model.pt", &TORCHSCRIPT),
            Member::Symlink("abs", "/etc/passwd"),
            Member::Symlink("up", "../../x"),
            Member::Symlink("inside", "model.pt"),
            Member::Hardlink("hard", "../outside"),
        ],
    );
    let (_, doc) = check(&archive);
    let mut paths = paths_for(&doc, "SM503");
    paths.sort();
    assert_eq!(paths, vec!["abs", "hard", "up"]);
    // In a live tree, a link that leaves model/ escapes what gets packed.
    let root = dir.opt_ml("ml");
    symlink("../input/data/train/x", root.join("model/data")).unwrap();
    symlink("model.pth", root.join("model/alias.pth")).unwrap();
    let (_, doc) = check(&root);
    assert_eq!(paths_for(&doc, "SM503"), vec!["model/data"]);
}

#[test]
fn sm504_special_files() {
    let dir = TestDir::new();
    let archive = tar_gz(&dir, "model.tar.gz", &[Member::File("model.pt", &TORCHSCRIPT), Member::Fifo("pipe")]);
    let (_, doc) = check(&archive);
    assert_has(&doc, "SM504", "pipe");
    // A FIFO in a live tree is never opened, and Pipe-mode channel FIFOs are expected.
    let root = dir.opt_ml("ml");
    dir.dir("ml/input/data");
    for fifo in ["ml/model/stray.fifo", "ml/input/data/train_0"] {
        let path = std::ffi::CString::new(dir.join(fifo).to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
    }
    let (_, doc) = check(&root);
    assert_eq!(paths_for(&doc, "SM504"), vec!["model/stray.fifo"]);
}

#[test]
fn sm505_setuid_and_sm506_world_writable() {
    let dir = TestDir::new();
    let archive = tar_gz(&dir, "model.tar.gz", &[Member::Mode("run.sh", 0o4755), Member::Mode("model.pt", 0o666), Member::Mode("ok.bin", 0o644)]);
    let (_, doc) = check(&archive);
    assert_eq!(paths_for(&doc, "SM505"), vec!["run.sh"]);
    assert_eq!(paths_for(&doc, "SM506"), vec!["model.pt"]);
    let severity = doc["diagnostics"].as_array().unwrap().iter().find(|d| d["rule"] == "SM506").unwrap()["severity"].clone();
    assert_eq!(severity, "info");
}

#[test]
fn sm507_file_directory_clash_and_sm509_duplicates() {
    let dir = TestDir::new();
    let archive = tar_gz(
        &dir,
        "model.tar.gz",
        &[Member::File("weights", b"a"), Member::File("weights/part1", b"b"), Member::File("model.pt", &TORCHSCRIPT), Member::File("model.pt", &TORCHSCRIPT)],
    );
    let (_, doc) = check(&archive);
    assert_eq!(paths_for(&doc, "SM507"), vec!["weights"]);
    assert_eq!(paths_for(&doc, "SM509"), vec!["model.pt"]);
}

#[test]
fn sm508_names_s3_rejects() {
    let dir = TestDir::new();
    let long = format!("{}.bin", "a".repeat(300));
    let archive = tar_gz(&dir, "model.tar.gz", &[Member::File("a//b.bin", b"x"), Member::File("model.pt", &TORCHSCRIPT)]);
    let (_, doc) = check(&archive);
    assert_eq!(paths_for(&doc, "SM508"), vec!["a/b.bin"]);
    // Over-long names need a GNU long-name record; build it with the tar crate's own writer.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(1);
    header.set_mode(0o644);
    builder.append_data(&mut header, &long, &b"x"[..]).unwrap();
    let path = dir.join("long/model.tar.gz");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, gzip(&builder.into_inner().unwrap())).unwrap();
    let (_, doc) = check(&path);
    assert_eq!(paths_for(&doc, "SM508"), vec![long]);
}

// ------------------------------------------------------------------ archives

#[test]
fn sm601_named_gzip_but_plain_tar() {
    let dir = TestDir::new();
    let path = dir.join("model.tar.gz");
    fs::write(&path, tar_bytes(&[Member::File("model.pt", &TORCHSCRIPT)])).unwrap();
    let (code, doc) = check(&path);
    assert_eq!(codes(&doc), vec!["SM601"]);
    assert_eq!(paths_for(&doc, "SM601"), vec![""]);
    assert_eq!(code, 1);
    // The same bytes named .tar are read as a plain tar (compression comes from the bytes, never
    // the name); as a model they are MDL110, since ModelDataUrl must be a gzip-compressed tar.
    let tar = dir.join("model.tar");
    fs::write(&tar, tar_bytes(&[Member::File("model.pt", &TORCHSCRIPT)])).unwrap();
    let (code, doc) = check(&tar);
    assert_eq!(codes(&doc), vec!["MDL110"]);
    assert_eq!(doc["inputs"][0]["parts"][0]["compression"], "none");
    assert_eq!(code, 1);
    let (code, doc) = check_with(&tar, &["--as", "output"]);
    assert_eq!(code, 0);
    assert!(!codes(&doc).contains(&"MDL110".to_string()), "an output archive is not a model");
}

#[test]
fn sm602_unsupported_compression() {
    let dir = TestDir::new();
    let path = dir.join("model.tar.gz");
    fs::write(&path, [&[0xfd, b'7', b'z', b'X', b'Z', 0][..], &[0u8; 64]].concat()).unwrap();
    let (code, doc) = check(&path);
    assert!(codes(&doc).contains(&"SM602".to_string()), "{doc:#}");
    assert_eq!(code, 1);
}

#[test]
fn sm603_not_a_tar() {
    let dir = TestDir::new();
    let path = dir.join("model.tar.gz");
    fs::write(&path, gzip(&b"\x80\x04\x95 this is a pickle, not a tar ".repeat(40))).unwrap();
    let (code, doc) = check(&path);
    assert_eq!(codes(&doc), vec!["SM603"]);
    assert_eq!(code, 1);
    // A complete gzip stream (CRC checked) holding less than one 512-byte tar header is a
    // gzipped file too, not a truncated tar.
    fs::write(&path, gzip(b"{\"weights\": [0.1, 0.2]}\n")).unwrap();
    let (code, doc) = check(&path);
    assert_eq!((code, codes(&doc)), (1, vec!["SM603".to_string()]));
    // The same bytes cut inside the gzip stream are truncated.
    let whole = gzip(&tar_bytes(&[Member::File("model.pt", &TORCHSCRIPT)]));
    fs::write(&path, &whole[..whole.len() / 3]).unwrap();
    let (_, doc) = check(&path);
    assert_eq!(codes(&doc), vec!["SM604"]);
}

#[test]
fn sm604_truncated_archive_reports_offset_and_what_came_before() {
    let dir = TestDir::new();
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| (i.wrapping_mul(2654435761)).to_le_bytes()).collect();
    let bytes = gzip(&tar_bytes(&[Member::File("._model.pt", &TORCHSCRIPT), Member::File("model.pt", &big), Member::File("z.bin", b"z")]));
    let path = dir.join("model.tar.gz");
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (code, doc) = check(&path);
    assert_eq!(code, 1);
    let finding = doc["diagnostics"].as_array().unwrap().iter().find(|d| d["rule"] == "SM604").expect("SM604").clone();
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains("reading stopped at byte"), "{message}");
    assert!(message.contains("model.pt"), "{message}");
    // The entry read before the damage is still checked.
    assert_has(&doc, "SM401", "._model.pt");
}

#[test]
fn sm604_corrupt_gzip_trailer() {
    let dir = TestDir::new();
    let mut bytes = gzip(&tar_bytes(&[Member::File("model.pt", &TORCHSCRIPT)]));
    let len = bytes.len();
    bytes[len - 6] ^= 0xff; // CRC32 of the gzip trailer
    let path = dir.join("model.tar.gz");
    fs::write(&path, &bytes).unwrap();
    let (code, doc) = check(&path);
    assert_eq!(codes(&doc), vec!["SM604"]);
    assert_eq!(code, 1);
}

#[test]
fn sm605_empty_archives() {
    let dir = TestDir::new();
    let cases: [(&str, Vec<u8>); 4] = [
        ("zero/model.tar.gz", Vec::new()),
        ("gzip-of-nothing/model.tar.gz", gzip(b"")),
        ("zeros/model.tar.gz", gzip(&[0u8; 10240])),
        ("only-root/model.tar.gz", gzip(&tar_bytes(&[Member::Dir("./")]))),
    ];
    for (name, bytes) in cases {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        let (code, doc) = check(&path);
        assert_eq!(codes(&doc), vec!["SM605"], "{name}");
        assert_eq!(code, 1, "{name}");
    }
}

#[test]
fn sm606_wrapped_archive_names_the_fix() {
    let dir = TestDir::new();
    let archive = tar_gz(&dir, "model.tar.gz", &[Member::Dir("model/"), Member::File("model/model.pt", &TORCHSCRIPT), Member::File("._model", b"x")]);
    // The training pack alone: by default sagemaker-model's MDL101 supersedes SM606 on models.
    let training = ["--no-default-packs", "--pack", "sagemaker-training"];
    let (code, doc) = check_with(&archive, &training);
    assert_has(&doc, "SM606", "model");
    let fix = doc["diagnostics"].as_array().unwrap().iter().find(|d| d["rule"] == "SM606").unwrap()["fix"].as_str().unwrap().to_string();
    // The archive's path as given (so the command works from where optml ran), and `tar -xf`,
    // which also reads a plain tar.
    let path = archive.to_string_lossy();
    assert_eq!(fix, format!("mkdir unpacked && tar -xf {path} -C unpacked && tar -C unpacked/model -czf {path} ."));
    assert_eq!(code, 0, "a warning in the training pack");
    let flat = tar_gz(&dir, "flat/model.tar.gz", &[Member::File("model.pt", &TORCHSCRIPT), Member::File("code/inference.py", b"x")]);
    let (_, doc) = check_with(&flat, &training);
    assert_lacks(&doc, "SM606");
}

#[test]
fn sm607_unreadable_directory_is_a_finding() {
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("running as root: permission bits do not stop root, so this case cannot be produced");
        return;
    }
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("ml/model/secret/x.bin", "x");
    fs::set_permissions(root.join("model/secret"), fs::Permissions::from_mode(0o000)).unwrap();
    let (code, doc) = check(&root);
    fs::set_permissions(root.join("model/secret"), fs::Permissions::from_mode(0o755)).unwrap();
    assert!(codes(&doc).contains(&"SM607".to_string()), "{doc:#}");
    assert_eq!(code, 1);
}

// ------------------------------------------------------------------ input configuration

#[test]
fn sm701_sm702_sm703_input_configuration() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("ml/input/config/hyperparameters.json", "{\"epochs\": \"3\"")
        .file("ml/input/config/inputdataconfig.json", r#"{"train": {"TrainingInputMode": "File"}, "validation": {}}"#)
        .file("ml/input/data/train/part-0.csv", "1")
        .file("ml/input/data/extra/x.csv", "1");
    let (_, doc) = check(&root);
    assert_eq!(paths_for(&doc, "SM701"), vec!["input/config/resourceconfig.json"]);
    assert_eq!(paths_for(&doc, "SM702"), vec!["input/config/hyperparameters.json"]);
    let mut channels = paths_for(&doc, "SM703");
    channels.sort();
    assert_eq!(channels, vec!["input/data/extra", "input/data/validation"]);
    // Fixed: valid JSON, all files, matching channels (Pipe-mode FIFOs count as the channel).
    dir.file("ml/input/config/hyperparameters.json", "{}").file("ml/input/config/resourceconfig.json", r#"{"current_host": "algo-1", "hosts": ["algo-1"]}"#);
    fs::remove_dir_all(root.join("input/data/extra")).unwrap();
    dir.file("ml/input/data/validation_0", "");
    let (code, doc) = check(&root);
    assert_eq!(codes(&doc), Vec::<String>::new());
    assert_eq!(code, 0);
}

// ------------------------------------------------------------------ input kinds

#[test]
fn output_archive_flavours() {
    let dir = TestDir::new();
    let local = tar_gz(&dir, "local/output.tar.gz", &[Member::Dir("data/"), Member::File("data/metrics.json", b"{}"), Member::File("train.log", b"x")]);
    let (code, doc) = check(&local);
    assert_eq!(doc["inputs"][0]["parts"][0]["flavour"], "local");
    // Local mode packs all of output/: the missing marker and the stray log are visible.
    assert_has(&doc, "SM101", "");
    assert_has(&doc, "SM202", "train.log");
    assert_eq!(code, 1);
    let cloud = tar_gz(&dir, "cloud/output.tar.gz", &[Member::File("metrics.json", b"{}"), Member::File("model.pth", &TORCHSCRIPT)]);
    let (code, doc) = check(&cloud);
    assert_eq!(doc["inputs"][0]["parts"][0]["flavour"], "cloud");
    assert_eq!(codes(&doc), vec!["SM304"]);
    assert_eq!(code, 0);
}

#[test]
fn role_override_with_as() {
    let dir = TestDir::new();
    let archive = tar_gz(&dir, "artifacts.tgz", &[Member::File("metrics.json", b"{}")]);
    let (_, doc) = check_with(&archive, &["--as", "output"]);
    assert_eq!(doc["inputs"][0]["parts"][0]["role"], "output");
    let (_, doc) = check(&archive);
    assert_eq!(doc["inputs"][0]["parts"][0]["role"], "model");
    // A plain folder checked as model contents.
    dir.file_bytes("folder/model.pt", &TORCHSCRIPT);
    let (code, doc) = check_with(&dir.join("folder"), &["--as", "model"]);
    assert_eq!(codes(&doc), Vec::<String>::new());
    assert_eq!(code, 0);
}

#[test]
fn job_folder_prefixes_paths_with_the_archive() {
    let dir = TestDir::new();
    tar_gz(&dir, "job/output/model.tar.gz", &[Member::File("model.pt", &TORCHSCRIPT), Member::File("._model.pt", &TORCHSCRIPT)]);
    tar_gz(&dir, "job/output/output.tar.gz", &[Member::File("metrics.json", b"{}")]);
    let (code, doc) = check(&dir.join("job"));
    assert_eq!(doc["inputs"][0]["kind"], "job");
    assert_eq!(doc["inputs"][0]["parts"].as_array().unwrap().len(), 2);
    assert_eq!(paths_for(&doc, "SM401"), vec!["output/model.tar.gz/._model.pt"]);
    assert_eq!(code, 0);
    // The uncompressed form: the model is a plain folder.
    dir.file_bytes("job2/output/model/model.pt", &TORCHSCRIPT).file("job2/output/data/metrics.json", "{}");
    let (code, doc) = check(&dir.join("job2"));
    assert_eq!(doc["inputs"][0]["kind"], "job");
    assert_eq!(code, 0);
}

// ------------------------------------------------------------------ hostile inputs

#[test]
fn non_utf8_names_are_kept_and_shown_lossily() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    let name = OsStr::from_bytes(b"lost-\xff\xfe.bin");
    fs::write(root.join(name), "x").unwrap();
    let (code, doc) = check(&root);
    assert_eq!(paths_for(&doc, "SM201"), vec!["lost-\u{fffd}\u{fffd}.bin"]);
    assert_eq!(code, 1);
}

#[test]
fn terminal_escapes_in_names_are_neutralised() {
    let dir = TestDir::new();
    let archive = tar_gz(&dir, "model.tar.gz", &[Member::File("model.pt", &TORCHSCRIPT), Member::File("._\u{1b}[31mred", b"x")]);
    let output = optml().args(["check", "--color", "never"]).arg(&archive).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
    assert!(stdout.contains("\\u{1b}[31mred"), "{stdout}");
}

#[test]
fn symlink_loops_are_not_followed() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    symlink("loop", root.join("model/loop")).unwrap();
    symlink("..", root.join("model/up")).unwrap();
    let (code, doc) = check(&root);
    assert_eq!(paths_for(&doc, "SM503"), vec!["model/up"]);
    assert_eq!(code, 1);
    // An input that is itself a loop cannot be read: exit 2, named.
    symlink("self", dir.join("self")).unwrap();
    let output = optml().arg("check").arg(dir.join("self")).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("self"));
}

#[test]
fn fifo_input_is_refused_without_hanging() {
    let dir = TestDir::new();
    let fifo = dir.join("model.tar.gz");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
    let output = optml().arg("check").arg(&fifo).timeout(std::time::Duration::from_secs(20)).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a regular file"), "{}", String::from_utf8_lossy(&output.stderr));
}

// ------------------------------------------------------------------ exit codes and options

#[test]
fn missing_input_is_exit_2_naming_it() {
    let output = optml().args(["check", "/definitely/not/here.tar.gz"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/definitely/not/here.tar.gz") && stderr.contains("no such file"), "{stderr}");
}

#[test]
fn usage_errors_are_exit_2() {
    let output = optml().args(["check", "--format", "yaml", "x"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = optml().args(["check", "--ignore", "NOPE1", "."]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = optml().args(["check", "--pack", "no-such-pack", "."]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn ignore_drops_a_code() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("ml/stray.txt", "x");
    let (code, doc) = check_with(&root, &["--ignore", "SM201"]);
    assert_lacks(&doc, "SM201");
    assert_eq!(code, 0);
}

#[test]
fn several_inputs_in_one_report() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    let archive = tar_gz(&dir, "model.tar.gz", &[Member::File("model.pt", &TORCHSCRIPT)]);
    let (code, doc) = check_json(&[root.as_os_str(), archive.as_os_str()]);
    assert_eq!(doc["inputs"].as_array().unwrap().len(), 2);
    assert_eq!(code, 0);
}

#[test]
fn user_rule_pack_adds_rules() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file(
        "team.toml",
        r#"
[pack]
name = "team"
description = "Our conventions."

[[rule]]
code = "TEAM001"
name = "model-card-required"
severity = "error"
check = "require"
zone = "model"
paths = ["README.md"]
message = "model/{pattern} is missing"
help = "every model ships a model card"
docs = "Team policy."

[[rule]]
code = "TEAM002"
name = "no-huge-files"
severity = "warning"
check = "forbid"
zone = "model"
where = { type = "file", size-min = "1 KiB" }
message = "{path} is {size}"
help = "keep artifacts small"
docs = "Team policy."
"#,
    );
    dir.file("ml/model/big.bin", &"x".repeat(2048));
    let rules = dir.join("team.toml");
    let (code, doc) = check_with(&root, &["--no-default-packs", "--pack", "sagemaker-training", "--rules", rules.to_str().unwrap()]);
    assert_has(&doc, "TEAM001", "model/README.md");
    assert_has(&doc, "TEAM002", "model/big.bin");
    let message = doc["diagnostics"].as_array().unwrap().iter().find(|d| d["rule"] == "TEAM002").unwrap()["message"].as_str().unwrap().to_string();
    assert_eq!(message, "model/big.bin is 2.0 KiB");
    assert_eq!(code, 1);
}

#[test]
fn invalid_rule_file_points_at_the_span() {
    let dir = TestDir::new();
    dir.file(
        "bad.toml",
        r#"[pack]
name = "bad"
description = "Broken on purpose."

[[rule]]
code = "BAD001"
name = "bad-zone"
severity = "fatal"
check = "forbid"
zone = "modle"
paths = ["[unclosed"]
message = "{nope}"
help = "h"
docs = "d"
"#,
    );
    let output = optml().args(["check", "--rules"]).arg(dir.join("bad.toml")).arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = transcript(&output, dir.path());
    crate::common::snapshot_settings("check").bind(|| insta::assert_snapshot!("invalid_rule_file", text));
}

/// A rule file cannot make a layout larger than entries can index: too many zones or a
/// mapping prefix past 4096 bytes is a diagnostic at load (exit 2), never a panic later.
#[test]
fn a_layout_past_its_bounds_is_refused_at_load() {
    let dir = TestDir::new();
    let zones: String = (0..1025).map(|i| format!("[[zone]]\nname = \"z{i}\"\nroot = \"z{i}\"\npaths = [\"z{i}/**\"]\ndescription = \"d\"\n")).collect();
    let prefix = format!("[[archive]]\nrole = \"model\"\nflavour = \"long\"\nprefix = \"{}\"\ncovers = []\ndescription = \"d\"\n", "p".repeat(4097));
    dir.file("zones.toml", &format!("[pack]\nname = \"zones\"\ndescription = \"Too many zones.\"\n\n{zones}"));
    dir.file("prefix.toml", &format!("[pack]\nname = \"prefix\"\ndescription = \"A long prefix.\"\n\n{prefix}"));
    dir.opt_ml("ml");
    for (file, said) in [("zones.toml", "more than 1024 zones"), ("prefix.toml", "the prefix is longer than 4096 bytes")] {
        let output = optml().args(["check", "--rules"]).arg(dir.join(file)).arg(dir.join("ml")).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{file}: {stderr}");
        assert!(stderr.contains(said) && stderr.contains(file), "{file}: {stderr}");
    }
}

#[test]
fn human_report_snapshot() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("ml/columns.pkl", "x").file("ml/output/train.log", "x").file("ml/model/._model.pth", "x");
    let output = optml().args(["check", "--color", "never"]).arg(&root).output().unwrap();
    let text = transcript(&output, dir.path());
    crate::common::snapshot_settings("check").bind(|| insta::assert_snapshot!("human_report", text));
}

#[test]
fn sm604_truncated_plain_tar() {
    let dir = TestDir::new();
    let bytes = tar_bytes(&[Member::File("a.txt", b"a"), Member::File("model.pt", &[7u8; 4096])]);
    let path = dir.join("model.tar");
    // Cut inside the second member's data: headers still parse, the data is short.
    fs::write(&path, &bytes[..512 * 3 + 1000]).unwrap();
    let (code, doc) = check(&path);
    let finding = doc["diagnostics"].as_array().unwrap().iter().find(|d| d["rule"] == "SM604").expect("SM604").clone();
    assert!(finding["message"].as_str().unwrap().contains("model.pt"), "{finding}");
    assert_eq!(code, 1);
}

#[test]
fn sm704_unknown_config_file_is_information() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("ml/input/config/hyperparameters.json", "{}")
        .file("ml/input/config/inputdataconfig.json", "{}")
        .file("ml/input/config/resourceconfig.json", r#"{"current_host": "algo-1", "hosts": ["algo-1"]}"#)
        .file("ml/input/config/profilerconfig.json", "{}")
        .file("ml/input/config/my-settings.yaml", "a: 1");
    let (code, doc) = check(&root);
    assert_eq!(paths_for(&doc, "SM704"), vec!["input/config/my-settings.yaml"]);
    assert_eq!(code, 0);
}

#[test]
fn github_annotations() {
    let dir = TestDir::new();
    dir.opt_ml("ml");
    dir.file("ml/columns.pkl", "x");
    // file= is the real file, relative to the current folder when GITHUB_WORKSPACE is unset.
    let output = optml().args(["check", "--format", "github", "ml"]).current_dir(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("::error file=ml/columns.pkl,title=SM201 file-outside-uploaded-dirs::ml: columns.pkl: `columns.pkl` is outside"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn sm608_trailing_data_after_gzip() {
    let dir = TestDir::new();
    let mut bytes = gzip(&tar_bytes(&[Member::File("model.pt", &TORCHSCRIPT)]));
    bytes.extend_from_slice(b"appended by mistake\n");
    let path = dir.join("model.tar.gz");
    fs::write(&path, &bytes).unwrap();
    let (code, doc) = check(&path);
    assert_eq!(codes(&doc), vec!["SM608"]);
    assert_eq!(code, 0, "readable by the SDK: a warning");
    // Concatenated gzip members are one valid stream.
    let mut two = gzip(&tar_bytes(&[Member::File("model.pt", &TORCHSCRIPT)])[..512 * 2]);
    two.extend(gzip(&[0u8; 1024]));
    let path = dir.join("multi/model.tar.gz");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, &two).unwrap();
    let (code, doc) = check(&path);
    assert_eq!(codes(&doc), Vec::<String>::new());
    assert_eq!(code, 0);
}

#[test]
fn sourcedir_bundles_are_code_not_models() {
    let dir = TestDir::new();
    let script: &[Member] = &[Member::File("train.py", b"def model_fn(model_dir):\n    pass\n"), Member::File("requirements.txt", b"torch\n")];
    // sourcedir.tar.gz is unpacked into /opt/ml/code: no model rules, no framework detection.
    for name in ["sourcedir.tar.gz", "pytorch_mnist_source_code.tar.gz", "user_code.tar.gz", "code.tar.gz", "tests__data__script_mode__code.tar.gz"] {
        let (code, doc) = check(&tar_gz(&dir, name, script));
        assert_eq!(code, 0, "{name}: {doc}");
        assert_eq!(doc["inputs"][0]["parts"][0]["role"], "code", "{name}");
        assert!(codes(&doc).is_empty(), "{name}: {:?}", codes(&doc));
        assert!(doc["inputs"][0].get("detected").is_none(), "{name}: no serving detection on a source bundle");
    }
    // The same members named model.tar.gz (or anything else not named like a source bundle)
    // are still a model archive.
    for name in ["model.tar.gz", "sklearn_code.tar.gz", "weights_in_code.tar.gz", "model_code.tar.gz"] {
        let (code, doc) = check(&tar_gz(&dir, name, script));
        assert_eq!(doc["inputs"][0]["parts"][0]["role"], "model", "{name}");
        assert_eq!(code, 1, "{name}");
        assert!(codes(&doc).contains(&"MDL107".to_string()), "{name}");
    }
    // --as code reads any archive as a source bundle.
    let (code, doc) = check_with(&dir.join("model.tar.gz"), &["--as", "code"]);
    assert_eq!((code, codes(&doc)), (0, Vec::<String>::new()));
    // A wrapped source bundle puts the entry point one folder too deep.
    let wrapped = tar_gz(&dir, "sourcedir.tar.gz", &[Member::Dir("src/"), Member::File("src/train.py", b"print(1)\n")]);
    let (code, doc) = check(&wrapped);
    assert_eq!((code, codes(&doc)), (0, vec!["SM609".to_string()]));
    assert_eq!(paths_for(&doc, "SM609"), ["src"]);
}

#[test]
fn sm610_output_archive_wrapped_in_output_folder() {
    let dir = TestDir::new();
    let wrapped = tar_gz(&dir, "wrapped/output.tar.gz", &[Member::Dir("output/"), Member::File("output/metrics.json", b"{}")]);
    let (code, doc) = check(&wrapped);
    assert_eq!(paths_for(&doc, "SM610"), vec!["output"]);
    assert_eq!(code, 0, "a warning");
    // A cloud output with its own subfolder of results is fine.
    let logs = tar_gz(&dir, "logs/output.tar.gz", &[Member::File("logs/train.log", b"x")]);
    let (_, doc) = check(&logs);
    assert_lacks(&doc, "SM610");
}

#[test]
fn a_folder_without_opt_ml_markers_is_model_contents() {
    let dir = TestDir::new();
    // `optml check /opt/ml/model`: the model folder itself, not an /opt/ml root.
    dir.file_bytes("model/model.pt", &TORCHSCRIPT).file("model/code/inference.py", "def model_fn(d):\n    pass\n");
    let (code, doc) = check(&dir.join("model"));
    assert_eq!(doc["inputs"][0]["parts"][0]["role"], "model");
    assert_lacks(&doc, "SM201");
    assert_lacks(&doc, "SM101");
    assert_eq!(code, 0, "{doc:#}");
    // A folder holding model/ (or output/, input/) is an /opt/ml root.
    let (_, doc) = check(dir.path());
    assert_eq!(doc["inputs"][0]["parts"][0]["role"], "opt-ml");
}
