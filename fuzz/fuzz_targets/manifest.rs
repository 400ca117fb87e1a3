//! Any text as a golden manifest and as a snapshot config; what parses renders and parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use optml::snapshot::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Manifest::parse_config("fuzzed", text);
    if let Ok(manifest) = Manifest::parse("fuzzed", text) {
        Manifest::parse("rendered", &manifest.render()).expect("a rendered manifest parses back");
    }
});
