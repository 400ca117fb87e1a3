//! `optml fix INPUT -o FIXED`: check the archive, plan the repairs its findings name, write the
//! fixed archive atomically (the input is only read), print what changed, then check the result.

use std::path::Path;

use miette::Report as MietteReport;

use super::check::print_report;
use crate::cli::FixArgs;
use crate::engine::Phase;
use crate::exit::ExitStatus;
use crate::fix::check_fixable;
use crate::fix::plan::plan;
use crate::fix::rewrite::{rewrite, Written};
use crate::pipeline::{check_input, CheckOptions};
use crate::report::sanitize::{sanitize, shown};
use crate::report::Report;
use crate::report::{print, Format};
use crate::settings::{Flags, Settings};
pub fn run(args: &FixArgs) -> Result<ExitStatus, MietteReport> {
    // The report on the fixed archive is for a human reading what changed.
    let flags = Flags { format: Some(Format::Human), ..Flags::check(&args.settings) };
    let settings = Settings::resolve(flags)?;
    let mut ruleset = settings.ruleset(&[])?;
    // Every finding is a change to make: none is only counted.
    ruleset.kept_per_rule = usize::MAX;
    if same_file(&args.input, &args.output) {
        return Err(miette::miette!(help = "write the fixed archive elsewhere: -o fixed.tar.gz", "refusing to overwrite the input {}", args.input.display()));
    }
    let options = CheckOptions { role: None, phase: Phase::Finished, digest: false, limits: settings.limits };
    let (checked, findings) = check_input(&ruleset, &args.input, options).map_err(|err| miette::miette!(code = "optml::input", "cannot fix {err}"))?;
    check_fixable(&args.input, &checked.subject)?;
    let plan = plan(&ruleset, &checked.subject, &findings);
    if args.dry_run {
        let mut out = format!("would fix {} (dry run, nothing written)\n", shown(&args.input));
        for change in &plan.changes {
            out.push_str(&format!("  - {}\n", sanitize(change)));
        }
        out.push_str("  - and write every member with normalized modes (0644/0755) and owner root:root\n");
        print(&out);
        return Ok(ExitStatus::Clean);
    }
    let written = rewrite(&args.input, &args.output, &plan).map_err(|err| miette::miette!("cannot write {}: {err}", args.output.display()))?;

    let mut out = format!("fixed {} -> {}\n", shown(&args.input), shown(&args.output));
    for change in plan.changes.iter().chain(&normalization(&written)) {
        out.push_str(&format!("  - {}\n", sanitize(change)));
    }
    out.push_str(&format!("  {} members written\n\n", written.members));
    print(&out);

    // Re-check as what the input was read as: `-o fixed.tar.gz` must not turn an output archive
    // or a source bundle into a model archive because of its new name.
    let recheck = CheckOptions { role: checked.subject.origins.first().map(|o| o.role), ..options };
    let (rechecked, mut refound) =
        check_input(&ruleset, &args.output, recheck).map_err(|err| miette::miette!(code = "optml::input", "cannot re-check {err}"))?;
    print_report(&settings, Report::new(&ruleset, &[rechecked], &mut refound), args.color.enabled())
}

/// What the writer normalized, as change lines.
fn normalization(written: &Written) -> Vec<String> {
    let mut lines = Vec::new();
    if written.modes > 0 {
        lines.push(format!("normalized the modes of {} member(s) to 0644 (files), 0755 (folders and executables)", written.modes));
    }
    if written.owners > 0 {
        lines.push(format!("normalized the owner of {} member(s) to root:root (uid/gid 0)", written.owners));
    }
    for skipped in &written.skipped {
        lines.push(format!("left out `{skipped}`: devices, FIFOs and sockets cannot be in a model"));
    }
    lines
}

/// Whether both paths name the same existing file (so writing one would replace the other).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
