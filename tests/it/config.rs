//! The settings stage: config discovery, every key, flags beating the file, diagnostics,
//! `optml init` and `optml rules`.

use std::path::Path;
use std::process::Output;

use crate::common::*;

/// A finished tree whose check reports exactly SM101 (error: no status marker) and SM202
/// (warning: a stray file in output/).
fn debt_tree(dir: &TestDir, rel: &str) {
    dir.file(&format!("{rel}/model/model.pth"), "weights");
    dir.dir(&format!("{rel}/output/data"));
    dir.file(&format!("{rel}/output/stray.txt"), "x");
}

/// A tree that reports only SM202 (warning).
fn warning_tree(dir: &TestDir, rel: &str) {
    debt_tree(dir, rel);
    dir.file(&format!("{rel}/output/success"), "");
}

/// Run optml in `cwd`.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    optml().current_dir(cwd).args(args).output().expect("run optml")
}

/// `optml check --format json ARGS` in `cwd`: exit code and rule codes reported.
fn codes_in(cwd: &Path, args: &[&str]) -> (i32, Vec<String>) {
    let mut all = vec!["check", "--format", "json"];
    all.extend_from_slice(args);
    let output = run_in(cwd, &all);
    json_codes(&output)
}

fn json_codes(output: &Output) -> (i32, Vec<String>) {
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {}\nstderr: {}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)));
    (output.status.code().expect("exit code"), codes(&doc))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_config_is_found_from_a_subfolder_and_its_paths_are_relative_to_it() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    dir.file("optml.toml", "inputs = [\"ml\"]\nformat = \"json\"\nignore = [\"SM202\"]\n");
    dir.dir("sub/deep");
    let output = run_in(&dir.join("sub/deep"), &["check"]);
    let (code, found) = json_codes(&output);
    assert_eq!((code, found), (1, vec!["SM101".to_string()]));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["inputs"][0]["path"].as_str(), Some(dir.join("ml").to_str().unwrap()), "relative to the config file");
}

#[test]
fn the_nearest_config_wins_and_configs_are_not_merged() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    dir.file("optml.toml", "ignore = [\"SM202\"]\n");
    dir.file("sub/optml.toml", "ignore = [\"SM101\"]\n");
    assert_eq!(codes_in(&dir.join("sub"), &["../ml"]).1, vec!["SM202"]);
    let output = run_in(&dir.join("sub"), &["check", "--verbose", "--format", "json", "../ml"]);
    assert!(stderr(&output).contains(&format!("using config file {}", dir.join("sub/optml.toml").display())), "{}", stderr(&output));
}

#[test]
fn optml_toml_beats_pyproject_in_one_folder() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    dir.file("pyproject.toml", "[project]\nname = \"x\"\n\n[tool.optml]\nignore = [\"SM202\"]\n");
    assert_eq!(codes_in(dir.path(), &["ml"]).1, vec!["SM101"], "[tool.optml] applies alone");
    dir.file("optml.toml", "ignore = [\"SM101\"]\n");
    assert_eq!(codes_in(dir.path(), &["ml"]).1, vec!["SM202"], "optml.toml wins");
}

#[test]
fn a_pyproject_without_tool_optml_is_skipped() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    dir.file("optml.toml", "ignore = [\"SM101\"]\n");
    dir.file("sub/pyproject.toml", "[project]\nname = \"x\"\n[tool.black]\nline-length = 100\n");
    assert_eq!(codes_in(&dir.join("sub"), &["../ml"]).1, vec!["SM202"], "the parent's optml.toml applies");
}

