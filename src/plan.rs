//! The serving plan: what the container will do with a model, stated from the packs'
//! `[[plan]]` data (the container and version assumed, the user module it imports, the model
//! files it loads, the task or model names, the requirements it installs), each item with the
//! container source it follows. Pure: the placed subject and the deployment environment in.

use serde::Serialize;

use crate::engine::env_subst::fill_text;
use crate::engine::eval::{field_values, when_holds};
use crate::engine::rule::PlanStep;
use crate::engine::{Phase, Ruleset};
use crate::entry::{as_path, lossy, Entry, EntryKind};
use crate::layout::Placed;
use crate::source::{Role, Subject};

/// Files `{files}` lists before it says how many more there are.
const FILES_SHOWN: usize = 8;

/// One item of the plan.
#[derive(Clone, Debug, Serialize)]
pub struct PlanItem {
    /// `container`, `module`, `model-files`, `task`, `models`, `requirements`.
    pub item: String,
    pub value: String,
    /// The container code this follows: repo, file and function.
    pub source: String,
    /// The pack that stated it.
    pub pack: String,
}

/// The plan for a subject holding a model, from the packs that apply (`packs`, one flag per
/// pack): a framework pack's items come before (and replace) those of the packs it extends.
pub fn plan(ruleset: &Ruleset, subject: &Subject, placed: &Placed, phase: Phase, packs: &[bool]) -> Vec<PlanItem> {
    if !subject.origins.iter().any(|origin| origin.role == Role::Model) {
        return Vec::new();
    }
    let applying: Vec<usize> = (0..ruleset.packs.len()).filter(|&i| packs.get(i).copied().unwrap_or(false)).collect();
    let extended: Vec<&str> = applying.iter().flat_map(|&i| ruleset.packs[i].extends.iter().map(String::as_str)).collect();
    let mut order: Vec<usize> = applying.iter().copied().filter(|&i| !extended.contains(&ruleset.packs[i].name.as_str())).collect();
    order.extend(applying.iter().copied().filter(|&i| extended.contains(&ruleset.packs[i].name.as_str())));
    let mut items: Vec<PlanItem> = Vec::new();
    for pack in order {
        for step in &ruleset.packs[pack].plan {
            if items.iter().any(|item| item.item == step.item) {
                continue;
            }
            if let Some(value) = state(ruleset, subject, placed, phase, step) {
                items.push(PlanItem { item: step.item.clone(), value, source: step.source.clone(), pack: ruleset.packs[pack].name.clone() });
            }
        }
    }
    const ORDER: [&str; 6] = ["container", "module", "model-files", "task", "models", "requirements"];
    items.sort_by_key(|item| ORDER.iter().position(|name| *name == item.item));
    items
}

/// The step's value for this subject, or `None` when it does not apply.
fn state(ruleset: &Ruleset, subject: &Subject, placed: &Placed, phase: Phase, step: &PlanStep) -> Option<String> {
    if !when_holds(ruleset, subject, placed, phase, &step.when) {
        return None;
    }
    let mut value = step.value.clone();
    if let Some(paths) = &step.paths {
        let files: Vec<String> = subject.entries.iter().filter_map(|e| model_relative(e)).filter(|rel| paths.set.is_match(as_path(rel))).map(lossy).collect();
        if files.is_empty() {
            return None;
        }
        let mut listed = files.iter().take(FILES_SHOWN).cloned().collect::<Vec<_>>().join(", ");
        if files.len() > FILES_SHOWN {
            listed.push_str(&format!(" and {} more", files.len() - FILES_SHOWN));
        }
        value = value.replace("{files}", &listed);
    }
    if let (Some(file), Some(field)) = (&step.file, &step.field) {
        let content = subject.entries.iter().find(|e| e.path() == file)?.content()?;
        let read = field_values(field, &content.text())?.into_iter().next()?;
        if let Some(table) = step.table {
            value = value.replace("{mapped}", ruleset.tables[table].lookup(&read)?);
        }
        value = value.replace("{field}", &read);
    }
    fill_text(&value, &ruleset.env)
}

/// A file's path below the model root (`model/`), if it is in the model; folders are not
/// loaded and not listed.
fn model_relative(entry: &Entry) -> Option<&[u8]> {
    if entry.kind == EntryKind::Dir {
        return None;
    }
    entry.path().strip_prefix(b"model/".as_slice()).filter(|rel| !rel.is_empty())
}
