//! Inputs built to make optml work without end: a name of 100,000 components, an archive that
//! inflates a thousandfold, a million copies of one member. Each is bounded by a limit that
//! becomes a finding naming the limit and how to raise it (exit 1), never by time or memory.

use crate::common::*;

/// A pax extended header record: `LEN path=NAME\n`, LEN counting itself.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// A tar whose one member is named by a pax `path=` of `components` components.
fn deep_name_tar(components: usize) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let name = "a/".repeat(components) + "model.pth";
    let record = pax_record("path", name.as_bytes());
    let mut pax = tar::Header::new_ustar();
    pax.set_entry_type(tar::EntryType::XHeader);
    pax.set_path("PaxHeader").unwrap();
    pax.set_size(record.len() as u64);
    pax.set_cksum();
    builder.append(&pax, record.as_slice()).unwrap();
    let mut file = tar::Header::new_ustar();
    file.set_path("short").unwrap();
    file.set_size(1);
    file.set_mode(0o644);
    file.set_cksum();
    builder.append(&file, b"x".as_slice()).unwrap();
    let mut sibling = tar::Header::new_ustar();
    sibling.set_path("model.pth").unwrap();
    sibling.set_size(1);
    sibling.set_mode(0o644);
    sibling.set_cksum();
    builder.append(&sibling, b"w".as_slice()).unwrap();
    builder.into_inner().unwrap()
}

fn diagnostic<'a>(doc: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    doc["diagnostics"].as_array().unwrap().iter().find(|d| d["rule"] == code).unwrap_or_else(|| panic!("no {code} in {doc:#}"))
}

#[test]
fn a_name_of_100k_components_is_a_finding_not_work() {
    let dir = TestDir::new();
    let archive = dir.join("model.tar.gz");
    std::fs::write(&archive, gzip(&deep_name_tar(100_000))).unwrap();
    assert!(std::fs::metadata(&archive).unwrap().len() < 2000, "a tiny archive");
    let (code, doc) = check_json(&[archive.as_os_str()]);
    let finding = diagnostic(&doc, "SM616");
    assert!(finding["message"].as_str().unwrap().contains("is longer than --max-path-bytes 4096"), "{finding:#}");
    assert!(finding["path"].as_str().unwrap().len() <= 200, "the finding quotes the start of the name, not all of it");
    assert_eq!(code, 1);
    // A snapshot stays bounded too: the member is not recorded.
    let output = optml().args(["snapshot"]).arg(&archive).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stdout.len() < 1000, "{}", String::from_utf8_lossy(&output.stdout));
    // Within the byte cap, the depth cap holds.
    std::fs::write(&archive, gzip(&deep_name_tar(1500))).unwrap();
    let (_, doc) = check_json(&[archive.as_os_str()]);
    assert!(diagnostic(&doc, "SM616")["message"].as_str().unwrap().contains("more than 1024 components"), "{doc:#}");
    // The cap is a limit like the others: raised, the name is read.
    let (_, raised) = check_json(&["--max-path-depth".as_ref(), "2000".as_ref(), archive.as_os_str()]);
    assert!(codes(&raised).iter().all(|c| c != "SM616"), "{raised:#}");
}

#[test]
fn a_compression_bomb_stops_at_the_ratio_limit() {
    let dir = TestDir::new();
    // 24 MiB of zeros in one member, as concatenated gzip members (each 1 MiB, ~1000:1), so the
    // test need not deflate them all.
    let size: u64 = 24 << 20;
    let mut header = tar::Header::new_ustar();
    header.set_path("weights.bin").unwrap();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    let mut bytes = gzip(header.as_bytes());
    let zeros = gzip(&vec![0u8; 1 << 20]);
    for _ in 0..(size >> 20) {
        bytes.extend_from_slice(&zeros);
    }
    bytes.extend_from_slice(&gzip(&[0u8; 1024]));
    let archive = dir.join("model.tar.gz");
    std::fs::write(&archive, &bytes).unwrap();
    let (code, doc) = check_json(&[archive.as_os_str()]);
    let message = diagnostic(&doc, "SM617")["message"].as_str().unwrap().to_string();
    assert!(message.contains("more than 200:1") && message.contains("--max-ratio"), "{message}");
    assert_eq!(code, 1);
    // Raised, the archive reads to its end.
    let (code, raised) = check_json(&["--max-ratio".as_ref(), "5000".as_ref(), archive.as_os_str()]);
    assert!(codes(&raised).iter().all(|c| c != "SM617"), "{raised:#}");
    assert_eq!(code, 0, "{raised:#}");
    // The byte limit, from the config file.
    dir.file("optml.toml", "max-bytes = \"1MiB\"\n");
    let output = optml().args(["check", "--format", "json", "model.tar.gz"]).current_dir(dir.path()).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(diagnostic(&doc, "SM617")["message"].as_str().unwrap().contains("at 1048576 inflated bytes: raise --max-bytes"), "{doc:#}");
}

