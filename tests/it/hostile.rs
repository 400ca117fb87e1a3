//! One hostile name set through every command and format: no line of optml's output may start
//! with `::` (a GitHub Actions workflow command) unless it is an annotation optml wrote, and no
//! terminal escape, C1 control or bidi/zero-width character may survive. JSON keeps the exact
//! names, escaped as JSON.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Output;

use crate::common::*;

/// Names that try to start a log line (`\n`, `\r`, U+0085, U+2028), drive the terminal (ESC,
/// OSC 8, C1 CSI, DEL) or reorder what is shown (bidi overrides and isolates, zero-width marks).
/// Each lies where a rule reports it (`.DS_Store`, `._*`, a stray `inference.py`).
const HOSTILE: [&str; 9] = [
    "x\n::error::pwned/.DS_Store",
    "m/\r::stop-commands::tok/.DS_Store",
    "c\u{85}::add-mask::secret/Thumbs.db",
    "e\u{1b}]8;;http:evil.example\u{7}click\u{1b}]8;;\u{7}/.DS_Store",
    "b\u{9b}31m\u{1b}[2J/.DS_Store",
    "a\u{202e}yp.txt/.DS_Store",
    "d\u{2066}\u{2069}\u{200b}\u{200f}\u{61c}\u{feff}\u{7f}/._x",
    "f\u{2028}::warning::x/.DS_Store",
    "g\u{202a}\u{202d}/inference.py",
];

/// Characters no human-facing output of optml may carry raw. Written out here rather than
/// taken from optml's sanitizer, so that the test does not trust what it tests.
fn forbidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// No forbidden character, and a line starting with `::` only where optml writes annotations.
fn assert_inert(what: &str, bytes: &[u8], annotations: bool) {
    let text = String::from_utf8_lossy(bytes);
    if let Some(c) = text.chars().find(|&c| forbidden(c)) {
        panic!("{what}: {c:?} survived in:\n{text}");
    }
    for line in text.lines() {
        if line.starts_with("::") {
            let meant = annotations && ["::error file=", "::warning file=", "::notice file=", "::notice title=optml::"].iter().any(|p| line.starts_with(p));
            assert!(meant, "{what}: a line starts a workflow command: {line:?}\nin:\n{text}");
        }
    }
}

fn assert_output_inert(what: &str, output: &Output, annotations: bool) {
    assert!(output.status.code().is_some_and(|code| code <= 2), "{what}: exit {:?}: {}", output.status, String::from_utf8_lossy(&output.stderr));
    assert_inert(&format!("{what} (stdout)"), &output.stdout, annotations);
    assert_inert(&format!("{what} (stderr)"), &output.stderr, false);
}

fn members() -> Vec<Member<'static>> {
    let mut members: Vec<Member> = HOSTILE.iter().map(|name| Member::File(name, b"x")).collect();
    members.push(Member::File("model.pth", b"weights"));
    members
}

/// The hostile names as a model folder (every name is a valid file name: no NUL).
fn tree(dir: &TestDir, rel: &str) -> std::path::PathBuf {
    for name in HOSTILE {
        dir.file(&format!("{rel}/{name}"), "x");
    }
    dir.file(&format!("{rel}/model.pth"), "weights");
    dir.join(rel)
}

fn run(args: &[&std::ffi::OsStr], cwd: &Path) -> Output {
    optml().args(args).current_dir(cwd).output().expect("run optml")
}

fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
    args.iter().map(std::ffi::OsString::from).collect()
}

