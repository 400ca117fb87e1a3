//! Any bytes as an archive, end to end: check with every built-in pack, render every format,
//! record a snapshot and parse the manifest back.
#![no_main]

use clap::ValueEnum;
use libfuzzer_sys::fuzz_target;
use optml::engine::load::{builtin_texts, load};
use optml::engine::{Phase, Ruleset};
use optml::pipeline::{check_input, CheckOptions};
use optml::report::{Format, Report};
use optml::snapshot::manifest::Manifest;
use optml::snapshot::{default_manifest, record::record};
use optml::source::Limits;

/// Every built-in pack, loaded once: loading them per input left the fuzzer a few runs a second.
fn ruleset() -> &'static Ruleset {
    static RULESET: std::sync::OnceLock<Ruleset> = std::sync::OnceLock::new();
    RULESET.get_or_init(|| {
        let names: Vec<String> = optml::engine::builtin::PACKS.iter().map(|p| p.name.to_string()).collect();
        load(builtin_texts(&names).expect("built-in packs")).expect("built-in packs load")
    })
}

fuzz_target!(|data: &[u8]| {
    let ruleset = ruleset();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model.tar.gz");
    std::fs::write(&path, data).expect("write input");
    let options = CheckOptions { role: None, phase: Phase::Finished, digest: true, limits: Limits::default() };
    let Ok((checked, mut findings)) = check_input(ruleset, &path, options) else { return };
    let base = default_manifest();
    let lines = record(&checked.subject, &base.header);
    let text = Manifest { lines, ..base }.render();
    Manifest::parse("fuzzed", &text).expect("a recorded manifest parses back");
    let checked = [checked];
    let report = Report::new(ruleset, &checked, &mut findings);
    for format in Format::value_variants() {
        let _ = report.render(*format, false);
    }
});
