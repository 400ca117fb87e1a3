//! What survives a SIGKILL of optml: a tiny watchdog process (the hidden `optml __watchdog`
//! command) that kills the job's process groups and deletes the temp run folder when optml dies
//! without saying goodbye, and the sweep that removes run folders whose optml is gone.
//!
//! Nothing runs in a process after SIGKILL, so the cleanup must live in another one. The
//! watchdog reads optml's pipe: `group PID` lines name process groups to kill, `tag TAG` lines
//! environment tags whose processes to kill (src/harness/descendants.rs), `done` means
//! optml finished (and cleaned up) itself; end of input without `done` means optml died. It
//! leaves optml's session, so a SIGKILL of optml's whole process group (a CI timeout) does not
//! take it too, and holds none of optml's output pipes, so nobody waits for it.
//!
//! A temp run folder is marked by a lock file that optml holds an `flock` on while it runs. The
//! sweep at the start of every `optml run` removes the folders whose lock it can take: their
//! optml is gone (both it and its watchdog were killed, or the machine rebooted). The lock is
//! taken under a temporary name and renamed, so the sweep never sees a marker that is not yet
//! locked; a kept run (`--keep`) drops its marker, so it is never swept.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

/// The hidden subcommand.
pub const COMMAND: &str = "__watchdog";
/// The marker of a temp run folder, locked while its optml runs.
pub const LOCK_FILE: &str = ".optml-run.lock";
/// The prefix of temp run folders.
pub const RUN_PREFIX: &str = "optml-run-";

/// optml's end of the pipe to its watchdog.
pub struct Watchdog {
    pipe: Mutex<ChildStdin>,
    child: Child,
}

impl Watchdog {
    /// Start a watchdog that, if optml dies first, kills the groups it is told of and deletes
    /// `remove` (the temp run folder; `None` for a folder the user chose).
    pub fn start(remove: Option<&Path>) -> io::Result<Watchdog> {
        let mut command = Command::new(std::env::current_exe()?);
        command.arg(COMMAND);
        if let Some(dir) = remove {
            command.arg(dir);
        }
        command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe and touches no memory.
        unsafe {
            command.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        let pipe = child.stdin.take().ok_or_else(|| io::Error::other("the watchdog has no stdin"))?;
        Ok(Watchdog { pipe: Mutex::new(pipe), child })
    }

    /// The job's process group `pgid`: killed if optml dies before it is reaped.
    pub fn watch_group(&self, pgid: u32) {
        if let Ok(mut pipe) = self.pipe.lock() {
            // A watchdog that is gone cannot help; the run goes on without it.
            let _ = writeln!(pipe, "group {pgid}");
        }
    }

    /// A job's environment tag: its processes are killed if optml dies before it is reaped.
    pub fn watch_tag(&self, tag: &str) {
        if let Ok(mut pipe) = self.pipe.lock() {
            let _ = writeln!(pipe, "tag {tag}");
        }
    }

    /// optml ends normally: the watchdog leaves without touching anything.
    pub fn release(mut self) {
        if let Ok(mut pipe) = self.pipe.into_inner() {
            let _ = writeln!(pipe, "done");
        }
        let _ = self.child.wait();
    }
}

/// `optml __watchdog [DIR]`: wait for optml's pipe to end; if it ends without `done`, kill the
/// process groups named and delete DIR once its lock is free. Returns the exit code.
pub fn watchdog_main(remove: Option<&Path>) -> u8 {
    // Ctrl-C and a closing terminal are for optml, which forwards them to the job.
    // SAFETY: ignoring signals has no memory preconditions.
    unsafe {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
            libc::signal(signal, libc::SIG_IGN);
        }
    }
    let (mut groups, mut tags): (Vec<libc::pid_t>, Vec<String>) = (Vec::new(), Vec::new());
    for line in BufReader::new(io::stdin().lock()).lines() {
        let Ok(line) = line else { break };
        if line == "done" {
            return 0;
        }
        if let Some(pgid) = line.strip_prefix("group ").and_then(|pid| pid.parse::<libc::pid_t>().ok()).filter(|&pid| pid > 1) {
            groups.push(pgid);
        } else if let Some(tag) = line.strip_prefix("tag ").filter(|tag| !tag.is_empty()) {
            tags.push(tag.to_string());
        }
    }
    for &pgid in &groups {
        // SAFETY: kill has no memory preconditions; a group that is gone is fine.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    for tag in &tags {
        super::descendants::kill_tagged(tag);
    }
    if let Some(dir) = remove {
        // The lock is free once every process holding it (optml) is gone.
        if let Ok(lock) = File::open(dir.join(LOCK_FILE)) {
            // SAFETY: flock on a descriptor we own.
            unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
            remove_run_folder(dir);
        }
    }
    0
}

/// Delete a run folder whose job may still be dying: a process killed a moment ago can still
/// create a file, so retry a few times.
fn remove_run_folder(dir: &Path) {
    for _ in 0..20 {
        match fs::remove_dir_all(dir) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => thread::sleep(Duration::from_millis(50)),
            _ => return,
        }
    }
}

/// The lock a running optml holds on its temp run folder.
pub struct RunLock {
    file: File,
    dir: PathBuf,
}

impl RunLock {
    /// Mark `dir` as the run folder of this live optml.
    pub fn take(dir: &Path) -> io::Result<RunLock> {
        let pending = dir.join(format!("{LOCK_FILE}.new"));
        let file = File::create(&pending)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(io::Error::last_os_error());
        }
        fs::rename(&pending, dir.join(LOCK_FILE))?;
        Ok(RunLock { file, dir: dir.to_path_buf() })
    }

    /// The run is kept: drop the marker, so no sweep ever removes the folder.
    pub fn keep(self) {
        let _ = fs::remove_file(self.dir.join(LOCK_FILE));
        drop(self.file);
    }
}

/// Remove the temp run folders in `temp` whose optml is gone: those with a marker nobody holds
/// a lock on, owned by this user. Returns how many were removed.
pub fn sweep(temp: &Path) -> usize {
    let Ok(entries) = fs::read_dir(temp) else { return 0 };
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let mut removed = 0;
    for entry in entries.flatten() {
        let dir = entry.path();
        let ours =
            entry.file_name().to_string_lossy().starts_with(RUN_PREFIX) && fs::symlink_metadata(&dir).is_ok_and(|meta| meta.is_dir() && meta.uid() == uid);
        if !ours {
            continue;
        }
        // The marker is opened without following a link: a planted one is not ours to trust.
        let Ok(lock) = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(dir.join(LOCK_FILE)) else {
            continue;
        };
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            remove_run_folder(&dir);
            removed += 1;
        }
    }
    removed
}