#[test]
fn too_many_entries_stop_at_the_entry_limit() {
    let dir = TestDir::new();
    let members: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    let members: Vec<Member> = members.iter().map(|name| Member::File(name, b"x")).collect();
    let archive = tar_gz(&dir, "model.tar.gz", &members);
    let (code, doc) = check_json(&["--max-entries".as_ref(), "10".as_ref(), archive.as_os_str()]);
    assert!(diagnostic(&doc, "SM617")["message"].as_str().unwrap().contains("after 10 entries: raise --max-entries"), "{doc:#}");
    assert_eq!(doc["inputs"][0]["entries"], 10);
    assert_eq!(code, 1);
    let tree = dir.join("tree");
    for i in 0..50 {
        dir.file(&format!("tree/f{i}"), "x");
    }
    let (_, doc) = check_json(&["--max-entries".as_ref(), "10".as_ref(), "--as".as_ref(), "model".as_ref(), tree.as_os_str()]);
    assert_eq!(doc["inputs"][0]["entries"], 10, "{doc:#}");
    // A snapshot of part of an input would lie: it is refused.
    let output = optml().args(["snapshot", "--max-entries", "10"]).arg(&archive).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--max-entries"));
}

#[test]
fn repeated_findings_are_counted_not_listed() {
    let dir = TestDir::new();
    let names: Vec<String> = (0..250).map(|i| format!("d{i:03}/.DS_Store")).collect();
    let mut members: Vec<Member> = names.iter().map(|name| Member::File(name, b"x")).collect();
    members.push(Member::File("model.pth", b"w"));
    let archive = tar_gz(&dir, "model.tar.gz", &members);
    let (_, doc) = check_json(&[archive.as_os_str()]);
    assert_eq!(paths_for(&doc, "SM402").len(), 100);
    assert_eq!(doc["elided"], serde_json::json!([{ "rule": "SM402", "count": 150 }]));
    assert_eq!(doc["summary"]["warnings"], 250, "the summary counts every finding");
    let human = optml().arg("check").arg(&archive).output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("… and 150 more SM402 findings"), "{text}");
    assert!(text.contains("250 warnings"), "{text}");
    let github = optml().args(["check", "--format", "github"]).arg(&archive).output().unwrap();
    let lines: Vec<String> = String::from_utf8_lossy(&github.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.iter().filter(|l| l.contains("SM402 os-litter")).count(), 100);
    assert!(lines.iter().any(|l| l.starts_with("::notice title=optml::… and 150 more SM402 findings")), "{lines:?}");
}

/// The ratio is checked while one member's data is inflated, not only between members: a
/// member that claims 64 GiB and inflates at ~1000:1 stops at the ratio limit after a few MiB,
/// instead of being inflated to its end (here a truncated stream, which would hide the bomb).
#[test]
fn one_huge_member_stops_at_the_ratio_limit_while_inflating() {
    let dir = TestDir::new();
    let mut header = tar::Header::new_ustar();
    header.set_path("weights.bin").unwrap();
    header.set_size(64 << 30);
    header.set_mode(0o644);
    header.set_cksum();
    let mut bytes = gzip(header.as_bytes());
    let zeros = gzip(&vec![0u8; 1 << 20]);
    for _ in 0..40 {
        bytes.extend_from_slice(&zeros);
    }
    let archive = dir.join("model.tar.gz");
    std::fs::write(&archive, &bytes).unwrap();
    let (code, doc) = check_json(&[archive.as_os_str()]);
    let message = diagnostic(&doc, "SM617")["message"].as_str().unwrap().to_string();
    assert!(message.contains("more than 200:1"), "{message}");
    assert_eq!(code, 1);
}

