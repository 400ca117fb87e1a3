//! `optml run` end to end: sandbox, environment, argv, status markers, stops, isolation,
//! multi-host merging, and conformance with the real sagemaker-training toolkit.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

/// The venv .ci/run installs sagemaker-training into (`$OPTML_TOOLKIT_VENV`). Tests that need
/// it fail under CI when it is missing, and are skipped (with a message) elsewhere.
fn toolkit_venv() -> Option<PathBuf> {
    let venv = std::env::var_os("OPTML_TOOLKIT_VENV").map(PathBuf::from).filter(|v| v.join("bin/train").exists());
    if venv.is_none() {
        let message = "the sagemaker-training venv is missing: set OPTML_TOOLKIT_VENV to a venv with `pip install sagemaker-training` (.ci/run does this)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("skipping toolkit conformance test: {message}");
    }
    venv
}

/// `optml run --format json --root ROOT ARGS -- COMMAND`: exit code, report, stderr.
fn run_json(root: &Path, args: &[&str], command: &[&str]) -> (i32, serde_json::Value, String) {
    let output = optml().arg("run").arg("--format").arg("json").arg("--root").arg(root).args(args).arg("--").args(command).output().expect("run optml");
    parse(&output)
}

/// `optml run --root ROOT ARGS` with the human report.
fn run_human(root: &Path, args: &[&str]) -> Output {
    optml().arg("run").arg("--root").arg(root).args(args).output().expect("run optml")
}

fn parse(output: &Output) -> (i32, serde_json::Value, String) {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let doc = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {}\nstderr: {stderr}", String::from_utf8_lossy(&output.stdout)));
    (output.status.code().expect("exit code"), doc, stderr)
}

fn read(path: PathBuf) -> String {
    fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Member names of a tar.gz, in archive order.
fn members(archive: &Path) -> Vec<String> {
    let file = fs::File::open(archive).expect("archive");
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    tar.entries().expect("entries").map(|e| e.expect("entry").path().expect("path").to_string_lossy().into_owned()).collect()
}

fn member_text(archive: &Path, name: &str) -> String {
    use std::io::Read;
    let file = fs::File::open(archive).expect("archive");
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in tar.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        if entry.path().expect("path").to_string_lossy() == name {
            let mut text = String::new();
            entry.read_to_string(&mut text).expect("read member");
            return text;
        }
    }
    panic!("{name} not in {}", archive.display());
}

#[test]
fn successful_run_writes_success_packs_and_checks() {
    let dir = TestDir::new();
    dir.file("data/train.csv", "1,2\n");
    let root = dir.join("run");
    let script = "echo model > \"$SM_MODEL_DIR/model.bin\"; echo '{}' > \"$SM_OUTPUT_DATA_DIR/metrics.json\"";
    let (code, doc, stderr) = run_json(&root, &["--channel", &format!("train={}", dir.join("data").display())], &["sh", "-c", script]);
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    assert_eq!(codes(&doc), Vec::<String>::new());
    assert!(root.join("algo-1/output/success").exists());
    assert_eq!(read(root.join("algo-1/input/data/train/train.csv")), "1,2\n");
    assert_eq!(members(&root.join("artifacts/model.tar.gz")), ["model.bin"]);
    assert_eq!(members(&root.join("artifacts/output.tar.gz")), ["metrics.json"]);
    let run = &doc["run"];
    assert_eq!(run["hosts"][0]["exit_code"], 0);
    assert_eq!(run["hosts"][0]["marker"], "success");
    assert_eq!(run["hosts"][0]["zones"]["model"]["files"], 1);
    assert_eq!(run["artifacts"][0]["written"], true);
    let paths: Vec<&str> = doc["inputs"].as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap()).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
}

