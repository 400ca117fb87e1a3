//! Shared test harness: the real binary, temp trees and archives built in the test.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use flate2::write::GzEncoder;
use flate2::Compression;

/// The optml binary with a fixed, colorless environment.
pub fn optml() -> Command {
    let mut cmd = Command::cargo_bin("optml").expect("binary built");
    cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).env("NO_COLOR", "1").env("COLUMNS", "100");
    cmd
}

/// A temp dir with helpers to lay out files.
pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write `content` at `rel`, creating parent folders.
    pub fn file(&self, rel: &str, content: &str) -> &TestDir {
        self.file_bytes(rel, content.as_bytes())
    }

    /// Write `content` (any bytes) at `rel`, creating parent folders.
    pub fn file_bytes(&self, rel: &str, content: &[u8]) -> &TestDir {
        let path = self.join(rel);
        fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        fs::write(&path, content).expect("write");
        self
    }

    pub fn dir(&self, rel: &str) -> &TestDir {
        fs::create_dir_all(self.join(rel)).expect("mkdir");
        self
    }

    /// A minimal finished, successful /opt/ml tree under `rel`.
    pub fn opt_ml(&self, rel: &str) -> PathBuf {
        self.file(&format!("{rel}/model/model.pth"), "weights");
        self.file(&format!("{rel}/output/success"), "");
        self.dir(&format!("{rel}/output/data"));
        self.join(rel)
    }
}

/// One member of a test archive.
pub enum Member<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Fifo(&'a str),
    /// A regular file with explicit mode bits.
    Mode(&'a str, u32),
    /// A folder with explicit mode bits, owned by this uid and gid (image layers).
    OwnedDir(&'a str, u32, u64),
}

/// A stored (uncompressed) zip holding `names`, each with `body`: the container format of
/// `torch.jit.save` and of `torch.save` since PyTorch 1.6. `pad` bytes between the central
/// directory and its end record push the directory away from the end of the file.
pub fn zip_bytes(names: &[&str], body: &[u8], pad: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let le16 = |v: usize| (v as u16).to_le_bytes();
    let le32 = |v: usize| (v as u32).to_le_bytes();
    for name in names {
        let offset = out.len();
        // Local header: signature, version 20, no flags, stored, no time/CRC checks needed.
        out.extend_from_slice(b"PK\x03\x04\x14\0\0\0\0\0\0\0\0\0\0\0\0\0");
        out.extend_from_slice(&le32(body.len()));
        out.extend_from_slice(&le32(body.len()));
        out.extend_from_slice(&le16(name.len()));
        out.extend_from_slice(&le16(0));
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(body);
        central.extend_from_slice(b"PK\x01\x02\x14\0\x14\0\0\0\0\0\0\0\0\0\0\0\0\0");
        central.extend_from_slice(&le32(body.len()));
        central.extend_from_slice(&le32(body.len()));
        central.extend_from_slice(&le16(name.len()));
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&le32(offset));
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len();
    out.extend_from_slice(&central);
    out.resize(out.len() + pad, 0);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&le16(names.len()));
    out.extend_from_slice(&le16(names.len()));
    out.extend_from_slice(&le32(central.len()));
    out.extend_from_slice(&le32(cd_offset));
    out.extend_from_slice(&le16(0));
    out
}

/// A TorchScript file as `torch.jit.save` lays it out (member names are what optml reads).
pub static TORCHSCRIPT: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| zip_bytes(&["model/data.pkl", "model/constants.pkl", "model/code/__torch__.py", "model/version"], b"x", 0));

