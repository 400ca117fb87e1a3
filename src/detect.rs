//! Which packs apply to one input: `--pack auto` scores the serving packs from their own
//! `[[detect]]` signals (data in the rule files), then `extends` and `supersedes` are applied.

use std::collections::HashSet;

use serde::Serialize;

use crate::engine::presence::Presence;
use crate::engine::rule::Signal;
use crate::engine::Ruleset;
use crate::entry::as_path;
use crate::finding::{Finding, Overflow, Severity};
use crate::source::{Role, Subject};

/// A pack wins outright with at least this many points and twice the runner-up's.
const CERTAIN_POINTS: u32 = 10;

/// How well one pack fits, and the signals that fired.
#[derive(Clone, Debug, Serialize)]
pub struct Score {
    pub pack: String,
    pub points: u32,
    pub signals: Vec<String>,
}

/// The outcome of `--pack auto` on one input.
#[derive(Clone, Debug, Serialize)]
pub struct Detection {
    /// The pack applied; `None` when nothing fitted or two packs fitted equally well.
    pub pack: Option<String>,
    /// False when another pack also fitted, or the evidence was weak.
    pub certain: bool,
    /// One sentence for humans: the choice and why, or why there is none.
    pub reason: String,
    /// Every pack that scored, best first.
    pub candidates: Vec<Score>,
}

/// Which packs and rules apply to one input.
#[derive(Debug)]
pub struct Activation {
    pub packs: Vec<bool>,
    /// One flag per rule of the ruleset: the settings enable it, its pack applies and no
    /// applying pack supersedes it.
    pub rules: Vec<bool>,
    pub detection: Option<Detection>,
}

/// Decide which packs of `ruleset` apply to `subject` (already placed into /opt/ml paths).
pub fn activate(ruleset: &Ruleset, subject: &Subject) -> Activation {
    let has_model = subject.origins.iter().any(|origin| origin.role == Role::Model);
    let eligible = |index: usize| !ruleset.applies[index].model_inputs_only || has_model;
    let mut packs: Vec<bool> = (0..ruleset.packs.len()).map(|i| eligible(i) && !ruleset.applies[i].detected).collect();
    let candidates: Vec<usize> = (0..ruleset.packs.len()).filter(|&i| eligible(i) && ruleset.applies[i].detected).collect();
    let detection = (!candidates.is_empty()).then(|| detect(ruleset, subject, &candidates));
    if let Some(chosen) = detection.as_ref().and_then(|d| d.pack.as_deref()).and_then(|name| ruleset.pack_index(name)) {
        packs[chosen] = true;
    }
    // A pack brings the packs it extends (pytorch brings sagemaker-model), transitively.
    let mut changed = true;
    while changed {
        changed = false;
        for index in 0..packs.len() {
            if !packs[index] {
                continue;
            }
            for name in &ruleset.packs[index].extends {
                if let Some(extended) = ruleset.pack_index(name).filter(|&e| !packs[e]) {
                    packs[extended] = true;
                    changed = true;
                }
            }
        }
    }
    let superseded: HashSet<&str> =
        ruleset.packs.iter().zip(&packs).filter(|(_, &on)| on).flat_map(|(pack, _)| pack.supersedes.iter().map(String::as_str)).collect();
    // The settings' select/ignore/`off` switch rules off here, so the evaluator never runs them.
    let rules =
        ruleset.rules.iter().zip(&ruleset.enabled).map(|(rule, &enabled)| enabled && packs[rule.pack] && !superseded.contains(rule.code.as_str())).collect();
    Activation { packs, rules, detection }
}

/// When `--pack auto` picked a pack without certainty, that pack's errors are warnings that say
/// so: a guess must not fail a build. Its extended packs' rules are untouched (they apply to
/// every model anyway); naming the pack (`--pack NAME`) restores the errors.
pub fn downgrade_unsure(ruleset: &Ruleset, detection: &Detection, findings: &mut [Finding], overflow: &mut [Overflow]) {
    let Some(pack) = detection.pack.as_deref().filter(|_| !detection.certain).and_then(|name| ruleset.pack_index(name)) else {
        return;
    };
    let name = &ruleset.packs[pack].name;
    for finding in findings.iter_mut().filter(|f| ruleset.rules[f.rule].pack == pack && f.severity == Severity::Error) {
        finding.severity = Severity::Warning;
        finding.message.push_str(&format!(" (a warning, not an error: --pack auto was unsure that this is a {name} model; confirm with --pack {name})"));
    }
    for more in overflow.iter_mut().filter(|more| ruleset.rules[more.rule].pack == pack && more.severity == Severity::Error) {
        more.severity = Severity::Warning;
    }
}

