//! Running the entry point the way SageMaker's container runtime does: output streamed live,
//! SIGINT/SIGTERM forwarded, and a stop (SIGTERM, then SIGKILL after the stop timeout) when
//! `--max-run` expires. The child leads its own process group, which is killed when it exits,
//! as a container's processes die with it.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::descendants;
use super::watchdog::Watchdog;

/// How often the supervisor looks at the child, its deadlines and forwarded signals.
const POLL: Duration = Duration::from_millis(20);
/// Bytes of stderr kept for the failure message.
const TAIL_BYTES: usize = 4096;
/// How long to wait for output still buffered in pipes once the process group is gone.
const DRAIN: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Between SIGTERM and SIGKILL (`docker stop -t`).
    pub stop_timeout: Duration,
    /// `StoppingCondition.MaxRuntimeInSeconds`.
    pub max_run: Option<Duration>,
}

/// How the process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    Exited(i32),
    Signaled(i32),
}

impl Termination {
    /// The code Python's `Popen.returncode` (and so the toolkit) reports: `-N` for signal N.
    pub fn return_code(self) -> i32 {
        match self {
            Termination::Exited(code) => code,
            Termination::Signaled(signal) => -signal,
        }
    }
}

/// Why optml stopped the process, if it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopCause {
    MaxRun(Duration),
    /// optml itself received this signal and forwarded it.
    Forwarded(i32),
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub termination: Termination,
    pub stopped: Option<StopCause>,
    /// SIGKILL was needed after the stop timeout.
    pub killed_after_timeout: bool,
    pub stderr_tail: Vec<u8>,
    pub duration: Duration,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.termination == Termination::Exited(0)
    }
}

/// One of the child's output pipes.
type Pipe = Box<dyn Read + Send>;
/// The last bytes of stderr, shared with the thread copying it.
type Tail = Arc<Mutex<VecDeque<u8>>>;

/// Where the child's output goes: optml's stdout/stderr, or both to stderr (when stdout carries
/// a JSON report); with a label, each line is prefixed `label | ` (several hosts at once).
#[derive(Clone, Debug)]
pub struct OutputRoute {
    pub stdout_to_stderr: bool,
    pub label: Option<String>,
}

static SIGNALS_SEEN: AtomicUsize = AtomicUsize::new(0);
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember_signal(signal: libc::c_int) {
    LAST_SIGNAL.store(signal, Ordering::SeqCst);
    SIGNALS_SEEN.fetch_add(1, Ordering::SeqCst);
}

/// While alive, SIGINT and SIGTERM are recorded for forwarding to the children being
/// supervised instead of ending optml; dropped, they end optml again (packing and checking
/// after the run can be interrupted as usual).
pub struct StopSignals;

