//! Report formats for CI: SARIF (validated against the official schema), JUnit (read back with
//! a real JUnit parser), GitHub workflow commands (escaping), JSON location parts, several
//! inputs with a bad one, message templates, and baselines.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output};

use crate::common::*;

/// A folder to work in with a finished /opt/ml tree `ml` holding one error (SM201), and a
/// model archive `model.tar.gz` with one AppleDouble file (SM401, a warning).
fn workspace() -> TestDir {
    let dir = TestDir::new();
    dir.opt_ml("ml");
    dir.file("ml/columns.pkl", "x");
    tar_gz(&dir, "model.tar.gz", &[Member::File("model.pth", &TORCHSCRIPT), Member::File("._model.pth", b"x"), Member::Dir("code")]);
    dir
}

/// `optml check ARGS` run in `dir` (inputs relative to it, as in a CI checkout).
fn check_in(dir: &Path, args: &[&str]) -> Output {
    optml().arg("check").args(args).current_dir(dir).output().expect("run optml")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 report")
}

/// Announce a skipped check outside libtest's capture, so `cargo test` shows it.
fn skipped(what: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {what}: {why}");
}

/// The Python of the report-tools venv (`bash .ci/run` creates it with jsonschema and
/// junitparser, and sets OPTML_REPORT_VENV), or `None`, announced.
fn report_python(what: &str) -> Option<PathBuf> {
    let python = std::env::var_os("OPTML_REPORT_VENV").map(|venv| Path::new(&venv).join("bin/python")).filter(|python| python.exists());
    if python.is_none() {
        skipped(what, "OPTML_REPORT_VENV does not name a venv with jsonschema and junitparser (bash .ci/run sets it up)");
    }
    python
}

/// Run `script` with the venv's Python on `args`; its stdout.
fn run_python(python: &Path, script: &str, args: &[&Path]) -> String {
    let output = Process::new(python).arg("-c").arg(script).args(args).output().expect("run python");
    assert!(output.status.success(), "python failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn sarif(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--format", "sarif"];
    all.extend_from_slice(args);
    serde_json::from_slice(&check_in(dir, &all).stdout).expect("SARIF is JSON")
}

