//! `optml check`: source -> layout -> rules -> findings -> report.

use std::io::IsTerminal;
use std::path::Path;

use miette::Report as MietteReport;

use crate::cli::{CheckArgs, ColorArg, PhaseArg, RoleArg};
use crate::engine::builtin::SNAPSHOT_PACK;
use crate::engine::{Phase, Ruleset};
use crate::exit::ExitStatus;
use crate::finding::Finding;
use crate::pipeline::{check_input, CheckOptions};
use crate::report::{Checked, Report};
use crate::settings::{Flags, Settings};
use crate::snapshot::verify::{Golden, Outcome};
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

/// The settings of a `check` run: flags, config file, defaults.
fn settings(args: &CheckArgs) -> Result<Settings, MietteReport> {
    Settings::resolve(Flags {
        config: Some(&args.config),
        selection: Some(&args.selection),
        exit: Some(&args.exit),
        inputs: &args.inputs,
        format: args.format,
        output: args.output.as_deref(),
        limits: Some(&args.limits),
        ..Flags::default()
    })
}

pub fn run(args: &CheckArgs) -> Result<ExitStatus, MietteReport> {
    let settings = settings(args)?;
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
    let mut checked = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    for input in inputs {
        let (one, found) = check(&ruleset, input, options)?;
        checked.push(one);
        findings.extend(found);
    }
    let mut snapshot = None;
    if let Some(golden) = golden {
        let (outcome, found) = golden.verify(&ruleset, &checked[0].subject)?;
        findings.extend(found);
        snapshot = Some(outcome);
    }
    print_report(&settings, &ruleset, &checked, findings, snapshot.as_ref(), args.color.enabled())
}

/// [`check_input`], its failure to open the input as the command's error.
pub fn check(ruleset: &Ruleset, input: &Path, options: CheckOptions) -> Result<(Checked, Vec<Finding>), MietteReport> {
    check_input(ruleset, input, options).map_err(cannot_check)
}

/// An input that cannot be opened, as the command's error.
pub fn cannot_check(err: OpenError) -> MietteReport {
    miette::miette!(code = "optml::input", "cannot check {err}")
}

/// Sort the findings, write the report where the settings say, and return the exit status it
/// implies.
pub fn print_report(
    settings: &Settings,
    ruleset: &Ruleset,
    checked: &[Checked],
    mut findings: Vec<Finding>,
    snapshot: Option<&Outcome>,
    color: bool,
) -> Result<ExitStatus, MietteReport> {
    let report = Report { snapshot, quiet: settings.quiet, ..Report::new(ruleset, checked, &mut findings) };
    settings.emit(&report.render(settings.format, color))?;
    Ok(settings.exit_status(&report.summary))
}
