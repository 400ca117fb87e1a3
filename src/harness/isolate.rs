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

/// Enter a private mount namespace and a PID namespace for the children to come (and a user
/// namespace when that is what it takes).
fn unshare_mounts() -> Result<(), String> {
    // SAFETY: unshare and the id getters have no memory-safety preconditions.
    if unsafe { libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWPID) } == 0 {
        return Ok(());
    }
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    check("unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID)", unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID) })?;
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
    mount(sandbox, opt_ml, None, libc::MS_BIND | libc::MS_REC, "bind-mounting the sandbox at /opt/ml")?;
    hide_other_hosts(sandbox)
}

/// Cover the run folder with a tmpfs holding only this host's sandbox, at the same path (the
/// SM_* variables name it): with several hosts, none can read or plant files in another's.
fn hide_other_hosts(sandbox: &Path) -> Result<(), String> {
    let (Some(run_root), Some(host)) = (sandbox.parent(), sandbox.file_name()) else {
        return Err(format!("{}: the sandbox has no parent folder", sandbox.display()));
    };
    let own = fs::File::open(sandbox).map_err(|err| format!("opening {}: {err}", sandbox.display()))?;
    let own_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&own));
    mount(Path::new("tmpfs"), run_root, Some("tmpfs"), libc::MS_NOSUID | libc::MS_NODEV, "mounting a tmpfs over the run folder")?;
    let target = run_root.join(host);
    fs::create_dir(&target).map_err(|err| format!("creating {} on the tmpfs: {err}", target.display()))?;
    mount(Path::new(&own_path), &target, None, libc::MS_BIND | libc::MS_REC, "bind-mounting the sandbox back into the run folder")
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
    contain(program, args)
}

/// Exit like `status` (a `waitpid` status): with its code, or killed by its signal.
fn exit_like(status: libc::c_int) -> u8 {
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        // SAFETY: resetting a disposition and signalling oneself have no memory preconditions.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
        return 128u8.wrapping_add(signal as u8);
    }
    libc::WEXITSTATUS(status) as u8
}

/// The pid a forwarding handler signals, and the pid itself (in the PID namespace, `-1`
/// reaches every process there but its init, so also those that called `setsid`).
static FORWARD_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(signal: libc::c_int) {
    // SAFETY: kill is async-signal-safe.
    unsafe {
        libc::kill(FORWARD_TO.load(std::sync::atomic::Ordering::SeqCst), signal);
    }
}

fn forward_stop_signals_to(pid: libc::pid_t) {
    FORWARD_TO.store(pid, std::sync::atomic::Ordering::SeqCst);
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only reads an atomic and calls kill, both async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = forward as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Wait for `pid`, retrying when a forwarded signal interrupts; the `waitpid` status.
fn wait_for(pid: libc::pid_t) -> Option<libc::c_int> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out pointer.
        match unsafe { libc::waitpid(pid, &mut status, 0) } {
            got if got == pid => return Some(status),
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            _ => return None,
        }
    }
}

fn die_with_parent() {
    // SAFETY: prctl and getppid have no memory preconditions.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() == 1 {
            libc::_exit(137);
        }
    }
}

/// Run the command under a tiny init, pid 1 of the new PID namespace. When the command exits,
/// init exits, and the kernel kills whatever the command left behind (daemons that called
/// `setsid` included); when optml dies, the SIGKILL it leaves (PR_SET_PDEATHSIG) takes init,
/// and so the namespace, with it. This process stays outside, relaying signals and the status.
fn contain(program: &OsString, args: &[OsString]) -> u8 {
    let mut status_pipe = [0 as libc::c_int; 2];
    // SAFETY: the array is two valid fds' worth of out space.
    if unsafe { libc::pipe2(status_pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        crate::stdio::err(&format!("optml: cannot create a pipe: {}\n", io::Error::last_os_error()));
        return 127;
    }
    // SAFETY: this process is single-threaded (the shim does nothing before), so fork is sound.
    let init = unsafe { libc::fork() };
    if init < 0 {
        crate::stdio::err(&format!("optml: cannot fork into the PID namespace: {}\n", io::Error::last_os_error()));
        return 127;
    }
    if init == 0 {
        // SAFETY: closing our copy of the read end.
        unsafe { libc::close(status_pipe[0]) };
        die_with_parent();
        let status = run_as_init(program, args);
        // SAFETY: writing 4 bytes from a live local to our own pipe.
        unsafe { libc::write(status_pipe[1], (&status as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>()) };
        // SAFETY: leaving without running anything inherited from the parent.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(status_pipe[1]) };
    forward_stop_signals_to(init);
    let init_status = wait_for(init).unwrap_or(0);
    let mut relayed: libc::c_int = 0;
    // SAFETY: reading at most 4 bytes into a live local.
    let got = unsafe { libc::read(status_pipe[0], (&mut relayed as *mut libc::c_int).cast(), std::mem::size_of::<libc::c_int>()) };
    // Without a relayed status, init itself was killed (a second Ctrl-C): so was the command.
    exit_like(if got == std::mem::size_of::<libc::c_int>() as isize { relayed } else { init_status })
}

/// Pid 1: mount a /proc that shows only this namespace, start the command, forward stop signals
/// to every process in the namespace, reap orphans, and return the command's status.
fn run_as_init(program: &OsString, args: &[OsString]) -> libc::c_int {
    // Other hosts' processes (and their /proc/PID/root) stay out of sight; without the
    // mount (some unprivileged setups) the host's /proc stays, as before.
    let _ = mount(Path::new("proc"), Path::new("/proc"), Some("proc"), libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC, "mounting /proc");
    // optml signals the outer process's group; a group of our own makes each signal arrive once.
    // SAFETY: setpgid has no memory preconditions.
    unsafe { libc::setpgid(0, 0) };
    // SAFETY: still single-threaded.
    let command = unsafe { libc::fork() };
    if command == 0 {
        let err = Command::new(program).args(args).exec();
        crate::stdio::err(&format!("optml: cannot run {program:?}: {err}\n"));
        // SAFETY: leaving the failed child at once.
        unsafe { libc::_exit(127) };
    }
    if command < 0 {
        crate::stdio::err(&format!("optml: cannot fork: {}\n", io::Error::last_os_error()));
        return 127 << 8;
    }
    forward_stop_signals_to(-1);
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out pointer.
        let reaped = unsafe { libc::waitpid(-1, &mut status, 0) };
        if reaped == command {
            return status;
        }
        if reaped < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return 127 << 8;
        }
    }
}