/// Many copies of one hostile member (in distinct folders): past the per-rule limit findings are counted as they are
/// created, so output stays bounded while every count stays exact.
#[test]
fn copies_of_one_hostile_member_are_counted_exactly_in_bounded_output() {
    const COPIES: usize = 20_000;
    let dir = TestDir::new();
    // Distinct folders: copies of one name are one finding (the last copy wins on extraction).
    let names: Vec<String> = (0..COPIES).map(|i| format!("d{i}/.DS_Store")).collect();
    let mut members: Vec<Member> = names.iter().map(|name| Member::File(name, b"x")).collect();
    members.push(Member::File("model.pth", b"w"));
    let archive = tar_gz(&dir, "model.tar.gz", &members);
    let output = optml().args(["check", "--format", "json"]).arg(&archive).output().unwrap();
    assert!(output.stdout.len() < 512 * 1024, "JSON stays small: {} bytes", output.stdout.len());
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let shown = |code: &str| paths_for(&doc, code).len();
    let elided = |code: &str| doc["elided"].as_array().unwrap().iter().find(|e| e["rule"] == code).map_or(0, |e| e["count"].as_u64().unwrap() as usize);
    assert_eq!(shown("SM402") + elided("SM402"), COPIES, "{:#}", doc["elided"]);
    let listed: usize =
        doc["diagnostics"].as_array().unwrap().len() + doc["elided"].as_array().unwrap().iter().map(|e| e["count"].as_u64().unwrap() as usize).sum::<usize>();
    let summary = &doc["summary"];
    let counted = ["errors", "warnings", "infos"].iter().map(|key| summary[key].as_u64().unwrap() as usize).sum::<usize>();
    assert_eq!(counted, listed, "the summary counts every finding, shown or not: {summary}");
    let human = optml().arg("check").arg(&archive).output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.lines().count() < 5_000, "human output is bounded: {} lines", text.lines().count());
    assert_eq!(elided("SM402"), COPIES - 100, "the report shows 100 per code");
    assert!(text.contains("… and 19,900 more SM402 findings"), "{text}");
    let sarif = optml().args(["check", "--format", "sarif"]).arg(&archive).output().unwrap();
    assert!(sarif.stdout.len() < 2 * 1024 * 1024, "SARIF stays small: {} bytes", sarif.stdout.len());
    assert_eq!(human.status.code(), sarif.status.code());
}

/// Findings past the per-rule limit have no identity (they are counted, never built), so a
/// baseline records their count per rule and input: known debt past the limit passes, and only
/// what is beyond the recorded count is new.
#[test]
fn a_baseline_matches_counted_findings_by_count() {
    let dir = TestDir::new();
    // Rewritten in place: the baseline names the input by its file name.
    let archive_of = |copies: usize| {
        let names: Vec<String> = (0..copies).map(|i| format!("d{i:05}/.DS_Store")).collect();
        let mut members: Vec<Member> = names.iter().map(|name| Member::File(name, b"x")).collect();
        members.push(Member::File("model.pth", b"w"));
        tar_gz(&dir, "model.tar.gz", &members)
    };
    let archive = archive_of(1_500);
    let baseline = dir.join("known.json");
    let written = optml().arg("check").arg(&archive).arg("--write-baseline").arg(&baseline).output().unwrap();
    assert_eq!(written.status.code(), Some(0), "{}", String::from_utf8_lossy(&written.stdout));
    let recorded: serde_json::Value = serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
    assert_eq!(recorded["counted"], serde_json::json!([{ "code": "SM402", "input": "model.tar.gz", "count": 500 }]));
    let kept = recorded["findings"].as_array().unwrap().iter().filter(|f| f["code"] == "SM402").count();
    assert_eq!(kept, 1_000, "the kept findings by identity");

    let compare = |archive: &std::path::Path| {
        let output = optml().args(["check", "--format", "json"]).arg(archive).arg("--baseline").arg(&baseline).output().unwrap();
        (output.status.code(), serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap())
    };
    let (code, doc) = compare(&archive);
    assert_eq!(code, Some(0), "known debt past the limit passes: {doc:#}");
    assert_eq!(doc["baseline"]["matched"], 1_501, "1,500 SM402 and the other finding");
    assert_eq!(doc["summary"]["warnings"], 0, "{:#}", doc["summary"]);

    // 200 more copies: more counted findings than the baseline knows, and only they are new.
    let more = archive_of(1_700);
    let (_, doc) = compare(&more);
    assert_eq!(doc["baseline"]["matched"], 1_501, "1,500 SM402 and the other finding");
    assert_eq!(doc["summary"]["warnings"], 200, "{:#}", doc["summary"]);

    // Fewer copies: the counted debt that is gone is stale.
    let fewer = archive_of(1_200);
    let (_, doc) = compare(&fewer);
    assert_eq!(doc["summary"]["warnings"], 0, "{:#}", doc["summary"]);
    assert_eq!(doc["baseline"]["stale_counted"], serde_json::json!([{ "code": "SM402", "input": "model.tar.gz", "count": 300 }]));
    let human = optml().arg("check").arg(&fewer).arg("--baseline").arg(&baseline).output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.lines().any(|line| line == "  300 SM402 in model.tar.gz (counted past the per-rule limit)"), "{text}");
}
