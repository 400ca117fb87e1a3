//! SARIF 2.1.0 (OASIS), for GitHub code scanning and other SARIF viewers.
//!
//! The archive or tree file is the artifact a result points at, relative to the workspace
//! (`%SRCROOT%`); a member of an archive is a nested artifact (`parentIndex`) and the result's
//! logical location, so viewers show both `model.tar.gz` and `code/inference.py`. Results carry
//! `partialFingerprints` from the finding's identity, so alerts stay the same across runs.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::place::{real_file, uri, workspace, workspace_relative};
use super::{absolute_docs_url, Report};
use crate::engine::Rule;
use crate::entry::{file_name, lossy};
use crate::finding::{Finding, Severity};

/// The `partialFingerprints` key: the hash of [`crate::finding::Identity`], version 1.
const FINGERPRINT_KEY: &str = "optmlIdentity/v1";

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn descriptor(report: &Report<'_>, rule: &Rule) -> Value {
    let pack = &report.ruleset.packs[rule.pack];
    let docs = rule.docs.trim();
    let summary = docs.split("\n\n").next().unwrap_or(docs).split_whitespace().collect::<Vec<_>>().join(" ");
    let url = report.ruleset.docs_url(rule).and_then(|docs| absolute_docs_url(report.docs_base, &docs, pack.builtin));
    let mut markdown = format!("**{} {}** ({}, pack `{}`)\n\n{docs}\n\nHelp: {}\n", rule.code, rule.name, rule.severity, pack.name, rule.help);
    if let Some(fix) = &rule.fix {
        markdown.push_str(&format!("\nFix: `{fix}`\n"));
    }
    if let Some(url) = &url {
        markdown.push_str(&format!("\n[Rule reference]({url})\n"));
    }
    let mut value = json!({
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": format!("{}: {}", rule.code, rule.name.replace('-', " "))},
        "fullDescription": {"text": if summary.is_empty() { rule.help.clone() } else { summary }},
        "help": {"text": rule.help, "markdown": markdown},
        "defaultConfiguration": {"level": level(rule.severity)},
        "properties": {"pack": pack.name, "check": rule.check_name()},
    });
    if let Some(url) = url {
        value["helpUri"] = json!(url);
    }
    value
}

/// The run's artifacts: each real file once, and each archive member once under its archive.
#[derive(Default)]
struct Artifacts {
    list: Vec<Value>,
    files: BTreeMap<PathBuf, usize>,
    members: BTreeMap<(usize, Vec<u8>), usize>,
}

impl Artifacts {
    fn file(&mut self, path: &Path) -> usize {
        if let Some(&index) = self.files.get(path) {
            return index;
        }
        let mut location = json!({"uri": uri(path)});
        if path.is_relative() {
            location["uriBaseId"] = json!("%SRCROOT%");
        }
        self.list.push(json!({"location": location}));
        self.files.insert(path.to_path_buf(), self.list.len() - 1);
        self.list.len() - 1
    }

    fn member(&mut self, parent: usize, member: &[u8]) -> usize {
        let key = (parent, member.to_vec());
        if let Some(&index) = self.members.get(&key) {
            return index;
        }
        // Relative to the archive, even for a member named `/x`.
        let relative = &member[member.iter().take_while(|&&b| b == b'/').count()..];
        self.list.push(json!({"location": {"uri": uri(Path::new(OsStr::from_bytes(relative)))}, "parentIndex": parent}));
        self.members.insert(key, self.list.len() - 1);
        self.list.len() - 1
    }
}

fn result(report: &Report<'_>, finding: &Finding, artifacts: &mut Artifacts, workspace: &Path) -> Value {
    let file = workspace_relative(&real_file(finding), workspace);
    let index = artifacts.file(&file);
    let mut artifact_location = json!({"uri": uri(&file), "index": index});
    if file.is_relative() {
        artifact_location["uriBaseId"] = json!("%SRCROOT%");
    }
    let mut location = json!({"physicalLocation": {"artifactLocation": artifact_location}});
    let in_archive = finding.part.as_ref().is_some_and(|part| part.is_archive) && !finding.member.is_empty();
    if in_archive {
        artifacts.member(index, &finding.member);
        let archive = file.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        location["logicalLocations"] = json!([{
            "name": lossy(file_name(&finding.member)),
            "fullyQualifiedName": format!("{archive}/{}", lossy(&finding.member)),
            "kind": "resource",
        }]);
    }
    let mut text = format!("{}: {}", finding.location(), finding.message);
    if let Some(fix) = &finding.fix {
        text.push_str(&format!(" (fix: {fix})"));
    }
    let mut value = json!({
        "ruleId": finding.code,
        "ruleIndex": finding.rule,
        "level": level(finding.severity),
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: finding.identity().fingerprint()},
        "properties": {"input": finding.input, "path": finding.path(), "help": finding.help},
    });
    if report.baseline.is_some() {
        // Only findings the baseline does not know are reported.
        value["baselineState"] = json!("new");
    }
    value
}

pub fn render(report: &Report<'_>) -> String {
    let workspace = workspace();
    let rules: Vec<Value> = report.ruleset.rules.iter().map(|rule| descriptor(report, rule)).collect();
    let mut artifacts = Artifacts::default();
    let results: Vec<Value> = report.findings.iter().map(|finding| result(report, finding, &mut artifacts, &workspace)).collect();
    let notifications: Vec<Value> = report
        .unreadable
        .iter()
        .map(|problem| {
            let file = workspace_relative(Path::new(&problem.input), &workspace);
            json!({
                "level": "error",
                "message": {"text": format!("cannot check {problem}")},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(&file)}}}],
            })
        })
        .collect();
    let mut root = uri(&workspace);
    if !root.ends_with('/') {
        root.push('/');
    }
    let document = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "optml",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules,
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": root}},
            "invocations": [{"executionSuccessful": report.unreadable.is_empty(), "toolExecutionNotifications": notifications}],
            "artifacts": artifacts.list,
            "results": results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&document).expect("JSON of plain data");
    text.push('\n');
    text
}
