//! `optml audit s3://…` against moto on loopback (see tests/it/s3.rs): the registry of
//! tests/it/audit.rs, uploaded through the S3 API, audited where it lives.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::audit::registry;
use crate::common::{optml, tar_gz, Member, TestDir};
use crate::s3::{optml_s3, proxy, Moto};

const BUCKET: &str = "models";

/// Every file of the registry, uploaded to [`BUCKET`] under its path (`reg/...`).
fn upload(moto: &Moto, dir: &TestDir) {
    let files: Vec<(String, PathBuf)> = walkdir::WalkDir::new(dir.join("reg"))
        .into_iter()
        .map(|entry| entry.expect("walk").into_path())
        .filter(|path| path.is_file())
        .map(|path| (path.strip_prefix(dir.path()).expect("below").to_string_lossy().into_owned(), path))
        .collect();
    let objects: Vec<(&str, &Path)> = files.iter().map(|(key, path)| (key.as_str(), path.as_path())).collect();
    moto.put(BUCKET, &objects);
}

fn audit_s3(endpoint: &str, target: &str, args: &[&str]) -> (i32, String, String) {
    let output = optml_s3().args(["audit", target, "--isolated", "--endpoint-url", endpoint]).args(args).output().expect("run optml");
    (output.status.code().unwrap_or(-1), String::from_utf8(output.stdout).expect("utf8"), String::from_utf8(output.stderr).expect("utf8"))
}

fn records(jsonl: &str) -> Vec<Value> {
    jsonl.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
}

/// The `N re-used` of the run's summary line on stderr.
fn reused(stderr: &str) -> usize {
    let tally = stderr.split("artifacts (").nth(1).expect("the summary line");
    tally.split(' ').next().and_then(|n| n.parse().ok()).expect("a count")
}

/// A record with its artifact named below the target, and without what names it (the input,
/// the location, the fingerprint of both) or where its bytes came from (identity, objects).
fn comparable(record: &Value, target: &str) -> (String, Value) {
    let name = record["artifact"].as_str().expect("artifact");
    let relative = name.strip_prefix(target).expect("below the target").trim_end_matches('/').to_string();
    let mut record = record.clone();
    for diagnostic in record["diagnostics"].as_array_mut().expect("diagnostics") {
        for field in ["input", "location", "fingerprint"] {
            diagnostic.as_object_mut().expect("an object").remove(field);
        }
    }
    for field in ["artifact", "identity", "objects"] {
        record.as_object_mut().expect("an object").remove(field);
    }
    (relative, record)
}

#[test]
fn an_s3_prefix_audits_as_the_local_folder_of_the_same_files_and_shards_split_it() {
    let Some(moto) = Moto::start() else { return };
    let dir = registry();
    upload(&moto, &dir);
    let (code, whole, stderr) = audit_s3(&moto.endpoint, "s3://models/reg/", &["--format", "jsonl", "--jobs", "8"]);
    assert_eq!(code, 1, "the corrupt archive is an error finding: {stderr}");
    let remote = records(&whole);
    assert_eq!(remote.len(), 200, "{stderr}");
    let local = optml().current_dir(dir.path()).args(["audit", "reg/", "--isolated", "--format", "jsonl"]).output().expect("run optml");
    let local = records(&String::from_utf8(local.stdout).expect("utf8"));
    let remote_by_name: BTreeMap<String, Value> = remote.iter().map(|r| comparable(r, "s3://models/reg/")).collect();
    let local_by_name: BTreeMap<String, Value> = local.iter().map(|r| comparable(r, "reg/")).collect();
    assert_eq!(remote_by_name, local_by_name, "kinds, verdicts, counts and findings are those of the local audit");
    // Identity is key, ETag and size from the listing; the record carries the object's metadata.
    let model = remote.iter().find(|r| r["artifact"] == "s3://models/reg/loose/broken-model.tar.gz").expect("the loose archive");
    assert_eq!(model["identity"]["key"], "reg/loose/broken-model.tar.gz");
    assert_eq!(model["identity"]["size"], 17);
    let etag = model["identity"]["etag"].as_str().expect("an ETag");
    assert_eq!(model["objects"][0]["etag"], etag);
    assert_eq!(model["objects"][0]["url"], "s3://models/reg/loose/broken-model.tar.gz");
    assert!(model["objects"][0]["last_modified"].is_string(), "{model}");
    let job = remote.iter().find(|r| r["artifact"] == "s3://models/reg/jobs/job07/").expect("a job prefix");
    assert_eq!((job["kind"].as_str(), job["identity"]["key"].as_str(), job["identity"]["objects"].as_u64()), (Some("job"), Some("reg/jobs/job07/"), Some(1)));
    assert_eq!(job["objects"][0]["url"], "s3://models/reg/jobs/job07/output/model.tar.gz");
    // Shards: disjoint, the union is the whole, and each holds what the local shard holds.
    let mut union = BTreeSet::new();
    let mut total = 0;
    for shard in ["1/3", "2/3", "3/3"] {
        let (_, part, stderr) = audit_s3(&moto.endpoint, "s3://models/reg/", &["--format", "jsonl", "--shard", shard]);
        let names: BTreeSet<String> = records(&part).iter().map(|r| comparable(r, "s3://models/reg/").0).collect();
        let local = optml().current_dir(dir.path()).args(["audit", "reg", "--isolated", "--format", "jsonl", "--shard", shard]).output().expect("run optml");
        let local: BTreeSet<String> = records(&String::from_utf8(local.stdout).expect("utf8")).iter().map(|r| comparable(r, "reg/").0).collect();
        assert_eq!(names, local, "shard {shard} holds what the local shard holds: {stderr}");
        total += part.lines().count();
        union.extend(part.lines().map(str::to_string));
    }
    assert_eq!(total, 200, "disjoint");
    assert_eq!(union, whole.lines().map(str::to_string).collect::<BTreeSet<_>>(), "the union is the whole, record for record");
}