/// Which signals of the `candidates` packs fire, one flag per signal of each pack: each entry
/// is matched once against every signal's paths, not once per signal.
fn fired(ruleset: &Ruleset, subject: &Subject, candidates: &[usize]) -> Vec<Vec<bool>> {
    let signal = |owner: usize| {
        let (pack, index) = ruleset.signal_of_owner[owner];
        (pack, &ruleset.packs[pack].signals[index])
    };
    let by_paths = ruleset.signal_paths.any(
        &subject.entries,
        |entry| Some(entry.path()),
        |owner, entry| {
            let (pack, signal) = signal(owner);
            candidates.contains(&pack)
                && !signal.except.as_ref().is_some_and(|set| set.is_match(as_path(entry.path())))
                && signal.content.as_ref().is_none_or(|regex| entry.content().is_some_and(|c| regex.is_match(&c.text())))
        },
    );
    // `with_all` is asked only of the signals that fired, all in one pass.
    let fired_owners: Vec<usize> = (0..by_paths.len()).filter(|&owner| by_paths[owner]).collect();
    let presence = Presence::of_sets(fired_owners.iter().flat_map(|&owner| &signal(owner).1.with_all), &subject.entries);
    let mut fired: Vec<Vec<bool>> = ruleset.packs.iter().map(|pack| vec![false; pack.signals.len()]).collect();
    for owner in fired_owners {
        let (pack, index) = ruleset.signal_of_owner[owner];
        fired[pack][index] = signal(owner).1.with_all.iter().all(|set| presence.any(set, &subject.entries));
    }
    fired
}

/// Score every candidate pack and pick one only when it clearly fits best.
fn detect(ruleset: &Ruleset, subject: &Subject, candidates: &[usize]) -> Detection {
    let fired_flags = fired(ruleset, subject, candidates);
    let mut scores: Vec<Score> = candidates
        .iter()
        .map(|&index| {
            let pack = &ruleset.packs[index];
            let fired: Vec<&Signal> = pack.signals.iter().zip(&fired_flags[index]).filter(|(_, &on)| on).map(|(signal, _)| signal).collect();
            Score { pack: pack.name.clone(), points: fired.iter().map(|s| s.weight).sum(), signals: fired.iter().map(|s| s.why.clone()).collect() }
        })
        .filter(|score| score.points > 0)
        .collect();
    scores.sort_by(|a, b| b.points.cmp(&a.points).then_with(|| a.pack.cmp(&b.pack)));
    let (pack, certain, reason) = match scores.as_slice() {
        [] => (None, false, "no serving framework recognised; only the generic model checks apply (name one with --pack NAME)".to_string()),
        [first, second, ..] if first.points == second.points => {
            let tied: Vec<&str> = scores.iter().take_while(|s| s.points == first.points).map(|s| s.pack.as_str()).collect();
            let reason = format!(
                "uncertain: {} fit equally well ({}); only the generic model checks apply (choose with --pack NAME)",
                tied.join(" and "),
                scores.iter().take(tied.len()).map(evidence).collect::<Vec<_>>().join("; ")
            );
            (None, false, reason)
        }
        [first, rest @ ..] => {
            let runner_up = rest.first().map_or(0, |s| s.points);
            let certain = first.points >= CERTAIN_POINTS && runner_up * 2 <= first.points;
            let mut reason = format!("{} ({})", first.pack, first.signals.join(", "));
            if !certain {
                match rest.first() {
                    Some(second) => reason.push_str(&format!("; uncertain: {} also fits", evidence(second))),
                    None => reason.push_str("; uncertain: the evidence is weak"),
                }
                reason.push_str(" (override with --pack NAME)");
            }
            (Some(first.pack.clone()), certain, reason)
        }
    };
    Detection { pack, certain, reason, candidates: scores }
}

/// `huggingface (config.json at the root)`.
fn evidence(score: &Score) -> String {
    format!("{} ({})", score.pack, score.signals.join(", "))
}