impl StopSignals {
    pub fn catch() -> StopSignals {
        set_stop_handler(remember_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
        StopSignals
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        set_stop_handler(libc::SIG_DFL);
    }
}

fn set_stop_handler(handler: libc::sighandler_t) {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only touches atomics, which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

fn send(pid: i32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions; a vanished process is fine.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Copy one pipe to its destination as bytes arrive (no UTF-8 assumption), optionally
/// prefixing lines, and keep the last bytes when `tail` is given.
fn pump(mut pipe: impl Read, to_stderr: bool, label: Option<String>, tail: Option<Tail>) {
    let mut buf = [0u8; 8192];
    let mut pending: Vec<u8> = Vec::new();
    let write = |bytes: &[u8]| {
        // A closed stdout (`optml run ... | head`) must not stop the child's supervision.
        let _ = if to_stderr { io::stderr().lock().write_all(bytes) } else { io::stdout().lock().write_all(bytes).and_then(|_| io::stdout().flush()) };
    };
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if let Some(tail) = &tail {
            if let Ok(mut tail) = tail.lock() {
                tail.extend(chunk);
                let excess = tail.len().saturating_sub(TAIL_BYTES);
                tail.drain(..excess);
            }
        }
        match &label {
            None => write(chunk),
            Some(label) => {
                pending.extend_from_slice(chunk);
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    write(&[format!("{label} | ").as_bytes(), &line].concat());
                }
            }
        }
    }
    if let (Some(label), false) = (&label, pending.is_empty()) {
        write(&[format!("{label} | ").as_bytes(), &pending, b"\n"].concat());
    }
}

/// Spawn `command` in its own process group and supervise it to the end; signals are
/// forwarded while a [`StopSignals`] is alive, and the group is named to `watchdog`.
/// A command that cannot be started ends like a shell's: exit code 127, the reason on stderr.
pub fn supervise(mut command: Command, route: &OutputRoute, limits: Limits, watchdog: Option<&Watchdog>) -> Outcome {
    // Signals from here on are for this child: one may arrive before `wait` starts looking.
    let signals_before = SIGNALS_SEEN.load(Ordering::SeqCst);
    let start = Instant::now();
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    // What finds the descendants that leave the process group (`setsid`) without namespaces.
    let tag = descendants::new_tag();
    command.env(descendants::TAG_VAR, &tag);
    // SAFETY: prctl is async-signal-safe. If optml itself is killed (a CI timeout), the entry
    // point must not outlive it; the setting survives the isolation shim's exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            let message = format!("optml: cannot run {:?}: {err}\n", command.get_program());
            let _ = io::stderr().write_all(message.as_bytes());
            return Outcome {
                termination: Termination::Exited(127),
                stopped: None,
                killed_after_timeout: false,
                stderr_tail: message.into_bytes(),
                duration: start.elapsed(),
            };
        }
    };
    if let Some(watchdog) = watchdog {
        watchdog.watch_group(child.id());
        watchdog.watch_tag(&tag);
    }
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let (done_tx, done_rx) = mpsc::channel();
    let pipes: [(Option<Pipe>, bool, Option<Tail>); 2] = [
        (child.stdout.take().map(|p| Box::new(p) as Pipe), route.stdout_to_stderr, None),
        (child.stderr.take().map(|p| Box::new(p) as Pipe), true, Some(tail.clone())),
    ];
    for (pipe, to_stderr, keep) in pipes {
        let Some(pipe) = pipe else { continue };
        let label = route.label.clone();
        let done = done_tx.clone();
        thread::spawn(move || {
            pump(pipe, to_stderr, label, keep);
            let _ = done.send(());
        });
    }
    drop(done_tx);
    let (termination, stopped, killed_after_timeout) = wait(&mut child, start, signals_before, limits);
    // The container is gone once its entry point exits: so is everything it started, in its
    // process group or not.
    send(-(child.id() as i32), libc::SIGKILL);
    descendants::kill_tagged(&tag);
    let drain_until = Instant::now() + DRAIN;
    for _ in 0..2 {
        if done_rx.recv_timeout(drain_until.saturating_duration_since(Instant::now())).is_err() {
            break;
        }
    }
    let stderr_tail = tail.lock().map(|t| t.iter().copied().collect()).unwrap_or_default();
    Outcome { termination, stopped, killed_after_timeout, stderr_tail, duration: start.elapsed() }
}

fn wait(child: &mut Child, start: Instant, mut signals_handled: usize, limits: Limits) -> (Termination, Option<StopCause>, bool) {
    let pid = child.id() as i32;
    let mut stopped: Option<StopCause> = None;
    let mut kill_at: Option<Instant> = None;
    let mut killed = false;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let termination = match status.signal() {
                    Some(signal) => Termination::Signaled(signal),
                    None => Termination::Exited(status.code().unwrap_or(1)),
                };
                return (termination, stopped, killed);
            }
            Ok(None) => {}
            Err(_) => return (Termination::Exited(1), stopped, killed),
        }
        let now = Instant::now();
        let seen = SIGNALS_SEEN.load(Ordering::SeqCst);
        if seen != signals_handled {
            signals_handled = seen;
            let signal = LAST_SIGNAL.load(Ordering::SeqCst);
            if matches!(stopped, Some(StopCause::Forwarded(_))) && !killed {
                // A second Ctrl-C: the user does not want to wait for the stop timeout.
                send(-pid, libc::SIGKILL);
                killed = true;
            } else {
                // The whole process group: `sh -c '...; sleep 30'` would otherwise wait for its child.
                send(-pid, signal);
            }
            stopped.get_or_insert(StopCause::Forwarded(signal));
            kill_at.get_or_insert(now + limits.stop_timeout);
        }
        if let Some(max_run) = limits.max_run {
            if stopped.is_none() && now.duration_since(start) >= max_run {
                send(-pid, libc::SIGTERM);
                stopped = Some(StopCause::MaxRun(max_run));
                kill_at = Some(now + limits.stop_timeout);
            }
        }
        if kill_at.is_some_and(|at| now >= at) && !killed {
            send(-pid, libc::SIGKILL);
            killed = true;
        }
        thread::sleep(POLL);
    }
}

/// `SIGKILL`, `SIGTERM`, ...: the name of a signal number, for messages.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => return format!("signal {signal}"),
    };
    format!("{name} (signal {signal})")
}