#[test]
fn config_flag_names_the_file_and_turns_discovery_off() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    dir.file("optml.toml", "ignore = [\"SM101\"]\n");
    dir.file("ci/strict.toml", "ignore = [\"SM202\"]\n");
    assert_eq!(codes_in(dir.path(), &["--config", "ci/strict.toml", "ml"]).1, vec!["SM101"]);
    dir.file("ci/pyproject.toml", "[tool.optml]\nselect = [\"SM2\"]\n");
    assert_eq!(codes_in(dir.path(), &["--config", "ci/pyproject.toml", "ml"]).1, vec!["SM202"]);
    let output = run_in(dir.path(), &["check", "--config", "missing.toml", "ml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("missing.toml"), "{}", stderr(&output));
}

#[test]
fn isolated_ignores_every_config_file() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    dir.file("optml.toml", "ignore = [\"SM101\"]\n");
    assert_eq!(codes_in(dir.path(), &["--isolated", "ml"]).1, vec!["SM101", "SM202"]);
    let output = run_in(dir.path(), &["check", "--isolated", "-v", "ml"]);
    assert!(stderr(&output).contains("--isolated"), "{}", stderr(&output));
}

#[test]
fn select_extend_select_and_ignore_by_code_or_prefix() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    let config = |text: &str| {
        dir.file("optml.toml", text);
        codes_in(dir.path(), &["ml"]).1
    };
    assert_eq!(config("select = [\"SM2\"]\n"), vec!["SM202"]);
    assert_eq!(config("select = [\"SM1\"]\nextend-select = [\"SM202\"]\n"), vec!["SM101", "SM202"]);
    assert_eq!(config("ignore = [\"SM1\"]\n"), vec!["SM202"]);
    assert_eq!(config("select = [\"SM\"]\nignore = [\"SM2\"]\nextend-select = [\"SM202\"]\n"), vec!["SM101", "SM202"], "the longest match wins");
    // Flags take comma lists.
    assert_eq!(codes_in(dir.path(), &["--isolated", "--ignore", "SM101,sm202", "ml"]).1, Vec::<String>::new());
}

#[test]
fn severity_overrides_and_fail_on() {
    let dir = TestDir::new();
    warning_tree(&dir, "ml");
    let run = |text: &str| {
        dir.file("optml.toml", text);
        let output = run_in(dir.path(), &["check", "--format", "json", "ml"]);
        let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let severities: Vec<String> = doc["diagnostics"].as_array().unwrap().iter().map(|d| d["severity"].as_str().unwrap().to_string()).collect();
        (output.status.code().unwrap(), severities)
    };
    assert_eq!(run(""), (0, vec!["warning".to_string()]));
    assert_eq!(run("[severity]\nSM202 = \"error\"\n"), (1, vec!["error".to_string()]));
    assert_eq!(run("[severity]\nSM2 = \"error\"\nSM202 = \"off\"\n"), (0, vec![]), "off: not run");
    assert_eq!(run("fail-on = \"warning\"\n"), (1, vec!["warning".to_string()]));
    assert_eq!(run("fail-on = \"info\"\n[severity]\nSM202 = \"info\"\n"), (1, vec!["info".to_string()]));
}

#[test]
fn per_path_ignores_match_the_path_inside_the_input() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    dir.file("ml/output/other.txt", "y");
    dir.file("optml.toml", "[per-path-ignores]\n\"output/stray*\" = [\"SM2\"]\n");
    let output = run_in(dir.path(), &["check", "--format", "json", "ml"]);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(paths_for(&doc, "SM202"), vec!["output/other.txt"]);
    assert_eq!(paths_for(&doc, "SM101"), vec!["output"], "other rules still report the path");
}

