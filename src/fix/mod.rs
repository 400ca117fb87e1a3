//! `optml fix`: the mechanical repairs rules name (`repair = "..."`), planned from the findings
//! of a check (`plan`) and applied by streaming the archive into a new one (`rewrite`).

pub mod plan;
pub mod rewrite;

use std::path::Path;

use crate::entry::lossy;
use crate::report::sanitize::sanitize;
use crate::source::{InputKind, ProblemKind, Subject};

/// Why an input cannot be fixed, only re-created.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Unfixable {
    #[error("optml fix rewrites archives; {input} is not one")]
    #[diagnostic(help("pack the folder first (tar -C DIR -czf model.tar.gz .)"))]
    NotAnArchive { input: String },
    /// Reading stopped early, or there was nothing to read: nothing trustworthy to copy.
    #[error("cannot fix {input}: {detail}")]
    #[diagnostic(help("re-create the archive from its source folder"))]
    Damaged { input: String, detail: String },
    /// A `..` member would be extracted outside /opt/ml/model; there is no safe place to move it.
    #[error("cannot fix {input}: member `{member}` has a `..` component and would be extracted outside the model folder")]
    #[diagnostic(help("re-create the archive from its source folder (tar -C DIR -czf model.tar.gz .)"))]
    ParentDir { input: String, member: String },
}

/// Whether `subject`, read from `input`, is an archive `optml fix` can rewrite.
pub fn check_fixable(input: &Path, subject: &Subject) -> Result<(), Unfixable> {
    let input = input.display().to_string();
    if subject.kind != InputKind::Archive {
        return Err(Unfixable::NotAnArchive { input });
    }
    // A broken hard link would be written out broken again.
    let damaged = |kind: ProblemKind| kind.stops_reading() || matches!(kind, ProblemKind::Empty | ProblemKind::BadHardlink);
    if let Some(problem) = subject.origins.iter().flat_map(|o| &o.problems).find(|p| damaged(p.kind)) {
        return Err(Unfixable::Damaged { input, detail: problem.detail.clone() });
    }
    if let Some(entry) = subject.entries.iter().find(|e| e.parent_dir) {
        return Err(Unfixable::ParentDir { input, member: sanitize(&lossy(entry.member())).into_owned() });
    }
    Ok(())
}
