//! `optml pack DIR -o FILE`: one folder to a deterministic tar.gz, written atomically.

use miette::Report as MietteReport;

use crate::cli::PackArgs;
use crate::exit::ExitStatus;
use crate::harness::pack::{pack, PackOptions, PackSource};
use crate::report::sanitize::shown;
use crate::stdio;
use crate::units::human_size;

pub fn run(args: &PackArgs) -> Result<ExitStatus, MietteReport> {
    if !args.dir.is_dir() {
        return Err(miette::miette!(code = "optml::input", "cannot pack {}: not a folder", args.dir.display()));
    }
    let options = PackOptions { level: args.level, dereference: args.dereference };
    let source = PackSource { label: "", dir: &args.dir };
    let packed = pack(&[source], &args.output, options).map_err(|err| miette::miette!(code = "optml::pack", "cannot pack {}: {err}", args.dir.display()))?;
    stdio::err(&format!("packed {} file(s), {} into {} ({})\n", packed.files, human_size(packed.bytes), shown(&args.output), human_size(packed.archive_bytes)));
    Ok(ExitStatus::Clean)
}
