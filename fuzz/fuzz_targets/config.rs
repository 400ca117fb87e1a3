//! Any bytes as optml.toml, read as the settings stage reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("optml.toml");
    std::fs::write(&path, data).expect("write config");
    let _ = optml::settings::config::read(&path);
});
