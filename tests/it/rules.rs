//! Invariants of the rule registry: every rule documented, docs/rules.md fresh, `optml rule`.

use std::path::Path;

use crate::common::*;

fn all_rules() -> Vec<serde_json::Value> {
    let output = optml().args(["rule", "--all", "--format", "json"]).output().expect("run optml");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("JSON").as_array().expect("list").clone()
}

#[test]
fn every_rule_has_code_severity_message_help_and_docs() {
    let rules = all_rules();
    assert!(rules.len() >= 30, "{} rules", rules.len());
    let mut codes: Vec<&str> = rules.iter().map(|r| r["code"].as_str().unwrap()).collect();
    for rule in &rules {
        for field in ["code", "name", "severity", "message", "help", "docs", "pack", "source"] {
            let value = rule[field].as_str().unwrap_or_default();
            assert!(!value.trim().is_empty(), "rule {} has no {field}", rule["code"]);
        }
        assert!(["error", "warning", "info"].contains(&rule["severity"].as_str().unwrap()));
    }
    let total = codes.len();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), total, "duplicate rule codes");
}

#[test]
fn rules_reference_is_fresh() {
    let output = optml().args(["rule", "--all", "--format", "markdown", "--isolated"]).output().expect("run optml");
    let generated = String::from_utf8(output.stdout).expect("UTF-8");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(generated == committed, "docs/rules.md is stale: regenerate it with `cargo run -q -- rule --all --format markdown --isolated > docs/rules.md`");
}

#[test]
fn explain_one_rule() {
    let output = optml().args(["rule", "sm201"]).output().expect("run optml");
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    snapshot_settings("rules").bind(|| insta::assert_snapshot!("explain_sm201", text));
}

#[test]
fn unknown_rule_code_is_exit_2() {
    let output = optml().args(["rule", "XX999"]).output().expect("run optml");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("XX999"));
}

#[test]
fn packs_lists_the_builtin_packs() {
    let output = optml().arg("packs").output().expect("run optml");
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("sagemaker-training"));
}
