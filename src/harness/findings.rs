//! The harness's own findings (rules/harness.toml): how each host's entry point ended, what
//! merging hosts overwrote, what could not be packed, and whether /opt/ml was isolated.

use super::isolate::Isolation;
use super::process::{signal_name, StopCause, Termination};
use super::RunRecord;
use crate::engine::eval::Vars;
use crate::engine::rule::Check;
use crate::engine::{ExternalCode, Ruleset};
use crate::finding::Finding;

/// Findings of every host's tree. With several hosts, whether a zone is empty is judged on
/// the merged result: a worker host that saves no model is normal. So a `non-empty` rule about
/// a zone SageMaker aggregates (model, output-data) is reported once, for the first host, and
/// only when it fires on every host.
pub fn merge_host_findings(ruleset: &Ruleset, per_host: Vec<Vec<Finding>>) -> Vec<Finding> {
    let aggregated = |f: &Finding| {
        let rule = &ruleset.rules[f.rule];
        rule.check == Check::NonEmpty && !rule.zones.is_empty() && rule.zones.iter().all(|&z| AGGREGATED_ZONES.contains(&ruleset.layout.zones[z].name.as_str()))
    };
    let everywhere: Vec<String> = per_host
        .first()
        .map(|first| {
            first.iter().filter(|f| aggregated(f) && per_host.iter().all(|found| found.iter().any(|g| g.code == f.code))).map(|f| f.code.clone()).collect()
        })
        .unwrap_or_default();
    let several = per_host.len() > 1;
    per_host
        .into_iter()
        .enumerate()
        .flat_map(|(host, found)| found.into_iter().map(move |f| (host, f)))
        .filter(|(host, f)| !several || !aggregated(f) || (*host == 0 && everywhere.contains(&f.code)))
        .map(|(_, f)| f)
        .collect()
}

/// Zones whose contents every host contributes to one archive.
const AGGREGATED_ZONES: [&str; 2] = ["model", "output-data"];

pub fn harness_findings(ruleset: &Ruleset, record: &RunRecord) -> Vec<Finding> {
    let mut findings = Vec::new();
    // A run's findings are about a host's folder or a packed archive as a whole, or a member of it.
    let mut raise = |code: ExternalCode, input: &str, member: &str, vars: &mut Vars| {
        findings.extend(ruleset.external_finding(code, input, None, member.as_bytes(), vars));
    };
    let root = record.root.to_string_lossy();
    if let Isolation::Unavailable(reason) = &record.isolation {
        raise(ExternalCode::IsolationUnavailable, &root, "", Vars::default().set("detail", reason.as_str()));
    }
    for host in &record.hosts {
        let input = host.base.to_string_lossy();
        let outcome = &host.outcome;
        let mut vars = Vars::default();
        vars.set("name", host.name.as_str());
        match (outcome.stopped, outcome.termination) {
            // A job that hits its time limit is stopped, however the script then exits.
            (Some(StopCause::MaxRun(limit)), _) => raise(ExternalCode::MaxRunExceeded, &input, "", vars.set("detail", format!("{}s", limit.as_secs_f64()))),
            (_, Termination::Exited(0)) => {}
            (_, Termination::Signaled(signal)) => raise(ExternalCode::EntryPointKilled, &input, "", vars.set("detail", signal_name(signal))),
            (_, Termination::Exited(code)) => raise(ExternalCode::EntryPointFailed, &input, "", vars.set("detail", code.to_string())),
        }
    }
    for artifact in &record.artifacts {
        let input = artifact.path.to_string_lossy();
        let name = artifact.file_name();
        match &artifact.result {
            Err(err) => raise(ExternalCode::PackFailed, &input, "", Vars::default().set("archive", name.as_str()).set("detail", err.to_string())),
            Ok(packed) => {
                for collision in &packed.collisions {
                    let code = if collision.identical { ExternalCode::HostFileDuplicate } else { ExternalCode::HostFileCollision };
                    let last = collision.labels.last().cloned().unwrap_or_default();
                    let mut vars = Vars::default();
                    vars.set("detail", collision.labels.join(", ")).set("name", last);
                    raise(code, &input, &collision.member, &mut vars);
                }
            }
        }
    }
    findings
}
