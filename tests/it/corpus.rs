//! Real archives from public repositories (tests/fixtures/corpus, see PROVENANCE.md there):
//! every one is checked without a crash or a hang, and the verdicts are snapshot-tested.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

pub fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        fs::read_dir(corpus_dir()).expect("corpus dir").map(|e| e.expect("entry").path()).filter(|p| p.extension().is_some_and(|e| e != "md")).collect();
    files.sort();
    files
}

/// One line per archive: exit code, role/flavour, and each finding as CODE@path.
#[test]
fn corpus_verdicts() {
    let files = corpus_files();
    assert!(files.len() >= 20, "the corpus sample is incomplete: {}", files.len());
    let mut lines = Vec::new();
    for file in &files {
        let output = optml()
            .args(["check", "--format", "json", "--no-default-packs", "--pack", "sagemaker-training"])
            .arg(file)
            .timeout(Duration::from_secs(30))
            .output()
            .expect("run optml");
        let code = output.status.code().expect("exited, not killed");
        assert!(code == 0 || code == 1, "{}: exit {code}: {}", file.display(), String::from_utf8_lossy(&output.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
        let part = &doc["inputs"][0]["parts"][0];
        let mut findings: Vec<String> = doc["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .map(|d| format!("{}@{}", d["rule"].as_str().unwrap(), d["path"].as_str().unwrap()))
            .collect();
        findings.dedup();
        lines.push(format!(
            "{} | exit {code} | {} {} {} entries | {}",
            file.file_name().unwrap().to_string_lossy(),
            part["role"].as_str().unwrap(),
            part["flavour"].as_str().unwrap(),
            part["entries"],
            findings.join(" ")
        ));
    }
    snapshot_settings("corpus").bind(|| insta::assert_snapshot!("verdicts", lines.join("\n")));
}

/// The human report for archives that show each kind of trouble.
#[test]
fn corpus_human_reports() {
    let samples = [
        ("wrapped_appledouble", "AREP-2026-1__Taller02__model.tar.gz"),
        ("duplicate_member", "aws-samples__easy-amazon-sagemaker-deployments__model.tar.gz"),
        ("gzipped_pickle", "Jay2250__TelcoCustomerChurn__model.tar.gz"),
        ("zero_byte", "ShreySharma07__aws-realtime-fraud-detection__infra__model.tar.gz"),
        ("local_mode_output", "Ransaka__Sagemaker-Local-Mode-Example__model__output.tar.gz"),
    ];
    for (name, file) in samples {
        // Run inside the corpus folder: the report wraps at 100 columns, so the input's name
        // must not depend on where the repository is checked out.
        let output = optml()
            .current_dir(corpus_dir())
            .args(["check", "--color", "never", "--no-default-packs", "--pack", "sagemaker-training"])
            .arg(file)
            .output()
            .expect("run optml");
        let text = transcript(&output, &corpus_dir());
        snapshot_settings("corpus").bind(|| insta::assert_snapshot!(name, text));
    }
}