/// Raw ustar bytes for `members` (names written verbatim, so `../x` and `/x` are possible).
pub fn tar_bytes(members: &[Member]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for member in members {
        let mut header = tar::Header::new_gnu();
        let (name, data): (&str, &[u8]) = match member {
            Member::File(name, data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                (name, data)
            }
            Member::Dir(name) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                (name, b"")
            }
            Member::Symlink(name, target) | Member::Hardlink(name, target) => {
                let kind = if matches!(member, Member::Symlink(..)) { tar::EntryType::Symlink } else { tar::EntryType::Link };
                header.set_entry_type(kind);
                header.set_mode(0o777);
                header.set_link_name(target).expect("link name");
                (name, b"")
            }
            Member::Fifo(name) => {
                header.set_entry_type(tar::EntryType::Fifo);
                header.set_mode(0o644);
                (name, b"")
            }
            Member::Mode(name, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                (name, b"x")
            }
            Member::OwnedDir(name, mode, owner) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_uid(*owner);
                header.set_gid(*owner);
                (name, b"")
            }
        };
        set_raw_name(&mut header, name);
        header.set_size(data.len() as u64);
        header.set_mtime(0);
        header.set_cksum();
        builder.append(&header, data).expect("append");
    }
    builder.into_inner().expect("finish tar")
}

/// Write the name bytes straight into the header (the tar crate refuses `..` and `/`).
fn set_raw_name(header: &mut tar::Header, name: &str) {
    let bytes = name.as_bytes();
    let field = &mut header.as_old_mut().name;
    field.fill(0);
    field[..bytes.len()].copy_from_slice(bytes);
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip finish")
}

/// Write a gzip-compressed tar of `members` at `dir/name`.
pub fn tar_gz(dir: &TestDir, name: &str, members: &[Member]) -> PathBuf {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(&path, gzip(&tar_bytes(members))).expect("write archive");
    path
}

/// Run `optml check --format json ARGS` and return (exit code, document).
pub fn check_json(args: &[&std::ffi::OsStr]) -> (i32, serde_json::Value) {
    let output = optml().arg("check").arg("--format").arg("json").args(args).output().expect("run optml");
    let code = output.status.code().expect("exit code");
    let doc = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!("stdout is not JSON ({err}): {}\nstderr: {}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    });
    (code, doc)
}

/// The rule codes in a JSON report, sorted and deduplicated.
pub fn codes(doc: &serde_json::Value) -> Vec<String> {
    let mut codes: Vec<String> = doc["diagnostics"].as_array().expect("diagnostics").iter().map(|d| d["rule"].as_str().expect("rule").to_string()).collect();
    codes.sort();
    codes.dedup();
    codes
}

/// Paths reported for one rule code.
pub fn paths_for(doc: &serde_json::Value, code: &str) -> Vec<String> {
    doc["diagnostics"].as_array().expect("diagnostics").iter().filter(|d| d["rule"] == code).map(|d| d["path"].as_str().expect("path").to_string()).collect()
}

/// Exit code, stdout and stderr in one text, for snapshots; temp paths replaced by `[TMP]`.
pub fn transcript(output: &Output, tmp: &Path) -> String {
    let text = format!(
        "exit: {}\n----- stdout -----\n{}----- stderr -----\n{}",
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    text.replace(&tmp.to_string_lossy().into_owned(), "[TMP]")
}

/// Insta settings that put snapshots in `snapshots/<suite>/` at the repository root.
pub fn snapshot_settings(suite: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots").join(suite));
    settings.set_prepend_module_to_snapshot(false);
    // A finding's snippet of its built-in rule file carries that file's line numbers: masked, so
    // an edit to one rule does not change the snapshots of every rule below it.
    settings.add_filter(r"(?ms)^ *╭─\[(rules/[^\]]+ \(built-in\)):\d+:\d+\].*?╰────", "  ╭─[$1] (rule definition)");
    settings.add_filter(r"\b(rules/[a-z0-9-]+\.toml):\d+\b", "$1:[LINE]");
    settings
}

/// `optml snapshot review` in `dir` on a real terminal (a pty from util-linux `script`), typing
/// `keys`; `None` where there is no `script` to provide one.
pub fn review_on_pty(dir: &Path, keys: &[u8]) -> Option<Output> {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        return None;
    }
    let command = format!("{} snapshot review", env!("CARGO_BIN_EXE_optml"));
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run script");
    child.stdin.take().unwrap().write_all(keys).unwrap();
    Some(child.wait_with_output().unwrap())
}
