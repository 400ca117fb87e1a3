//! The README's first screen must stay true: its sample report is what optml prints today.

use std::path::Path;

use crate::common::*;

#[test]
fn readme_sample_report_matches_the_real_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = optml().current_dir(root).args(["check", "--color", "never", "examples/opt-ml", "examples/model.tar.gz"]).output().expect("run optml");
    assert_eq!(output.status.code(), Some(0), "the README promises exit 0 on the examples");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    // The README shows the report up to the second finding's message, then the summary line.
    let lines: Vec<&str> = stdout.lines().collect();
    let second = lines.iter().position(|l| l.starts_with("SM303")).expect("SM303 in the example report");
    let shown = lines[..second + 4].join("\n");
    assert!(readme.contains(&shown), "README.md's sample report is stale; it should start with:\n{shown}");
    assert!(readme.contains(lines.last().expect("summary line")), "README.md's summary line is stale");
}
