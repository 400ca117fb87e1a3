//! Making a literal `/opt/ml` reach the sandbox: the command runs in a private mount namespace
//! where the sandbox is bind-mounted at /opt/ml. As root a mount namespace is enough; otherwise
//! an unprivileged user namespace maps the caller's own uid and gid so it may mount.
//!
//! Namespace setup allocates and reads directories, which is unsafe between fork and exec in a
//! multi-threaded program, so it runs in a fresh single-threaded optml process (the hidden
//! `optml __isolate` command) that then execs the command in place, keeping its pid.
//! If /opt/ml does not exist, /opt is covered with a tmpfs that re-mounts every original entry
//! of /opt, so nothing is ever created outside the sandbox.

use std::ffi::{CString, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The hidden subcommand that enters the namespace and execs.
pub const SHIM: &str = "__isolate";

/// Whether literal /opt/ml paths reach the sandbox in this run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Private mount namespace; /opt/ml is the sandbox.
    Namespace,
    /// `--no-isolate`.
    Disabled,
    /// Tried and failed: only the SM_* variables point at the sandbox.
    Unavailable(String),
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
}

fn check(what: &str, result: libc::c_int) -> Result<(), String> {
    if result == 0 {
        Ok(())
    } else {
        Err(format!("{what}: {}", io::Error::last_os_error()))
    }
}

fn mount(source: &Path, target: &Path, fstype: Option<&str>, flags: libc::c_ulong, what: &str) -> Result<(), String> {
    let source = c_path(source).map_err(|err| format!("{what}: {err}"))?;
    let target = c_path(target).map_err(|err| format!("{what}: {err}"))?;
    let fstype = fstype.map(|t| CString::new(t).unwrap_or_default());
    // SAFETY: every pointer is a valid NUL-terminated string or null, alive for the call.
    let result = unsafe { libc::mount(source.as_ptr(), target.as_ptr(), fstype.as_ref().map_or(std::ptr::null(), |t| t.as_ptr()), flags, std::ptr::null()) };
    check(what, result)
}

/// Enter a private mount namespace (and a user namespace when that is what it takes).
fn unshare_mounts() -> Result<(), String> {
    // SAFETY: unshare and the id getters have no memory-safety preconditions.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } == 0 {
        return Ok(());
    }
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    check("unshare(CLONE_NEWUSER | CLONE_NEWNS)", unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) })?;
    // An unprivileged process may map only its own ids, and only after giving up setgroups.
    let write = |file: &str, text: String| fs::write(file, text).map_err(|err| format!("writing {file}: {err}"));
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
    write("/proc/self/gid_map", format!("{gid} {gid} 1"))
}

/// Cover /opt with a tmpfs holding bind mounts of every original entry, plus /opt/ml.
fn overlay_opt() -> Result<(), String> {
    let opt = Path::new("/opt");
    let entries: Vec<(OsString, fs::FileType)> = fs::read_dir(opt)
        .map_err(|err| format!("reading /opt: {err}"))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_type().ok().map(|t| (e.file_name(), t)))
        .collect();
    // The original /opt stays reachable through this descriptor once the tmpfs covers it.
    let original = fs::File::open(opt).map_err(|err| format!("opening /opt: {err}"))?;
    let original_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&original));
    mount(Path::new("tmpfs"), opt, Some("tmpfs"), libc::MS_NOSUID | libc::MS_NODEV, "mounting a tmpfs on /opt")?;
    for (name, file_type) in entries {
        let source = Path::new(&original_path).join(&name);
        let target = opt.join(&name);
        let at = |err: io::Error| format!("re-creating {}: {err}", target.display());
        if file_type.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source).map_err(at)?, &target).map_err(at)?;
            continue;
        }
        if file_type.is_dir() {
            fs::create_dir(&target).map_err(at)?;
        } else {
            fs::File::create(&target).map_err(at)?;
        }
        mount(&source, &target, None, libc::MS_BIND | libc::MS_REC, &format!("bind-mounting {}", target.display()))?;
    }
    fs::create_dir(opt.join("ml")).map_err(|err| format!("creating /opt/ml on the tmpfs: {err}"))
}

/// Make /opt/ml the sandbox for this process and its children.
pub fn enter(sandbox: &Path) -> Result<(), String> {
    unshare_mounts()?;
    // Nothing mounted from here on may leak back to the host.
    mount(Path::new("none"), Path::new("/"), None, libc::MS_REC | libc::MS_PRIVATE, "making mounts private")?;
    let opt_ml = Path::new("/opt/ml");
    match fs::symlink_metadata(opt_ml) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err("/opt/ml exists but is not a directory".into()),
        Err(_) if Path::new("/opt").is_dir() => overlay_opt()?,
        Err(_) => return Err("/opt does not exist, and optml creates nothing outside the sandbox".into()),
    }
    mount(sandbox, opt_ml, None, libc::MS_BIND | libc::MS_REC, "bind-mounting the sandbox at /opt/ml")
}

/// Try isolation in a throwaway process: `Ok` when `enter` works on this machine.
pub fn probe(sandbox: &Path) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|err| format!("cannot find the optml binary: {err}"))?;
    let output = Command::new(exe)
        .arg(SHIM)
        .arg("--probe")
        .arg(sandbox)
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("cannot start the isolation probe: {err}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// The command line that runs `program args` isolated in `sandbox`.
pub fn wrap(sandbox: &Path, program: &OsString, args: &[OsString]) -> io::Result<Command> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg(SHIM).arg(sandbox).arg("--").arg(program).args(args);
    Ok(command)
}

/// `optml __isolate [--probe] SANDBOX [-- COMMAND...]`: enter, then exec (or just report).
/// Returns only on failure, with the process exit code to use.
pub fn shim_main(probe: bool, sandbox: &Path, command: &[OsString]) -> u8 {
    if let Err(reason) = enter(sandbox) {
        crate::stdio::err(&format!("{reason}\n"));
        return 1;
    }
    if probe {
        return 0;
    }
    let Some((program, args)) = command.split_first() else {
        crate::stdio::err(&format!("optml {SHIM}: no command\n"));
        return 127;
    };
    let err = Command::new(program).args(args).exec();
    crate::stdio::err(&format!("optml: cannot run {program:?}: {err}\n"));
    127
}