/// A proxy in front of `target` that holds back every chunk the server sends by `delay`.
fn slow_proxy(target: &str, delay: Duration) -> String {
    proxy(target, move || {
        Box::new(move |chunk: &[u8], client: &mut TcpStream| {
            std::thread::sleep(delay);
            client.write_all(chunk).is_ok()
        })
    })
}

#[test]
fn an_interrupted_s3_audit_resumes_and_a_rerun_checks_only_changed_etags() {
    let Some(moto) = Moto::start() else { return };
    let dir = registry();
    upload(&moto, &dir);
    let (_, whole, _) = audit_s3(&moto.endpoint, "s3://models/reg/", &["--format", "jsonl"]);
    // Killed as soon as it first saved its state (after 16 of 200 artifacts), through a proxy
    // slow enough that it cannot have finished by then.
    let state = dir.join("state.json");
    let proxy = slow_proxy(&moto.endpoint, Duration::from_millis(20));
    let mut run = std::process::Command::new(assert_cmd::cargo::cargo_bin("optml"))
        .args(["audit", "s3://models/reg/", "--isolated", "--format", "jsonl", "--jobs", "1", "--endpoint-url", &proxy, "--state"])
        .arg(&state)
        .env_clear()
        .envs(optml_s3().get_envs().filter_map(|(name, value)| Some((name.to_owned(), value?.to_owned()))))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start optml");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !state.exists() {
        assert!(Instant::now() < deadline, "no state file within 60 s");
        assert!(run.try_wait().expect("wait").is_none(), "the audit ended before it saved its state");
        std::thread::sleep(Duration::from_millis(5));
    }
    run.kill().expect("kill");
    run.wait().expect("wait");
    let args = ["--format", "jsonl", "--state", state.to_str().expect("utf8")];
    let (_, resumed, stderr) = audit_s3(&moto.endpoint, "s3://models/reg/", &args);
    let reused = reused(&stderr);
    assert!((16..200).contains(&reused), "{stderr}");
    assert_eq!(resumed, whole, "the resumed audit's records are the whole audit's");
    // Nothing changed: nothing is checked.
    let (_, again, stderr) = audit_s3(&moto.endpoint, "s3://models/reg/", &args);
    assert!(stderr.contains("(200 re-used from the state file, 0 checked)"), "{stderr}");
    assert_eq!(again, whole);
    // One object replaced: a new ETag, and the only artifact checked again.
    let changed = tar_gz(&dir, "changed/model.tar.gz", &[Member::File("model.pth", b"v"), Member::File("code/inference.py", b"y")]);
    moto.put(BUCKET, &[("reg/loose/broken-model.tar.gz", &changed)]);
    let (_, third, stderr) = audit_s3(&moto.endpoint, "s3://models/reg/", &args);
    assert!(stderr.contains("(199 re-used from the state file, 1 checked)"), "{stderr}");
    let differ: Vec<(Value, Value)> = records(&whole).into_iter().zip(records(&third)).filter(|(a, b)| a != b).collect();
    assert_eq!(differ.len(), 1, "{differ:?}");
    let (before, after) = &differ[0];
    assert_eq!(after["artifact"], "s3://models/reg/loose/broken-model.tar.gz");
    assert_ne!(before["identity"]["etag"], after["identity"]["etag"]);
    let rules = |record: &Value| record["diagnostics"].as_array().expect("diagnostics").iter().map(|d| d["rule"].clone()).collect::<Vec<_>>();
    assert_ne!(rules(before), rules(after), "checked again: the corrupt archive's finding is gone");
}

