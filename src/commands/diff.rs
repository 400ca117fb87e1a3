//! `optml diff A B`: compare any two of tree, archive and manifest under SageMaker's packing
//! rules. Exit 0 when equal, 1 when different (or a budget is exceeded), 2 on error.

use std::path::Path;

use miette::Report as MietteReport;
use serde::Serialize;

use super::snapshot::open_input;
use crate::cli::{DiffArgs, DiffFormat, RoleArg};
use crate::engine::Ruleset;
use crate::exit::ExitStatus;
use crate::report::print;
use crate::report::sanitize::sanitize;
use crate::settings::{Flags, Settings};
use crate::snapshot::budget;
use crate::snapshot::compare::{compare, unified_diff};
use crate::snapshot::header::Header;
use crate::snapshot::manifest::{Line, Manifest};
use crate::snapshot::packing::{reconcile_output, resolve_links};
use crate::snapshot::record::record;
use crate::snapshot::report::Delta;
use crate::snapshot::store;
use crate::source::{Role, Subject};

/// One side of the comparison, as given.
enum Side {
    Manifest(Manifest),
    Input(Subject),
}

impl Side {
    /// The manifest at `path`, if it is one (told by its first line, not its name).
    fn manifest(path: &Path) -> Result<Option<Manifest>, MietteReport> {
        Ok(if path.is_file() && store::is_manifest(path) { store::read(path)? } else { None })
    }

    /// `layout` is loaded whenever a side is not a manifest.
    fn open(
        path: &Path,
        manifest: Option<Manifest>,
        layout: Option<&Ruleset>,
        role: Option<RoleArg>,
        digest: bool,
        settings: &Settings,
    ) -> Result<Side, MietteReport> {
        Ok(match manifest {
            Some(manifest) => Side::Manifest(manifest),
            None => Side::Input(open_input(layout.expect("loaded for an input side"), path, role, digest, settings, "compare")?),
        })
    }

    fn lines(&self, header: &Header) -> Vec<Line> {
        match self {
            Side::Manifest(manifest) => manifest.lines.clone(),
            Side::Input(subject) => record(subject, header),
        }
    }

    /// Apply the link rules against the other side's lines, re-recording the side if they
    /// changed anything; returns notes on what they did.
    fn pack(&mut self, lines: &mut Vec<Line>, other: &[Line], header: &Header) -> Vec<String> {
        let Side::Input(subject) = self else { return Vec::new() };
        let resolved = resolve_links(subject, header, other);
        if resolved.any() {
            *lines = record(subject, header);
        }
        resolved.notes(&subject.input)
    }

    fn is_output(&self) -> bool {
        matches!(self, Side::Input(subject) if subject.origins.iter().any(|o| o.role == Role::Output))
    }
}

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    a: &'a str,
    b: &'a str,
    equal: bool,
    notes: &'a [String],
    #[serde(flatten)]
    delta: &'a Delta,
}

pub fn run(args: &DiffArgs) -> Result<ExitStatus, MietteReport> {
    let settings = Settings::resolve(Flags::read(&args.discovery, &args.limits, &args.s3, args.under.as_deref()))?;
    let (a_manifest, b_manifest) = (Side::manifest(&args.a)?, Side::manifest(&args.b)?);
    // A manifest's header rules the comparison (the expected side's first); else the options.
    let base = match (&a_manifest, &b_manifest) {
        (Some(m), _) | (_, Some(m)) if !args.record.given() => m.header_only(),
        _ => args.record.header(None)?,
    };
    // Digests are computed only when the comparison records them.
    let digest = base.header.fields.sha256;
    // Reading an input needs the layout: loaded once for both sides, not at all for two manifests.
    let layout = if a_manifest.is_some() && b_manifest.is_some() { None } else { Some(settings.layout_only()?) };
    let mut a = Side::open(&args.a, a_manifest, layout.as_ref(), args.role, digest, &settings)?;
    let mut b = Side::open(&args.b, b_manifest, layout.as_ref(), args.role, digest, &settings)?;
    let header = &base.header;
    let mut notes = Vec::new();
    // Record each side once; re-record only a side the packing rules changed.
    let (mut a_lines, mut b_lines) = (a.lines(header), b.lines(header));
    notes.extend(a.pack(&mut a_lines, &b_lines, header));
    notes.extend(b.pack(&mut b_lines, &a_lines, header));
    let labels = [args.a.to_string_lossy().into_owned(), args.b.to_string_lossy().into_owned()];
    let output = a.is_output() || b.is_output() || args.role == Some(RoleArg::Output);
    notes.extend(reconcile_output(&mut a_lines, &mut b_lines, [&labels[0], &labels[1]], output));

    let drifts = budget::evaluate(&header.budgets, &a_lines, &b_lines);
    let render = |lines: Vec<Line>| Manifest { header: Header::default(), header_text: base.header_text.clone(), lines }.render();
    let comparison = compare(header, &a_lines, b_lines);
    let diff =
        if comparison.differences.is_empty() { String::new() } else { unified_diff(&render(a_lines), &render(comparison.actual), &labels[0], &labels[1]) };
    let delta = Delta::new(comparison.differences, drifts, diff);
    let equal = delta.matches() && delta.exceeded().next().is_none();

    let text = match args.format {
        DiffFormat::Json => {
            let document = Document { version: 1, a: &labels[0], b: &labels[1], equal, notes: &notes, delta: &delta };
            crate::report::sanitize::inert_json(serde_json::to_string_pretty(&document).expect("JSON of plain data")) + "\n"
        }
        DiffFormat::Human => {
            let mut out = delta.human(args.color.enabled());
            for note in &notes {
                out.push_str(&format!("note: {}\n", sanitize(note)));
            }
            let verdict = if equal { "equal" } else { "different" };
            out.push_str(&format!("{} and {} are {verdict}: {}\n", sanitize(&labels[0]), sanitize(&labels[1]), delta.summary()));
            out
        }
    };
    print(&text);
    Ok(if equal { ExitStatus::Clean } else { ExitStatus::Findings })
}
