//! The rule engine: rule files (data) in, findings out. No I/O happens during evaluation.

pub mod builtin;
pub mod env_subst;
pub mod eval;
pub mod external;
pub mod index;
pub mod load;
pub mod pack;
pub mod presence;
pub mod rule;

use std::sync::{Arc, Mutex, PoisonError};

use globset::GlobSet;

use crate::entry::{join, lossy};
use crate::finding::{Finding, Part};
use crate::glob::{GlobList, LazyGlobSet, OwnedGlobs};
use crate::layout::Layout;
use crate::source::{ContentWants, Role};

pub use external::ExternalCode;
pub use load::{LoadError, Pack, PackText};
pub use rule::{Phase, Rule};

/// When a loaded pack applies to an input (set by the command that selected the packs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applies {
    /// Only to inputs holding a model (model.tar.gz, a model folder, a job's model artifact).
    pub model_inputs_only: bool,
    /// Only when `--pack auto` detection picks it.
    pub detected: bool,
}

/// `[per-path-ignores]`: entries matching `globs` are exempt from rules flagged in `rules`.
#[derive(Debug)]
pub struct PathIgnore {
    pub globs: GlobSet,
    /// One flag per rule of the ruleset.
    pub rules: Vec<bool>,
}

/// Loaded packs, their compiled rules and the layout they share.
#[derive(Debug)]
pub struct Ruleset {
    pub packs: Vec<Pack>,
    pub rules: Vec<Rule>,
    pub layout: Layout,
    /// One per pack: when it applies. Every pack applies to every input unless set otherwise.
    pub applies: Vec<Applies>,
    /// The deployment environment `when.env-set` / `when.env-unset` test (`--env NAME=VALUE`);
    /// set it with [`Ruleset::set_env`], which also fills `{env:NAME}` in rule globs.
    pub env: Vec<(String, String)>,
    /// Lookup tables of every loaded pack.
    pub tables: Vec<rule::Table>,
    /// One per rule: whether the settings (select, ignore, severity `off`) let it run at all.
    /// A disabled rule is never evaluated.
    pub enabled: Vec<bool>,
    /// Findings of these rules at these paths (inside the input) are not reported.
    pub path_ignores: Vec<PathIgnore>,
    /// /opt/ml paths whose content some rule reads.
    content: GlobList,
    /// /opt/ml paths whose zip listing some rule reads (kept from a bounded tail).
    tails: GlobList,
    /// Every detection signal's path globs, one owner per signal, so detection matches each
    /// entry once.
    pub signal_paths: OwnedGlobs,
    /// For each owner of `signal_paths`: the pack and the index of its signal.
    pub signal_of_owner: Vec<(usize, usize)>,
    /// The rules' globs by frame, compiled on first use (after [`Ruleset::set_env`]): one index
    /// per set of packs that applied to an input, holding those packs' rules only.
    indexes: Mutex<Vec<(Vec<bool>, Arc<index::RuleIndex>)>>,
    /// Findings of one rule kept per input; the rest are counted ([`crate::finding::Overflow`]).
    /// `optml fix` keeps them all: every finding is a change to make.
    pub kept_per_rule: usize,
}

