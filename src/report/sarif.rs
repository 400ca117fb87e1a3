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

use serde::Serialize;
use serde_json::{json, Value};

use super::place::{real_file, uri, Workspace};
use super::{absolute_docs_url, cannot_check, Report};
use crate::engine::Rule;
use crate::entry::{file_name, lossy};
use crate::finding::{Finding, Severity};

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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    /// `%SRCROOT%` (the workspace) for a relative `uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
}

impl ArtifactLocation {
    fn of(path: &Path, index: Option<usize>) -> ArtifactLocation {
        ArtifactLocation { uri: uri(path), uri_base_id: path.is_relative().then_some("%SRCROOT%"), index }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Artifact {
    location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_index: Option<usize>,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    name: String,
    fully_qualified_name: String,
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logical_locations: Vec<LogicalLocation>,
}

/// One finding. Typed rather than a `serde_json::Value`, so a report of a million findings
/// costs little more memory than its text.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: [Location; 1],
    partial_fingerprints: Fingerprints,
    properties: ResultProperties<'a>,
    /// `new` with a baseline: only findings the baseline does not know are reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline_state: Option<&'static str>,
}

/// The hash of the finding's [`crate::finding::Identity`], version 1 of that identity.
#[derive(Serialize)]
struct Fingerprints {
    #[serde(rename = "optmlIdentity/v1")]
    identity: String,
}

#[derive(Serialize)]
struct ResultProperties<'a> {
    input: &'a str,
    path: String,
    help: &'a str,
}

#[derive(Serialize)]
struct Notification {
    level: &'static str,
    message: Text,
    locations: [Location; 1],
}

/// The run's artifacts: each real file once, and each archive member once under its archive.
#[derive(Default)]
struct Artifacts {
    list: Vec<Artifact>,
    files: BTreeMap<PathBuf, usize>,
    members: BTreeMap<(usize, Vec<u8>), usize>,
}

impl Artifacts {
    fn file(&mut self, path: &Path) -> usize {
        if let Some(&index) = self.files.get(path) {
            return index;
        }
        self.list.push(Artifact { location: ArtifactLocation::of(path, None), parent_index: None });
        self.files.insert(path.to_path_buf(), self.list.len() - 1);
        self.list.len() - 1
    }

    fn member(&mut self, parent: usize, member: &[u8]) {
        let key = (parent, member.to_vec());
        if self.members.contains_key(&key) {
            return;
        }
        // Relative to the archive, even for a member named `/x`.
        let relative = &member[member.iter().take_while(|&&b| b == b'/').count()..];
        let location = ArtifactLocation { uri: uri(Path::new(OsStr::from_bytes(relative))), uri_base_id: None, index: None };
        self.list.push(Artifact { location, parent_index: Some(parent) });
        self.members.insert(key, self.list.len() - 1);
    }
}

fn result<'a>(report: &Report<'a>, finding: &'a Finding, artifacts: &mut Artifacts, workspace: &mut Workspace) -> SarifResult<'a> {
    let file = workspace.relative(&real_file(finding));
    let index = artifacts.file(&file);
    let mut logical_locations = Vec::new();
    if finding.part.as_ref().is_some_and(|part| part.is_archive) && !finding.member.is_empty() {
        artifacts.member(index, &finding.member);
        let archive = file.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        logical_locations.push(LogicalLocation {
            name: lossy(file_name(&finding.member)),
            fully_qualified_name: format!("{archive}/{}", lossy(&finding.member)),
            kind: "resource",
        });
    }
    let mut text = format!("{}: {}", finding.location(), finding.message);
    if let Some(fix) = &finding.fix {
        text.push_str(&format!(" (fix: {fix})"));
    }
    SarifResult {
        rule_id: &finding.code,
        rule_index: finding.rule,
        level: level(finding.severity),
        message: Text { text },
        locations: [Location { physical_location: PhysicalLocation { artifact_location: ArtifactLocation::of(&file, Some(index)) }, logical_locations }],
        partial_fingerprints: Fingerprints { identity: finding.identity().fingerprint() },
        properties: ResultProperties { input: &finding.input, path: finding.path(), help: &finding.help },
        baseline_state: report.baseline.is_some().then_some("new"),
    }
}

pub fn render(report: &Report<'_>) -> String {
    let mut workspace = Workspace::from_env();
    let rules: Vec<Value> = report.ruleset.rules.iter().map(|rule| descriptor(report, rule)).collect();
    let mut artifacts = Artifacts::default();
    let results: Vec<SarifResult> = report.findings.iter().map(|finding| result(report, finding, &mut artifacts, &mut workspace)).collect();
    let notifications: Vec<Notification> = report
        .unreadable
        .iter()
        .map(|problem| {
            let file = workspace.relative(Path::new(&problem.input));
            let location =
                Location { physical_location: PhysicalLocation { artifact_location: ArtifactLocation::of(&file, None) }, logical_locations: Vec::new() };
            Notification { level: "error", message: Text { text: cannot_check(problem) }, locations: [location] }
        })
        .collect();
    let mut root = uri(workspace.root());
    if !root.ends_with('/') {
        root.push('/');
    }
    let document = Document {
        schema: SCHEMA,
        version: "2.1.0",
        runs: [Run {
            tool: json!({"driver": {
                "name": "optml",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules,
            }}),
            original_uri_base_ids: json!({"%SRCROOT%": {"uri": root}}),
            invocations: [Invocation { execution_successful: report.unreadable.is_empty(), tool_execution_notifications: notifications }],
            artifacts: artifacts.list,
            results,
        }],
    };
    let mut text = super::sanitize::inert_json(serde_json::to_string_pretty(&document).expect("JSON of plain data"));
    text.push('\n');
    text
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Value,
    original_uri_base_ids: Value,
    invocations: [Invocation; 1],
    artifacts: Vec<Artifact>,
    results: Vec<SarifResult<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    tool_execution_notifications: Vec<Notification>,
}
