//! Any text as a user rule file, loaded next to the layout.
#![no_main]

use libfuzzer_sys::fuzz_target;
use optml::engine::load::{builtin_texts, load, PackText};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut texts = builtin_texts(&[]).expect("the layout");
    texts.push(PackText { file: "fuzzed.toml".into(), text: text.to_string(), builtin: false });
    let _ = load(texts);
});
