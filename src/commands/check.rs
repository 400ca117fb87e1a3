//! `optml check`: source -> layout -> rules -> findings -> report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use miette::Report as MietteReport;

use crate::cli::{CheckArgs, ColorArg, PhaseArg, RoleArg};
use crate::engine::builtin::{AUTO, DEFAULT_PACK};
use crate::engine::{Phase, Ruleset};
use crate::exit::ExitStatus;
use crate::finding::Finding;
use crate::pipeline::{check_input, CheckOptions};
use crate::report::{Checked, Format, Report};
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

pub fn run(args: &CheckArgs) -> Result<ExitStatus, MietteReport> {
    let extra: &[&str] = if args.snapshot.is_some() { &["snapshot"] } else { &[] };
    let mut ruleset = args.selection.load_with(&[DEFAULT_PACK, AUTO], extra)?;
    ruleset.set_env(args.env.clone());
    for code in &args.ignore {
        if ruleset.find(code).is_none() {
            return Err(miette::miette!(help = "`optml rule --all` lists the codes", "--ignore {code}: no loaded rule has this code"));
        }
    }
    let inputs: Vec<PathBuf> = if args.inputs.is_empty() { vec![PathBuf::from("/opt/ml")] } else { args.inputs.clone() };
    let golden = match &args.snapshot {
        Some(_) if inputs.len() != 1 => return Err(miette::miette!(code = "optml::usage", "--snapshot compares exactly one input, got {}", inputs.len())),
        Some(file) => Some(Golden::open(file, args.update_snapshots)?),
        None => None,
    };
    let digest = golden.as_ref().is_some_and(Golden::needs_digest);
    let options = CheckOptions { role: args.role.map(RoleArg::role), phase: args.phase.phase(), digest };
    let mut checked = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    for input in &inputs {
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
    findings.retain(|f| !args.ignore.iter().any(|code| code.eq_ignore_ascii_case(&f.code)));
    Ok(print_report(&ruleset, &checked, findings, snapshot.as_ref(), args.format, args.color.enabled()))
}

/// [`check_input`], its failure to open the input as the command's error.
pub fn check(ruleset: &Ruleset, input: &Path, options: CheckOptions) -> Result<(Checked, Vec<Finding>), MietteReport> {
    check_input(ruleset, input, options).map_err(cannot_check)
}

/// An input that cannot be opened, as the command's error.
pub fn cannot_check(err: OpenError) -> MietteReport {
    miette::miette!(code = "optml::input", "cannot check {err}")
}

/// Sort the findings, print the report to stdout, and return the exit status it implies.
pub fn print_report(ruleset: &Ruleset, checked: &[Checked], mut findings: Vec<Finding>, snapshot: Option<&Outcome>, format: Format, color: bool) -> ExitStatus {
    let report = Report { snapshot, ..Report::new(ruleset, checked, &mut findings) };
    crate::report::print(&report.render(format, color));
    ExitStatus::from_errors(report.summary.errors)
}
