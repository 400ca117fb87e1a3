//! `optml audit`: list the artifacts, check them concurrently, and report one record each
//! (docs/audit.md).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use miette::Report as MietteReport;
use serde_json::Value;

use crate::audit::progress::Progress;
use crate::audit::state::{settings_key, State};
use crate::audit::{self, summary, Artifact, Verdict};
use crate::cli::{AuditArgs, AuditFormat};
use crate::exit::ExitStatus;
use crate::finding::{Finding, Summary};
use crate::pipeline::{check_input, CheckOptions};
use crate::report::sanitize::sanitize;
use crate::report::{default_docs_base, Checked, Format, Report};
use crate::settings::{Flags, Settings};
use crate::source::OpenError;

/// The state file is rewritten after this many newly checked artifacts (and at the end).
const SAVE_EVERY: usize = 16;

/// One artifact's outcome: its record, and for the document formats what it was checked into.
struct Done {
    record: Value,
    checked: Option<(Checked, Vec<Finding>)>,
    unreadable: Option<OpenError>,
    reused: bool,
}

pub fn run(args: &AuditArgs) -> Result<ExitStatus, MietteReport> {
    let settings = Settings::resolve(Flags { output: args.output.as_deref(), ..Flags::check(&args.settings) })?;
    let documents = matches!(args.format, AuditFormat::Json | AuditFormat::Sarif | AuditFormat::Junit);
    if documents && args.state.is_some() {
        return Err(miette::miette!(
            code = "optml::usage",
            "--state re-uses records, which --format jsonl and human print; the {:?} report needs every artifact checked",
            args.format
        ));
    }
    let ruleset = settings.ruleset(&[])?;
    let listing = audit::list(&args.target, &ruleset.layout.job_artifacts)
        .map_err(|why| miette::miette!(code = "optml::input", "cannot audit {}: {why}", sanitize(&args.target)))?;
    let artifacts: Vec<Artifact> = listing.artifacts.into_iter().filter(|a| args.shard.is_none_or(|shard| audit::in_shard(&a.relative, shard))).collect();
    let options = CheckOptions { role: None, phase: args.phase.phase(), digest: false, limits: settings.limits };
    let mut state = match &args.state {
        Some(path) => Some(State::open(path, settings_key(&ruleset, options.phase, &settings.env))?),
        None => None,
    };
    if let Some(state) = state.as_mut() {
        if state.stale_settings && !settings.quiet {
            crate::stdio::err("optml audit: the state file was written with other rules or settings: every artifact is checked again\n");
        }
        state.retain(&artifacts.iter().map(Artifact::name).collect::<HashSet<_>>());
    }
    let jobs = args.jobs.unwrap_or_else(|| 4 * std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut slots: Vec<Option<Done>> = (0..artifacts.len()).map(|_| None).collect();
    let mut emitted = 0;
    let mut jsonl = String::new();
    let stream = args.format == AuditFormat::Jsonl && args.output.is_none();
    // Decided before any check, so workers share no state with the writer of the state file.
    let stored: Vec<Option<Value>> = artifacts.iter().map(|a| state.as_ref().and_then(|state| state.reusable(&a.name(), &a.identity)).cloned()).collect();
    let to_stream = artifacts.iter().zip(&stored).filter(|(_, stored)| stored.is_none()).map(|(a, _)| a.bytes).sum();
    let mut progress = Progress::new(artifacts.len(), to_stream, settings.quiet);
    let next = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel::<(usize, Done)>();
    let mut unsaved = 0;
    let checked = std::thread::scope(|scope| -> Result<(), MietteReport> {
        for _ in 0..jobs.min(artifacts.len()) {
            let sender = sender.clone();
            let (next, artifacts, ruleset, stored) = (&next, &artifacts, &ruleset, &stored);
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(artifact) = artifacts.get(index) else { break };
                let reused = stored[index].clone();
                let done = match reused {
                    Some(record) => Done { record, checked: None, unreadable: None, reused: true },
                    None => check_one(ruleset, artifact, options, documents),
                };
                if sender.send((index, done)).is_err() {
                    break;
                }
            });
        }
        drop(sender);
        for (index, done) in receiver {
            progress.advance(if done.reused { 0 } else { artifacts[index].bytes });
            if let Some(state) = state.as_mut().filter(|_| !done.reused) {
                let artifact = &artifacts[index];
                state.put(artifact.name(), artifact.identity.clone(), done.record.clone());
                unsaved += 1;
                if unsaved >= SAVE_EVERY {
                    state.save()?;
                    unsaved = 0;
                }
            }
            slots[index] = Some(done);
            // Records go out in artifact order, as soon as every earlier one is done.
            while let Some(Some(done)) = slots.get(emitted) {
                if args.format == AuditFormat::Jsonl {
                    let line = audit::line(&done.record);
                    if stream {
                        progress.suspend(|| crate::stdio::out(&line));
                    } else {
                        jsonl.push_str(&line);
                    }
                }
                emitted += 1;
            }
        }
        Ok(())
    });
    progress.finish();
    checked?;
    if let Some(state) = &state {
        state.save()?;
    }
    let done: Vec<Done> = slots.into_iter().map(|slot| slot.expect("every artifact reported")).collect();
    let mut records: Vec<Value> = done.iter().map(|d| d.record.clone()).collect();
    for (path, why) in &listing.unlisted {
        records.push(serde_json::json!({"artifact": path, "kind": "folder", "identity": {}, "verdict": "unreadable", "error": format!("cannot list the folder: {why}"), "counts": Summary::default(), "diagnostics": []}));
    }
    let reused = done.iter().filter(|d| d.reused).count();
    let total = records.iter().fold(Summary::default(), |sum, record| {
        let counts = audit::counts_of(record);
        Summary { errors: sum.errors + counts.errors, warnings: sum.warnings + counts.warnings, infos: sum.infos + counts.infos }
    });
    let unreadable = records.iter().any(|r| audit::verdict_of(r) == Verdict::Unreadable);
    match args.format {
        AuditFormat::Jsonl => {
            for record in &records[done.len()..] {
                let line = audit::line(record);
                if stream {
                    crate::stdio::out(&line);
                } else {
                    jsonl.push_str(&line);
                }
            }
            if !stream {
                settings.emit(&jsonl)?;
            }
            if !settings.quiet {
                crate::stdio::err(&format!("optml audit: {}\n", summary::tally(&records, reused)));
            }
        }
        AuditFormat::Human => settings.emit(&summary::render(&records, reused))?,
        AuditFormat::Json | AuditFormat::Sarif | AuditFormat::Junit => {
            let mut checked = Vec::new();
            let mut findings = Vec::new();
            let mut errors = Vec::new();
            for one in done {
                if let Some((one, found)) = one.checked {
                    checked.push(one);
                    findings.extend(found);
                }
                errors.extend(one.unreadable);
            }
            errors.extend(listing.unlisted.iter().map(|(path, why)| OpenError { input: path.clone(), message: format!("cannot list the folder: {why}") }));
            let format = match args.format {
                AuditFormat::Json => Format::Json,
                AuditFormat::Sarif => Format::Sarif,
                _ => Format::Junit,
            };
            let report = Report {
                unreadable: &errors,
                quiet: settings.quiet,
                fail_on: settings.fail_on,
                docs_base: settings.docs_url.as_deref().unwrap_or(default_docs_base()),
                ..Report::new(&ruleset, &checked, &mut findings)
            };
            settings.emit(&report.render(format, false))?;
        }
    }
    Ok(if unreadable { ExitStatus::Error } else { settings.exit_status(&total) })
}

/// Check one artifact into its record (keeping the check itself for the document formats).
fn check_one(ruleset: &crate::engine::Ruleset, artifact: &Artifact, options: CheckOptions, keep: bool) -> Done {
    match check_input(ruleset, &artifact.path, options) {
        Ok((checked, mut findings)) => {
            let record = {
                let one = std::slice::from_ref(&checked);
                let report = Report::new(ruleset, one, &mut findings);
                let diagnostics = serde_json::to_value(crate::report::json::diagnostics(&report)).expect("JSON of plain data");
                let objects: Vec<_> = checked.subject.origins.iter().filter_map(|origin| origin.object.clone()).collect();
                audit::record(artifact, &report.summary, diagnostics, &objects)
            };
            Done { record, checked: keep.then_some((checked, findings)), unreadable: None, reused: false }
        }
        Err(err) => Done { record: audit::unreadable_record(artifact, &err.message), checked: None, unreadable: Some(err), reused: false },
    }
}
