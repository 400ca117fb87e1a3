//! `optml run`: sandbox -> run every host -> status markers -> archives -> check -> report.

use std::path::Path;
use std::time::{Duration, Instant};

use miette::Report as MietteReport;

use crate::cli::RunArgs;
use crate::engine::builtin::{HARNESS_PACK, SNAPSHOT_PACK};
use crate::engine::{Phase, Ruleset};
use crate::exit::ExitStatus;
use crate::finding::Finding;
use crate::harness::env::Machine;
use crate::harness::findings::{harness_findings, merge_host_findings};
use crate::harness::hosts::{run_all, Launch};
use crate::harness::hyperparameters::RawHyperparameters;
use crate::harness::isolate::{probe, Isolation};
use crate::harness::pack::PackOptions;
use crate::harness::process::Limits;
use crate::harness::sandbox::{Channel, JobSpec};
use crate::harness::{pack_artifacts, summary, Artifact, RunDir, RunRecord};
use crate::pipeline::{check_subject, scan, CheckOptions};
use crate::report::{Format, Report};
use crate::settings::{Flags, Settings};
use crate::snapshot::verify::Golden;
use crate::source::{Role, Subject};

/// `--stop-timeout` and `--max-run`: non-negative seconds, fractions allowed.
pub fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text.parse().map_err(|_| format!("`{text}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(value).map_err(|_| format!("`{text}`: expected a non-negative number of seconds"))
}

fn usage(message: String) -> MietteReport {
    miette::miette!(code = "optml::run", "{message}")
}

/// The settings `check` would resolve; the rules are its packs plus the harness pack whatever
/// was selected (and the snapshot pack for `--snapshot`).
fn load_rules(args: &RunArgs) -> Result<(Settings, Ruleset), MietteReport> {
    let flags = Flags::report(&args.settings, &[]);
    let settings = Settings::resolve(flags)?;
    let extra: &[&str] = if args.snapshot.is_some() { &[HARNESS_PACK, SNAPSHOT_PACK] } else { &[HARNESS_PACK] };
    let ruleset = settings.ruleset(extra)?;
    Ok((settings, ruleset))
}

fn job_spec(args: &RunArgs) -> Result<JobSpec, String> {
    let mut hyperparameters = RawHyperparameters::default();
    if let Some(file) = &args.hyperparameters {
        hyperparameters.add_file(file)?;
    }
    for flag in &args.hp {
        hyperparameters.add_flag(flag)?;
    }
    let channels = args.channels.iter().map(|flag| Channel::parse(flag)).collect::<Result<Vec<_>, _>>()?;
    for (i, channel) in channels.iter().enumerate() {
        if channels[..i].iter().any(|c| c.name == channel.name) {
            return Err(format!("--channel {}: given twice", channel.name));
        }
    }
    Ok(JobSpec {
        hosts: JobSpec::host_names(usize::from(args.hosts)),
        instance_type: args.instance_type.clone(),
        channels,
        channel_mode: args.channel_mode,
        hyperparameters,
        checkpoint_uri: args.checkpoints.clone(),
    })
}

fn isolation(args: &RunArgs, sandbox: &Path) -> Isolation {
    if args.no_isolate {
        return Isolation::Disabled;
    }
    match probe(sandbox) {
        Ok(()) => Isolation::Namespace,
        Err(reason) => {
            crate::stdio::err(&format!(
                "optml: cannot isolate /opt/ml ({}); falling back to the SM_* variables alone\n",
                crate::report::sanitize::sanitize(&reason.to_string())
            ));
            Isolation::Unavailable(reason)
        }
    }
}

pub fn run(args: &RunArgs) -> Result<ExitStatus, MietteReport> {
    let started = Instant::now();
    let (settings, ruleset) = load_rules(args)?;
    let golden = args.snapshot.as_deref().map(|file| Golden::open(file, args.update_snapshots)).transpose()?;
    let spec = job_spec(args).map_err(usage)?;
    let run_dir = RunDir::create(args.root.as_deref()).map_err(usage)?;
    let bases: Vec<(String, std::path::PathBuf)> = spec.hosts.iter().map(|h| (h.clone(), run_dir.host(h))).collect();
    for (host, base) in &bases {
        spec.create_host(base, host).map_err(usage)?;
    }
    let isolation = isolation(args, &bases[0].1);
    let machine = Machine::probe();
    let launch = Launch {
        spec: &spec,
        command: &args.command,
        job_name: &args.job_name,
        machine: &machine,
        isolation: &isolation,
        limits: Limits { stop_timeout: args.stop_timeout, max_run: args.max_run },
        watchdog: run_dir.watchdog(),
        stdout_to_stderr: settings.format != Format::Human,
    };
    let hosts = run_all(&launch, &bases).map_err(usage)?;
    let artifacts = pack_artifacts(&run_dir, &hosts, args.output_archive, PackOptions { level: args.level, dereference: args.dereference });

    // Only the archives are recorded for a snapshot, so only they are hashed.
    let digest = golden.as_ref().is_some_and(Golden::needs_digest);
    let options = |role: Role| CheckOptions { role: Some(role), phase: Phase::Finished, digest: digest && role != Role::OptMl, limits: settings.limits };
    let mut checked = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut per_host = Vec::new();
    for (_, base) in &bases {
        let (tree, found) = super::check::check(&ruleset, base, options(Role::OptMl))?;
        checked.push(tree);
        per_host.push(found);
    }
    findings.extend(merge_host_findings(&ruleset, per_host));
    // Each archive is read once, for its check and for the snapshot. An archive of an empty
    // folder says nothing the tree check has not said already: it is read only for a snapshot.
    let checks = |artifact: &Artifact| artifact.result.as_ref().is_ok_and(|packed| packed.files > 0);
    let mut archives: Vec<(&Artifact, Subject)> = Vec::new();
    for (artifact, role) in artifacts.iter().zip([Role::Model, Role::Output]) {
        if checks(artifact) || (artifact.result.is_ok() && golden.is_some()) {
            let subject = scan(&ruleset, &artifact.path, options(role)).map_err(super::check::cannot_check)?;
            archives.push((artifact, subject));
        }
    }
    let snapshot = match golden {
        Some(golden) => {
            // The artifacts folder as a job folder: both archives, one manifest.
            let names: Vec<String> = archives.iter().map(|(artifact, _)| artifact.file_name()).collect();
            let parts: Vec<(&str, &Subject)> = names.iter().map(String::as_str).zip(archives.iter().map(|(_, subject)| subject)).collect();
            let job = Subject::job(run_dir.artifacts().to_string_lossy().into_owned(), &parts);
            let (outcome, found) = golden.verify(&ruleset, &job)?;
            findings.extend(found);
            Some(outcome)
        }
        None => None,
    };
    for (artifact, subject) in archives {
        if checks(artifact) {
            let (archive, found) = check_subject(&ruleset, subject, Phase::Finished);
            checked.push(archive);
            findings.extend(found);
        }
    }
    let record =
        RunRecord { root: run_dir.root().to_path_buf(), kept: args.keep || args.root.is_some(), isolation, hosts, artifacts, duration: started.elapsed() };
    findings.extend(harness_findings(&ruleset, &record));
    let script_failed = record.hosts.iter().any(|h| !h.outcome.succeeded());
    let trees: Vec<&crate::report::Checked> = checked.iter().take(bases.len()).collect();
    let run_json = summary::json(&ruleset, &record, &trees);
    let report = Report { run: Some(&run_json), snapshot: snapshot.as_ref(), quiet: settings.quiet, ..Report::new(&ruleset, &checked, &mut findings) };
    let color = args.color.enabled();
    let text = match settings.format {
        Format::Human if !settings.quiet => summary::human(&ruleset, &record, &trees) + &report.render(Format::Human, color),
        other => report.render(other, color),
    };
    let written = settings.emit(&text);
    let status = settings.exit_status(&report.summary);
    run_dir.finish(args.keep);
    written?;
    Ok(if script_failed && !settings.exit_zero { ExitStatus::Findings } else { status })
}
