//! Every serving rule on both sides, as data: `tests/fixtures/serving-cases.toml` describes each
//! case (the archive's members, the deployment environment, the packs, the codes that must and
//! must not fire); this one test builds each archive and checks it with the real binary. A new
//! rule is a rule-file entry plus rows here, no Rust. The meta-test below holds every rule of the
//! serving packs to a row where it fires and a row where it stays silent.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;

use serde::Deserialize;

use crate::common::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Case {
    /// The rule whose behaviour this row documents.
    rule: String,
    /// What the row shows, for failure messages.
    name: String,
    /// `--pack` values; none means the defaults (with `--pack auto` detection).
    #[serde(default)]
    pack: Vec<String>,
    /// `--env NAME=VALUE` arguments.
    #[serde(default)]
    env: Vec<String>,
    /// `archive` (model.tar.gz, the default), `tar` (an uncompressed model.tar) or `folder`
    /// (a model folder checked with `--as model`).
    #[serde(default)]
    input: Option<String>,
    files: Vec<FileDef>,
    /// Codes that must be reported.
    #[serde(default)]
    fires: Vec<String>,
    /// Codes that must not be reported.
    #[serde(default)]
    silent: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileDef {
    path: String,
    /// Text content.
    text: Option<String>,
    /// A zip (a TorchScript or torch.save file) holding these member names.
    zip: Option<Vec<String>>,
    /// With `zip`: bytes between its central directory and end record.
    #[serde(default)]
    zip_pad: usize,
    #[serde(default)]
    dir: bool,
    symlink: Option<String>,
}

const CASES: &str = "tests/fixtures/serving-cases.toml";

fn cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(CASES);
    let text = std::fs::read_to_string(&path).expect("read the serving cases");
    toml::from_str::<Cases>(&text).unwrap_or_else(|err| panic!("{CASES}: {err}")).case
}

fn content(file: &FileDef) -> Vec<u8> {
    match (&file.text, &file.zip) {
        (_, Some(names)) => zip_bytes(&names.iter().map(String::as_str).collect::<Vec<_>>(), b"x", file.zip_pad),
        (Some(text), None) => text.clone().into_bytes(),
        (None, None) => b"x".to_vec(),
    }
}

/// Build the case's input and check it; returns the codes reported.
fn run(case: &Case) -> (serde_json::Value, BTreeSet<String>) {
    let dir = TestDir::new();
    let contents: Vec<Vec<u8>> = case.files.iter().map(content).collect();
    let members: Vec<Member> = case
        .files
        .iter()
        .zip(&contents)
        .map(|(file, data)| match (&file.symlink, file.dir) {
            (Some(target), _) => Member::Symlink(&file.path, target),
            (None, true) => Member::Dir(&file.path),
            (None, false) => Member::File(&file.path, data),
        })
        .collect();
    let input = match case.input.as_deref().unwrap_or("archive") {
        "archive" => tar_gz(&dir, "model.tar.gz", &members),
        "tar" => {
            let path = dir.join("model.tar");
            std::fs::write(&path, tar_bytes(&members)).expect("write tar");
            path
        }
        "folder" => {
            for (file, data) in case.files.iter().zip(&contents) {
                if file.dir {
                    dir.dir(&format!("model/{}", file.path));
                } else {
                    dir.file_bytes(&format!("model/{}", file.path), data);
                }
            }
            dir.join("model")
        }
        other => panic!("{CASES}: case `{}`: unknown input `{other}`", case.name),
    };
    let mut args: Vec<String> = Vec::new();
    if case.input.as_deref() == Some("folder") {
        args.extend(["--as".into(), "model".into()]);
    }
    for pack in &case.pack {
        args.extend(["--pack".into(), pack.clone()]);
    }
    for env in &case.env {
        args.extend(["--env".into(), env.clone()]);
    }
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.push(input.as_os_str());
    let (_, doc) = check_json(&all);
    let reported = codes(&doc).into_iter().collect();
    (doc, reported)
}

#[test]
fn every_serving_case_reports_what_its_row_says() {
    let mut failures = Vec::new();
    for case in cases() {
        let (doc, reported) = run(&case);
        let missing: Vec<&String> = case.fires.iter().filter(|code| !reported.contains(*code)).collect();
        let unexpected: Vec<&String> = case.silent.iter().filter(|code| reported.contains(*code)).collect();
        if !missing.is_empty() || !unexpected.is_empty() {
            failures.push(format!(
                "{} ({}): missing {missing:?}, unexpected {unexpected:?}; reported {reported:?}; plan {}",
                case.rule, case.name, doc["inputs"][0]["plan"]
            ));
        }
    }
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_serving_rule_has_a_case_on_each_side() {
    let cases = cases();
    let packs = ["sagemaker-model", "pytorch", "tensorflow-serving", "huggingface", "xgboost", "sklearn", "mxnet", "triton", "djl-lmi"];
    let mut uncovered = Vec::new();
    for pack in packs {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("rules/{pack}.toml"))).expect("rule file");
        let file: toml::Value = toml::from_str(&text).expect("rule file parses");
        for rule in file.get("rule").and_then(|r| r.as_array()).into_iter().flatten() {
            let code = rule["code"].as_str().expect("code").to_string();
            let fires = cases.iter().any(|c| c.rule == code && c.fires.contains(&code));
            let silent = cases.iter().any(|c| c.rule == code && c.silent.contains(&code));
            if !fires || !silent {
                uncovered.push(format!("{code} (fires: {fires}, silent: {silent})"));
            }
        }
    }
    assert!(uncovered.is_empty(), "rules without a case on each side in {CASES}: {}", uncovered.join(", "));
}
