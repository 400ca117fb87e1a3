//! `optml check`: source -> layout -> rules -> findings -> report.

use std::io::IsTerminal;
use std::path::Path;

use miette::Report as MietteReport;

use crate::baseline;
use crate::cli::{CheckArgs, ColorArg, PhaseArg, RoleArg};
use crate::engine::builtin::SNAPSHOT_PACK;
use crate::engine::{Phase, Ruleset};
use crate::exit::ExitStatus;
use crate::finding::Finding;
use crate::pipeline::{check_input, CheckOptions};
use crate::report::{default_docs_base, Checked, Report};
use crate::settings::{Flags, Settings};
use crate::snapshot::verify::Golden;
use crate::source::{OpenError, Role};

impl RoleArg {
    pub fn role(self) -> Role {
        match self {
            RoleArg::Model => Role::Model,
            RoleArg::Output => Role::Output,
            RoleArg::OptMl => Role::OptMl,
            RoleArg::Code => Role::Code,
        }
    }
}

impl PhaseArg {
    pub fn phase(self) -> Phase {
        match self {
            PhaseArg::Finished => Phase::Finished,
            PhaseArg::Running => Phase::Running,
        }
    }
}

impl ColorArg {
    /// Whether to color output written to stdout (NO_COLOR wins over auto).
    pub fn enabled(self) -> bool {
        match self {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal(),
        }
    }
}

pub fn run(args: &CheckArgs) -> Result<ExitStatus, MietteReport> {
    let settings = Settings::resolve(Flags::report(&args.settings, &args.inputs))?;
    let extra: &[&str] = if args.snapshot.is_some() { &[SNAPSHOT_PACK] } else { &[] };
    let ruleset = settings.ruleset(extra)?;
    let inputs = &settings.inputs;
    let golden = match &args.snapshot {
        Some(_) if inputs.len() != 1 => return Err(miette::miette!(code = "optml::usage", "--snapshot compares exactly one input, got {}", inputs.len())),
        Some(file) => Some(Golden::open(file, args.update_snapshots)?),
        None => None,
    };
    let digest = golden.as_ref().is_some_and(Golden::needs_digest);
    let options = CheckOptions { role: args.role.map(RoleArg::role), phase: args.phase.phase(), digest, limits: settings.limits };
    // Read before any input, so a bad baseline stops the run at once.
    let baseline = baseline::Run::new(args.baseline.as_deref().or(settings.baseline.as_deref()), args.write_baseline.as_deref())?;
    let mut checked = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    // One input that cannot be read does not hide the others' findings (exit 2 all the same).
    let mut unreadable = Vec::new();
    for input in inputs {
        match check_input(&ruleset, input, options) {
            Ok((one, found)) => {
                checked.push(one);
                findings.extend(found);
            }
            Err(err) if golden.is_some() || inputs.len() == 1 => return Err(cannot_check(err)),
            Err(err) => unreadable.push(err),
        }
    }
    if checked.is_empty() {
        return Err(cannot_check(unreadable.remove(0)));
    }
    let mut snapshot = None;
    if let Some(golden) = golden {
        let (outcome, found) = golden.verify(&ruleset, &checked[0].subject)?;
        findings.extend(found);
        snapshot = Some(outcome);
    }
    let (mut findings, comparison) = baseline.apply(findings)?;
    let report =
        Report { snapshot: snapshot.as_ref(), unreadable: &unreadable, baseline: comparison.as_ref(), ..Report::new(&ruleset, &checked, &mut findings) };
    print_report(&settings, report, args.color.enabled())
}

/// [`check_input`], its failure to open the input as the command's error.
pub fn check(ruleset: &Ruleset, input: &Path, options: CheckOptions) -> Result<(Checked, Vec<Finding>), MietteReport> {
    check_input(ruleset, input, options).map_err(cannot_check)
}

/// An input that cannot be opened, as the command's error.
pub fn cannot_check(err: OpenError) -> MietteReport {
    crate::report::cannot_check_diagnostic(&err)
}

/// Write the report where the settings say, as they say, and return the exit status it implies:
/// 2 when an input could not be read, else as `fail-on` and `--exit-zero` decide.
pub fn print_report(settings: &Settings, report: Report<'_>, color: bool) -> Result<ExitStatus, MietteReport> {
    let report = Report { quiet: settings.quiet, fail_on: settings.fail_on, docs_base: settings.docs_url.as_deref().unwrap_or(default_docs_base()), ..report };
    settings.emit(&report.render(settings.format, color))?;
    Ok(if report.unreadable.is_empty() { settings.exit_status(&report.summary) } else { ExitStatus::Error })
}
