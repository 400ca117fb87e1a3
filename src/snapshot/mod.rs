//! Golden snapshots: record a tree or archive as a reviewable manifest (`optml snapshot`),
//! compare closed-world (`optml check --snapshot`, `optml diff`), review and accept changes.
//!
//! manifest.rs (text format) <- header.rs (directives: fields, redact.rs, size rules, budget.rs)
//! record.rs (entries -> lines), compare.rs (lines vs lines), verify.rs (check + update policy),
//! store.rs (files, pending `.new`), packing.rs (SageMaker packing rules for diff), report.rs.

pub mod budget;
pub mod compare;
pub mod header;
pub mod manifest;
pub mod packing;
pub mod record;
pub mod redact;
pub mod report;
pub mod store;
pub mod verify;

use std::path::Path;

use header::Fields;
use manifest::{Manifest, MAGIC};
use store::StoreError;

use crate::source::{Problem, Subject};

/// The first problem that stopped `subject` from being read completely (a truncated or corrupt
/// archive, an unreadable folder): a manifest recorded from it would be partial.
pub fn incomplete(subject: &Subject) -> Option<&Problem> {
    subject.origins.iter().flat_map(|o| &o.problems).find(|p| p.kind.stops_reading())
}

/// An empty manifest with the default header (`/fields type size link`).
pub fn default_manifest() -> Manifest {
    let text = format!("{MAGIC}\n/fields {}\n", Fields::default().render());
    Manifest::parse("default header", &text).expect("the default header parses")
}

/// The header `optml snapshot` / `optml diff` record with: a config file's directives (same
/// syntax as a manifest header, magic line optional), then `--fields` and `--redact`.
pub fn header_from_options(fields: Option<&str>, redact: &[String], config: Option<&Path>) -> Result<Manifest, StoreError> {
    let mut text = format!("{MAGIC}\n");
    let mut config_has_fields = false;
    if let Some(path) = config {
        let name = path.to_string_lossy().into_owned();
        let body = crate::open::read_text(path, crate::open::CONFIG_LIMIT).map_err(|err| StoreError::Read { file: name.clone(), cause: err.to_string() })?;
        Manifest::parse_config(&name, &body)?;
        let body = body.strip_prefix(MAGIC).unwrap_or(&body).trim_start_matches(['\r', '\n']);
        config_has_fields = body.lines().any(|line| line.starts_with("/fields"));
        text.push_str(body);
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    match fields {
        Some(list) => {
            let fields = Fields::parse(list.split(',').map(str::trim)).map_err(|msg| StoreError::Options(format!("--fields {list}: {msg}")))?;
            text.push_str(&format!("/fields {}\n", fields.render()));
        }
        None if !config_has_fields => text.push_str(&format!("/fields {}\n", Fields::default().render())),
        None => {}
    }
    if !redact.is_empty() {
        text.push_str(&format!("/redact {}\n", redact.join(" ")));
    }
    Manifest::parse("command line", &text).map_err(|err| StoreError::Options(err.message))
}
