//! One pass per entry: the `paths` and `except` globs of every rule, compiled into one glob set
//! per frame (the /opt/ml root, and each zone's root), so each entry is matched once per frame
//! instead of once per rule. The evaluator reads the per-rule results ([`Tally`]) this yields.

use super::env_subst;
use super::rule::{Check, Rule};
use crate::entry::{as_path, EntryKind};
use crate::glob::GlobList;
use crate::layout::SingleFolder;

/// Which rule a glob of a frame's set belongs to, and as what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Glob `pattern` of the rule's `paths`.
    Path { rule: usize, pattern: usize },
    /// A glob of the rule's `except`.
    Except { rule: usize },
}

/// The globs of the rules that read entries relative to one root.
#[derive(Debug, Default)]
pub struct Frame {
    pub set: GlobList,
    /// One per glob of `set`.
    pub owners: Vec<Owner>,
    /// Rules that look at every entry of the frame, matched or not: those without `paths`,
    /// allow-only (the entries outside its paths) and single-folder.
    pub every: Vec<usize>,
}

/// Frame 0 is the /opt/ml root (rules without zones); frame `1 + z` is zone `z`, matched
/// against paths relative to the zone's root.
#[derive(Debug, Default)]
pub struct RuleIndex {
    pub frames: Vec<Frame>,
}

impl RuleIndex {
    /// Compile the globs of the rules of the flagged `packs`, with `{env:NAME}` placeholders
    /// filled from `env` (a variable without value or default leaves a glob that matches no path).
    pub fn build(rules: &[Rule], packs: &[bool], zones: usize, env: &[(String, String)]) -> RuleIndex {
        let mut frames: Vec<Frame> = (0..=zones).map(|_| Frame::default()).collect();
        let mut globs: Vec<Vec<String>> = vec![Vec::new(); zones + 1];
        let filled =
            |pattern: &String| if env_subst::uses_env(pattern) { env_subst::fill(pattern, env).unwrap_or_else(|| "\u{0}".into()) } else { pattern.clone() };
        for (index, rule) in rules.iter().enumerate() {
            if !packs[rule.pack] || matches!(rule.check, Check::Problem(_) | Check::External) {
                continue;
            }
            let mut frame_ids: Vec<usize> = if rule.zones.is_empty() { vec![0] } else { rule.zones.iter().map(|z| z + 1).collect() };
            frame_ids.sort_unstable();
            frame_ids.dedup();
            for id in frame_ids {
                let frame = &mut frames[id];
                if rule.paths.is_none() || matches!(rule.check, Check::AllowOnly | Check::SingleFolder) {
                    frame.every.push(index);
                }
                for (pattern, text) in rule.paths.iter().flat_map(|p| p.patterns.iter()).enumerate() {
                    globs[id].push(filled(text));
                    frame.owners.push(Owner::Path { rule: index, pattern });
                }
                for text in rule.except.iter().flat_map(|p| p.patterns.iter()) {
                    globs[id].push(filled(text));
                    frame.owners.push(Owner::Except { rule: index });
                }
            }
        }
        for (frame, globs) in frames.iter_mut().zip(&globs) {
            // Every glob was validated when its rule loaded (a built-in pack's by a test).
            frame.set = GlobList::new(globs).unwrap_or_default();
        }
        RuleIndex { frames }
    }
}

/// What one rule saw in the pass over the entries, as much as its check needs.
#[derive(Debug, Default)]
pub struct Tally {
    /// forbid, count, json-keys: candidates matching the rule's paths (every candidate when it
    /// has none), as entry indexes in entry order. allow-only: candidates outside its paths.
    pub entries: Vec<u32>,
    /// require: one flag per glob of `paths`, set when a candidate matched it.
    pub found: Vec<bool>,
    /// require-any: a candidate matched; non-empty: a matching candidate is not a directory.
    pub any: bool,
    /// single-folder: one per zone the rule looks in on this subject.
    pub folders: Vec<(usize, SingleFolder)>,
}

impl Tally {
    /// An empty tally for `rule`, which looks in `zones` on this subject.
    pub fn new(rule: &Rule, zones: &[usize]) -> Tally {
        let found = match rule.check {
            Check::Require => vec![false; rule.paths.as_ref().map_or(0, |p| p.patterns.len())],
            _ => Vec::new(),
        };
        let folders = match rule.check {
            Check::SingleFolder => zones.iter().map(|&z| (z, SingleFolder::default())).collect(),
            _ => Vec::new(),
        };
        Tally { entries: Vec::new(), found, any: false, folders }
    }

    /// Add what the rule saw in the entries after those of this tally.
    pub fn merge(&mut self, later: Tally) {
        self.entries.extend(later.entries);
        self.found.iter_mut().zip(later.found).for_each(|(found, later)| *found |= later);
        self.any |= later.any;
        for ((_, folder), (_, later)) in self.folders.iter_mut().zip(later.folders) {
            folder.merge(later);
        }
    }

    /// Record candidate `entry` (index `at`, kind `kind`, at `rel` in the rule's frame, in zone
    /// `zone`) of rule `rule`; `matched` says whether it matched the rule's paths, and `hits`
    /// are the owners of every glob of the frame it matched.
    #[allow(clippy::too_many_arguments)]
    pub fn add(&mut self, rule_index: usize, rule: &Rule, at: usize, kind: EntryKind, zone: usize, rel: &[u8], matched: bool, hits: &[Owner]) {
        let selected = matched || rule.paths.is_none();
        match rule.check {
            Check::Forbid | Check::Count { .. } | Check::JsonKeys { .. } if selected => self.entries.push(at as u32),
            Check::NonEmpty if selected && kind != EntryKind::Dir => self.any = true,
            Check::AllowOnly if !matched && !rel.is_empty() => self.entries.push(at as u32),
            Check::RequireAny if matched => self.any = true,
            Check::Require if matched => {
                for owner in hits {
                    if let Owner::Path { rule, pattern } = *owner {
                        if rule == rule_index {
                            self.found[pattern] = true;
                        }
                    }
                }
            }
            Check::SingleFolder => {
                if let Some((_, folder)) = self.folders.iter_mut().find(|(z, _)| *z == zone) {
                    folder.push(rel);
                }
            }
            _ => {}
        }
    }
}

/// Matches `path` against a frame, filling `hits` with the owners of the globs it matched.
pub fn match_frame(frame: &Frame, path: &[u8], globs: &mut Vec<usize>, hits: &mut Vec<Owner>) {
    hits.clear();
    if frame.owners.is_empty() {
        return;
    }
    frame.set.matches_into(as_path(path), globs);
    hits.extend(globs.iter().map(|&glob| frame.owners[glob]));
}
