//! The README must stay true: its sample report is what optml prints today, and its rule file
//! and config file snippets work as printed.

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

/// The body of the first ```toml block of `readme` that contains `marker`.
fn toml_block<'a>(readme: &'a str, marker: &str) -> &'a str {
    readme
        .split("```toml\n")
        .skip(1)
        .map(|rest| &rest[..rest.find("```").expect("closed code block")])
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("README.md has a toml block with {marker}"))
}

#[test]
fn readme_rule_and_config_snippets_run_as_printed() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
    let dir = TestDir::new();
    dir.file("team.toml", toml_block(&readme, "[[rule]]"));
    dir.file("optml.toml", toml_block(&readme, "# optml.toml"));
    // A model archive without the model card TEAM001 asks for, and a requirements.txt outside
    // code/ (MDL104, a warning the config raises to an error).
    tar_gz(&dir, "build/model.tar.gz", &[Member::File("model.pth", b"w"), Member::File("requirements.txt", b"torch\n")]);
    let output = optml().current_dir(dir.path()).args(["check", "--format", "json"]).output().expect("run optml");
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let found: Vec<(String, String)> =
        doc["diagnostics"].as_array().unwrap().iter().map(|d| (d["rule"].as_str().unwrap().to_string(), d["severity"].as_str().unwrap().to_string())).collect();
    assert!(found.contains(&("TEAM001".into(), "error".into())), "the README's rule runs: {found:?}");
    // MDL104 is a model-pack rule: the rule file added to the default packs, not replaced them.
    assert!(found.contains(&("MDL104".into(), "error".into())), "the README's [severity] applies: {found:?}");
}

#[test]
fn readme_ci_flags_are_real_flags_of_check() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
    let start = readme.find("## In CI").expect("README.md has a CI section");
    let section = &readme[start..start + readme[start..].find("\n## ").unwrap_or(readme.len() - start)];
    let help = String::from_utf8(optml().args(["check", "--help"]).output().expect("run optml").stdout).expect("UTF-8");
    let flags: Vec<&str> = section.lines().filter(|line| line.starts_with("| `--")).map(|line| line[3..].split(['`', ' ']).next().expect("a flag")).collect();
    for flag in &flags {
        assert!(help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")), "README lists {flag}, which `optml check --help` does not have");
    }
    for flag in [
        "--config",
        "--isolated",
        "--verbose",
        "--select",
        "--ignore",
        "--extend-select",
        "--fail-on",
        "--exit-zero",
        "--quiet",
        "--output",
        "--baseline",
        "--write-baseline",
    ] {
        assert!(flags.contains(&flag), "the README's CI section lacks {flag}");
    }
}
