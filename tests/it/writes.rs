//! Writes that never half-happen: temp files removed on SIGINT/SIGTERM/SIGHUP, `pack` never
//! packing its own output, failed writes of stdout and stderr reported (or, for a closed
//! pipe, ended quietly) instead of a panic or a silent exit 0.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// `len` bytes that do not compress (xorshift), so writing them takes a while.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".optml-") && name.ends_with(".tmp"))
        .collect()
}

/// The optml binary as a plain `Command`, for what assert_cmd does not do (spawn, redirect).
fn spawnable(args: &[&str], cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_optml"));
    command.args(args).current_dir(cwd).env("NO_COLOR", "1");
    command
}

/// Start `args` in `out_dir`, send `signal` once its temp file exists there, and return the
/// exit code.
fn interrupt(args: &[&str], cwd: &Path, out_dir: &Path, signal: i32) -> Option<i32> {
    let mut child = spawnable(args, cwd).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while temp_files(out_dir).is_empty() {
        assert!(child.try_wait().unwrap().is_none(), "{args:?} ended before its temp file was seen");
        assert!(started.elapsed() < Duration::from_secs(60), "no temp file appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, signal) };
    child.wait().unwrap().code()
}

#[test]
fn signals_during_a_write_remove_the_temp_file() {
    let dir = TestDir::new();
    fs::create_dir_all(dir.join("model")).unwrap();
    // Large enough that packing outlasts a test thread descheduled in a parallel test run: at
    // 12 MiB one run saw the wrong exit code, most likely a pack that finished before the signal.
    fs::write(dir.join("model/weights.bin"), noise(48 << 20)).unwrap();
    fs::create_dir_all(dir.join("out")).unwrap();
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143), (libc::SIGHUP, 129)] {
        let pack = || interrupt(&["pack", "model", "--level", "9", "-o", "out/model.tar.gz"], dir.path(), &dir.join("out"), signal);
        let mut exit = pack();
        // A test thread descheduled on a loaded machine can send the signal after the pack has
        // finished (exit 0, the output in place): try again, at most twice. A pack that ignores
        // the signal finishes every time and still fails.
        for _ in 0..2 {
            if exit != Some(0) {
                break;
            }
            fs::remove_file(dir.join("out/model.tar.gz")).unwrap();
            exit = pack();
        }
        assert_eq!(exit, Some(code), "signal {signal}");
        assert_eq!(temp_files(&dir.join("out")), Vec::<String>::new(), "signal {signal} left a temp file");
        assert!(!dir.join("out/model.tar.gz").exists());
    }
    // optml fix streams the same bytes into its own temp file.
    let packed = optml().args(["pack", "model", "--level", "0", "-o", "model.tar.gz"]).current_dir(dir.path()).output().unwrap();
    assert_eq!(packed.status.code(), Some(0));
    let exit = interrupt(&["fix", "model.tar.gz", "-o", "out/fixed.tar.gz"], dir.path(), &dir.join("out"), libc::SIGTERM);
    assert_eq!(exit, Some(143));
    assert_eq!(temp_files(&dir.join("out")), Vec::<String>::new());
}

#[test]
fn pack_never_packs_its_own_output() {
    let dir = TestDir::new();
    dir.file("model/model.pth", "weights");
    for _ in 0..2 {
        let output = optml().args(["pack", "model", "-o", "model/model.tar.gz"]).current_dir(dir.path()).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let file = fs::File::open(dir.join("model/model.tar.gz")).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let names: Vec<String> = tar.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["model.pth"]);
}

#[test]
fn a_report_that_cannot_be_written_exits_2() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("pending.manifest.new", "#optml-manifest v1\nf type=file\n");
    let full = || fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    for args in [vec!["check", "--format", "json", root.to_str().unwrap()], vec!["rule", "--all"], vec!["snapshot", "accept"]] {
        let output = spawnable(&args, dir.path()).stdout(full()).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("cannot write to stdout") && !stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // stderr has nowhere to report its own failure: the command still ends normally.
    let output = spawnable(&["pack", "ml", "-o", "ml.tar.gz"], dir.path()).stderr(full()).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = TestDir::new();
    // More `accepted ...` lines than a pipe buffers, so optml writes after the reader has gone.
    for index in 0..3000 {
        dir.file(&format!("s{index:04}-with-a-longer-name.manifest.new"), "#optml-manifest v1\n");
    }
    for args in [&["snapshot", "accept"][..], &["rule", "--all"]] {
        let mut child = spawnable(args, dir.path()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut first = [0u8; 16];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

/// An output path that names a FIFO, a device node or a folder is refused: renaming a new file
/// over it would replace the node (as root, `--output /dev/zero` replaced /dev/zero). Through
/// a symlink, the file it names is written and the link stays a link (`-o /dev/stdout`).
#[test]
fn writes_never_replace_special_files_or_links() {
    let dir = TestDir::new();
    dir.file("ml/model/model.pth", "w");
    let fifo = dir.join("fifo");
    let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `name` is NUL-terminated.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
    let mut targets = vec!["fifo", "ml"];
    // A device node of our own (a copy of /dev/null), never the system's: as root only.
    let device = std::ffi::CString::new(dir.join("null").to_str().unwrap()).unwrap();
    // SAFETY: `device` is NUL-terminated.
    if unsafe { libc::mknod(device.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) } == 0 {
        targets.push("null");
    }
    std::os::unix::fs::symlink("fifo", dir.join("to-fifo")).unwrap();
    targets.push("to-fifo");
    for target in targets {
        let before = fs::symlink_metadata(dir.join(target)).unwrap().file_type();
        for args in [&["check", "ml", "--output", target][..], &["snapshot", "ml", "-o", target], &["pack", "ml/model", "-o", target]] {
            let output = spawnable(args, dir.path()).stdin(Stdio::null()).output().unwrap();
            assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
            let stderr = String::from_utf8_lossy(&output.stderr).replace('│', " ");
            assert!(stderr.split_whitespace().collect::<Vec<_>>().join(" ").contains("not a regular file"), "{args:?}: {stderr}");
            assert_eq!(fs::symlink_metadata(dir.join(target)).unwrap().file_type(), before, "{args:?} replaced {target}");
        }
    }
    dir.file("real.txt", "old");
    std::os::unix::fs::symlink("real.txt", dir.join("link.txt")).unwrap();
    let output = spawnable(&["check", "ml", "--output", "link.txt"], dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(fs::symlink_metadata(dir.join("link.txt")).unwrap().file_type().is_symlink(), "the link was replaced by a file");
    assert!(fs::read_to_string(dir.join("real.txt")).unwrap().contains("checking ml"));
}