#[test]
fn env_packs_and_rules_keys() {
    let dir = TestDir::new();
    tar_gz(&dir, "model.tar.gz", &[Member::File("code/inference.py", b"x = 1\n")]);
    dir.file("optml.toml", "");
    assert_eq!(codes_in(dir.path(), &["model.tar.gz"]).1, vec!["MDL107"]);
    dir.file("optml.toml", "env = { HF_MODEL_ID = \"gpt2\" }\n");
    assert_eq!(codes_in(dir.path(), &["model.tar.gz"]).1, Vec::<String>::new(), "the weights come from the Hub");
    dir.file("optml.toml", "packs = [\"sagemaker-training\"]\n");
    assert_eq!(codes_in(dir.path(), &["model.tar.gz"]).1, vec!["SM606"], "packs replace the defaults: no MDL107");
    // `rules` are relative to the config file, and add to the default packs.
    dir.file("conf/team.toml", TEAM_PACK);
    dir.file("conf/optml.toml", "rules = [\"team.toml\"]\n");
    dir.file("conf/ml/model/model.pth", "w");
    assert_eq!(codes_in(&dir.join("conf"), &["ml"]).1, vec!["SM101", "TEAM101"]);
}

/// A user pack without `docs`.
const TEAM_PACK: &str = r#"[pack]
name = "team"
description = "Our own conventions."

[[rule]]
code = "TEAM101"
name = "no-pth"
severity = "warning"
check = "forbid"
zone = "model"
paths = ["**/*.pth"]
message = "{path}: we ship TorchScript"
help = "export with torch.jit.save"
docs = "Our serving stack loads TorchScript only."
"#;

#[test]
fn format_key_and_flags_beat_the_file() {
    let dir = TestDir::new();
    warning_tree(&dir, "ml");
    dir.file("optml.toml", "format = \"json\"\nfail-on = \"warning\"\nselect = [\"SM1\"]\n");
    let output = run_in(dir.path(), &["check", "ml"]);
    assert!(serde_json::from_slice::<serde_json::Value>(&output.stdout).is_ok(), "format from the file");
    assert_eq!(output.status.code(), Some(0), "select = SM1: SM202 not run");
    let output = run_in(dir.path(), &["check", "--select", "SM2", "ml"]);
    assert_eq!(output.status.code(), Some(1), "--select replaces select; fail-on from the file");
    let output = run_in(dir.path(), &["check", "--select", "SM2", "--fail-on", "error", "--format", "human", "ml"]);
    assert_eq!(output.status.code(), Some(0), "--fail-on beats fail-on");
    assert!(String::from_utf8_lossy(&output.stdout).contains("SM202"), "--format beats format");
}

