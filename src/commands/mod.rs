//! One thin orchestrator per subcommand.

pub mod check;
pub mod rule;

use crate::cli::RuleSelection;
use crate::engine::load::{builtin_texts, load, read_user_pack};
use crate::engine::{LoadError, Ruleset};

impl RuleSelection {
    /// Load the selected packs (or `default` when none is named) plus user rule files.
    pub fn load(&self, default: &[&str]) -> Result<Ruleset, LoadError> {
        let names: Vec<String> = if self.packs.is_empty() && self.rules.is_empty() {
            default.iter().map(|s| s.to_string()).collect()
        } else {
            self.packs.clone()
        };
        let mut texts = builtin_texts(&names)?;
        for path in &self.rules {
            texts.push(read_user_pack(path)?);
        }
        load(texts)
    }
}