#[test]
fn check_every_format_keeps_names_inert() {
    let dir = TestDir::new();
    let archive = tar_gz(&dir, "model.tar.gz", &members());
    let folder = tree(&dir, "model");
    for input in [&archive, &folder] {
        for format in ["human", "github", "json", "sarif", "junit"] {
            let output = optml().args(["check", "--as", "model", "--format", format]).arg(input).output().unwrap();
            assert_eq!(output.status.code(), Some(1), "{format}: {}", String::from_utf8_lossy(&output.stdout));
            assert_output_inert(&format!("check --format {format} {}", input.display()), &output, format == "github");
        }
    }
    let (_, doc) = check_json(&[archive.as_os_str()]);
    let paths: Vec<&str> = doc["diagnostics"].as_array().unwrap().iter().map(|d| d["path"].as_str().unwrap()).collect();
    for name in HOSTILE {
        assert!(paths.contains(&name), "JSON keeps the exact name {name:?}: {paths:?}");
    }
}

#[test]
fn fix_and_its_dry_run_keep_names_inert() {
    let dir = TestDir::new();
    let archive = tar_gz(&dir, "model.tar.gz", &members());
    for extra in [&["--dry-run"][..], &[]] {
        let output = optml().arg("fix").arg(&archive).arg("-o").arg(dir.join("fixed.tar.gz")).args(extra).output().unwrap();
        assert!(String::from_utf8_lossy(&output.stdout).contains("dropped"), "{}", String::from_utf8_lossy(&output.stdout));
        assert_output_inert(&format!("fix {extra:?}"), &output, false);
    }
}

#[test]
fn snapshot_and_diff_keep_names_inert() {
    let dir = TestDir::new();
    let archive = tar_gz(&dir, "model.tar.gz", &members());
    let other = tar_gz(&dir, "other.tar.gz", &[Member::File("model.pth", b"weights")]);
    let folder = tree(&dir, "model");
    let cwd = dir.path();
    let golden = dir.join("golden.manifest");
    for args in [
        os(&["snapshot", "model.tar.gz"]),
        os(&["snapshot", "model.tar.gz", "-o", "golden.manifest"]),
        os(&["snapshot", "model", "--as", "model", "--fields", "+sha256"]),
        os(&["diff", "other.tar.gz", "model.tar.gz"]),
        os(&["diff", "other.tar.gz", "model.tar.gz", "--format", "json"]),
        os(&["diff", "golden.manifest", "model"]),
    ] {
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        assert_output_inert(&format!("{args:?}"), &run(&refs, cwd), false);
    }
    assert!(golden.exists() && folder.exists() && other.exists());
    // check --snapshot against a golden that lacks the names: the manifest diff lists them.
    fs::write(&golden, "#optml-manifest v1\nmodel.pth type=file size=7\n").unwrap();
    let output = optml().args(["check", "--snapshot"]).arg(&golden).arg(&archive).env("CI", "true").output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("DS_Store"), "{}", String::from_utf8_lossy(&output.stdout));
    assert_output_inert("check --snapshot", &output, false);
}

#[test]
fn pending_snapshots_with_hostile_names_stay_inert() {
    let dir = TestDir::new();
    for (index, name) in ["p\n::error::x", "q\u{1b}[31m\u{202e}"].iter().enumerate() {
        dir.file(&format!("{name}.manifest.new"), &format!("#optml-manifest v1\nf{index} type=file\n"));
    }
    assert_output_inert("snapshot accept", &run(&[std::ffi::OsStr::new("snapshot"), "accept".as_ref()], dir.path()), false);
    for (index, name) in ["r\n::error::x", "s\u{1b}[31m\u{202e}"].iter().enumerate() {
        dir.file(&format!("{name}.manifest.new"), &format!("#optml-manifest v1\nf{index} type=file\n"));
    }
    let Some(output) = review_on_pty(dir.path(), b"s\ns\n") else {
        return; // no `script` to provide the terminal `review` needs
    };
    // The terminal turns each `\n` of optml's into `\r\n`: those are the pty's, not a name's.
    let shown = String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n");
    assert!(shown.contains("[a]ccept"), "{shown}");
    assert_inert("snapshot review", shown.as_bytes(), false);
}

