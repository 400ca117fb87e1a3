//! The short account `optml run` prints before its check report: how each host ended, files
//! and bytes per zone, the archives, and where the sandbox is. Also as JSON (`run` section).

use serde_json::{json, Value};

use super::isolate::Isolation;
use super::process::{StopCause, Termination};
use super::status::Marker;
use super::RunRecord;
use crate::engine::Ruleset;
use crate::entry::EntryKind;
use crate::report::sanitize::shown;
use crate::report::Checked;
use crate::units::{human_size, plural};

/// Files and bytes of one zone on one host.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    files: usize,
    bytes: u64,
}

/// Per zone (layout order, zones without files left out): one tally per host tree.
fn zone_tallies(ruleset: &Ruleset, trees: &[&Checked]) -> Vec<(String, Vec<Tally>)> {
    let zones = &ruleset.layout.zones;
    let mut table = vec![vec![Tally::default(); trees.len()]; zones.len()];
    for (host, tree) in trees.iter().enumerate() {
        for entry in &tree.subject.entries {
            let tally = &mut table[entry.zone()][host];
            if entry.kind != EntryKind::Dir {
                tally.files += 1;
                tally.bytes += entry.size;
            }
        }
    }
    zones.iter().zip(table).filter(|(_, tallies)| tallies.iter().any(|t| t.files > 0)).map(|(zone, tallies)| (zone.name.clone(), tallies)).collect()
}

fn ending(record: &RunRecord, index: usize) -> String {
    let outcome = &record.hosts[index].outcome;
    let how = match (outcome.stopped, outcome.termination) {
        (Some(StopCause::MaxRun(_)), Termination::Signaled(signal)) => format!("stopped by --max-run (signal {signal})"),
        (Some(StopCause::MaxRun(_)), Termination::Exited(code)) => format!("stopped by --max-run, exit {code}"),
        (_, Termination::Signaled(signal)) => format!("killed by signal {signal}"),
        (_, Termination::Exited(code)) => format!("exit {code}"),
    };
    let marker = match &record.hosts[index].marker {
        Ok(Marker::Success) => "output/success written".to_string(),
        Ok(Marker::Failure) => "output/failure written".to_string(),
        Ok(Marker::KeptScriptFailure) => "the script's output/failure kept".to_string(),
        Err(err) => format!("no status marker: {err}"),
    };
    format!("{how} after {:.1} s, {marker}", outcome.duration.as_secs_f64())
}

fn isolation_text(isolation: &Isolation) -> String {
    match isolation {
        Isolation::Namespace => {
            "private mount and PID namespaces per host: /opt/ml is the sandbox, other hosts are out of sight, every descendant dies with the entry point".into()
        }
        Isolation::Disabled => format!("off (--no-isolate): only SM_* variables point at the sandbox; {NOT_CONTAINED}"),
        Isolation::Unavailable(reason) => format!("unavailable ({reason}): only SM_* variables point at the sandbox; {NOT_CONTAINED}"),
    }
}

/// What the process-group fallback leaves out.
const NOT_CONTAINED: &str = "contained by process group and environment tag only: a process that calls setsid and clears its environment outlives the run, and every host can read and write the others' sandboxes";

/// `pid-namespace` or `process-group`: what reaps the entry point's descendants.
fn containment(isolation: &Isolation) -> &'static str {
    match isolation {
        Isolation::Namespace => "pid-namespace",
        Isolation::Disabled | Isolation::Unavailable(_) => "process-group",
    }
}

pub fn human(ruleset: &Ruleset, record: &RunRecord, trees: &[&Checked]) -> String {
    let mut out = format!("optml run: {}, isolation: {}\n", plural(record.hosts.len(), "host"), isolation_text(&record.isolation));
    for (index, host) in record.hosts.iter().enumerate() {
        out.push_str(&format!("  {:<8} {}\n", host.name, ending(record, index)));
    }
    let names: Vec<String> = record.hosts.iter().map(|h| format!("{:<24}", h.name)).collect();
    out.push_str(&format!("{:<22} {}\n", "files per zone", names.join(" ").trim_end()));
    for (zone, tallies) in zone_tallies(ruleset, trees) {
        let cells: Vec<String> = tallies.iter().map(|t| format!("{:<24}", format!("{}, {}", plural(t.files, "file"), human_size(t.bytes)))).collect();
        out.push_str(&format!("  {zone:<20} {}\n", cells.join(" ").trim_end()));
    }
    out.push_str("archives:\n");
    for artifact in &record.artifacts {
        let name = artifact.file_name();
        match &artifact.result {
            Ok(packed) => {
                out.push_str(&format!("  {name:<20} {}, {} -> {}\n", plural(packed.files, "file"), human_size(packed.bytes), human_size(packed.archive_bytes)))
            }
            Err(_) => out.push_str(&format!("  {name:<20} not written (see RUN007)\n")),
        }
    }
    let fate = if record.kept { "kept" } else { "removed; --keep keeps it" };
    out.push_str(&format!("run folder: {} ({fate}), {:.1} s in all\n\n", shown(&record.root), record.duration.as_secs_f64()));
    out
}

pub fn json(ruleset: &Ruleset, record: &RunRecord, trees: &[&Checked]) -> Value {
    let tallies = zone_tallies(ruleset, trees);
    let hosts: Vec<Value> = record
        .hosts
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let outcome = &host.outcome;
            let (exit_code, signal) = match outcome.termination {
                Termination::Exited(code) => (Some(code), None),
                Termination::Signaled(signal) => (None, Some(signal)),
            };
            let stopped = outcome.stopped.map(|cause| match cause {
                StopCause::MaxRun(_) => "max-run",
                StopCause::Forwarded(_) => "signal",
            });
            let marker = match &host.marker {
                Ok(Marker::Success) => Value::from("success"),
                Ok(Marker::Failure) => Value::from("failure"),
                Ok(Marker::KeptScriptFailure) => Value::from("script-failure"),
                Err(_) => Value::Null,
            };
            let zones: serde_json::Map<String, Value> =
                tallies.iter().map(|(zone, t)| (zone.clone(), json!({"files": t[index].files, "bytes": t[index].bytes}))).collect();
            json!({
                "name": host.name,
                "root": host.base.to_string_lossy(),
                "command": host.command_line,
                "exit_code": exit_code,
                "signal": signal,
                "return_code": outcome.termination.return_code(),
                "stopped": stopped,
                "killed_after_stop_timeout": outcome.killed_after_timeout,
                "marker": marker,
                "duration_seconds": outcome.duration.as_secs_f64(),
                "zones": zones,
            })
        })
        .collect();
    let artifacts: Vec<Value> = record
        .artifacts
        .iter()
        .map(|artifact| match &artifact.result {
            Ok(packed) => json!({"path": artifact.path.to_string_lossy(), "written": true, "files": packed.files, "bytes": packed.bytes, "archive_bytes": packed.archive_bytes}),
            Err(err) => json!({"path": artifact.path.to_string_lossy(), "written": false, "error": err.to_string()}),
        })
        .collect();
    let (mode, detail) = match &record.isolation {
        Isolation::Namespace => ("namespace", None),
        Isolation::Disabled => ("disabled", None),
        Isolation::Unavailable(reason) => ("unavailable", Some(reason.clone())),
    };
    json!({
        "root": record.root.to_string_lossy(),
        "kept": record.kept,
        "isolation": {"mode": mode, "detail": detail, "containment": containment(&record.isolation)},
        "hosts": hosts,
        "artifacts": artifacts,
        "duration_seconds": record.duration.as_secs_f64(),
    })
}
