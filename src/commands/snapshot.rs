//! `optml snapshot INPUT [-o FILE]` records a manifest; `optml snapshot review|accept|reject`
//! handle the pending `FILE.new` snapshots that `optml check --snapshot` writes.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use miette::Report as MietteReport;

use crate::cli::{ColorArg, PendingArgs, RecordArgs, RoleArg, SnapshotAction, SnapshotArgs};
use crate::engine::Ruleset;
use crate::exit::ExitStatus;
use crate::report::print;
use crate::report::sanitize::{sanitize, shown};
use crate::settings::{Flags, Settings};
use crate::snapshot::compare::unified_diff;
use crate::snapshot::manifest::Manifest;
use crate::snapshot::record::record_owned;
use crate::snapshot::report::Delta;
use crate::snapshot::{default_manifest, header_from_options, incomplete, store};
use crate::source::{self, Subject};
use crate::stdio;

pub fn run(args: &SnapshotArgs) -> Result<ExitStatus, MietteReport> {
    match &args.action {
        Some(SnapshotAction::Accept(pending)) => settle(pending, "accepted", store::accept),
        Some(SnapshotAction::Reject(pending)) => settle(pending, "rejected", store::reject),
        Some(SnapshotAction::Review(pending)) => review(pending),
        None => record_input(args),
    }
}

impl RecordArgs {
    pub(crate) fn given(&self) -> bool {
        self.fields.is_some() || !self.redact.is_empty() || self.config.is_some()
    }

    /// The header to record with: from the options, else `existing`'s, else the default.
    pub fn header(&self, existing: Option<Manifest>) -> Result<Manifest, MietteReport> {
        Ok(match existing {
            _ if self.given() => header_from_options(self.fields.as_deref(), &self.redact, self.config.as_deref())?,
            Some(manifest) => manifest.header_only(),
            None => default_manifest(),
        })
    }
}

/// Open an input for a snapshot or diff: one streaming pass, digests only when recorded.
/// An archive that cannot be read to the end is an error here: a partial manifest would lie.
/// `verb` names the command in errors ("snapshot", "compare").
/// An image records its folder `settings.image_under` (`--under`).
pub fn open_input(layout_only: &Ruleset, path: &Path, role: Option<RoleArg>, digest: bool, settings: &Settings, verb: &str) -> Result<Subject, MietteReport> {
    let limits = settings.limits;
    if role == Some(RoleArg::Image) || (role.is_none() && source::image::sniff(path)) {
        let pick = source::image::Pick { limits, digest, ..Default::default() };
        return crate::image::subject(path, &pick, &settings.image_under).map_err(|err| miette::miette!(code = "optml::input", "cannot {verb} {err}"));
    }
    let subject = source::open(path, role.and_then(RoleArg::role), &layout_only.layout.job_artifacts, layout_only, 0, digest, limits)
        .map_err(|err| miette::miette!(code = "optml::input", "cannot {verb} {err}"))?;
    if let Some(problem) = incomplete(&subject) {
        return Err(miette::miette!(
            code = "optml::input",
            help = "`optml check` reports every problem of the input",
            "cannot {verb} {}: {}",
            subject.input,
            problem.detail
        ));
    }
    Ok(subject)
}

fn record_input(args: &SnapshotArgs) -> Result<ExitStatus, MietteReport> {
    let input = args.input.as_ref().expect("clap requires INPUT without a subcommand");
    let existing = match &args.output {
        Some(file) => store::read(file)?,
        None => None,
    };
    let base = args.record.header(existing)?;
    let settings = Settings::resolve(Flags::read(&args.discovery, &args.limits, &args.s3, args.under.as_deref()))?;
    let subject = open_input(&settings.layout_only()?, input, args.role, base.header.fields.sha256, &settings, "snapshot")?;
    let input = subject.input.clone();
    // The entries become the lines, in their memory.
    let manifest = Manifest { lines: record_owned(subject, &base.header), ..base };
    match &args.output {
        Some(file) => {
            store::write_manifest(file, |out| manifest.write_to(out))?;
            stdio::err(&format!("recorded {} lines of {} in {}\n", manifest.lines.len(), sanitize(&input), shown(file)));
        }
        None => stdio::out_with(|out| manifest.write_to(out)),
    }
    Ok(ExitStatus::Clean)
}

/// The golden files named (as FILE or FILE.new), or every pending one below the current folder.
fn pending_files(args: &PendingArgs) -> Vec<PathBuf> {
    if args.files.is_empty() {
        store::find_pending(Path::new("."))
    } else {
        args.files.iter().map(|f| store::golden_path(f)).collect()
    }
}

fn settle(args: &PendingArgs, verb: &str, action: fn(&Path) -> Result<(), store::StoreError>) -> Result<ExitStatus, MietteReport> {
    let files = pending_files(args);
    if files.is_empty() {
        print("no pending snapshots\n");
    }
    for file in files {
        action(&file)?;
        print(&format!("{verb} {}\n", shown(&store::pending_path(&file))));
    }
    Ok(ExitStatus::Clean)
}

/// Interactive: show each pending snapshot's diff, then accept, reject or skip it.
fn review(args: &PendingArgs) -> Result<ExitStatus, MietteReport> {
    if !std::io::stdin().is_terminal() {
        return Err(miette::miette!(
            code = "optml::usage",
            help = "use `optml snapshot accept [FILE...]` or `optml snapshot reject [FILE...]` in scripts",
            "`optml snapshot review` is interactive and needs a terminal"
        ));
    }
    let color = ColorArg::Auto.enabled();
    let files = pending_files(args);
    if files.is_empty() {
        print("no pending snapshots\n");
    }
    let mut answers = std::io::stdin().lock().lines();
    for file in files {
        let pending = store::pending_path(&file);
        let read = |path: &Path| crate::open::read_text(path, crate::open::MANIFEST_LIMIT).unwrap_or_default();
        let diff = unified_diff(&read(&file), &read(&pending), &file.to_string_lossy(), &pending.to_string_lossy());
        print(&Delta::new(Vec::new(), Vec::new(), diff).human(color));
        loop {
            print(&format!("{}: [a]ccept, [r]eject, [s]kip? ", shown(&file)));
            let Some(Ok(answer)) = answers.next() else { return Ok(ExitStatus::Clean) };
            match answer.trim() {
                "a" | "accept" => store::accept(&file)?,
                "r" | "reject" => store::reject(&file)?,
                "s" | "skip" | "" => {}
                _ => continue,
            }
            break;
        }
    }
    Ok(ExitStatus::Clean)
}
