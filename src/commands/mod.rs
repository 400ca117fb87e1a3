//! One thin orchestrator per subcommand.

pub mod check;
pub mod diff;
pub mod fix;
pub mod pack;
pub mod rule;
pub mod run;
pub mod snapshot;

use crate::cli::RuleSelection;
use crate::engine::builtin::{find, AUTO, ON_DEMAND, PACKS};
use crate::engine::load::{builtin_texts, load, read_user_pack};
use crate::engine::{Applies, LoadError, Ruleset};

impl RuleSelection {
    /// Load the selected packs (or `default` when none is named) plus user rule files.
    /// `auto` loads every built-in pack; those with detection signals then apply only where
    /// detection picks them. Packs brought in by default (not named) apply only to inputs
    /// that hold a model, so a training tree is checked by the training pack alone.
    pub fn load(&self, default: &[&str]) -> Result<Ruleset, LoadError> {
        self.load_with(default, &[])
    }

    /// As [`RuleSelection::load`], plus `extra` packs a subsystem needs (`snapshot` for
    /// `--snapshot`), applied like named packs without making the selection explicit.
    pub fn load_with(&self, default: &[&str], extra: &[&str]) -> Result<Ruleset, LoadError> {
        let explicit = !(self.packs.is_empty() && self.rules.is_empty());
        let names: Vec<String> = if explicit { self.packs.clone() } else { default.iter().map(|s| s.to_string()).collect() };
        let auto = names.iter().any(|name| name == AUTO);
        let mut named: Vec<String> = names.into_iter().filter(|name| name != AUTO).collect();
        for name in extra {
            if !named.iter().any(|n| n == name) {
                named.push(name.to_string());
            }
        }
        let mut wanted = named.clone();
        if auto {
            let automatic = PACKS.iter().map(|pack| pack.name).filter(|name| !ON_DEMAND.contains(name));
            wanted.extend(automatic.map(str::to_string).filter(|name| !named.contains(name)));
        }
        let mut texts = builtin_texts(&wanted)?;
        for path in &self.rules {
            texts.push(read_user_pack(path)?);
        }
        let mut ruleset = load(texts)?;
        for (index, pack) in ruleset.packs.iter().enumerate() {
            // The layout (zones, no rules) always applies; so do named packs and user rule files.
            if pack.builtin && find(&pack.name).is_some() && !named.contains(&pack.name) {
                ruleset.applies[index] = Applies { model_inputs_only: !explicit, detected: !pack.signals.is_empty() };
            }
        }
        Ok(ruleset)
    }
}
