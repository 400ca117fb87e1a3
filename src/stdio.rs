//! The process's stdout and stderr, written without panics (`println!` panics when the write
//! fails). A failed write of stdout is remembered and decides the exit status at the end
//! ([`conclude`]): a closed pipe (`optml check | head -1`) ends quietly, as other Unix tools
//! do; any other failure (`> /dev/full`) is exit 2 with a message on stderr, never a report
//! silently lost. stderr has nowhere to report its own failures, so they are ignored.

use std::io::{self, Write};
use std::sync::OnceLock;

use crate::exit::ExitStatus;

/// The first failed write to stdout.
static STDOUT_FAILURE: OnceLock<io::Error> = OnceLock::new();

/// Write `text` to stdout and flush it.
pub fn out(text: &str) {
    out_with(|out| out.write_all(text.as_bytes()));
}

/// Write to stdout with `write`, through a buffer, and flush it: for output too large to build
/// as one string first.
pub fn out_with(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
    if STDOUT_FAILURE.get().is_some() {
        return;
    }
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    if let Err(err) = write(&mut out).and_then(|()| out.flush()) {
        let _ = STDOUT_FAILURE.set(err);
    }
}

/// Write `text` to stderr.
pub fn err(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// The exit status of a command that would end with `status`, given how its stdout writes went.
pub fn conclude(status: ExitStatus) -> ExitStatus {
    match STDOUT_FAILURE.get() {
        None => status,
        Some(failure) if failure.kind() == io::ErrorKind::BrokenPipe => status,
        Some(failure) => {
            err(&format!("optml: cannot write to stdout: {failure}\n"));
            ExitStatus::Error
        }
    }
}
