//! Files that are not what they seem: special files given as option values, trees that change
//! while they are checked, and input folders optml cannot read. Every run here must end (a
//! FIFO or /dev/zero used to hang optml or eat its memory), so each is bounded by a timeout.

use std::ffi::{CString, OsStr};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;

/// Run optml with `args`; a run that takes more than a minute is killed and fails the test.
fn bounded(args: &[&OsStr], cwd: &Path) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_optml"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the output while waiting: a report larger than a pipe holds must not look like a hang.
    let pid = child.id() as i32;
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output().unwrap()));
    finished.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        panic!("optml {args:?} hung");
    })
}

fn mkfifo(path: &Path) {
    let name = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `name` is NUL-terminated.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0, "mkfifo {}", path.display());
}

fn strs<'a>(args: &[&'a str]) -> Vec<&'a OsStr> {
    args.iter().map(|a| OsStr::new(*a)).collect()
}

#[test]
fn special_files_as_option_values_are_refused() {
    let dir = TestDir::new();
    let tree = dir.opt_ml("ml");
    let archive = tar_gz(&dir, "model.tar.gz", &[Member::File("model.pth", b"w")]);
    mkfifo(&dir.join("fifo"));
    for special in ["/dev/zero", "fifo"] {
        let cases: [&[&str]; 7] = [
            &["check", "--baseline", special, "ml"],
            &["check", "--rules", special, "ml"],
            &["check", "--snapshot", special, "ml"],
            &["snapshot", "--config", special, "ml"],
            &["diff", "--config", special, "ml", "model.tar.gz"],
            &["run", "--no-isolate", "--root", "run", "--hyperparameters", special, "--", "true"],
            &["check", special],
        ];
        for args in cases {
            let output = bounded(&strs(args), dir.path());
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains("not a regular file"), "{args:?}: {stderr}");
            let _ = fs::remove_dir_all(dir.join("run"));
        }
    }
    // A rule file larger than the cap is an error, not a memory spike.
    let big = dir.join("big.toml");
    fs::write(&big, vec![b'#'; 17 * 1024 * 1024]).unwrap();
    let output = bounded(&[OsStr::new("check"), "--rules".as_ref(), big.as_os_str(), tree.as_os_str()], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("limit"), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(archive.exists());
}

/// Swap each of `names` in `dir` in turn between a regular file, a FIFO and a symlink to
/// /dev/zero until `stop`.
fn keep_swapping(dir: &Path, names: Vec<String>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let mut round = 0u64;
        while !stop.load(Ordering::SeqCst) {
            for name in &names {
                let next = dir.join(format!(".swap-{round}"));
                match round % 3 {
                    0 => mkfifo(&next),
                    1 => std::os::unix::fs::symlink("/dev/zero", &next).unwrap(),
                    _ => fs::write(&next, "{}").unwrap(),
                }
                fs::rename(&next, dir.join(name)).unwrap();
                round += 1;
            }
        }
    })
}

#[test]
fn a_file_swapped_for_a_fifo_or_a_device_link_is_never_read() {
    let dir = TestDir::new();
    let model = dir.join("model");
    dir.file("model/model.safetensors", "w");
    // Many files swapping at once: the walk lists a name long before it opens it.
    let names: Vec<String> = (0..60).map(|index| format!("config-{index:02}.json")).collect();
    for name in &names {
        dir.file(&format!("model/{name}"), "{}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = keep_swapping(&model, names, stop.clone());
    for _ in 0..10 {
        let output = bounded(&strs(&["snapshot", "--fields", "+sha256", "--as", "model", "model"]), dir.path());
        // Either the walk saw a FIFO or a symlink (recorded as such), or the swap happened
        // between walk and open and the snapshot refuses the changed input; never a read of either.
        assert!(output.status.code().is_some_and(|c| c <= 2), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let output = bounded(&strs(&["check", "--format", "json", "--as", "model", "model"]), dir.path());
    assert!(output.status.code().is_some_and(|c| c <= 2));
    stop.store(true, Ordering::SeqCst);
    swapper.join().unwrap();
}

#[test]
fn files_vanishing_mid_walk_are_one_warning_while_running() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    let mut vanished = 0;
    // optml takes a few hundred milliseconds to start and walk 8000 files (debug build): the
    // deletions start at different points of that.
    for delay in [150, 250, 350, 450] {
        for index in 0..8000 {
            dir.file(&format!("ml/output/data/f{index:04}"), "x");
        }
        let data = root.join("output/data");
        let deleter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(delay));
            for index in 0..8000 {
                let _ = fs::remove_file(data.join(format!("f{index:04}")));
            }
        });
        let output = bounded(&strs(&["check", "--format", "json", "--phase", "running", root.to_str().unwrap()]), dir.path());
        deleter.join().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let diagnostics = doc["diagnostics"].as_array().unwrap();
        let mut paths: Vec<&str> = diagnostics.iter().map(|d| d["path"].as_str().unwrap()).collect();
        let total = paths.len();
        paths.dedup();
        assert_eq!(paths.len(), total, "one finding per vanished file: {doc:#}");
        assert!(diagnostics.iter().all(|d| d["rule"] == "SM612" && d["severity"] == "warning"), "{doc:#}");
        assert_eq!(output.status.code(), Some(0), "{doc:#}");
        vanished += total;
    }
    eprintln!("{vanished} files vanished under the walk");
}

