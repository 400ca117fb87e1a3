//! `optml fix` end to end: every mechanical repair, the fixed archive passes its pack's check,
//! nothing else changes (member manifests compared), and the input is never touched.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;

use crate::common::*;
use crate::serving::corpus_file;
use Member::{Dir, File, Mode, Symlink};

/// What extraction of `archive` yields, folders aside: name -> (`f` file or `l` link, bytes or
/// link target), the last copy of a name winning.
fn manifest(archive: &Path) -> BTreeMap<String, (char, Vec<u8>)> {
    let bytes = fs::read(archive).expect("read archive");
    let reader: Box<dyn Read + '_> =
        if bytes.starts_with(&[0x1f, 0x8b]) { Box::new(flate2::read::MultiGzDecoder::new(&bytes[..])) } else { Box::new(&bytes[..]) };
    let mut tar = tar::Archive::new(reader);
    let mut out = BTreeMap::new();
    for entry in tar.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        let name = String::from_utf8_lossy(&entry.path_bytes()).trim_start_matches("./").trim_end_matches('/').to_string();
        let value = match entry.header().entry_type() {
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).expect("data");
                ('f', data)
            }
            tar::EntryType::Symlink => ('l', entry.link_name_bytes().expect("target").into_owned()),
            _ => continue,
        };
        out.insert(name, value);
    }
    out
}

/// Run `optml fix INPUT -o OUTPUT ARGS`; returns (exit code, stdout).
fn fix(input: &Path, output: &Path, args: &[&str]) -> (i32, String) {
    let result = optml().arg("fix").arg(input).arg("-o").arg(output).args(args).output().expect("run optml");
    (result.status.code().expect("exit code"), String::from_utf8_lossy(&result.stdout).into_owned())
}

fn file(data: &[u8]) -> (char, Vec<u8>) {
    ('f', data.to_vec())
}

const HANDLER: &[u8] = b"import torch\n\ndef model_fn(model_dir):\n    return torch.jit.load(model_dir + '/model.pth')\n";

