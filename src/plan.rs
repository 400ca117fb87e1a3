//! The serving plan: what the container will do with a model, stated from the packs'
//! `[[plan]]` data (the container and version assumed, the user module it imports, the model
//! files it loads, the task or model names, the requirements it installs), each item with the
//! container source it follows. Pure: the placed subject and the deployment environment in.

use serde::Serialize;

use crate::engine::env_subst::fill_text;
use crate::engine::eval::{field_values, when_holds};
use crate::engine::presence::Presence;
use crate::engine::rule::PlanStep;
use crate::engine::{Phase, Ruleset};
use crate::entry::{as_path, lossy, Entry, EntryKind};
use crate::glob::GlobList;
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
    let steps: Vec<(usize, &PlanStep)> = order.iter().flat_map(|&pack| ruleset.packs[pack].plan.iter().map(move |step| (pack, step))).collect();
    let presence = Presence::of(steps.iter().map(|(_, step)| &step.when), &subject.entries);
    let listings = listings(&steps, &subject.entries);
    let mut items: Vec<PlanItem> = Vec::new();
    for ((pack, step), listing) in steps.into_iter().zip(&listings) {
        if items.iter().any(|item| item.item == step.item) {
            continue;
        }
        if let Some(value) = state(ruleset, subject, placed, phase, &presence, step, listing) {
            items.push(PlanItem { item: step.item.clone(), value, source: step.source.clone(), pack: ruleset.packs[pack].name.clone() });
        }
    }
    const ORDER: [&str; 6] = ["container", "module", "model-files", "task", "models", "requirements"];
    items.sort_by_key(|item| ORDER.iter().position(|name| *name == item.item));
    items
}

/// The step's value for this subject, or `None` when it does not apply.
fn state(ruleset: &Ruleset, subject: &Subject, placed: &Placed, phase: Phase, presence: &Presence, step: &PlanStep, listing: &Listing) -> Option<String> {
    if !when_holds(ruleset, subject, placed, phase, presence, &step.when) {
        return None;
    }
    let mut value = step.value.clone();
    if step.paths.is_some() {
        if listing.matched == 0 {
            return None;
        }
        let mut listed = listing.shown.join(", ");
        if listing.matched > listing.shown.len() {
            listed.push_str(&format!(" and {} more", listing.matched - listing.shown.len()));
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

/// The model files a step's `paths` match: the first [`FILES_SHOWN`], and how many in all.
#[derive(Default)]
struct Listing {
    shown: Vec<String>,
    matched: usize,
}

/// The listing of every step of `steps` (a step without paths lists nothing), in one pass over
/// the entries on every core: a step can match every file of a large model.
fn listings(steps: &[(usize, &PlanStep)], entries: &[Entry]) -> Vec<Listing> {
    let mut patterns: Vec<&str> = Vec::new();
    let mut step_of_pattern: Vec<usize> = Vec::new();
    for (index, (_, step)) in steps.iter().enumerate() {
        // The filled globs (`{env-module:SAGEMAKER_PROGRAM|inference}`), not the written ones.
        let step_patterns = step.paths.iter().flat_map(|paths| paths.set.patterns());
        for pattern in step_patterns {
            patterns.push(pattern);
            step_of_pattern.push(index);
        }
    }
    let empty = || steps.iter().map(|_| Listing::default()).collect::<Vec<_>>();
    // Validated when their packs loaded: a list too large for globset lists nothing.
    if patterns.is_empty() {
        return empty();
    }
    let Ok(list) = GlobList::new(&patterns) else { return empty() };
    let parts = crate::parts::map(entries, |_, entries| {
        let mut listings = empty();
        let mut matches = Vec::new();
        for rel in entries.iter().filter_map(model_relative) {
            list.matches_into(as_path(rel), &mut matches);
            // Positions come in list order, and a step's patterns are adjacent: count each step once.
            let mut steps: Vec<usize> = matches.iter().map(|&pattern| step_of_pattern[pattern]).collect();
            steps.dedup();
            for step in steps {
                let listing = &mut listings[step];
                if listing.shown.len() < FILES_SHOWN {
                    listing.shown.push(lossy(rel));
                }
                listing.matched += 1;
            }
        }
        listings
    });
    parts
        .into_iter()
        .reduce(|mut all, later| {
            for (listing, later) in all.iter_mut().zip(later) {
                listing.shown.extend(later.shown);
                listing.shown.truncate(FILES_SHOWN);
                listing.matched += later.matched;
            }
            all
        })
        .unwrap_or_else(empty)
}

/// A file's path below the model root (`model/`), if it is in the model; folders are not
/// loaded and not listed.
fn model_relative(entry: &Entry) -> Option<&[u8]> {
    if entry.kind == EntryKind::Dir {
        return None;
    }
    entry.path().strip_prefix(b"model/".as_slice()).filter(|rel| !rel.is_empty())
}