#[test]
fn exit_zero_quiet_and_output() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    let output = run_in(dir.path(), &["check", "--isolated", "--exit-zero", "ml"]);
    assert_eq!(output.status.code(), Some(0));
    let output = run_in(dir.path(), &["check", "--isolated", "--quiet", "--color", "never", "ml"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1));
    assert!(text.contains("SM101") && !text.contains("checking ") && !text.contains("error(s)"), "{text}");
    let output = run_in(dir.path(), &["check", "--isolated", "--format", "json", "--output", "out/report.json", "ml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("out/report.json")).unwrap()).unwrap();
    assert_eq!(codes(&written), vec!["SM101", "SM202"]);
}

#[test]
fn a_bad_config_is_a_diagnostic_at_the_key() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    dir.file("optml.toml", "select = [\"SM\"]\nfail-on = \"sometimes\"\n");
    let output = run_in(dir.path(), &["check", "ml"]);
    let text = transcript(&output, dir.path());
    snapshot_settings("config").bind(|| insta::assert_snapshot!("bad_fail_on", text));
    dir.file("optml.toml", "[severity]\nSM1O1 = \"off\"\n");
    let output = run_in(dir.path(), &["check", "ml"]);
    let text = transcript(&output, dir.path());
    snapshot_settings("config").bind(|| insta::assert_snapshot!("unknown_code_in_config", text));
    dir.file("optml.toml", "rules = [\"team.toml\"]\n");
    let output = run_in(dir.path(), &["check", "ml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("optml.toml:1: rule file `team.toml` not found"), "{}", stderr(&output));
    dir.file("optml.toml", "ignor = [\"SM101\"]\n");
    let output = run_in(dir.path(), &["check", "ml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("optml.toml:1") && stderr(&output).contains("unknown field `ignor`"), "{}", stderr(&output));
}

#[test]
fn an_unknown_code_on_the_command_line_suggests_the_nearest() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    for flag in ["--select", "--ignore", "--extend-select"] {
        let output = run_in(dir.path(), &["check", "--isolated", flag, "SM1O1", "ml"]);
        assert_eq!(output.status.code(), Some(2));
        assert!(stderr(&output).contains("did you mean `SM101`"), "{flag}: {}", stderr(&output));
    }
    // A code of a pack that is not loaded for this input is still a code.
    assert_eq!(codes_in(dir.path(), &["--isolated", "--ignore", "SNAP001,PT1", "ml"]).1, vec!["SM101", "SM202"]);
}

#[test]
fn rules_files_add_to_the_default_packs_and_pack_adds_a_serving_pack() {
    let dir = TestDir::new();
    dir.file("team.toml", TEAM_PACK);
    dir.file("ml/model/model.pth", "w");
    let (_, found) = codes_in(dir.path(), &["--isolated", "--rules", "team.toml", "ml"]);
    assert_eq!(found, vec!["SM101", "TEAM101"], "SM101 still reported");
    let archive = tar_gz(&dir, "model.tar.gz", &[Member::File("model.pth", b"w")]);
    let (_, doc) = check_json(&[std::ffi::OsStr::new("--isolated"), std::ffi::OsStr::new("--pack"), std::ffi::OsStr::new("pytorch"), archive.as_os_str()]);
    let packs = doc["inputs"][0]["packs"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect::<Vec<_>>();
    for pack in ["sagemaker-training", "sagemaker-model", "pytorch"] {
        assert!(packs.contains(&pack.to_string()), "{pack} applies: {packs:?}");
    }
    let (_, doc) = check_json(&[
        std::ffi::OsStr::new("--isolated"),
        std::ffi::OsStr::new("--no-default-packs"),
        std::ffi::OsStr::new("--pack"),
        std::ffi::OsStr::new("pytorch"),
        archive.as_os_str(),
    ]);
    assert!(!doc["inputs"][0]["packs"].as_array().unwrap().contains(&serde_json::json!("sagemaker-training")), "only --no-default-packs replaces them");
}

#[test]
fn user_packs_extend_user_packs_and_link_their_own_docs() {
    let dir = TestDir::new();
    dir.file("team.toml", TEAM_PACK);
    dir.file(
        "strict.toml",
        r#"[pack]
name = "strict"
description = "Stricter team rules."
docs = "https://example.com/strict-rules"
extends = ["team"]

[[rule]]
code = "STRICT101"
name = "no-txt"
severity = "error"
check = "forbid"
zone = "model"
paths = ["**/*.txt"]
message = "{path}: no text files in models"
help = "remove it"
docs = "Text files do not belong in a model."
"#,
    );
    dir.file("ml/model/model.pth", "w");
    dir.file("ml/model/notes.txt", "n");
    let output = run_in(dir.path(), &["check", "--isolated", "--format", "json", "--rules", "strict.toml", "--rules", "team.toml", "ml"]);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let docs = |code: &str| doc["diagnostics"].as_array().unwrap().iter().find(|d| d["rule"] == code).map(|d| d["docs"].clone());
    assert_eq!(docs("STRICT101"), Some(serde_json::json!("https://example.com/strict-rules#strict101")));
    assert_eq!(docs("TEAM101"), Some(serde_json::Value::Null), "no docs of its own: no link into docs/rules.md");
    assert_eq!(docs("SM101"), Some(serde_json::json!("docs/rules.md#sm101")));
    // Unknown names are an error at the `extends` value.
    dir.file("lonely.toml", &std::fs::read_to_string(dir.join("strict.toml")).unwrap().replace("[\"team\"]", "[\"teem\"]"));
    let output = run_in(dir.path(), &["check", "--isolated", "--rules", "lonely.toml", "ml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("unknown pack `teem`"), "{}", stderr(&output));
}

#[test]
fn init_writes_a_starter_once() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    let first = run_in(dir.path(), &["init"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let starter = std::fs::read_to_string(dir.join("optml.toml")).unwrap();
    assert!(starter.contains("fail-on = \"error\""));
    assert_eq!(codes_in(dir.path(), &["ml"]).1, vec!["SM101", "SM202"], "the starter is a valid config that changes nothing");
    let second = run_in(dir.path(), &["init"]);
    assert_eq!(second.status.code(), Some(2));
    assert!(stderr(&second).contains("already exists"), "{}", stderr(&second));
    assert_eq!(std::fs::read_to_string(dir.join("optml.toml")).unwrap(), starter, "not overwritten");
}

#[test]
fn init_adds_tool_optml_to_an_existing_pyproject() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    let project = "[project]\nname = \"trainer\"\n";
    dir.file("pyproject.toml", project);
    assert_eq!(run_in(dir.path(), &["init"]).status.code(), Some(0));
    let text = std::fs::read_to_string(dir.join("pyproject.toml")).unwrap();
    assert!(text.starts_with(project) && text.contains("[tool.optml]\n") && text.contains("[tool.optml.severity]"), "{text}");
    assert!(!dir.join("optml.toml").exists());
    let output = run_in(dir.path(), &["check", "--verbose", "--format", "json", "ml"]);
    assert!(stderr(&output).contains("pyproject.toml"), "{}", stderr(&output));
    let second = run_in(dir.path(), &["init"]);
    assert_eq!(second.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(dir.join("pyproject.toml")).unwrap(), text);
}

#[test]
fn rules_lists_every_rule_with_its_severity_after_overrides() {
    let dir = TestDir::new();
    dir.file("optml.toml", "[severity]\nSM202 = \"error\"\nSM101 = \"off\"\n");
    let output = run_in(dir.path(), &["rules", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let find = |code: &str| listed.iter().find(|r| r["code"] == code).unwrap_or_else(|| panic!("{code} listed")).clone();
    assert_eq!(find("SM202")["severity"], "error");
    assert_eq!(find("SM101")["severity"], "off");
    assert_eq!(find("PT101")["pack"], "pytorch");
    assert!(listed.iter().all(|r| !r["summary"].as_str().unwrap().is_empty() && !r["summary"].as_str().unwrap().contains('\n')));
    let text = String::from_utf8(run_in(dir.path(), &["rules", "--isolated"]).stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("SM101 ")).expect("SM101 line");
    assert!(line.contains("sagemaker-training") && line.contains("error"), "{line}");
}

#[test]
fn rule_by_kebab_name() {
    let by_code = optml().args(["rule", "--isolated", "SM202"]).output().unwrap();
    let name = String::from_utf8_lossy(&by_code.stdout).lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    let by_name = optml().args(["rule", "--isolated", &name]).output().unwrap();
    assert_eq!(by_name.status.code(), Some(0));
    assert_eq!(by_name.stdout, by_code.stdout);
}

#[test]
fn baseline_and_docs_url_keys() {
    let dir = TestDir::new();
    debt_tree(&dir, "ml");
    let write = run_in(dir.path(), &["check", "--isolated", "--write-baseline", "ci/known.json", "ml"]);
    assert_eq!(write.status.code(), Some(0), "{}", stderr(&write));
    // The baseline's path is relative to the config file, not to where optml runs.
    dir.file("optml.toml", "baseline = \"ci/known.json\"\ndocs-url = \"https://example.com/optml\"\n");
    dir.dir("sub");
    let output = run_in(&dir.join("sub"), &["check", "--format", "json", "../ml"]);
    assert_eq!(output.status.code(), Some(0), "every finding is known debt: {}", stderr(&output));
    let sarif = run_in(dir.path(), &["check", "--format", "sarif", "ml"]);
    let text = String::from_utf8_lossy(&sarif.stdout);
    assert!(text.contains("https://example.com/optml/docs/rules.md#sm101"), "{text}");
}
