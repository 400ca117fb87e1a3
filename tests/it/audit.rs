//! `optml audit` over a local folder of generated artifacts (docs/audit.md).

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{optml, tar_gz, Member, TestDir};

/// ~200 artifacts: clean models, models with findings, output archives, job folders, a corrupt one.
pub(crate) fn registry() -> TestDir {
    let dir = TestDir::new();
    for n in 0..150 {
        let members =
            if n % 3 == 0 { vec![Member::File("model.pth", b"w")] } else { vec![Member::File("code/inference.py", b"x"), Member::File("model.pth", b"w")] };
        tar_gz(&dir, &format!("reg/team{}/m{n:03}/model.tar.gz", n % 7), &members);
    }
    for n in 0..40 {
        tar_gz(&dir, &format!("reg/jobs/job{n:02}/output/model.tar.gz"), &[Member::File("model.pth", b"w")]);
    }
    for n in 0..9 {
        tar_gz(&dir, &format!("reg/src/s{n}/sourcedir.tar.gz"), &[Member::File("train.py", b"print(1)")]);
    }
    dir.file_bytes("reg/loose/broken-model.tar.gz", b"\x1f\x8bnot really gzip");
    dir.file("reg/notes/readme.txt", "not an artifact");
    dir
}

fn audit(dir: &TestDir, args: &[&str]) -> (i32, String, String) {
    let output = optml().current_dir(dir.path()).arg("audit").arg("reg").arg("--isolated").args(args).output().expect("runs");
    (output.status.code().unwrap_or(-1), String::from_utf8(output.stdout).expect("utf8"), String::from_utf8(output.stderr).expect("utf8"))
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

#[test]
fn records_are_the_same_whatever_the_jobs_and_shards() {
    let dir = registry();
    let (code, one, _) = audit(&dir, &["--format", "jsonl", "--jobs", "1"]);
    assert_eq!(code, 1, "the corrupt archive is an error finding");
    let records: Vec<serde_json::Value> = one.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(records.len(), 200, "150 models, 40 jobs, 9 source bundles, 1 broken");
    let names: Vec<&str> = records.iter().map(|r| r["artifact"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted by artifact");
    // A folder holding model.tar.gz is a job folder, as check reads it.
    assert_eq!(records.iter().filter(|r| r["kind"] == "job").count(), 190);
    assert_eq!(records.iter().filter(|r| r["kind"] == "model").count(), 1);
    assert_eq!(records.iter().filter(|r| r["kind"] == "source").count(), 9);
    let broken = records.iter().find(|r| r["artifact"] == "reg/loose/broken-model.tar.gz").unwrap();
    assert_eq!(broken["verdict"], "errors", "{broken}");
    assert!(records.iter().any(|r| r["verdict"] == "clean"));
    let (_, eight, _) = audit(&dir, &["--format", "jsonl", "--jobs", "8"]);
    assert_eq!(one, eight, "--jobs does not change the output");
    let mut union = BTreeSet::new();
    let mut total = 0;
    for shard in ["1/3", "2/3", "3/3"] {
        let (_, part, _) = audit(&dir, &["--format", "jsonl", "--shard", shard]);
        total += part.lines().count();
        assert!(part.lines().count() > 20, "a shard holds a fair part: {shard}");
        union.extend(lines(&part));
    }
    assert_eq!(total, 200, "shards are disjoint");
    assert_eq!(union, lines(&one).into_iter().collect::<BTreeSet<_>>(), "the union is the whole, record for record");
}

#[test]
fn state_reuses_unchanged_artifacts_and_rechecks_changed_ones() {
    let dir = registry();
    let state = dir.join("audit-state.json");
    let state = state.to_str().unwrap();
    let (_, first, err) = audit(&dir, &["--format", "jsonl", "--state", state]);
    assert!(err.contains("(0 re-used from the state file, 200 checked)"), "{err}");
    let (_, second, err) = audit(&dir, &["--format", "jsonl", "--state", state]);
    assert!(err.contains("(200 re-used from the state file, 0 checked)"), "{err}");
    assert_eq!(first, second);
    // A changed artifact (new content and size) is the only one checked again.
    tar_gz(&dir, "reg/team0/m000/model.tar.gz", &[Member::File("model.pth", b"w2"), Member::File("extra.txt", b"more")]);
    let (_, third, err) = audit(&dir, &["--format", "jsonl", "--state", state]);
    assert!(err.contains("(199 re-used from the state file, 1 checked)"), "{err}");
    let changed: Vec<_> = lines(&first).into_iter().zip(lines(&third)).filter(|(a, b)| a != b).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].1.contains("\"reg/team0/m000\""), "{changed:?}");
    // Other rules: nothing is re-used.
    let (_, _, err) = audit(&dir, &["--format", "jsonl", "--state", state, "--ignore", "SM1"]);
    assert!(err.contains("other rules or settings") && err.contains("(0 re-used"), "{err}");
}

#[test]
fn an_interrupted_audit_resumes_from_the_part_it_recorded() {
    let dir = registry();
    let state = dir.join("state.json");
    let (_, whole, _) = audit(&dir, &["--format", "jsonl", "--state", state.to_str().unwrap()]);
    // What an interrupted run leaves: the state of the first shard only.
    let partial = dir.join("partial.json");
    audit(&dir, &["--format", "jsonl", "--state", partial.to_str().unwrap(), "--shard", "1/3"]);
    let (_, resumed, err) = audit(&dir, &["--format", "jsonl", "--state", partial.to_str().unwrap()]);
    let reused: usize = err.split('(').nth(1).and_then(|s| s.split(' ').next()).and_then(|n| n.parse().ok()).expect("a count");
    assert!(reused > 20 && reused < 200, "{err}");
    assert_eq!(whole, resumed);
}

#[test]
fn bad_shards_and_targets_are_exit_2() {
    let dir = registry();
    for shard in ["0/3", "4/3", "1/0", "x", "1/"] {
        let (code, _, err) = audit(&dir, &["--shard", shard]);
        assert_eq!(code, 2, "{shard}: {err}");
        assert!(err.contains("expected i/N"), "{err}");
    }
    let output = optml().current_dir(dir.path()).args(["audit", "nowhere", "--isolated"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot audit nowhere: no such file or directory"));
}

#[test]
fn human_sarif_and_junit_cover_every_artifact() {
    let dir = registry();
    let (code, human, _) = audit(&dir, &[]);
    assert_eq!(code, 1);
    assert!(human.contains("200 artifacts") && human.contains("worst offenders") && human.contains("top rule codes"), "{human}");
    let (_, sarif, _) = audit(&dir, &["--format", "sarif"]);
    let doc: serde_json::Value = serde_json::from_str(&sarif).expect("SARIF is JSON");
    assert_eq!(doc["version"], "2.1.0");
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r.to_string().contains("reg/loose/broken-model.tar.gz")));
    let (_, junit, _) = audit(&dir, &["--format", "junit"]);
    assert_eq!(junit.matches("<testsuite ").count(), 200, "a suite per artifact");
    let (code, _, err) = audit(&dir, &["--format", "sarif", "--state", "s.json"]);
    assert_eq!(code, 2, "{err}");
    assert!(!Path::new(&dir.join("s.json")).exists());
}

/// `optml audit reg ARGS > out.txt` with stderr on a pseudo-terminal (util-linux `script`):
/// what the terminal showed, and stdout. `None` (skipped, loudly) where `script` is missing.
fn audit_on_a_terminal(dir: &TestDir, args: &str) -> Option<(String, String)> {
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        assert!(std::env::var_os("CI").is_none(), "util-linux `script` is missing");
        eprintln!("SKIPPING TERMINAL TEST: util-linux `script` is missing");
        return None;
    }
    let optml = assert_cmd::cargo::cargo_bin("optml");
    let command = format!("stty cols 100 rows 30; '{}' audit reg --isolated {args} > out.txt", optml.display());
    let output = std::process::Command::new(script)
        .args(["-qefc", &command, "/dev/null"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    let stdout = std::fs::read_to_string(dir.join("out.txt")).expect("stdout");
    Some((String::from_utf8_lossy(&output.stdout).into_owned(), stdout))
}

#[test]
fn the_progress_bar_is_drawn_on_a_terminal_and_never_into_stdout() {
    let dir = registry();
    let Some((terminal, stdout)) = audit_on_a_terminal(&dir, "--format jsonl") else { return };
    // Drawn at least once before the first artifact is done (later redraws depend on timing).
    assert!(terminal.contains("audit 0/200 artifacts [") && terminal.contains(" B/s ETA "), "{terminal}");
    assert_eq!(stdout.lines().count(), 200);
    assert!(!stdout.contains('\x1b') && !stdout.contains('\r'), "{stdout}");
    for line in stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("a JSON line");
    }
    let (terminal, stdout) = audit_on_a_terminal(&dir, "--format jsonl --quiet").expect("script");
    assert!(!terminal.contains("artifacts"), "--quiet draws nothing: {terminal}");
    assert_eq!(stdout.lines().count(), 200);
    // stderr not a terminal: the summary line only.
    let (_, _, err) = audit(&dir, &["--format", "jsonl"]);
    assert!(err.starts_with("optml audit: 200 artifacts") && err.lines().count() == 1, "{err}");
}
