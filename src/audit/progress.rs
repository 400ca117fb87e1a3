//! The audit's progress bar (indicatif) on stderr: artifacts done of all, bytes streamed of
//! all, throughput and ETA. Drawn only when stderr is a terminal and `--quiet` is off, so it
//! never reaches a pipe, a log file or stdout; records written to stdout meanwhile go through
//! [`Progress::suspend`], so a terminal showing both never gets a line torn by the bar.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
    artifacts: usize,
    done: usize,
    /// Whether stdout shares the terminal, so that writing to it must clear the bar first.
    stdout_on_terminal: bool,
}

impl Progress {
    /// A bar over `artifacts` artifacts to go through, `bytes` of them to stream (re-used
    /// records stream nothing); hidden when `quiet` or stderr is not a terminal.
    pub fn new(artifacts: usize, bytes: u64, quiet: bool) -> Progress {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{msg} [{bar:20}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}")
                .expect("a valid template")
                .progress_chars("=> ");
            bar.set_style(style);
            // Redrawn while a large archive streams, so throughput and ETA stay current.
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        };
        let progress = Progress { bar, artifacts, done: 0, stdout_on_terminal: std::io::stdout().is_terminal() };
        progress.show();
        progress
    }

    fn show(&self) {
        self.bar.set_message(format!("audit {}/{} artifacts", self.done, self.artifacts));
    }

    /// One more artifact done, having streamed `bytes`.
    pub fn advance(&mut self, bytes: u64) {
        self.done += 1;
        self.bar.inc(bytes);
        self.show();
    }

    /// Run `write`, a write to stdout, with the bar cleared if stdout shares its terminal.
    pub fn suspend<R>(&self, write: impl FnOnce() -> R) -> R {
        if self.stdout_on_terminal {
            self.bar.suspend(write)
        } else {
            write()
        }
    }

    /// Clear the bar for good (the run's summary line follows).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
