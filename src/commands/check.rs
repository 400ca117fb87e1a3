//! `optml check`: source -> layout -> rules -> findings -> report.

use std::io::IsTerminal;
use std::path::Path;

use miette::Report as MietteReport;

use crate::baseline;
use crate::cli::{CheckArgs, ColorArg, PhaseArg, RoleArg};
use crate::engine::builtin::{IMAGE_PACK, SNAPSHOT_PACK};
use crate::engine::{Phase, Ruleset};
use crate::exit::ExitStatus;
use crate::finding::Finding;
use crate::image;
use crate::pipeline::{check_input, CheckOptions};
use crate::report::{default_docs_base, Checked, Report};
use crate::settings::{Flags, Settings};
use crate::snapshot::verify::Golden;
use crate::source::image::Pick;
use crate::source::{self, OpenError, Role};

impl RoleArg {
    /// The role of a tree or archive; `None` for an image, which the image gate reads.
    pub fn role(self) -> Option<Role> {
        match self {
            RoleArg::Model => Some(Role::Model),
            RoleArg::Output => Some(Role::Output),
            RoleArg::OptMl => Some(Role::OptMl),
            RoleArg::Code => Some(Role::Code),
            RoleArg::Image => None,
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
    let inputs = &settings.inputs;
    let images: Vec<bool> = inputs.iter().map(|input| args.role.map_or_else(|| source::image::sniff(input), |role| role == RoleArg::Image)).collect();
    let mut extra: Vec<&str> = Vec::new();
    if args.snapshot.is_some() {
        extra.push(SNAPSHOT_PACK);
    }
    if images.iter().any(|&image| image) {
        extra.push(IMAGE_PACK);
    }
    // The process exits after the report: freeing every rule, glob set and pack text one by
    // one was 4% of checking a small tree.
    let ruleset = std::mem::ManuallyDrop::new(settings.ruleset(&extra)?);
    let code = args.code.as_deref().map(image::Code::open).transpose().map_err(cannot_check)?;
    let golden = match &args.snapshot {
        Some(_) if inputs.len() != 1 => return Err(miette::miette!(code = "optml::usage", "--snapshot compares exactly one input, got {}", inputs.len())),
        Some(file) => Some(Golden::open(file, args.update_snapshots)?),
        None => None,
    };
    let digest = golden.as_ref().is_some_and(Golden::needs_digest);
    let pick = Pick { platform: args.platform.clone(), image: args.image.clone(), limits: settings.limits, digest };
    let options = CheckOptions { role: args.role.and_then(RoleArg::role), phase: args.phase.phase(), digest, limits: settings.limits };
    // Read before any input, so a bad baseline stops the run at once.
    let baseline = baseline::Run::new(args.baseline.as_deref().or(settings.baseline.as_deref()), args.write_baseline.as_deref())?;
    let mut checked = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    // One input that cannot be read does not hide the others' findings (exit 2 all the same).
    let mut unreadable = Vec::new();
    for (input, &is_image) in inputs.iter().zip(&images) {
        let result = if is_image {
            image::check(&ruleset, input, &pick, code.as_ref())
        } else {
            check_input(&ruleset, input, options).map(|one| vec![without_pack(&ruleset, one, IMAGE_PACK)])
        };
        match result {
            Ok(several) => {
                for (one, found) in several {
                    checked.push(one);
                    findings.extend(found);
                }
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
    let (mut findings, comparison) = baseline.apply(findings, &mut checked)?;
    let report =
        Report { snapshot: snapshot.as_ref(), unreadable: &unreadable, baseline: comparison.as_ref(), ..Report::new(&ruleset, &checked, &mut findings) };
    print_report(&settings, report, args.color.enabled())
}

/// `checked` as if pack `name` were not loaded: the image pack applies to images only.
fn without_pack(ruleset: &Ruleset, (mut checked, findings): (Checked, Vec<Finding>), name: &str) -> (Checked, Vec<Finding>) {
    if let Some(index) = ruleset.pack_index(name) {
        checked.packs[index] = false;
        for (on, rule) in checked.rules.iter_mut().zip(&ruleset.rules) {
            *on &= rule.pack != index;
        }
    }
    (checked, findings)
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
