//! source -> layout -> facts -> pack selection -> rules: the one path every command takes to
//! check an input.

use std::path::Path;

use crate::detect::activate;
use crate::engine::eval::evaluate;
use crate::engine::presence::Presence;
use crate::engine::{Phase, Ruleset};
use crate::facts;
use crate::finding::Finding;
use crate::report::Checked;
use crate::source::{self, OpenError, Role, Subject};

/// Bytes of a file captured for content rules (failure text, config JSON, handler source).
pub const CONTENT_LIMIT: usize = 1024 * 1024;

#[derive(Clone, Copy, Debug)]
pub struct CheckOptions {
    /// Overrides role detection (`--as`).
    pub role: Option<Role>,
    pub phase: Phase,
    /// Hash every regular file while streaming (snapshots).
    pub digest: bool,
    pub limits: crate::source::Limits,
}

/// Open, scan, place and evaluate one input.
pub fn check_input(ruleset: &Ruleset, input: &Path, options: CheckOptions) -> Result<(Checked, Vec<Finding>), OpenError> {
    Ok(check_subject(ruleset, scan(ruleset, input, options)?, options.phase))
}

/// Open and scan one input, capturing what the rules of `ruleset` read.
pub fn scan(ruleset: &Ruleset, input: &Path, options: CheckOptions) -> Result<Subject, OpenError> {
    source::open(input, options.role, &ruleset.layout.job_artifacts, ruleset, CONTENT_LIMIT, options.digest, options.limits)
}

/// Place and evaluate an input [`scan`] read.
pub fn check_subject(ruleset: &Ruleset, mut subject: Subject, phase: Phase) -> (Checked, Vec<Finding>) {
    let placed = ruleset.layout.place(&mut subject);
    facts::compute(&mut subject);
    let activation = activate(ruleset, &subject);
    let steps = crate::plan::steps(ruleset, &subject, &activation.packs);
    // The conditions of every rule and plan step that may run, found in one pass.
    let rule_whens = ruleset.rules.iter().zip(&activation.rules).filter(|(_, &on)| on).map(|(rule, _)| &rule.when);
    let presence = Presence::of(rule_whens.chain(steps.iter().map(|(_, step)| &step.when)), &subject.entries);
    let (mut findings, mut overflow) = evaluate(ruleset, &subject, &placed, phase, &activation.rules, &presence);
    if let Some(detection) = &activation.detection {
        crate::detect::downgrade_unsure(ruleset, detection, &mut findings, &mut overflow);
    }
    let plan = crate::plan::plan(ruleset, &subject, &placed, phase, &steps, &presence);
    (Checked { subject, placed, packs: activation.packs, rules: activation.rules, detection: activation.detection, plan, overflow }, findings)
}
