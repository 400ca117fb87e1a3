//! `optml pack`: deterministic, atomic archives; symlinks that leave the folder refused.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use crate::common::*;

fn pack(dir: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    optml().arg("pack").arg(dir).arg("-o").arg(out).args(extra).output().expect("run optml")
}

/// (name, type, mode, uid, mtime, link target) of every member.
fn headers(archive: &Path) -> Vec<(String, char, u32, u64, u64, Option<String>)> {
    let file = fs::File::open(archive).expect("archive");
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    tar.entries()
        .expect("entries")
        .map(|e| {
            let e = e.expect("entry");
            let h = e.header();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                _ => 'f',
            };
            let link = h.link_name().ok().flatten().map(|l| l.to_string_lossy().into_owned());
            (e.path().unwrap().to_string_lossy().into_owned(), kind, h.mode().unwrap(), h.uid().unwrap(), h.mtime().unwrap(), link)
        })
        .collect()
}

#[test]
fn same_content_gives_the_same_bytes() {
    let dir = TestDir::new();
    // Two folders with the same files, created in different orders with different modes.
    dir.file("a/code/inference.py", "def model_fn(d): pass\n").file_bytes("a/model.pth", &TORCHSCRIPT).file("a/b.txt", "b");
    dir.file("b/b.txt", "b").file_bytes("b/model.pth", &TORCHSCRIPT).file("b/code/inference.py", "def model_fn(d): pass\n");
    fs::set_permissions(dir.join("b/model.pth"), fs::Permissions::from_mode(0o600)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(10));
    fs::write(dir.join("b/b.txt"), "b").unwrap();
    for (src, out) in [("a", "a1.tar.gz"), ("a", "a2.tar.gz"), ("b", "b.tar.gz")] {
        let output = pack(&dir.join(src), &dir.join(out), &[]);
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let bytes = |name: &str| fs::read(dir.join(name)).unwrap();
    assert_eq!(bytes("a1.tar.gz"), bytes("a2.tar.gz"));
    assert_eq!(bytes("a1.tar.gz"), bytes("b.tar.gz"));
    let names: Vec<String> = headers(&dir.join("a1.tar.gz")).into_iter().map(|h| h.0).collect();
    assert_eq!(names, ["b.txt", "code/", "code/inference.py", "model.pth"]);
    for (name, _, mode, uid, mtime, _) in headers(&dir.join("b.tar.gz")) {
        assert_eq!((uid, mtime), (0, 0), "{name}");
        assert!(mode == 0o644 || mode == 0o755, "{name}: {mode:o}");
    }
}

#[test]
fn gzip_level_changes_only_the_compression() {
    let dir = TestDir::new();
    dir.file("m/weights", &"0123456789".repeat(1000));
    assert_eq!(pack(&dir.join("m"), &dir.join("fast.tar.gz"), &["--level", "1"]).status.code(), Some(0));
    assert_eq!(pack(&dir.join("m"), &dir.join("best.tar.gz"), &["--level", "9"]).status.code(), Some(0));
    assert_eq!(headers(&dir.join("fast.tar.gz")), headers(&dir.join("best.tar.gz")));
}

#[test]
fn symlinks_inside_are_kept_and_escaping_ones_refused() {
    let dir = TestDir::new();
    dir.file_bytes("m/model.pth", &TORCHSCRIPT).file("secret", "s");
    symlink("model.pth", dir.join("m/latest")).unwrap();
    let out = dir.join("model.tar.gz");
    assert_eq!(pack(&dir.join("m"), &out, &[]).status.code(), Some(0));
    let latest = headers(&out).into_iter().find(|h| h.0 == "latest").unwrap();
    assert_eq!((latest.1, latest.5.as_deref()), ('l', Some("model.pth")));

    symlink(dir.join("secret"), dir.join("m/escape")).unwrap();
    let refused = dir.join("refused.tar.gz");
    let output = pack(&dir.join("m"), &refused, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--dereference"));
    assert!(!refused.exists(), "nothing written");
    let leftovers: Vec<_> =
        fs::read_dir(dir.path()).unwrap().filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().starts_with(".optml-")).collect();
    assert!(leftovers.is_empty(), "no temp file left behind");

    let output = pack(&dir.join("m"), &refused, &["--dereference"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let escape = headers(&refused).into_iter().find(|h| h.0 == "escape").unwrap();
    assert_eq!(escape.1, 'f', "stored as the file it points to");
}

#[test]
fn packed_archive_passes_check() {
    let dir = TestDir::new();
    dir.file_bytes("m/model.pth", &TORCHSCRIPT);
    let out = dir.join("model.tar.gz");
    assert_eq!(pack(&dir.join("m"), &out, &[]).status.code(), Some(0));
    let (code, doc) = check_json(&[out.as_os_str()]);
    assert_eq!(code, 0, "{doc:#}");
}

#[test]
fn names_need_not_be_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TestDir::new();
    dir.dir("m");
    fs::write(dir.join("m").join(std::ffi::OsStr::from_bytes(b"caf\xe9.bin")), "x").unwrap();
    let out = dir.join("model.tar.gz");
    assert_eq!(pack(&dir.join("m"), &out, &[]).status.code(), Some(0));
    let file = fs::File::open(&out).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let names: Vec<Vec<u8>> = tar.entries().unwrap().map(|e| e.unwrap().path_bytes().into_owned()).collect();
    assert_eq!(names, [b"caf\xe9.bin".to_vec()]);
}

#[test]
fn a_missing_folder_is_exit_2() {
    let dir = TestDir::new();
    assert_eq!(pack(&dir.join("nope"), &dir.join("x.tar.gz"), &[]).status.code(), Some(2));
}