#[test]
fn every_mechanical_repair_at_once_and_nothing_else() {
    let dir = TestDir::new();
    let input = tar_gz(
        &dir,
        "model.tar.gz",
        &[
            Dir("model/"),
            File("model/model.pth", b"weights"),
            File("model/inference.py", HANDLER),
            File("model/requirements.txt", b"torchvision\n"),
            File("model/settings.json", b"{\"k\": 1}"),
            Symlink("model/config/settings.json", "../settings.json"),
            Mode("model/labels.txt", 0o666),
            File("model/._model.pth", b"apple"),
            File("._model", b"apple"),
            File("model/.DS_Store", b"finder"),
            Dir("model/.ipynb_checkpoints/"),
            File("model/.ipynb_checkpoints/inference-checkpoint.py", b"old"),
        ],
    );
    let before = fs::read(&input).unwrap();
    let output = dir.join("fixed.tar.gz");
    let (code, stdout) = fix(&input, &output, &[]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(fs::read(&input).unwrap(), before, "the input is never touched");
    let expected: BTreeMap<String, (char, Vec<u8>)> = [
        ("model.pth", file(b"weights")),
        ("code/inference.py", file(HANDLER)),
        ("code/requirements.txt", file(b"torchvision\n")),
        ("settings.json", file(b"{\"k\": 1}")),
        ("config/settings.json", file(b"{\"k\": 1}")),
        ("labels.txt", file(b"x")),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    assert_eq!(manifest(&output), expected);
    // The fixed archive passes its pack's check with nothing left to report.
    let (code, doc) = check_json(&[output.as_os_str()]);
    assert_eq!(doc["inputs"][0]["detected"]["pack"], "pytorch");
    assert_eq!(codes(&doc), Vec::<String>::new(), "{:#}", doc["diagnostics"]);
    assert_eq!(code, 0);
    // Modes and owners are normalized.
    let gz = fs::read(&output).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    for entry in tar.entries().unwrap() {
        let header = entry.unwrap().header().clone();
        assert!([0o644, 0o755].contains(&header.mode().unwrap()), "{:o}", header.mode().unwrap());
        assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
    }
    let text = stdout.replace(&dir.path().to_string_lossy().into_owned(), "[TMP]");
    snapshot_settings("fix").bind(|| insta::assert_snapshot!("every_repair", text));
}

#[test]
fn a_move_never_replaces_an_existing_file() {
    let dir = TestDir::new();
    let input = tar_gz(&dir, "model.tar.gz", &[File("model.pth", b"w"), File("inference.py", b"stale"), File("code/inference.py", HANDLER)]);
    let output = dir.join("fixed.tar.gz");
    let (_, stdout) = fix(&input, &output, &[]);
    assert!(stdout.contains("left `inference.py` where it is: `code/inference.py` already exists"), "{stdout}");
    assert_eq!(manifest(&output)["code/inference.py"], file(HANDLER));
    assert_eq!(manifest(&output)["inference.py"], file(b"stale"));
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let dir = TestDir::new();
    let input = tar_gz(&dir, "model.tar.gz", &[Dir("m/"), File("m/model.pth", b"w"), File("m/._model.pth", b"x")]);
    let output = dir.join("fixed.tar.gz");
    let (code, stdout) = fix(&input, &output, &["--dry-run"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("stripped the wrapper folder `m/`") && stdout.contains("dropped `m/._model.pth`"), "{stdout}");
    assert!(!output.exists());
}

#[test]
fn djl_keeps_its_wrapper_folder() {
    let dir = TestDir::new();
    let input = tar_gz(&dir, "model.tar.gz", &[Dir("llm/"), File("llm/serving.properties", b"engine=Python\noption.model_id=gpt2\n")]);
    let output = dir.join("fixed.tar.gz");
    let (code, stdout) = fix(&input, &output, &[]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(manifest(&output).keys().collect::<Vec<_>>(), vec!["llm/serving.properties"]);
}

#[test]
fn refuses_what_it_cannot_fix_and_writes_nothing() {
    let dir = TestDir::new();
    let input = tar_gz(&dir, "model.tar.gz", &[File("model.pth", b"w")]);
    let (code, _) = fix(&input, &input, &[]);
    assert_eq!(code, 2, "never overwrites the input");
    let (code, _) = fix(dir.path(), &dir.join("out.tar.gz"), &[]);
    assert_eq!(code, 2, "folders are not rewritten");
    let whole = fs::read(&input).unwrap();
    fs::write(dir.join("cut.tar.gz"), &whole[..whole.len() / 2]).unwrap();
    let (code, _) = fix(&dir.join("cut.tar.gz"), &dir.join("out.tar.gz"), &[]);
    assert_eq!(code, 2, "a truncated archive must be re-created");
    assert!(!dir.join("out.tar.gz").exists());
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().starts_with(".optml-")).collect();
    assert!(leftovers.is_empty(), "no temp file left behind: {leftovers:?}");
}

/// Macintosh and notebook litter, which the fix drops.
fn litter(name: &str) -> bool {
    name.split('/').any(|part| part.starts_with("._") || part == ".DS_Store" || part == ".ipynb_checkpoints")
}

/// The last path component, and for `code/` moves the same: what survives every repair.
fn base(name: &str) -> String {
    name.rsplit('/').next().unwrap_or(name).to_string()
}

#[test]
fn fixed_corpus_archives_pass_and_keep_every_other_member() {
    let dir = TestDir::new();
    for name in [
        "AREP-2026-1__Taller02__model.tar.gz",
        "BDM3014ProjectWinter2024__BankChurnPrediction__model.tar.gz",
        "Eliza-05__Logistic-Regression__model.tar.gz",
        "Nischal1011__house_price_prediction__model.tar.gz",
        "ShreySharma07__aws-realtime-fraud-detection__model.tar.gz",
        "aws__sagemaker-python-sdk__tests__data__pytorch_mnist__packed_model.tar.gz",
        "AggarwalJitesh__End-to-End-MLOps-Pipeline-on-AWS-SageMaker__model.tar",
    ] {
        let input = corpus_file(name);
        let output = dir.join(&format!("{name}.fixed.tar.gz"));
        let (_, stdout) = fix(&input, &output, &[]);
        let (_, doc) = check_json(&[output.as_os_str()]);
        for code in codes(&doc) {
            assert!(
                !["MDL101", "MDL102", "MDL104", "MDL105", "SM401", "SM402", "SM403", "SM601", "SM606"].contains(&code.as_str()),
                "{name}: {code} left after the fix: {stdout}"
            );
        }
        let mut kept: Vec<(String, (char, Vec<u8>))> = manifest(&input).into_iter().filter(|(n, _)| !litter(n)).map(|(n, v)| (base(&n), v)).collect();
        let mut fixed: Vec<(String, (char, Vec<u8>))> = manifest(&output).into_iter().map(|(n, v)| (base(&n), v)).collect();
        kept.sort();
        fixed.sort();
        assert_eq!(fixed, kept, "{name}: the fix changed more than the repairs");
    }
}

#[test]
fn the_fixed_archive_is_rechecked_as_what_the_input_was() {
    // `-o fixed.tar.gz` names no role: an output archive or a source bundle must not be
    // re-checked as a model archive (MDL107 "holds no model files") because of its new name.
    let dir = TestDir::new();
    let output = tar_gz(&dir, "output.tar.gz", &[File("success", b""), Dir("data/"), File("data/m.json", b"{}"), File("data/._m.json", b"x")]);
    let (code, stdout) = fix(&output, &dir.join("fixed.tar.gz"), &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("checking ") && stdout.contains("output archive, local flavour"), "{stdout}");
    let source = tar_gz(&dir, "sourcedir.tar.gz", &[File("train.py", b"print(1)\n"), File(".DS_Store", b"x")]);
    let (code, stdout) = fix(&source, &dir.join("fixed2.tar.gz"), &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("code archive") && !stdout.contains("MDL107"), "{stdout}");
}

#[test]
fn refuses_an_archive_with_a_parent_dir_member_with_a_clear_message() {
    let dir = TestDir::new();
    let input = tar_gz(&dir, "model.tar.gz", &[File("model.pt", b"w"), File("../evil.py", b"x")]);
    let output = dir.join("fixed.tar.gz");
    let result = optml().arg("fix").arg(&input).arg("-o").arg(&output).output().expect("run optml");
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("`../evil.py`") && stderr.contains("outside the model folder"), "{stderr}");
    assert!(!output.exists(), "nothing written");
}

#[test]
fn non_utf8_member_names_are_kept_byte_for_byte() {
    let dir = TestDir::new();
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in [(&b"model/w\xffx.bin"[..], &b"w"[..]), (b"model/model.pt", b"m")] {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    let input = dir.join("model.tar.gz");
    fs::write(&input, gzip(&builder.into_inner().unwrap())).unwrap();
    let output = dir.join("fixed.tar.gz");
    fix(&input, &output, &[]);
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(fs::File::open(&output).unwrap()));
    for member in archive.entries().unwrap() {
        names.push(member.unwrap().path_bytes().into_owned());
    }
    names.sort();
    assert_eq!(names, vec![b"model.pt".to_vec(), b"w\xffx.bin".to_vec()], "the wrapper is stripped, the bytes kept");
}