#[test]
fn an_unreadable_input_folder_exits_2() {
    let nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    let runs = Command::new(nobody[0]).args(&nobody[1..]).arg(env!("CARGO_BIN_EXE_optml")).arg("--version").output();
    if !runs.is_ok_and(|o| o.status.success()) {
        eprintln!("skipping: needs root, setpriv, and a binary user nobody can run");
        return;
    }
    let dir = TestDir::new();
    fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let root = dir.opt_ml("ml");
    fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let output = Command::new(nobody[0]).args(&nobody[1..]).arg(env!("CARGO_BIN_EXE_optml")).arg("check").arg(&root).env("NO_COLOR", "1").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}{}", String::from_utf8_lossy(&output.stdout));
    assert!(stderr.contains("cannot read the folder: permission denied"), "{stderr}");
    // A folder inside the tree that cannot be read stays a finding.
    fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fs::set_permissions(root.join("output/data"), std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let output = Command::new(nobody[0]).args(&nobody[1..]).arg(env!("CARGO_BIN_EXE_optml")).args(["check", "--format", "json"]).arg(&root).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(paths_for(&doc, "SM607"), ["output/data"], "{doc:#}");
    fs::set_permissions(root.join("output/data"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// `optml pack` lists a folder, then opens each file: a file swapped for a symlink in between
/// must not be followed, or the archive would carry a file from outside the folder.
#[test]
fn pack_never_follows_a_file_swapped_for_a_symlink() {
    use std::io::Read;
    let dir = TestDir::new();
    dir.file("secret.txt", "SECRET-FROM-OUTSIDE");
    let model = dir.join("model");
    let names: Vec<String> = (0..60).map(|index| format!("config-{index:02}.json")).collect();
    // As long as the secret: the header written from the listing must not cut it short.
    let file_text = r#"{"k":"aaaaaaaaaaa"}"#;
    for name in &names {
        dir.file(&format!("model/{name}"), file_text);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (model, secret, stop) = (model.clone(), dir.join("secret.txt"), stop.clone());
        std::thread::spawn(move || {
            let mut round = 0u64;
            while !stop.load(Ordering::SeqCst) {
                // One file swaps, the others stay: a listing that sees only files is common.
                let next = model.join(format!(".swap-{round}"));
                if round.is_multiple_of(2) {
                    std::os::unix::fs::symlink(&secret, &next).unwrap();
                } else {
                    fs::write(&next, file_text).unwrap();
                }
                fs::rename(&next, model.join(&names[0])).unwrap();
                round += 1;
            }
        })
    };
    for attempt in 0..20 {
        let out = format!("packed-{attempt}.tar.gz");
        let output = bounded(&strs(&["pack", "model", "-o", &out]), dir.path());
        assert!(output.status.code().is_some_and(|c| c <= 2), "{}", String::from_utf8_lossy(&output.stderr));
        let Ok(file) = fs::File::open(dir.join(&out)) else { continue };
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(file).read_to_end(&mut bytes).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("SECRET-FROM-OUTSIDE"), "pack followed a swapped-in symlink out of the folder");
    }
    stop.store(true, Ordering::SeqCst);
    swapper.join().unwrap();
}
