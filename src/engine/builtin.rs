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

/// A pack embedded from `rules/<name>.toml`.
macro_rules! builtin {
    ($name:literal) => {
        BuiltinPack { name: $name, file: concat!("rules/", $name, ".toml"), text: include_str!(concat!("../../rules/", $name, ".toml")) }
    };
}

/// Zones, archive mappings and job-folder artifacts: always loaded.
pub const LAYOUT: BuiltinPack = builtin!("layout");

/// The packs `--pack NAME` can select.
pub const PACKS: &[BuiltinPack] = &[
    builtin!("sagemaker-training"),
    builtin!("sagemaker-model"),
    builtin!("pytorch"),
    builtin!("tensorflow-serving"),
    builtin!("huggingface"),
    builtin!("xgboost"),
    builtin!("sklearn"),
    builtin!("mxnet"),
    builtin!("triton"),
    builtin!("djl-lmi"),
    builtin!("snapshot"),
    builtin!("harness"),
    builtin!("sagemaker-image"),
];

/// Findings of `optml run`, which always loads this pack.
pub const HARNESS_PACK: &str = "harness";

/// Findings of `--snapshot` comparisons.
pub const SNAPSHOT_PACK: &str = "snapshot";

/// Packs of `external` rules that a subsystem raises (snapshots, the run harness): selectable
/// by name and listed by `optml rule`, but never loaded by `auto`; the subsystem asks for them
/// when it runs.
pub const ON_DEMAND: &[&str] = &[SNAPSHOT_PACK, HARNESS_PACK, IMAGE_PACK];

/// The training image gate, applied by default to image inputs (docs/images.md).
pub const IMAGE_PACK: &str = "sagemaker-image";

/// `--pack auto`: the serving pack whose detection signals fit each model best.
pub const AUTO: &str = "auto";

pub const DEFAULT_PACK: &str = "sagemaker-training";

/// The generic model checks, applied by default to inputs that hold a model.
pub const MODEL_PACK: &str = "sagemaker-model";

pub fn find(name: &str) -> Option<&'static BuiltinPack> {
    PACKS.iter().find(|pack| pack.name == name)
}
