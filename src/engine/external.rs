//! The codes of `external` rules: findings raised by subsystems outside the evaluator
//! (snapshots, the run harness, image checks). Their rule files own severity, texts and docs; Rust names each
//! code once, here, so a typo is a compile error rather than a finding silently dropped.

/// One `external` rule a subsystem raises, by its code in rules/snapshot.toml, rules/harness.toml or rules/sagemaker-image.toml.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalCode {
    SnapshotEntryMissing,
    SnapshotEntryExtra,
    SnapshotEntryChanged,
    SnapshotBudgetExceeded,
    SnapshotMissing,
    SnapshotPending,
    SnapshotWritten,
    EntryPointFailed,
    EntryPointKilled,
    MaxRunExceeded,
    HostFileCollision,
    HostFileDuplicate,
    IsolationUnavailable,
    PackFailed,
    BakedUnderMount,
    CodeBaked,
    TrainNotFound,
    ProgramMissing,
    ShellFormEntryPoint,
    EntryPointIgnoresArgument,
    UserCannotWrite,
    UserUnknown,
    CredentialBaked,
    SmEnvBaked,
    ImageBroken,
    LayerDigestMismatch,
    LayerCompressionUnsupported,
}

impl ExternalCode {
    pub const ALL: [ExternalCode; 27] = [
        ExternalCode::SnapshotEntryMissing,
        ExternalCode::SnapshotEntryExtra,
        ExternalCode::SnapshotEntryChanged,
        ExternalCode::SnapshotBudgetExceeded,
        ExternalCode::SnapshotMissing,
        ExternalCode::SnapshotPending,
        ExternalCode::SnapshotWritten,
        ExternalCode::EntryPointFailed,
        ExternalCode::EntryPointKilled,
        ExternalCode::MaxRunExceeded,
        ExternalCode::HostFileCollision,
        ExternalCode::HostFileDuplicate,
        ExternalCode::IsolationUnavailable,
        ExternalCode::PackFailed,
        ExternalCode::BakedUnderMount,
        ExternalCode::CodeBaked,
        ExternalCode::TrainNotFound,
        ExternalCode::ProgramMissing,
        ExternalCode::ShellFormEntryPoint,
        ExternalCode::EntryPointIgnoresArgument,
        ExternalCode::UserCannotWrite,
        ExternalCode::UserUnknown,
        ExternalCode::CredentialBaked,
        ExternalCode::SmEnvBaked,
        ExternalCode::ImageBroken,
        ExternalCode::LayerDigestMismatch,
        ExternalCode::LayerCompressionUnsupported,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ExternalCode::SnapshotEntryMissing => "SNAP001",
            ExternalCode::SnapshotEntryExtra => "SNAP002",
            ExternalCode::SnapshotEntryChanged => "SNAP003",
            ExternalCode::SnapshotBudgetExceeded => "SNAP004",
            ExternalCode::SnapshotMissing => "SNAP005",
            ExternalCode::SnapshotPending => "SNAP006",
            ExternalCode::SnapshotWritten => "SNAP007",
            ExternalCode::EntryPointFailed => "RUN001",
            ExternalCode::EntryPointKilled => "RUN002",
            ExternalCode::MaxRunExceeded => "RUN003",
            ExternalCode::HostFileCollision => "RUN004",
            ExternalCode::HostFileDuplicate => "RUN005",
            ExternalCode::IsolationUnavailable => "RUN006",
            ExternalCode::PackFailed => "RUN007",
            ExternalCode::BakedUnderMount => "IMG101",
            ExternalCode::CodeBaked => "IMG102",
            ExternalCode::TrainNotFound => "IMG201",
            ExternalCode::ProgramMissing => "IMG202",
            ExternalCode::ShellFormEntryPoint => "IMG203",
            ExternalCode::EntryPointIgnoresArgument => "IMG401",
            ExternalCode::UserCannotWrite => "IMG402",
            ExternalCode::UserUnknown => "IMG403",
            ExternalCode::CredentialBaked => "IMG301",
            ExternalCode::SmEnvBaked => "IMG302",
            ExternalCode::ImageBroken => "IMG901",
            ExternalCode::LayerDigestMismatch => "IMG902",
            ExternalCode::LayerCompressionUnsupported => "IMG903",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::builtin::{find, HARNESS_PACK, IMAGE_PACK, LAYOUT, SNAPSHOT_PACK};
    use crate::engine::load::load;
    use crate::engine::rule::Check;

    #[test]
    fn every_code_is_an_external_rule_of_its_pack() {
        let ruleset = load(vec![LAYOUT.text(), find(SNAPSHOT_PACK).unwrap().text(), find(HARNESS_PACK).unwrap().text(), find(IMAGE_PACK).unwrap().text()])
            .expect("built-in packs load");
        for code in ExternalCode::ALL {
            let rule = ruleset.find(code.code()).unwrap_or_else(|| panic!("{code:?}: no rule has code {}", code.code()));
            assert_eq!(rule.check, Check::External, "{} must be `check = \"external\"`", code.code());
            assert_eq!(rule.code, code.code(), "codes are written in upper case");
        }
        // And the other way: every external rule of these packs is raised by some variant.
        for rule in ruleset.rules.iter().filter(|rule| rule.check == Check::External) {
            assert!(ExternalCode::ALL.iter().any(|code| code.code() == rule.code), "{} is external but no ExternalCode raises it", rule.code);
        }
    }
}