#[test]
fn sarif_points_at_the_archive_and_names_the_member() {
    let dir = workspace();
    let doc = sarif(dir.path(), &["ml", "model.tar.gz"]);
    assert_eq!(doc["version"], "2.1.0");
    let run = &doc["runs"][0];
    let results = run["results"].as_array().unwrap();
    let appledouble = results.iter().find(|r| r["ruleId"] == "SM401").expect("SM401 result");
    assert_eq!(appledouble["level"], "warning");
    let location = &appledouble["locations"][0];
    assert_eq!(location["physicalLocation"]["artifactLocation"]["uri"], "model.tar.gz");
    assert_eq!(location["physicalLocation"]["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    assert_eq!(location["logicalLocations"][0]["fullyQualifiedName"], "model.tar.gz/._model.pth");
    // The member is a nested artifact of the archive.
    let artifacts = run["artifacts"].as_array().unwrap();
    let archive = location["physicalLocation"]["artifactLocation"]["index"].as_u64().unwrap();
    assert!(artifacts.iter().any(|a| a["location"]["uri"] == "._model.pth" && a["parentIndex"] == archive), "{artifacts:?}");
    // A tree's file is a real file: the result points at it.
    let lost = results.iter().find(|r| r["ruleId"] == "SM201").expect("SM201 result");
    assert_eq!(lost["level"], "error");
    assert_eq!(lost["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "ml/columns.pkl");
    // The rule a result names is the one its ruleIndex points at, with absolute docs.
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let rule = &rules[appledouble["ruleIndex"].as_u64().unwrap() as usize];
    assert_eq!(rule["id"], "SM401");
    assert_eq!(rule["helpUri"], "https://github.com/optml-dev/optml/blob/main/docs/rules.md#sm401");
    for field in ["shortDescription", "fullDescription"] {
        assert!(!rule[field]["text"].as_str().unwrap().is_empty(), "{field}");
    }
    assert!(rule["help"]["markdown"].as_str().unwrap().contains("AppleDouble"), "{rule}");
}

#[test]
fn sarif_fingerprints_do_not_depend_on_where_inputs_are() {
    let dir = workspace();
    let here = sarif(dir.path(), &["model.tar.gz"]);
    let elsewhere = TestDir::new();
    std::fs::create_dir_all(elsewhere.join("deep/er")).unwrap();
    std::fs::copy(dir.join("model.tar.gz"), elsewhere.join("deep/er/model.tar.gz")).unwrap();
    let there = sarif(elsewhere.path(), &["deep/er/model.tar.gz"]);
    let prints = |doc: &serde_json::Value| -> Vec<serde_json::Value> {
        doc["runs"][0]["results"].as_array().unwrap().iter().map(|r| r["partialFingerprints"].clone()).collect()
    };
    assert!(!prints(&here).is_empty());
    assert_eq!(prints(&here), prints(&there));
}

#[test]
fn sarif_results_snapshot() {
    let dir = workspace();
    let mut doc = sarif(dir.path(), &["ml", "model.tar.gz"]);
    // The rule list is the rule files' text, tested above; the results are the report.
    let run = &mut doc["runs"][0];
    let rules = run["tool"]["driver"]["rules"].take();
    assert!(rules.as_array().unwrap().len() > 30);
    run["originalUriBaseIds"]["%SRCROOT%"]["uri"] = "file:///[WORKSPACE]/".into();
    run["tool"]["driver"]["version"] = "[VERSION]".into();
    run["tool"]["driver"]["semanticVersion"] = "[VERSION]".into();
    snapshot_settings("formats").bind(|| insta::assert_json_snapshot!("sarif_results", doc));
}

/// `.ci/validate_sarif.py SCHEMA FILE` with the venv's Python: its output, and whether it passed.
fn validate_sarif(python: &Path, schema: &Path, file: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/validate_sarif.py");
    let output = Process::new(python).arg(script).arg(schema).arg(file).output().expect("run python");
    (output.status.success(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

#[test]
fn sarif_validates_against_the_official_schema() {
    let Some(schema) = std::env::var_os("OPTML_SARIF_SCHEMA").map(PathBuf::from) else {
        skipped("SARIF schema validation", "OPTML_SARIF_SCHEMA is not set (bash .ci/run points it at the SARIF 2.1.0 schema)");
        return;
    };
    assert!(schema.is_file(), "OPTML_SARIF_SCHEMA={} is not a file", schema.display());
    let python = report_python("SARIF schema validation").expect("OPTML_SARIF_SCHEMA is set, so the venv with jsonschema must be too");
    let dir = workspace();
    // A job folder, a hostile member name, and an input that cannot be read, besides the basics.
    tar_gz(&dir, "job/output/model.tar.gz", &[Member::File("model.pth", b"w"), Member::File("code/.ipynb_checkpoints/x.py", b"")]);
    tar_gz(&dir, "hostile.tar.gz", &[Member::File("._a b%20#?\u{7}", b"x"), Member::File("/abs", b"x"), Member::File("../up", b"x")]);
    let cases: [&[&str]; 3] = [&["ml", "model.tar.gz"], &["job", "hostile.tar.gz"], &["model.tar.gz", "missing.tar.gz"]];
    for args in cases {
        let mut all = vec!["--format", "sarif"];
        all.extend_from_slice(args);
        let output = check_in(dir.path(), &all);
        let file = dir.join("report.sarif");
        std::fs::write(&file, &output.stdout).unwrap();
        let (valid, text) = validate_sarif(&python, &schema, &file);
        assert!(valid, "{args:?}: {text}");
    }
    // The validator does reject what is not SARIF: a result without its message.
    let mut doc = sarif(dir.path(), &["ml"]);
    doc["runs"][0]["results"][0].as_object_mut().unwrap().remove("message");
    let file = dir.join("broken.sarif");
    std::fs::write(&file, doc.to_string()).unwrap();
    let (valid, text) = validate_sarif(&python, &schema, &file);
    assert!(!valid && text.contains("'message' is a required property"), "{text}");
}

/// JUnit read back with junitparser: per suite, its name, counts and failing testcases.
const JUNIT_SUMMARY: &str = r#"
import json, sys
from junitparser import JUnitXml, Failure, Error
out = []
for suite in JUnitXml.fromfile(sys.argv[1]):
    cases = list(suite)
    failing = {case.name: [r.message for r in case.result if isinstance(r, (Failure, Error))] for case in cases}
    out.append({"name": suite.name, "tests": suite.tests, "failures": suite.failures, "errors": suite.errors, "cases": len(cases),
                "failing": {k: v for k, v in failing.items() if v}, "texts": [r.text for c in cases for r in c.result if r.text] + [c.system_out for c in cases if c.system_out]})
print(json.dumps(out))
"#;

#[test]
fn junit_parses_with_a_real_junit_parser() {
    let Some(python) = report_python("JUnit parsing") else { return };
    let dir = workspace();
    tar_gz(&dir, "hostile.tar.gz", &[Member::File("model.pth", b"w"), Member::File("._<x>&\"\u{1}\u{1b}[31m", b"x")]);
    let output = check_in(dir.path(), &["--format", "junit", "ml", "model.tar.gz", "hostile.tar.gz", "missing.tar.gz"]);
    assert_eq!(output.status.code(), Some(2), "an unreadable input is exit 2");
    let file = dir.join("report.xml");
    std::fs::write(&file, &output.stdout).unwrap();
    let suites: serde_json::Value = serde_json::from_str(&run_python(&python, JUNIT_SUMMARY, &[&file])).unwrap();
    let suites = suites.as_array().unwrap();
    let names: Vec<&str> = suites.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ml", "model.tar.gz", "hostile.tar.gz", "missing.tar.gz"]);
    for suite in suites {
        assert_eq!(suite["tests"], suite["cases"], "{suite}");
    }
    // The tree's error fails its rule's testcase; the archives' warnings fail nothing.
    assert_eq!(suites[0]["failures"], 1);
    let failing = suites[0]["failing"].as_object().unwrap();
    assert_eq!(failing.keys().collect::<Vec<_>>(), ["SM201 file-outside-uploaded-dirs"]);
    assert!(failing["SM201 file-outside-uploaded-dirs"][0].as_str().unwrap().contains("columns.pkl"));
    assert_eq!(suites[1]["failures"], 0);
    assert!(suites[1]["cases"].as_u64().unwrap() > suites[0]["cases"].as_u64().unwrap(), "model packs evaluated too");
    let texts = suites[2]["texts"].to_string();
    assert!(texts.contains("._<x>&\\\"") && !texts.contains('\u{1b}'), "the hostile name survives as text: {texts}");
    assert_eq!(suites[3]["errors"], 1);
    assert!(suites[3]["failing"]["read input"][0].as_str().unwrap().contains("no such file"), "{}", suites[3]);
}

/// Decode a workflow-command value (the runner's unescaping).
fn unescape(text: &str) -> String {
    text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")
}

#[test]
fn github_entry_names_cannot_forge_commands() {
    let dir = TestDir::new();
    let hostile = ["._x\n::error file=forged.py,line=1::forged", "._y%0A::warning::percent", "._z,title=forged:x\r::notice::cr"];
    let members: Vec<Member> = hostile.iter().map(|name| Member::File(name, b"x")).chain([Member::File("model.pth", b"w")]).collect();
    tar_gz(&dir, "models/model.tar.gz", &members);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    // Run from a subfolder: file= is relative to GITHUB_WORKSPACE, not the current folder.
    let output = optml()
        .args(["check", "--format", "github", "../models/model.tar.gz"])
        .current_dir(dir.join("sub"))
        .env("GITHUB_WORKSPACE", dir.path())
        .output()
        .unwrap();
    let (_, doc) = check_json(&[dir.join("models/model.tar.gz").as_os_str()]);
    let expected = doc["diagnostics"].as_array().unwrap();
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), expected.len(), "one command per finding, no more:\n{text}");
    let mut messages = Vec::new();
    for line in &lines {
        let (level, rest) = line.strip_prefix("::").and_then(|l| l.split_once(' ')).expect("a command");
        assert!(["error", "warning", "notice"].contains(&level), "{line}");
        let (properties, message) = rest.split_once("::").expect("properties, then the message");
        let pairs: Vec<(&str, &str)> = properties.split(',').map(|p| p.split_once('=').expect("key=value")).collect();
        assert_eq!(pairs.iter().map(|(k, _)| *k).collect::<Vec<_>>(), ["file", "title"], "{line}");
        assert_eq!(unescape(pairs[0].1), "models/model.tar.gz", "{line}");
        assert!(!pairs[1].1.contains(':') && !pairs[1].1.contains(','), "{line}");
        messages.push(unescape(message));
    }
    // The names come through whole, as data.
    for name in hostile {
        assert!(messages.iter().any(|m| m.contains(name)), "{name:?} not in {messages:?}");
    }
}

#[test]
fn github_annotations_snapshot() {
    let dir = workspace();
    let output = check_in(dir.path(), &["--format", "github", "ml", "model.tar.gz"]);
    assert_eq!(output.status.code(), Some(1));
    snapshot_settings("formats").bind(|| insta::assert_snapshot!("github", stdout(&output)));
}

#[test]
fn json_carries_location_parts_and_a_fingerprint() {
    let dir = workspace();
    tar_gz(&dir, "job/output/model.tar.gz", &[Member::File("model.pth", b"w"), Member::File("._model.pth", b"x")]);
    let (_, doc) = check_json(&[dir.join("job").as_os_str(), dir.join("ml").as_os_str()]);
    assert_eq!(doc["version"], 1);
    let diagnostics = doc["diagnostics"].as_array().unwrap();
    let in_job = diagnostics.iter().find(|d| d["rule"] == "SM401").expect("SM401");
    assert_eq!(in_job["part"], "output/model.tar.gz");
    assert_eq!(in_job["role"], "model");
    assert_eq!(in_job["member"], "._model.pth");
    assert_eq!(in_job["path"], "output/model.tar.gz/._model.pth");
    let in_tree = diagnostics.iter().find(|d| d["rule"] == "SM201").expect("SM201");
    assert_eq!((in_tree["part"].as_str(), in_tree["role"].as_str(), in_tree["member"].as_str()), (Some(""), Some("opt-ml"), Some("columns.pkl")));
    for diagnostic in diagnostics {
        assert_eq!(diagnostic["fingerprint"].as_str().unwrap().len(), 32, "{diagnostic}");
    }
}

#[test]
fn one_unreadable_input_does_not_hide_the_others() {
    let dir = workspace();
    let output = check_in(dir.path(), &["--format", "json", "ml", "missing.tar.gz", "model.tar.gz"]);
    assert_eq!(output.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["inputs"].as_array().unwrap().len(), 2);
    assert_eq!(codes(&doc), ["SM201", "SM401"]);
    assert_eq!(doc["errors"], serde_json::json!([{"input": "missing.tar.gz", "message": "no such file or directory"}]));
    let human = check_in(dir.path(), &["ml", "missing.tar.gz"]);
    assert_eq!(human.status.code(), Some(2));
    let text = stdout(&human);
    assert!(text.contains("SM201") && text.contains("cannot check missing.tar.gz: no such file or directory"), "{text}");
    assert!(text.trim_end().ends_with("1 input could not be read."), "{text}");
}

#[test]
fn a_member_named_like_a_placeholder_is_not_expanded() {
    let dir = TestDir::new();
    let archive = tar_gz(&dir, "model.tar.gz", &[Member::File("model.pth", b"w"), Member::File("._{zone}{size}{path}", b"x")]);
    let (_, doc) = check_json(&[archive.as_os_str()]);
    let message = doc["diagnostics"].as_array().unwrap().iter().find(|d| d["rule"] == "SM401").unwrap()["message"].as_str().unwrap().to_string();
    assert!(message.starts_with("`._{zone}{size}{path}` is a macOS AppleDouble file"), "{message}");
}

#[test]
fn baseline_ratchets() {
    let dir = workspace();
    let baseline = dir.join("optml-baseline.json");
    // Record today's debt: exit 0, and the same findings always give the same bytes.
    let written = check_in(dir.path(), &["ml", "model.tar.gz", "--write-baseline", "optml-baseline.json"]);
    assert_eq!(written.status.code(), Some(0), "{}", stdout(&written));
    assert!(stdout(&written).lines().any(|line| line == "baseline optml-baseline.json: wrote 2 findings."), "{}", stdout(&written));
    let first = std::fs::read(&baseline).unwrap();
    check_in(dir.path(), &["model.tar.gz", "ml", "--write-baseline", "optml-baseline.json"]);
    assert_eq!(std::fs::read(&baseline).unwrap(), first, "order of inputs does not matter");
    let recorded: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(recorded["findings"][0], serde_json::json!({"code": "SM201", "role": "opt-ml", "input": "ml", "member": "columns.pkl"}));

    // Old debt passes.
    let (code, doc) = check_json(&[dir.join("ml").as_os_str(), dir.join("model.tar.gz").as_os_str(), "--baseline".as_ref(), baseline.as_os_str()]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["diagnostics"], serde_json::json!([]));
    assert_eq!(doc["baseline"]["matched"], 2);

    // New debt fails, and only it is reported.
    dir.file("ml/more.pkl", "x");
    let output = check_in(dir.path(), &["ml", "model.tar.gz", "--baseline", "optml-baseline.json"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("more.pkl") && !text.contains("columns.pkl"), "{text}");
    assert!(text.lines().any(|line| line == "baseline optml-baseline.json: 2 known findings matched (not reported)."), "{text}");

    // Fixed debt is reported as stale.
    std::fs::remove_file(dir.join("ml/columns.pkl")).unwrap();
    std::fs::remove_file(dir.join("ml/more.pkl")).unwrap();
    let output = check_in(dir.path(), &["ml", "model.tar.gz", "--baseline", "optml-baseline.json"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(text.contains("baseline optml-baseline.json: 1 known finding matched (not reported); 1 entry no longer occurs (fixed"), "{text}");
    assert!(text.lines().any(|line| line == "  SM201 in ml (opt-ml): columns.pkl"), "{text}");
}

#[test]
fn a_bad_baseline_is_exit_2_pointing_into_it() {
    let dir = workspace();
    dir.file("bad.json", "{\"version\": 1, \"findings\": [{\"code\": \"SM201\"}]}\n");
    let output = check_in(dir.path(), &["ml", "--baseline", "bad.json"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.json is not a valid baseline") && stderr.contains("missing field `role`"), "{stderr}");
}

#[test]
fn docs_ci_sarif_workflow_runs_as_printed() {
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ci.md")).expect("docs/ci.md");
    assert!(docs.contains("uses: github/codeql-action/upload-sarif@"), "docs/ci.md uploads SARIF");
    let command = docs.lines().find_map(|line| line.trim().strip_prefix("- run: optml check --format sarif")).expect("the workflow's optml step");
    let dir = workspace();
    let args: Vec<&str> = ["--format", "sarif"].into_iter().chain(command.split_whitespace()).collect();
    let output = check_in(dir.path(), &args);
    assert_eq!(output.status.code(), Some(0), "the archive has only a warning: {}", String::from_utf8_lossy(&output.stderr));
    let file = args.iter().skip_while(|a| **a != "--output").nth(1).expect("--output FILE");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join(file)).expect("the SARIF file the upload step reads")).unwrap();
    assert_eq!(doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "model.tar.gz");
}

#[test]
fn docs_url_in_config_is_the_base_of_help_uris() {
    let dir = workspace();
    dir.file("optml.toml", "docs-url = \"https://docs.example.com/optml/v1/\"\n");
    let doc = sarif(dir.path(), &["model.tar.gz"]);
    let rules = doc["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    let rule = rules.iter().find(|r| r["id"] == "SM401").unwrap();
    assert_eq!(rule["helpUri"], "https://docs.example.com/optml/v1/docs/rules.md#sm401");
}

#[test]
fn baseline_from_config_is_relative_to_the_config_file() {
    let dir = workspace();
    check_in(dir.path(), &["ml", "model.tar.gz", "--write-baseline", "ci/known.json"]);
    dir.file("optml.toml", "baseline = \"ci/known.json\"\ninputs = [\"ml\", \"model.tar.gz\"]\n");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let output = optml().args(["check", "--format", "json"]).current_dir(dir.join("sub")).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{doc}");
    assert_eq!(doc["baseline"]["matched"], 2, "{doc}");
}

#[test]
fn junit_of_optml_run_reports_the_entry_point() {
    let Some(python) = report_python("JUnit of optml run") else { return };
    let dir = TestDir::new();
    let output = optml().args(["run", "--format", "junit", "--no-isolate", "--root"]).arg(dir.join("run")).args(["--", "sh", "-c", "exit 3"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let file = dir.join("run.xml");
    std::fs::write(&file, &output.stdout).unwrap();
    let suites: serde_json::Value = serde_json::from_str(&run_python(&python, JUNIT_SUMMARY, &[&file])).unwrap();
    let host = suites.as_array().unwrap().iter().find(|s| s["name"].as_str().unwrap().ends_with("algo-1")).expect("the host's suite");
    assert!(host["failing"]["RUN001 entry-point-failed"][0].as_str().unwrap().contains("exited with code 3"), "{host}");
}