#[test]
fn errors_quoting_hostile_paths_stay_inert() {
    let dir = TestDir::new();
    let missing = "gone\n::error::x\u{1b}[31m\u{202e}.tar.gz";
    for args in [os(&["check", missing]), os(&["fix", missing, "-o", "out.tar.gz"]), os(&["snapshot", missing]), os(&["diff", missing, missing])] {
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let output = run(&refs, dir.path());
        assert_eq!(output.status.code(), Some(2));
        assert_output_inert(&format!("{args:?}"), &output, false);
    }
    let archive = tar_gz(&dir, "model.tar.gz", &[Member::File("model.pth", b"w")]);
    let output = optml().args(["pack", "model.tar.gz", "-o"]).arg(missing).current_dir(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_output_inert("pack", &output, false);
    assert!(archive.exists());
}

#[test]
fn run_keeps_the_names_its_script_wrote_inert() {
    let dir = TestDir::new();
    let root = dir.join("run");
    let script = "for name in \"$@\"; do mkdir -p \"$SM_MODEL_DIR/$(dirname \"$name\")\" && echo x > \"$SM_MODEL_DIR/$name\"; done";
    for format in ["human", "github", "json"] {
        let _ = fs::remove_dir_all(&root);
        let output = optml()
            .args(["run", "--no-isolate", "--format", format, "--root"])
            .arg(&root)
            .args(["--", "sh", "-c", script, "sh"])
            .args(HOSTILE)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&output.stdout).contains("DS_Store"), "{}", String::from_utf8_lossy(&output.stdout));
        assert_output_inert(&format!("run --format {format}"), &output, format == "github");
    }
}

/// A rule file is untrusted too: its pack name, message, help and docs reach `check`, `rule`
/// and `rules` output.
#[test]
fn rule_file_text_stays_inert() {
    let dir = TestDir::new();
    let evil = r"\u001b]8;;http://evil\u0007x\u001b]8;;\u0007\n::error::rule\u202e\u009b2J";
    dir.file(
        "evil.toml",
        &format!(
            "[pack]\nname = \"evil\\n::error::pack\"\ndescription = \"{evil}\"\n[[rule]]\ncode = \"EVL001\"\nname = \"evil\"\nseverity = \"error\"\n\
             check = \"forbid\"\npaths = [\"*.pth\"]\nmessage = \"{evil} {{path}}\"\nhelp = \"{evil}\"\ndocs = \"{evil}\\n::warning::docs\"\n"
        ),
    );
    let archive = tar_gz(&dir, "model.tar.gz", &[Member::File("model.pth", b"w")]);
    let cwd = dir.path();
    for format in ["human", "github", "sarif", "junit"] {
        let output = run(&[OsStr::new("check"), "--rules".as_ref(), "evil.toml".as_ref(), "--format".as_ref(), format.as_ref(), archive.as_os_str()], cwd);
        assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
        assert_output_inert(&format!("check --rules --format {format}"), &output, format == "github");
    }
    for args in [
        os(&["rule", "EVL001", "--rules", "evil.toml"]),
        os(&["rule", "--all", "--format", "markdown", "--rules", "evil.toml"]),
        os(&["rules", "--rules", "evil.toml"]),
    ] {
        let refs: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let output = run(&refs, cwd);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        assert_output_inert(&format!("{args:?}"), &output, false);
    }
}

/// A usage error quotes the value it refuses: that value must be shown escaped.
#[test]
fn usage_errors_quoting_hostile_values_stay_inert() {
    let dir = TestDir::new();
    let hostile = "\n::error::e\u{202e}\u{1b}[2J";
    for args in [os(&["check", "--env", hostile, "x"]), os(&["check", "--format", hostile, "x"]), os(&["run", "--hosts", hostile, "--", "true"])] {
        let refs: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let output = run(&refs, dir.path());
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("::error::e"), "the value is still shown: {}", String::from_utf8_lossy(&output.stderr));
        assert_output_inert(&format!("{args:?}"), &output, false);
    }
}