#[test]
fn config_files_have_the_platform_shapes() {
    let dir = TestDir::new();
    dir.file("a/x", "x").file("b/y", "y").file("hps.json", r#"{"epochs": 3, "flag": true, "name": "resnet", "layers": [64, 128]}"#);
    let root = dir.join("run");
    let hp_file = dir.join("hps.json");
    let channels = [format!("train={}", dir.join("a").display()), format!("validation={}", dir.join("b").display())];
    let args = [
        "--hyperparameters",
        hp_file.to_str().unwrap(),
        "--hp",
        "epochs=5",
        "--channel",
        &channels[0],
        "--channel",
        &channels[1],
        "--checkpoints",
        "s3://bucket/ckpt",
        "--hosts",
        "2",
        "--no-isolate",
    ];
    let (code, doc, _) = run_json(&root, &args, &["true"]);
    assert_eq!(code, 1, "empty model/ is an error finding: {doc:#}");
    let config = root.join("algo-2/input/config");
    assert_eq!(read(config.join("hyperparameters.json")), r#"{"epochs": "5", "flag": "true", "name": "resnet", "layers": "[64, 128]"}"#);
    let resource: serde_json::Value = serde_json::from_str(&read(config.join("resourceconfig.json"))).unwrap();
    assert_eq!(resource["current_host"], "algo-2");
    assert_eq!(resource["hosts"], serde_json::json!(["algo-1", "algo-2"]));
    assert_eq!(resource["instance_groups"][0]["instance_group_name"], "homogeneousCluster");
    let data: serde_json::Value = serde_json::from_str(&read(config.join("inputdataconfig.json"))).unwrap();
    assert_eq!(data["validation"]["TrainingInputMode"], "File");
    let checkpoints: serde_json::Value = serde_json::from_str(&read(config.join("checkpointconfig.json"))).unwrap();
    assert_eq!(checkpoints["S3Uri"], "s3://bucket/ckpt");
    assert!(root.join("algo-2/checkpoints").is_dir());
    assert!(root.join("algo-1/code").is_dir());
}

#[test]
fn channel_link_mode_hard_links_the_data() {
    use std::os::unix::fs::MetadataExt;
    let dir = TestDir::new();
    dir.file("data/part/a.csv", "1\n");
    let root = dir.join("run");
    let channel = format!("train={}", dir.join("data").display());
    let (_, doc, _) = run_json(&root, &["--channel-mode", "link", "--channel", &channel], &["true"]);
    let inode = |path: PathBuf| fs::metadata(path).unwrap().ino();
    assert_eq!(inode(root.join("algo-1/input/data/train/part/a.csv")), inode(dir.join("data/part/a.csv")));
    assert!(paths_for(&doc, "SM503").is_empty(), "{doc:#}");
}

#[test]
fn failing_script_gets_an_execute_user_script_error() {
    let dir = TestDir::new();
    let root = dir.join("run");
    let (code, doc, stderr) = run_json(&root, &["--hp", "epochs=2"], &["sh", "-c", "echo boom >&2; exit 3", "script"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("boom"), "stderr streamed: {stderr}");
    assert!(codes(&doc).contains(&"RUN001".to_string()), "{doc:#}");
    let failure = read(root.join("algo-1/output/failure"));
    assert_eq!(failure, "ExecuteUserScriptError:\nExitCode 3\nErrorMessage \"boom\"\nCommand \"sh -c echo boom >&2; exit 3 script --epochs 2\"");
    assert!(!root.join("algo-1/output/success").exists());
}

#[test]
fn a_failure_file_the_script_wrote_is_kept() {
    let dir = TestDir::new();
    let root = dir.join("run");
    let (code, doc, _) = run_json(&root, &[], &["sh", "-c", "printf 'my own reason' > \"$SM_OUTPUT_DIR/failure\"; exit 2"]);
    assert_eq!(code, 1);
    assert_eq!(read(root.join("algo-1/output/failure")), "my own reason");
    assert_eq!(doc["run"]["hosts"][0]["marker"], "script-failure");
}

#[test]
fn a_script_killed_by_a_signal_fails() {
    let dir = TestDir::new();
    let root = dir.join("run");
    let (code, doc, _) = run_json(&root, &[], &["sh", "-c", "kill -KILL $$"]);
    assert_eq!(code, 1);
    assert_eq!(doc["run"]["hosts"][0]["signal"], 9);
    assert!(codes(&doc).contains(&"RUN002".to_string()), "{doc:#}");
    let failure = read(root.join("algo-1/output/failure"));
    assert!(failure.starts_with("ExecuteUserScriptError:\nExitCode -9\n"), "{failure}");
    assert!(failure.contains("SIGKILL"), "{failure}");
}

#[test]
fn max_run_stops_a_script_that_never_exits() {
    let dir = TestDir::new();
    let root = dir.join("run");
    // The script ignores SIGTERM, so only the SIGKILL after --stop-timeout ends it.
    let (code, doc, _) = run_json(&root, &["--max-run", "1", "--stop-timeout", "0.3"], &["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]);
    assert_eq!(code, 1);
    let host = &doc["run"]["hosts"][0];
    assert_eq!(host["stopped"], "max-run");
    assert_eq!(host["killed_after_stop_timeout"], true);
    assert_eq!(host["signal"], 9);
    assert_eq!(paths_for(&doc, "RUN003").len(), 1, "{doc:#}");
    assert!(read(root.join("algo-1/output/failure")).contains("--max-run"));
}

#[test]
fn max_run_sigterm_lets_the_script_save_and_exit() {
    let dir = TestDir::new();
    let root = dir.join("run");
    let script = "trap 'echo saved > \"$SM_MODEL_DIR/ckpt\"; exit 0' TERM; while :; do sleep 0.05; done";
    let (_, doc, _) = run_json(&root, &["--max-run", "1"], &["sh", "-c", script]);
    assert_eq!(doc["run"]["hosts"][0]["killed_after_stop_timeout"], false);
    assert_eq!(read(root.join("algo-1/model/ckpt")), "saved\n");
    assert_eq!(paths_for(&doc, "RUN003").len(), 1);
}

#[test]
fn sigterm_to_optml_is_forwarded_to_the_script() {
    let dir = TestDir::new();
    let root = dir.join("run");
    let ready = dir.join("ready");
    let script = format!("trap 'echo got-term > \"$SM_OUTPUT_DATA_DIR/term\"; exit 0' TERM; touch {}; while :; do sleep 0.05; done", ready.display());
    // --max-run ends the run even if forwarding failed, so the test fails instead of hanging.
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_optml"))
        .args(["run", "--format", "json", "--max-run", "60", "--root"])
        .arg(&root)
        .args(["--", "sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start optml");
    wait_until_started(&ready);
    // SAFETY: signalling a child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let output = child.wait_with_output().expect("optml ends");
    let (code, doc, _) = parse(&output);
    assert_eq!(read(root.join("algo-1/output/data/term")), "got-term\n");
    assert_eq!(doc["run"]["hosts"][0]["stopped"], "signal");
    assert_eq!(doc["run"]["hosts"][0]["exit_code"], 0, "the script exited 0 after SIGTERM: {doc:#}");
    assert_eq!(code, 1, "its model/ is empty");
}

#[test]
fn hard_coded_opt_ml_paths_land_in_the_sandbox() {
    let dir = TestDir::new();
    let root = dir.join("run");
    let had_opt_ml = Path::new("/opt/ml").exists();
    let (_, doc, _) = run_json(&root, &[], &["sh", "-c", "echo w > /opt/ml/model/hard.bin && echo d > /opt/ml/output/data/hard.txt"]);
    match doc["run"]["isolation"]["mode"].as_str() {
        Some("namespace") => {
            assert_eq!(read(root.join("algo-1/model/hard.bin")), "w\n");
            assert_eq!(member_text(&root.join("artifacts/output.tar.gz"), "hard.txt"), "d\n");
            assert_eq!(Path::new("/opt/ml").exists(), had_opt_ml, "nothing created outside the sandbox");
        }
        // Where namespaces are refused, the fallback must be reported, not silent.
        _ => assert_eq!(paths_for(&doc, "RUN006").len(), 1, "{doc:#}"),
    }
}

#[test]
fn namespace_contains_setsid_daemons_and_hides_other_hosts() {
    let dir = TestDir::new();
    let root = dir.join("run");
    // A daemon that leaves the process group and writes after the entry point exits, and a
    // host that tries to read and plant in the other's sandbox.
    let script = "setsid sh -c 'sleep 1; echo late > \"$SM_MODEL_DIR/late.txt\"' </dev/null >/dev/null 2>&1 & \
        other=\"$(dirname \"$SAGEMAKER_BASE_DIR\")/algo-2\"; \
        if [ \"$SM_CURRENT_HOST\" = algo-1 ]; then ls \"$other\" >/dev/null 2>&1 && echo seen > /opt/ml/model/saw-algo-2; \
        mkdir -p \"$other/model\" 2>/dev/null && echo x > \"$other/model/planted\"; fi; true";
    let (_, doc, _) = run_json(&root, &["--hosts", "2"], &["sh", "-c", script]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    match doc["run"]["isolation"]["mode"].as_str() {
        Some("namespace") => {
            assert_eq!(doc["run"]["isolation"]["containment"], "pid-namespace", "{doc:#}");
            for host in ["algo-1", "algo-2"] {
                assert!(!root.join(host).join("model/late.txt").exists(), "a setsid daemon outlived the run on {host}");
            }
            assert!(!root.join("algo-1/model/saw-algo-2").exists(), "algo-1 saw algo-2's sandbox");
            assert!(!root.join("algo-2/model/planted").exists(), "algo-1 planted a file in algo-2's model");
        }
        _ => {
            eprintln!("skipped: namespaces unavailable here, checking the fallback is stated");
            assert_eq!(doc["run"]["isolation"]["containment"], "process-group", "{doc:#}");
        }
    }
}

/// `program` on PATH, when running as root (the wrappers below need both); else a skip message.
fn root_with(program: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|dir| dir.join(program).exists());
    if !(root && found) {
        eprintln!("skipping: needs root and `{program}`");
    }
    root && found
}

/// `optml run --format json --root ROOT ARGS -- COMMAND`, started through `wrapper`.
fn run_wrapped(wrapper: &[&str], root: &Path, args: &[&str], command: &[&str]) -> (i32, serde_json::Value, String) {
    let output = std::process::Command::new(wrapper[0])
        .args(&wrapper[1..])
        .arg(env!("CARGO_BIN_EXE_optml"))
        .args(["run", "--format", "json", "--root"])
        .arg(root)
        .args(args)
        .arg("--")
        .args(command)
        .output()
        .expect("run the wrapper");
    parse(&output)
}

#[test]
fn an_unprivileged_user_is_isolated_through_a_user_namespace() {
    if !root_with("setpriv") {
        return;
    }
    let nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    let reachable = std::process::Command::new(nobody[0]).args(&nobody[1..]).arg(env!("CARGO_BIN_EXE_optml")).arg("--version").output();
    if !reachable.is_ok_and(|o| o.status.success()) {
        eprintln!("skipping: user nobody cannot run {} (checkout in a private folder)", env!("CARGO_BIN_EXE_optml"));
        return;
    }
    let dir = TestDir::new();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let root = dir.join("run");
    let (_, doc, stderr) = run_wrapped(&nobody, &root, &[], &["sh", "-c", "echo w > /opt/ml/model/hard.bin; id -u"]);
    match doc["run"]["isolation"]["mode"].as_str() {
        Some("namespace") => assert_eq!(read(root.join("algo-1/model/hard.bin")), "w\n"),
        // Kernels that refuse unprivileged user namespaces: the fallback must be reported.
        _ => assert_eq!(paths_for(&doc, "RUN006").len(), 1, "{doc:#}"),
    }
    assert!(stderr.contains("65534"), "the script keeps the caller's uid: {stderr}");
}

#[test]
fn isolation_fallback_is_reported() {
    if !root_with("unshare") || env!("CARGO_BIN_EXE_optml").starts_with("/opt/") {
        return;
    }
    let dir = TestDir::new();
    let root = dir.join("run");
    // In a private mount namespace of its own, /opt/ml is a file: nothing can be mounted there.
    let blocked = ["unshare", "--mount", "sh", "-c", "mount -t tmpfs none /opt && touch /opt/ml && exec \"$@\"", "sh"];
    let (code, doc, stderr) = run_wrapped(&blocked, &root, &[], &["sh", "-c", "echo m > \"$SM_MODEL_DIR/model.bin\""]);
    assert_eq!(doc["run"]["isolation"]["mode"], "unavailable", "{doc:#}");
    assert!(doc["run"]["isolation"]["detail"].as_str().unwrap().contains("not a directory"));
    assert_eq!(paths_for(&doc, "RUN006").len(), 1);
    assert!(stderr.contains("cannot isolate /opt/ml"), "{stderr}");
    assert_eq!(read(root.join("algo-1/model/model.bin")), "m\n", "the variables still point at the sandbox");
    assert_eq!(code, 0, "an info finding does not fail the run: {doc:#}");
}

#[test]
fn no_isolate_leaves_opt_ml_alone() {
    let dir = TestDir::new();
    let root = dir.join("run");
    let (_, doc, _) = run_json(&root, &["--no-isolate"], &["sh", "-c", "test \"$SM_MODEL_DIR\" = \"$SAGEMAKER_BASE_DIR/model\""]);
    assert_eq!(doc["run"]["isolation"]["mode"], "disabled");
    assert_eq!(doc["run"]["hosts"][0]["exit_code"], 0);
}

#[test]
fn non_utf8_output_passes_through_byte_for_byte() {
    let dir = TestDir::new();
    let root = dir.join("run");
    let output = run_human(&root, &["--", "sh", "-c", "printf 'raw \\377\\376 bytes\\n'; printf 'err \\377\\n' >&2; exit 1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.windows(12).any(|w| w == b"raw \xff\xfe bytes"), "{:?}", String::from_utf8_lossy(&output.stdout));
    assert!(output.stderr.windows(5).any(|w| w == b"err \xff"));
    assert!(read(root.join("algo-1/output/failure")).contains("ErrorMessage \"err \u{fffd}\""));
}

#[test]
fn two_hosts_merge_and_report_collisions() {
    let dir = TestDir::new();
    let root = dir.join("run");
    let script = "echo $SM_CURRENT_HOST > \"$SM_MODEL_DIR/weights.bin\"; echo same > \"$SM_MODEL_DIR/config.json\"; \
                  echo $SM_CURRENT_HOST > \"$SM_MODEL_DIR/part-$SM_CURRENT_HOST\"";
    let (code, doc, stderr) = run_json(&root, &["--hosts", "2"], &["sh", "-c", script]);
    assert_eq!(code, 1, "a collision is an error: {doc:#}");
    assert_eq!(paths_for(&doc, "RUN004"), ["weights.bin"]);
    assert_eq!(paths_for(&doc, "RUN005"), ["config.json"]);
    let model = root.join("artifacts/model.tar.gz");
    assert_eq!(members(&model), ["config.json", "part-algo-1", "part-algo-2", "weights.bin"]);
    assert_eq!(member_text(&model, "weights.bin"), "algo-2\n", "the later host wins");
    assert_eq!(doc["run"]["hosts"].as_array().unwrap().len(), 2);
    assert!(!codes(&doc).contains(&"SM302".to_string()), "{doc:#}");
    let _ = stderr;
}

#[test]
fn output_archive_local_packs_all_of_output() {
    let dir = TestDir::new();
    let root = dir.join("run");
    let (_, _, _) = run_json(&root, &["--output-archive", "local"], &["sh", "-c", "echo m > \"$SM_MODEL_DIR/m\"; echo x > \"$SM_OUTPUT_DATA_DIR/x\""]);
    assert_eq!(members(&root.join("artifacts/output.tar.gz")), ["data/", "data/x", "success"]);
}

#[test]
fn a_command_that_cannot_start_fails_like_a_shell() {
    let dir = TestDir::new();
    let root = dir.join("run");
    let (code, doc, _) = run_json(&root, &[], &["/no/such/command"]);
    assert_eq!(code, 1);
    assert_eq!(doc["run"]["hosts"][0]["exit_code"], 127);
    assert_eq!(paths_for(&doc, "RUN001").len(), 1, "{doc:#}");
    assert!(read(root.join("algo-1/output/failure")).contains("cannot run"));
}

#[test]
fn snapshot_compares_the_archives_with_a_golden_manifest() {
    let dir = TestDir::new();
    let save = "echo m > \"$SM_MODEL_DIR/model.bin\"; echo x > \"$SM_OUTPUT_DATA_DIR/metrics.json\"";
    let golden = dir.join("golden.manifest");
    dir.file(
        "golden.manifest",
        "#optml-manifest v1\n/fields type size link\nmodel.tar.gz/model.bin type=file size=2\noutput.tar.gz/metrics.json type=file size=2\n",
    );
    let snapshot = ["--snapshot", golden.to_str().unwrap()];
    let (code, doc, _) = run_json(&dir.join("same"), &snapshot, &["sh", "-c", save]);
    assert_eq!(code, 0, "{doc:#}");
    let (code, doc, _) = run_json(&dir.join("changed"), &snapshot, &["sh", "-c", "echo m > \"$SM_MODEL_DIR/other.pth\""]);
    assert_eq!(code, 1);
    assert_eq!(paths_for(&doc, "SNAP002"), ["model.tar.gz/other.pth"]);
    assert_eq!(paths_for(&doc, "SNAP001"), ["model.tar.gz/model.bin", "output.tar.gz/metrics.json"]);
}

#[test]
fn usage_errors_exit_2() {
    let dir = TestDir::new();
    dir.file("busy/file", "x");
    for args in [
        vec!["--root", dir.join("busy").to_str().unwrap(), "--", "true"],
        vec!["--channel", "train=/does/not/exist", "--", "true"],
        vec!["--channel", "bad name=/tmp", "--", "true"],
        vec!["--hp", "novalue", "--", "true"],
        vec!["--max-run", "-1", "--", "true"],
    ] {
        let output = optml().arg("run").args(&args).output().expect("run optml");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

#[test]
fn human_summary() {
    let dir = TestDir::new();
    let root = dir.join("run");
    let output = run_human(&root, &["--hp", "epochs=1", "--", "sh", "-c", "echo hello; echo m > \"$SM_MODEL_DIR/model.bin\""]);
    let mut settings = snapshot_settings("run");
    settings.add_filter(r"\d+\.\d s", "[SECONDS]");
    settings.add_filter(r"isolation: [^\n]*", "isolation: [MODE]");
    settings.add_filter(r"-> \d+ B", "-> [SIZE]");
    let text = transcript(&output, dir.path());
    settings.bind(|| insta::assert_snapshot!("human_summary", text));
}

/// Run `script` under `optml run` with the toolkit's `Environment()` and compare what it
/// computes with what optml gave the script.
#[test]
fn toolkit_environment_and_argv_match_optml() {
    let Some(venv) = toolkit_venv() else { return };
    let dir = TestDir::new();
    dir.file("train/a.csv", "1").file("validation-set/b.csv", "2");
    dir.file(
        "dump.py",
        r#"import json, os, sys
from sagemaker_training import environment
env = environment.Environment()
host = os.environ["SM_CURRENT_HOST"]
out = {"expected_env": env.to_env_vars(), "expected_args": env.to_cmd_args(), "env": dict(os.environ),
       "argv": sys.argv[1:], "cpu_count": os.cpu_count()}
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "dump-%s.json" % host), "w") as f:
    json.dump(out, f)
"#,
    );
    dir.file("hps.json", r#"{"from_file": 7, "file_list": [1, "two", null], "file_bool": false}"#);
    let root = dir.join("run");
    let hp_file = dir.join("hps.json");
    let train = format!("train={}", dir.join("train").display());
    let validation = format!("validation-set={}", dir.join("validation-set").display());
    let hps = [
        "epochs=3",
        "lr=0.01",
        "tiny=1e-5",
        "big=123456789012345678901234567890",
        "use_amp=true",
        "flag_py=True",
        "name=\"resnet\"",
        "bare=hello world",
        "quote=\"it's\"",
        "unicode=\"caf\\u00e9 \u{2603}\"",
        "layers=[64, 128]",
        "opts={\"b\": \"x\", \"a\": 1, \"nested\": {\"z\": [1, null, true]}}",
        "k=5",
        "empty=",
        "nullish=null",
        "learning-rate=0.001",
        "sagemaker_program=\"train.py\"",
        "sagemaker_container_log_level=10",
        "sagemaker_custom_thing=\"abc\"",
        "sagemaker_mpi_enabled=false",
    ];
    let mut args = vec!["--hosts", "2", "--channel", &train, "--channel", &validation, "--hyperparameters", hp_file.to_str().unwrap()];
    for hp in &hps {
        args.extend(["--hp", hp]);
    }
    let python = venv.join("bin/python");
    let dump = dir.join("dump.py");
    let (code, doc, stderr) = run_json(&root, &args, &[python.to_str().unwrap(), dump.to_str().unwrap()]);
    assert_eq!(doc["run"]["hosts"][0]["exit_code"], 0, "{stderr}");
    assert_eq!(doc["run"]["hosts"][1]["exit_code"], 0, "{stderr}");
    let _ = code;
    for host in ["algo-1", "algo-2"] {
        let dump: serde_json::Value = serde_json::from_str(&read(root.join(format!("{host}/output/data/dump-{host}.json")))).unwrap();
        let expected = dump["expected_env"].as_object().unwrap();
        let given = dump["env"].as_object().unwrap();
        assert!(expected.len() > 40, "{expected:?}");
        for (name, value) in expected {
            assert_eq!(given.get(name), Some(value), "{host}: {name}");
        }
        // Every SM_ variable optml sets is one the toolkit sets, except the platform's own.
        for name in given.keys().filter(|k| k.starts_with("SM_")) {
            assert!(expected.contains_key(name) || name == "SM_STUDIO_LOCAL_MODE", "{host}: optml sets {name}, the toolkit does not");
        }
        assert_eq!(dump["argv"], dump["expected_args"], "{host}");
        assert_eq!(given["SM_CURRENT_HOST"], host);
        assert_eq!(given["SM_NUM_CPUS"].as_str().unwrap(), dump["cpu_count"].to_string(), "multiprocessing.cpu_count()");
        assert_eq!(given["SAGEMAKER_BASE_DIR"].as_str().unwrap(), root.join(host).to_str().unwrap());
        assert_eq!(given["CURRENT_HOST"], host);
        assert_eq!(given["TRAINING_JOB_NAME"], "optml-run");
        assert_eq!(given["SM_STUDIO_LOCAL_MODE"], "true");
    }
}

/// One scenario of the verdict test: the script's body.
const VERDICT_SCRIPTS: [(&str, &str); 4] = [
    ("succeeds", "open(os.path.join(os.environ['SM_MODEL_DIR'], 'model.bin'), 'w').write('m')"),
    ("raises", "raise ValueError('boom')"),
    ("exits3", "sys.exit(3)"),
    ("own_failure", "open(os.path.join(os.environ['SM_OUTPUT_DIR'], 'failure'), 'w').write('my reason'); sys.exit(2)"),
];

/// The toolkit's `train` (SAGEMAKER_PROGRAM) and optml running the script directly must reach
/// the same verdict and status markers, and hand the script the same environment and argv.
#[test]
fn toolkit_train_and_optml_agree_on_verdicts() {
    let Some(venv) = toolkit_venv() else { return };
    for (name, body) in VERDICT_SCRIPTS {
        let dir = TestDir::new();
        let script = format!(
            "import json, os, sys\nseen = {{'argv': sys.argv[1:], 'env': {{k: v for k, v in os.environ.items() if k.startswith('SM_')}}}}\n\
             json.dump(seen, open(os.path.join(os.environ['SM_OUTPUT_DATA_DIR'], 'seen.json'), 'w'))\n{body}\n"
        );
        dir.file("src/script.py", &script);
        let src = dir.join("src");
        let submit = format!("sagemaker_submit_directory=\"{}\"", src.display());
        let run = |root: &Path, command: &[&str]| {
            let output = optml()
                .env("SAGEMAKER_PROGRAM", "script.py")
                .args(["run", "--format", "json", "--root"])
                .arg(root)
                .args(["--hp", "epochs=2", "--hp", "opts={\"a\": true}", "--hp", &submit, "--"])
                .args(command)
                .output()
                .expect("run optml");
            parse(&output)
        };
        let direct_root = dir.join("direct");
        let toolkit_root = dir.join("toolkit");
        let python = venv.join("bin/python");
        let (direct_code, direct, _) = run(&direct_root, &[python.to_str().unwrap(), src.join("script.py").to_str().unwrap()]);
        let (toolkit_code, toolkit, toolkit_stderr) = run(&toolkit_root, &[venv.join("bin/train").to_str().unwrap()]);
        assert_eq!(direct_code, toolkit_code, "{name}: optml's verdict\n{toolkit_stderr}");
        for marker in ["success", "failure"] {
            let there = |root: &Path| root.join("algo-1/output").join(marker).exists();
            assert_eq!(there(&direct_root), there(&toolkit_root), "{name}: output/{marker}");
        }
        let failure = |root: &Path| fs::read_to_string(root.join("algo-1/output/failure")).ok();
        match name {
            "own_failure" => {
                assert_eq!(failure(&direct_root).as_deref(), Some("my reason"));
                assert_eq!(failure(&toolkit_root).as_deref(), Some("my reason"));
            }
            "succeeds" => assert_eq!(direct["run"]["hosts"][0]["marker"], "success"),
            _ => {
                // Class and exit code agree; the toolkit's `train` leaves ErrorMessage empty.
                let head = |text: Option<String>| text.unwrap_or_default().lines().take(2).collect::<Vec<_>>().join("\n");
                assert_eq!(head(failure(&direct_root)), head(failure(&toolkit_root)), "{name}");
            }
        }
        let seen = |root: &Path| read(root.join("algo-1/output/data/seen.json")).replace(root.to_str().unwrap(), "<root>");
        let direct_seen: serde_json::Value = serde_json::from_str(&seen(&direct_root)).unwrap();
        let toolkit_seen: serde_json::Value = serde_json::from_str(&seen(&toolkit_root)).unwrap();
        assert_eq!(direct_seen, toolkit_seen, "{name}: environment and argv the script saw");
        let _ = (direct, toolkit);
    }
}

/// Wait for a run's script to touch `ready`. A loaded machine can take long to start it, and
/// signalling before it runs would test nothing (optml would stop a job that has not started);
/// bounded, so a run that never starts the script fails instead of hanging CI.
fn wait_until_started(ready: &Path) {
    let started = std::time::Instant::now();
    while !ready.exists() {
        assert!(started.elapsed() < std::time::Duration::from_secs(300), "the script never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Start `optml run -- sh -c SCRIPT` (SCRIPT touches `ready` when it is running), send `signals`
/// to optml once the script runs, one per 200 ms, and return optml's JSON report.
fn signalled_run(dir: &TestDir, script: &str, signals: &[i32]) -> serde_json::Value {
    let ready = dir.join("ready");
    let script = format!("touch {}; {script}", ready.display());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_optml"))
        .args(["run", "--no-isolate", "--format", "json", "--stop-timeout", "600", "--max-run", "900", "--root"])
        .arg(dir.join("run"))
        .args(["--", "sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start optml");
    wait_until_started(&ready);
    for &signal in signals {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(child.id() as i32, signal) };
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output().expect("optml ends")));
    // Far below the 600 s stop timeout: the signal must have reached the whole group.
    let output = finished.recv_timeout(std::time::Duration::from_secs(120)).expect("optml ended after the signals, not at the stop timeout");
    parse(&output).1
}

#[test]
fn sigint_reaches_the_whole_process_group() {
    let dir = TestDir::new();
    // sh waits for its foreground `sleep` before it acts on SIGINT: only a signal to the whole
    // group ends the sleep, and with it the script.
    let doc = signalled_run(&dir, "sleep 300; exit 0", &[libc::SIGINT]);
    assert_eq!(doc["run"]["hosts"][0]["killed_after_stop_timeout"], false, "{doc:#}");
}

#[test]
fn a_second_ctrl_c_kills_at_once() {
    let dir = TestDir::new();
    // The script ignores SIGINT: the first Ctrl-C asks, the second one kills.
    let doc = signalled_run(&dir, "trap '' INT; while :; do sleep 0.05; done", &[libc::SIGINT, libc::SIGINT]);
    assert_eq!(doc["run"]["hosts"][0]["signal"], 9, "{doc:#}");
}

/// Until `done` holds or `seconds` pass; whether it held.
fn eventually(seconds: u64, mut done: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    done()
}

/// A SIGKILL of optml runs no code in it, so its watchdog process cleans up: the job's processes
/// are killed (in the fallback too, through the process group) and the temp run folder is gone.
#[test]
fn a_sigkilled_optml_leaves_neither_its_run_folder_nor_its_job() {
    for isolate in [true, false] {
        let dir = TestDir::new();
        let temp = dir.join("tmp");
        fs::create_dir_all(&temp).unwrap();
        let (where_file, beat) = (dir.join("where"), dir.join("beat"));
        // A background loop in the job's process group beats into a file outside the sandbox,
        // and so does a `setsid` daemon: a PID namespace holds it, the fallback finds it by the
        // environment tag it inherited.
        let daemon = "setsid sh -c 'while :; do date +%s%N > \"$BEAT.setsid\"; sleep 0.05; done' </dev/null >/dev/null 2>&1 & ";
        let script = format!("{daemon}(while :; do date +%s%N > \"$BEAT\"; sleep 0.05; done) & echo \"$SAGEMAKER_BASE_DIR\" > \"$WHERE\"; wait");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_optml"));
        command.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).env("TMPDIR", &temp).env("BEAT", &beat).env("WHERE", &where_file);
        command.arg("run");
        if !isolate {
            command.arg("--no-isolate");
        }
        command.args(["--", "sh", "-c", &script]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let mut optml = command.spawn().unwrap();
        assert!(eventually(30, || where_file.exists() && beat.exists() && dir.join("beat.setsid").exists()), "the job started");
        let root = PathBuf::from(read(where_file.clone()).trim()).parent().unwrap().to_path_buf();
        assert!(root.starts_with(&temp) && root.exists(), "{}", root.display());
        optml.kill().unwrap();
        optml.wait().unwrap();
        assert!(eventually(10, || !root.exists()), "isolate={isolate}: the run folder {} survived a SIGKILL of optml", root.display());
        let beats = [beat.clone(), dir.join("beat.setsid")];
        let snapshot = || beats.iter().map(|b| fs::read(b).unwrap_or_default()).collect::<Vec<_>>();
        let before = snapshot();
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert_eq!(snapshot(), before, "isolate={isolate}: the job's processes outlived optml");
    }
}

/// A daemon that left the job's process group (`setsid`, then a second fork) is killed when the
/// entry point exits, with or without namespaces: it must not write into the sandbox while it
/// is packed, nor outlive the run.
#[test]
fn a_daemonized_grandchild_does_not_outlive_the_run() {
    for isolate in [true, false] {
        let dir = TestDir::new();
        let beat = dir.join("beat");
        let script = "setsid sh -c '(while :; do date +%s%N > \"$BEAT\"; sleep 0.05; done) &' </dev/null >/dev/null 2>&1; \
                      while [ ! -s \"$BEAT\" ]; do sleep 0.05; done; echo w > \"$SM_MODEL_DIR/model.pth\"";
        let mut command = optml();
        command.env("BEAT", &beat).arg("run");
        if !isolate {
            command.arg("--no-isolate");
        }
        let output = command.args(["--", "sh", "-c", script]).output().unwrap();
        assert!(matches!(output.status.code(), Some(0 | 1)), "isolate={isolate}: {}", String::from_utf8_lossy(&output.stderr));
        let before = fs::read(&beat).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert_eq!(fs::read(&beat).unwrap(), before, "isolate={isolate}: the daemon outlived the run");
    }
}

/// Run folders whose optml is gone (the marker's lock is free) are swept by the next run; a
/// live run's folder and a kept one (no marker) are not.
#[test]
fn the_next_run_sweeps_run_folders_of_dead_optmls() {
    use std::os::fd::AsRawFd;
    let dir = TestDir::new();
    dir.file("tmp/optml-run-dead/algo-1/model/model.pth", "w").file("tmp/optml-run-dead/.optml-run.lock", "");
    dir.file("tmp/optml-run-live/.optml-run.lock", "").file("tmp/optml-run-unmarked/algo-1/model/model.pth", "w");
    dir.file("tmp/other/.optml-run.lock", "");
    let live = fs::File::open(dir.join("tmp/optml-run-live/.optml-run.lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(live.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    let run = |args: &[&str]| optml().env("TMPDIR", dir.join("tmp")).arg("run").args(args).args(["--", "true"]).output().unwrap();
    let output = run(&["--keep"]);
    // `true` writes no model: findings (exit 1), but the run itself worked.
    assert!(matches!(output.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&output.stderr));
    let names = || -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir.join("tmp")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    let after = names();
    assert!(!after.contains(&"optml-run-dead".to_string()), "{after:?}");
    for kept in ["optml-run-live", "optml-run-unmarked", "other"] {
        assert!(after.contains(&kept.to_string()), "{kept} was swept: {after:?}");
    }
    let kept_run: Vec<&String> =
        after.iter().filter(|n| n.starts_with("optml-run-") && !["optml-run-live", "optml-run-unmarked"].contains(&n.as_str())).collect();
    assert_eq!(kept_run.len(), 1, "the --keep run's folder stays: {after:?}");
    assert!(!dir.join("tmp").join(kept_run[0]).join(".optml-run.lock").exists(), "a kept run has no marker, so no sweep removes it");
    // A second run sweeps nothing more, and leaves nothing behind itself.
    run(&[]);
    assert_eq!(names(), after);
    drop(live);
}
