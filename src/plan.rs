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
use crate::entry::{lossy, Entry, EntryKind};
use crate::glob::OwnedGlobs;
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

/// The plan steps that may state an item for `subject`, in the order they are tried: none
/// unless the subject holds a model, and of the packs that apply (`packs`, one flag per pack)
/// a framework pack's steps come before (and replace) those of the packs it extends.
pub fn steps<'a>(ruleset: &'a Ruleset, subject: &Subject, packs: &[bool]) -> Vec<(usize, &'a PlanStep)> {
    if !subject.origins.iter().any(|origin| origin.role == Role::Model) {
        return Vec::new();
    }
    let applying: Vec<usize> = (0..ruleset.packs.len()).filter(|&i| packs.get(i).copied().unwrap_or(false)).collect();
    let extended: Vec<&str> = applying.iter().flat_map(|&i| ruleset.packs[i].extends.iter().map(String::as_str)).collect();
    let mut order: Vec<usize> = applying.iter().copied().filter(|&i| !extended.contains(&ruleset.packs[i].name.as_str())).collect();
    order.extend(applying.iter().copied().filter(|&i| extended.contains(&ruleset.packs[i].name.as_str())));
    order.iter().flat_map(|&pack| ruleset.packs[pack].plan.iter().map(move |step| (pack, step))).collect()
}

/// The plan from `steps` ([`steps`]), their conditions found in `presence`.
pub fn plan(ruleset: &Ruleset, subject: &Subject, placed: &Placed, phase: Phase, steps: &[(usize, &PlanStep)], presence: &Presence) -> Vec<PlanItem> {
    let listings = listings(steps, &subject.entries);
    let mut items: Vec<PlanItem> = Vec::new();
    for (&(pack, step), listing) in steps.iter().zip(&listings) {
        if items.iter().any(|item| item.item == step.item) {
            continue;
        }
        if let Some(value) = state(ruleset, subject, placed, phase, presence, step, listing) {
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
    let empty = || steps.iter().map(|_| Listing::default()).collect::<Vec<_>>();
    // The filled globs (`{env-module:SAGEMAKER_PROGRAM|inference}`), not the written ones;
    // validated when their packs loaded, so only globs too many for globset list nothing.
    let by_step = steps.iter().map(|(_, step)| step.paths.iter().flat_map(|paths| paths.set.patterns()).map(String::as_str));
    let Ok(owned) = OwnedGlobs::new(by_step) else { return empty() };
    owned.scan(
        entries,
        model_relative,
        empty,
        |listings, step, _, rel| {
            let listing = &mut listings[step];
            if listing.shown.len() < FILES_SHOWN {
                listing.shown.push(lossy(rel));
            }
            listing.matched += 1;
        },
        |all, later| {
            for (listing, later) in all.iter_mut().zip(later) {
                listing.shown.extend(later.shown);
                listing.shown.truncate(FILES_SHOWN);
                listing.matched += later.matched;
            }
        },
    )
}

/// A file's path below the model root (`model/`), if it is in the model; folders are not
/// loaded and not listed.
fn model_relative(entry: &Entry) -> Option<&[u8]> {
    if entry.kind == EntryKind::Dir {
        return None;
    }
    entry.path().strip_prefix(b"model/".as_slice()).filter(|rel| !rel.is_empty())
}
