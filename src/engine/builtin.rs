//! Built-in rule packs, embedded in the binary from `rules/`.

use super::load::PackText;

pub struct BuiltinPack {
    pub name: &'static str,
    pub file: &'static str,
    pub text: &'static str,
}

impl BuiltinPack {
    pub fn text(&self) -> PackText {
        PackText { file: self.file.to_string(), text: self.text.to_string(), builtin: true }
    }
}

/// Zones, archive mappings and job-folder artifacts: always loaded.
pub const LAYOUT: BuiltinPack =
    BuiltinPack { name: "layout", file: "rules/layout.toml", text: include_str!("../../rules/layout.toml") };

/// The packs `--pack NAME` can select.
pub const PACKS: &[BuiltinPack] = &[BuiltinPack {
    name: "sagemaker-training",
    file: "rules/sagemaker-training.toml",
    text: include_str!("../../rules/sagemaker-training.toml"),
}];

pub const DEFAULT_PACK: &str = "sagemaker-training";

pub fn find(name: &str) -> Option<&'static BuiltinPack> {
    PACKS.iter().find(|pack| pack.name == name)
}
