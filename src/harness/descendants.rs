//! The job's processes that left its process group (`setsid`, a double fork), found by a tag
//! in their environment.
//!
//! Without a PID namespace nothing in the kernel ties a daemonized grandchild to the job: it
//! has its own session and process group, and init adopts it. What it still has is the
//! environment it inherited. Each supervised job gets a unique `OPTML_RUN_TAG`, and when the
//! job ends (or optml dies, through the watchdog) every process of this user whose environment
//! holds that tag is killed, as Jenkins' process tree killer does with `BUILD_ID`. A process
//! that clears or rewrites its own environment escapes; docs/security.md says so.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The variable every supervised job and its descendants inherit.
pub const TAG_VAR: &str = "OPTML_RUN_TAG";

/// Scans before giving up on a job that keeps forking; each kills all it finds.
const ROUNDS: usize = 50;
/// Scans in a row that must find nothing: a process in the middle of `execve` shows an empty
/// environment for a moment.
const QUIET_SCANS: usize = 3;
/// Between scans: long enough for a fork in flight to show up in /proc.
const PAUSE: Duration = Duration::from_millis(10);

/// A tag no other job of this machine has: optml's pid, a sequence number and the time.
pub fn new_tag() -> String {
    static SEQUENCE: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}.{}.{nanos}", std::process::id(), SEQUENCE.fetch_add(1, Ordering::Relaxed))
}

/// Kill (SIGKILL) every process whose environment holds `tag`, until a few scans in a row
/// find none. Returns how many processes were killed.
pub fn kill_tagged(tag: &str) -> usize {
    let entry = format!("{TAG_VAR}={tag}");
    // A process still exiting is found again: count each once.
    let mut killed = std::collections::HashSet::new();
    let mut quiet = 0;
    for _ in 0..ROUNDS {
        let found = tagged(entry.as_bytes());
        quiet = if found.is_empty() { quiet + 1 } else { 0 };
        if quiet == QUIET_SCANS {
            break;
        }
        for pid in found {
            // SAFETY: kill has no memory preconditions; a process that is gone is fine.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed.insert(pid);
        }
        thread::sleep(PAUSE);
    }
    killed.len()
}

/// The processes (other than this one) whose environment holds the `NAME=value` `entry`. Only
/// this user's processes (or all, as root) can be read; a killed one, a zombie, reads empty.
fn tagged(entry: &[u8]) -> Vec<libc::pid_t> {
    let own = std::process::id();
    let Ok(processes) = std::fs::read_dir("/proc") else { return Vec::new() };
    processes
        .filter_map(|process| process.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own)
        .filter(|pid| std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| environ.split(|&b| b == 0).any(|var| var == entry)))
        .filter_map(|pid| libc::pid_t::try_from(pid).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_unique_and_tagged_processes_are_killed() {
        assert_ne!(new_tag(), new_tag());
        let tag = new_tag();
        let mut child = std::process::Command::new("sleep").arg("30").env(TAG_VAR, &tag).spawn().expect("sleep");
        let other = new_tag();
        let mut untagged = std::process::Command::new("sleep").arg("30").env(TAG_VAR, &other).spawn().expect("sleep");
        assert_eq!(kill_tagged(&tag), 1);
        assert!(child.wait().expect("reaped").code().is_none(), "killed by a signal");
        assert!(untagged.try_wait().expect("alive").is_none(), "another tag is left alone");
        assert_eq!(kill_tagged(&other), 1);
        untagged.wait().expect("reaped");
    }
}
