//! The rule engine: rule files (data) in, findings out. No I/O happens during evaluation.

pub mod builtin;
pub mod eval;
pub mod load;
pub mod pack;
pub mod rule;

use globset::GlobSet;

use crate::entry::join;
use crate::finding::Finding;
use crate::glob::compile_set;
use crate::layout::Layout;
use crate::source::{ContentWants, Role};

pub use load::{LoadError, Pack, PackText};
pub use rule::{Phase, Rule};

/// Loaded packs, their compiled rules and the layout they share.
#[derive(Debug)]
pub struct Ruleset {
    pub packs: Vec<Pack>,
    pub rules: Vec<Rule>,
    pub layout: Layout,
    /// /opt/ml paths whose content some rule reads.
    content: GlobSet,
}

impl Ruleset {
    pub fn new(packs: Vec<Pack>, rules: Vec<Rule>, layout: Layout) -> Ruleset {
        let mut globs: Vec<String> = Vec::new();
        for rule in rules.iter().filter(|rule| rule.needs_content()) {
            if let rule::Check::JsonKeys { file, .. } = &rule.check {
                globs.push(String::from_utf8_lossy(file).into_owned());
            }
            let roots: Vec<&[u8]> = if rule.zones.is_empty() {
                vec![&b""[..]]
            } else {
                rule.zones.iter().map(|&z| layout.zones[z].root.as_slice()).collect()
            };
            let patterns: Vec<String> = match &rule.paths {
                Some(paths) => paths.patterns.clone(),
                None => vec!["**".to_string()],
            };
            for root in roots {
                for pattern in &patterns {
                    globs.push(String::from_utf8_lossy(&join(root, pattern.as_bytes())).into_owned());
                }
            }
        }
        // Every glob here was validated when its rule loaded.
        let content = compile_set(&globs).unwrap_or_else(|_| GlobSet::empty());
        Ruleset { packs, rules, layout, content }
    }

    /// A finding for an `external` rule, raised by a subsystem outside the evaluator.
    /// `vars` fills the rule's templates; `path` and `location` are as in [`Finding`].
    /// Returns `None` when no loaded rule has `code` (its pack was not selected).
    pub fn external_finding(&self, code: &str, input: &str, location: &str, path: &str, vars: &mut eval::Vars) -> Option<Finding> {
        let index = self.rules.iter().position(|rule| rule.code == code)?;
        let rule = &self.rules[index];
        vars.set("path", path).set("input", input);
        Some(Finding {
            rule: index,
            code: rule.code.clone(),
            severity: rule.severity,
            input: input.to_string(),
            location: location.to_string(),
            path: path.to_string(),
            message: vars.render(&rule.message),
            help: vars.render(&rule.help),
            fix: rule.fix.as_ref().map(|fix| vars.render(fix)),
        })
    }

    pub fn find(&self, code: &str) -> Option<&Rule> {
        self.rules.iter().find(|rule| rule.code.eq_ignore_ascii_case(code))
    }

    /// Where a rule is documented: its pack's docs page, anchored at the code.
    pub fn docs_url(&self, rule: &Rule) -> String {
        format!("{}#{}", self.packs[rule.pack].docs, rule.code.to_ascii_lowercase())
    }

    /// 1-based line of the rule's definition in its file.
    pub fn rule_line(&self, rule: &Rule) -> usize {
        let text = &self.packs[rule.pack].text;
        text[..rule.span.start.min(text.len())].matches('\n').count() + 1
    }
}

impl ContentWants for Ruleset {
    fn wants(&self, role: Role, member: &[u8]) -> bool {
        self.layout
            .candidate_prefixes(role)
            .into_iter()
            .any(|prefix| self.content.is_match(crate::entry::as_path(&join(prefix, member))))
    }
}