#[test]
fn unreadable_objects_missing_buckets_and_empty_prefixes_are_exit_2_naming_them() {
    let Some(moto) = Moto::start() else { return };
    let dir = TestDir::new();
    let bundle = tar_gz(&dir, "sourcedir.tar.gz", &[Member::File("train.py", b"print(1)")]);
    moto.put(BUCKET, &[("reg/ok/sourcedir.tar.gz", &bundle)]);
    // An archived object: listed and HEAD-able, but GET is refused until it is restored.
    let script = format!(
        "import boto3\nboto3.client('s3', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing').upload_file('{}', '{BUCKET}', 'cold.tar.gz', ExtraArgs={{'StorageClass': 'GLACIER'}})",
        moto.endpoint,
        bundle.display()
    );
    assert!(std::process::Command::new(moto.venv.join("bin/python")).arg("-c").arg(script).status().expect("python").success());
    let (code, out, stderr) = audit_s3(&moto.endpoint, "s3://models", &["--format", "jsonl"]);
    assert_eq!(code, 2, "{stderr}");
    let records = records(&out);
    let verdicts: Vec<(&str, &str)> = records.iter().map(|r| (r["artifact"].as_str().unwrap(), r["verdict"].as_str().unwrap())).collect();
    assert_eq!(verdicts, [("s3://models/cold.tar.gz", "unreadable"), ("s3://models/reg/ok/sourcedir.tar.gz", "clean")], "the others are checked");
    assert!(records[0]["error"].as_str().unwrap().contains("restored"), "{}", records[0]);
    let (code, human, _) = audit_s3(&moto.endpoint, "s3://models/", &[]);
    assert_eq!(code, 2);
    assert!(human.contains("unreadable:\n  s3://models/cold.tar.gz: "), "{human}");
    for (target, message) in [
        ("s3://no-such-bucket/reg/", "cannot audit s3://no-such-bucket/reg/: no such bucket"),
        ("s3://models/nothing/", "cannot audit s3://models/nothing/: no objects under the prefix"),
        ("s3://models/reg/ok/source", "cannot audit s3://models/reg/ok/source: no such object, and no objects under s3://models/reg/ok/source/"),
    ] {
        let (code, out, stderr) = audit_s3(&moto.endpoint, target, &["--format", "jsonl"]);
        assert_eq!(code, 2, "{target}: {stderr}");
        assert!(out.is_empty(), "{out}");
        let stderr = stderr.split_whitespace().filter(|word| *word != "│" && *word != "×").collect::<Vec<_>>().join(" ");
        assert!(stderr.contains(message), "{target}: {stderr}");
    }
    // Without the trailing `/`, a prefix still audits as one; an object's own key is that object.
    let (code, out, stderr) = audit_s3(&moto.endpoint, "s3://models/reg", &["--format", "jsonl"]);
    assert_eq!((code, records_of(&out)), (0, vec!["s3://models/reg/ok/sourcedir.tar.gz".to_string()]), "{stderr}");
    let (code, out, stderr) = audit_s3(&moto.endpoint, "s3://models/reg/ok/sourcedir.tar.gz", &["--format", "jsonl"]);
    assert_eq!((code, records_of(&out)), (0, vec!["s3://models/reg/ok/sourcedir.tar.gz".to_string()]), "{stderr}");
}

/// The artifacts a JSON Lines output names.
fn records_of(jsonl: &str) -> Vec<String> {
    jsonl.lines().map(|line| serde_json::from_str::<Value>(line).expect("a JSON line")["artifact"].as_str().expect("artifact").to_string()).collect()
}
