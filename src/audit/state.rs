//! `--state FILE`: per artifact its identity and record, written atomically as the audit goes,
//! so a re-run re-checks only what changed and an interrupted audit resumes. Records are
//! stored only for the settings they were made with (`settings`, a hash of the rules in
//! effect); other settings re-check everything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use miette::Report as MietteReport;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::engine::Ruleset;

const VERSION: u32 = 1;

/// Largest state file read (records of a million artifacts fit well within it).
const STATE_LIMIT: u64 = 4 << 30;

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    settings: String,
    /// By artifact (the record's `artifact`).
    artifacts: BTreeMap<String, Stored>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Stored {
    pub identity: Value,
    pub record: Value,
}

pub struct State {
    path: PathBuf,
    settings: String,
    artifacts: BTreeMap<String, Stored>,
    /// Whether a state file existed but was made with other settings.
    pub stale_settings: bool,
}

/// What decides a record beyond the artifact: optml's version, and every rule's code,
/// whether it runs, and its severity, path ignores included; the phase and the environment.
pub fn settings_key(ruleset: &Ruleset, phase: crate::engine::Phase, env: &[(String, String)]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.update(format!("{phase:?}\n").as_bytes());
    for (index, rule) in ruleset.rules.iter().enumerate() {
        hasher.update(
            format!(
                "{} {} {} {:?}\n",
                rule.code,
                ruleset.enabled[index],
                rule.severity,
                ruleset.path_ignores.iter().map(|p| p.rules[index]).collect::<Vec<_>>()
            )
            .as_bytes(),
        );
    }
    for (name, value) in env {
        hasher.update(format!("env {name}={value}\n").as_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl State {
    /// Read `path` (a missing file is an empty state); a file that is not a state file is an error.
    pub fn open(path: &Path, settings: String) -> Result<State, MietteReport> {
        let mut state = State { path: path.to_path_buf(), settings, artifacts: BTreeMap::new(), stale_settings: false };
        let text = match crate::open::read_text(path, STATE_LIMIT) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(state),
            Err(err) => return Err(miette::miette!(code = "optml::state", "cannot read the state file {}: {err}", path.display())),
        };
        let file: StateFile = serde_json::from_str(&text).map_err(|err| {
            miette::miette!(code = "optml::state", help = "delete it to start afresh", "{} is not an optml audit state file: {err}", path.display())
        })?;
        if file.version != VERSION {
            return Err(miette::miette!(code = "optml::state", "{}: state version {} (this optml writes {VERSION})", path.display(), file.version));
        }
        if file.settings == state.settings {
            state.artifacts = file.artifacts;
        } else {
            state.stale_settings = true;
        }
        Ok(state)
    }

    /// The stored record of `artifact`, if its identity is still `identity` and it was read.
    pub fn reusable(&self, artifact: &str, identity: &Value) -> Option<&Value> {
        let stored = self.artifacts.get(artifact)?;
        (stored.identity == *identity && super::verdict_of(&stored.record) != super::Verdict::Unreadable).then_some(&stored.record)
    }

    /// Keep only the artifacts of this run (deleted ones are forgotten).
    pub fn retain(&mut self, names: &std::collections::HashSet<String>) {
        self.artifacts.retain(|name, _| names.contains(name));
    }

    pub fn put(&mut self, artifact: String, identity: Value, record: Value) {
        self.artifacts.insert(artifact, Stored { identity, record });
    }

    /// Write the state atomically.
    pub fn save(&self) -> Result<(), MietteReport> {
        let file = StateFile { version: VERSION, settings: self.settings.clone(), artifacts: self.artifacts.clone() };
        let text = serde_json::to_string(&file).expect("JSON of plain data");
        crate::atomic::write(&self.path, text.as_bytes())
            .map_err(|err| miette::miette!(code = "optml::state", "cannot write the state file {}: {err}", self.path.display()))
    }
}
