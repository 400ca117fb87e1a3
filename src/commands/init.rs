//! `optml init`: a commented starter config, as `optml.toml` or as `[tool.optml]` added to an
//! existing pyproject.toml. Never overwrites: a folder that already has a config is refused.

use std::path::Path;

use miette::Report as MietteReport;

use crate::cli::InitArgs;
use crate::exit::ExitStatus;
use crate::settings::config::{self, CONFIG_NAME, PYPROJECT_NAME};

/// The starter `optml.toml`: every key, most commented out.
pub const STARTER: &str = include_str!("../settings/starter.toml");

/// The starter as a pyproject.toml section: its tables move under `[tool.optml]`.
pub fn pyproject_section() -> String {
    let mut out = String::from("[tool.optml]\n");
    for line in STARTER.lines() {
        match line.strip_prefix('[') {
            Some(table) => out.push_str(&format!("[tool.optml.{table}\n")),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn refuse(path: &Path, why: &str) -> MietteReport {
    miette::miette!(code = "optml::init", help = "edit it, or remove it to start over", "{} {why}; not overwriting it", path.display())
}

pub fn run(args: &InitArgs) -> Result<ExitStatus, MietteReport> {
    let own = args.dir.join(CONFIG_NAME);
    let pyproject = args.dir.join(PYPROJECT_NAME);
    if own.exists() {
        return Err(refuse(&own, "already exists"));
    }
    let write = |path: &Path, text: &str| {
        crate::atomic::write(path, text.as_bytes()).map_err(|err| miette::miette!(code = "optml::init", "cannot write {}: {err}", path.display()))
    };
    if pyproject.is_file() {
        if config::read(&pyproject).is_ok() {
            return Err(refuse(&pyproject, "already has a [tool.optml] table"));
        }
        let existing = crate::open::read_text(&pyproject, crate::open::CONFIG_LIMIT)
            .map_err(|err| miette::miette!(code = "optml::init", "cannot read {}: {err}", pyproject.display()))?;
        if existing.contains("[tool.optml") {
            return Err(refuse(&pyproject, "already has a [tool.optml] table"));
        }
        let separator = if existing.is_empty() || existing.ends_with("\n\n") {
            ""
        } else if existing.ends_with('\n') {
            "\n"
        } else {
            "\n\n"
        };
        write(&pyproject, &format!("{existing}{separator}{}", pyproject_section()))?;
        crate::stdio::err(&format!("optml: added [tool.optml] to {}\n", crate::report::sanitize::shown(&pyproject)));
    } else {
        write(&own, STARTER)?;
        crate::stdio::err(&format!("optml: wrote {}\n", crate::report::sanitize::shown(&own)));
    }
    Ok(ExitStatus::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_starters_parse_as_config() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join(CONFIG_NAME);
        std::fs::write(&own, STARTER).unwrap();
        let file = config::read(&own).expect("the starter optml.toml is a valid config");
        assert_eq!(file.values.fail_on.map(|v| v.into_inner()), Some("error".to_string()));
        let pyproject = dir.path().join(PYPROJECT_NAME);
        std::fs::write(&pyproject, format!("[project]\nname = \"x\"\n\n{}", pyproject_section())).unwrap();
        let file = config::read(&pyproject).expect("the starter [tool.optml] is a valid config");
        assert_eq!(file.values.fail_on.map(|v| v.into_inner()), Some("error".to_string()));
    }
}