impl Ruleset {
    /// Whether `globs` match `member` of an input of `role` wherever the layout may place it.
    /// Asked twice of every member while streaming: an empty set answers at once, and the
    /// joined path is built in one buffer per thread.
    fn matches_placed(&self, globs: &GlobList, role: Role, member: &[u8]) -> bool {
        thread_local! {
            static PLACED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        if globs.is_empty() {
            return false;
        }
        PLACED.with_borrow_mut(|path| {
            self.layout.candidate_prefixes(role).any(|prefix| {
                crate::entry::join_into(path, prefix, member);
                globs.is_match(crate::entry::as_path(path))
            })
        })
    }

    pub fn new(packs: Vec<Pack>, rules: Vec<Rule>, layout: Layout) -> Ruleset {
        // Files `when` conditions grep and detection signals read are named from the /opt/ml root.
        let mut globs: Vec<String> = rules.iter().flat_map(Rule::grepped_patterns).cloned().collect();
        for pack in &packs {
            globs.extend(pack.signals.iter().filter(|s| s.content.is_some()).flat_map(|s| s.paths.patterns.iter().cloned()));
        }
        for rule in rules.iter().filter(|rule| rule.needs_content()) {
            if let rule::Check::JsonKeys { file, .. } = &rule.check {
                globs.push(String::from_utf8_lossy(file).into_owned());
            }
            globs.extend(rooted_paths(rule, &layout));
        }
        // Every glob here was validated when its rule loaded (a built-in pack's by a test).
        let content = GlobList::new(&globs).unwrap_or_default();
        let tail_globs: Vec<String> = rules.iter().filter(|rule| rule.filter.needs_tail()).flat_map(|rule| rooted_paths(rule, &layout)).collect();
        let tails = GlobList::new(&tail_globs).unwrap_or_default();
        let signal_of_owner: Vec<(usize, usize)> =
            packs.iter().enumerate().flat_map(|(pack, p)| (0..p.signals.len()).map(move |signal| (pack, signal))).collect();
        let signal_paths = OwnedGlobs::new(signal_of_owner.iter().map(|&(pack, signal)| packs[pack].signals[signal].paths.patterns.iter().map(String::as_str)))
            .unwrap_or_default();
        let applies = vec![Applies::default(); packs.len()];
        let enabled = vec![true; rules.len()];
        Ruleset {
            packs,
            rules,
            layout,
            applies,
            env: Vec::new(),
            tables: Vec::new(),
            enabled,
            path_ignores: Vec::new(),
            content,
            tails,
            signal_paths,
            signal_of_owner,
            indexes: Mutex::default(),
            kept_per_rule: crate::finding::KEPT_PER_RULE,
        }
    }

    /// Set the deployment environment, and fill `{env:NAME}` placeholders in rule paths.
    pub fn set_env(&mut self, env: Vec<(String, String)>) {
        // Rule globs are compiled with the filled values when the evaluator first needs them.
        let plan_paths = self.packs.iter_mut().flat_map(|pack| pack.plan.iter_mut()).filter_map(|step| step.paths.as_mut());
        for patterns in plan_paths {
            if patterns.patterns.iter().any(|p| env_subst::uses_env(p)) {
                // A variable without value or default leaves a glob that matches no path.
                let filled: Vec<String> = patterns.patterns.iter().map(|p| env_subst::fill(p, &env).unwrap_or_else(|| "\u{0}".into())).collect();
                patterns.set = LazyGlobSet::new(filled);
            }
        }
        self.env = env;
        self.indexes = Mutex::default();
    }

    /// The globs of every rule of the packs holding a `live` rule (one flag per rule), by frame,
    /// for the evaluator's one pass over the entries. Packs that apply to no input are never
    /// compiled; inputs to which the same packs apply share one index.
    pub fn rule_index(&self, live: &[bool]) -> Arc<index::RuleIndex> {
        let mut packs = vec![false; self.packs.len()];
        for (rule, _) in self.rules.iter().zip(live).filter(|(_, &on)| on) {
            packs[rule.pack] = true;
        }
        // Inputs checked in parallel wait for an index being built rather than build it twice.
        let mut indexes = self.indexes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, index)) = indexes.iter().find(|(built_for, _)| *built_for == packs) {
            return Arc::clone(index);
        }
        let index = Arc::new(index::RuleIndex::build(&self.rules, &packs, self.layout.zones.len(), &self.env));
        indexes.push((packs, Arc::clone(&index)));
        index
    }

    pub fn pack_index(&self, name: &str) -> Option<usize> {
        self.packs.iter().position(|pack| pack.name == name)
    }

    /// The value of `name` in the deployment environment.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// A finding for an `external` rule, raised by a subsystem outside the evaluator, about
    /// `member` of `part` of `input` (empty for the part or input as a whole). `vars` fills the
    /// rule's templates. Returns `None` when no loaded rule has the code (its pack was not
    /// selected), or the rule is disabled or ignored at this path.
    pub fn external_finding(&self, code: ExternalCode, input: &str, part: Option<Part>, member: &[u8], vars: &mut eval::Vars) -> Option<Finding> {
        let index = self.rules.iter().position(|rule| rule.code == code.code())?;
        let finding = self.finding(index, input, part, member.to_vec(), vars.set("path", lossy(member)).set("input", input));
        (self.enabled[index] && !self.path_ignored(index, &finding.path())).then_some(finding)
    }

    /// A finding of rule `index` about `member` of `part` (as in [`Finding`]), its message,
    /// help and fix filled from `vars`.
    pub fn finding(&self, index: usize, input: &str, part: Option<Part>, member: Vec<u8>, vars: &eval::Vars) -> Finding {
        let rule = &self.rules[index];
        Finding {
            rule: index,
            code: rule.code.clone(),
            severity: rule.severity,
            input: input.to_string(),
            part,
            member,
            definition: rule.span.clone(),
            message: vars.render(&rule.message),
            help: vars.render(&rule.help),
            fix: rule.fix.as_ref().map(|fix| vars.render(fix)),
        }
    }

    pub fn find(&self, code: &str) -> Option<&Rule> {
        self.rules.iter().find(|rule| rule.code.eq_ignore_ascii_case(code))
    }

    /// Whether `[per-path-ignores]` exempts `path` (inside the input) from rule `index`.
    pub fn path_ignored(&self, index: usize, path: &str) -> bool {
        self.path_ignores.iter().any(|ignore| ignore.rules[index] && ignore.globs.is_match(path))
    }

    /// Where a rule is documented: its pack's docs page, anchored at the code. `None` for a
    /// user pack that names no `docs` of its own.
    pub fn docs_url(&self, rule: &Rule) -> Option<String> {
        let docs = self.packs[rule.pack].docs.as_ref()?;
        Some(format!("{docs}#{}", rule.code.to_ascii_lowercase()))
    }

    /// 1-based line of the rule's definition in its file.
    pub fn rule_line(&self, rule: &Rule) -> usize {
        let text = &self.packs[rule.pack].text;
        text[..rule.span.start.min(text.len())].matches('\n').count() + 1
    }
}

/// A rule's `paths` (every path when it has none) joined to the roots of its zones: globs
/// relative to the /opt/ml root. Env placeholders become `*` here: the content is captured for
/// whatever value the variable takes.
fn rooted_paths(rule: &Rule, layout: &Layout) -> Vec<String> {
    let roots: Vec<&[u8]> = if rule.zones.is_empty() { vec![&b""[..]] } else { rule.zones.iter().map(|&z| layout.zones[z].root.as_slice()).collect() };
    let patterns: Vec<String> = match &rule.paths {
        Some(paths) => paths.patterns.iter().map(|p| if env_subst::uses_env(p) { "**".to_string() } else { p.clone() }).collect(),
        None => vec!["**".to_string()],
    };
    let mut globs = Vec::new();
    for root in roots {
        for pattern in &patterns {
            globs.push(String::from_utf8_lossy(&join(root, pattern.as_bytes())).into_owned());
        }
    }
    globs
}

impl ContentWants for Ruleset {
    fn wants(&self, role: Role, member: &[u8]) -> bool {
        self.matches_placed(&self.content, role, member)
    }

    fn wants_tail(&self, role: Role, member: &[u8]) -> bool {
        self.matches_placed(&self.tails, role, member)
    }
}
