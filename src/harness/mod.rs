//! The run harness: an /opt/ml sandbox per host, the toolkit's environment, the entry point
//! supervised as SageMaker would, status markers, and archives packed as SageMaker packs them.
//! `optml run` (src/commands/run.rs) checks and reports the result.

pub mod descendants;
pub mod env;
pub mod findings;
pub mod hosts;
pub mod hyperparameters;
pub mod isolate;
pub mod pack;
pub mod process;
pub mod pyvalue;
pub mod sandbox;
pub mod status;
pub mod summary;
pub mod watchdog;

use std::fs;
use std::path::{Path, PathBuf};

use std::time::Duration;

use hosts::HostRun;
use isolate::Isolation;
use pack::{pack, PackError, PackOptions, PackSource, Packed};
use watchdog::{RunLock, Watchdog};

/// Which output.tar.gz to make (contract section 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputArchive {
    /// Real SageMaker: the contents of output/data.
    Cloud,
    /// SageMaker local mode: all of output/, markers and a data/ prefix included.
    Local,
}

/// Where a run lives: `<root>/<host>/` is each host's /opt/ml, `<root>/artifacts/` the archives.
pub struct RunDir {
    root: PathBuf,
    /// Set when optml chose the folder; dropped (deleted) unless kept.
    temp: Option<(tempfile::TempDir, RunLock)>,
    /// Cleans up if optml is SIGKILLed (src/harness/watchdog.rs); `None` if it could not start.
    watchdog: Option<Watchdog>,
}

impl RunDir {
    /// Use `root` (which must be empty or absent) or a new temp folder. Temp folders left by
    /// an optml that was killed are removed first.
    pub fn create(root: Option<&Path>) -> Result<RunDir, String> {
        let Some(root) = root else {
            watchdog::sweep(&std::env::temp_dir());
            let temp = tempfile::Builder::new().prefix(watchdog::RUN_PREFIX).tempdir().map_err(|err| format!("cannot create a temp folder: {err}"))?;
            let lock = RunLock::take(temp.path()).map_err(|err| format!("cannot lock the run folder {}: {err}", temp.path().display()))?;
            let watchdog = Watchdog::start(Some(temp.path())).ok();
            return Ok(RunDir { root: temp.path().to_path_buf(), temp: Some((temp, lock)), watchdog });
        };
        let at = |err: std::io::Error| format!("--root {}: {err}", root.display());
        if root.exists() && fs::read_dir(root).map_err(at)?.next().is_some() {
            return Err(format!("--root {}: the folder is not empty; a run needs a fresh sandbox (remove it or pick another)", root.display()));
        }
        fs::create_dir_all(root).map_err(at)?;
        // The user's folder is never deleted; the watchdog only kills what is left running.
        Ok(RunDir { root: fs::canonicalize(root).map_err(at)?, temp: None, watchdog: Watchdog::start(None).ok() })
    }

    /// The watchdog the job's process groups are reported to.
    pub fn watchdog(&self) -> Option<&Watchdog> {
        self.watchdog.as_ref()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn host(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn artifacts(&self) -> PathBuf {
        self.root.join("artifacts")
    }

    /// Delete a temp run folder unless `keep`; returns whether the folder is still there.
    pub fn finish(self, keep: bool) -> bool {
        if let Some(watchdog) = self.watchdog {
            watchdog.release();
        }
        match self.temp {
            Some((temp, lock)) if keep => {
                lock.keep();
                let _ = temp.keep();
                true
            }
            Some((temp, _lock)) => {
                let _ = temp.close();
                false
            }
            None => true,
        }
    }
}

/// One archive the run wrote (or failed to write).
pub struct Artifact {
    pub path: PathBuf,
    pub result: Result<Packed, PackError>,
}

impl Artifact {
    /// `model.tar.gz` or `output.tar.gz`.
    pub fn file_name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// Pack model/ and the output of every host into `artifacts/`, later hosts over earlier ones.
pub fn pack_artifacts(run_dir: &RunDir, hosts: &[HostRun], flavour: OutputArchive, options: PackOptions) -> [Artifact; 2] {
    let output_rel = match flavour {
        OutputArchive::Cloud => "output/data",
        OutputArchive::Local => "output",
    };
    let make = |name: &str, rel: &str| {
        let dirs: Vec<PathBuf> = hosts.iter().map(|h| h.base.join(rel)).collect();
        let sources: Vec<PackSource> = hosts.iter().zip(&dirs).map(|(h, dir)| PackSource { label: &h.name, dir }).collect();
        let path = run_dir.artifacts().join(name);
        let result = pack(&sources, &path, options);
        Artifact { path, result }
    };
    [make("model.tar.gz", "model"), make("output.tar.gz", output_rel)]
}

/// Everything a run did, for its findings and its summary.
pub struct RunRecord {
    pub root: PathBuf,
    /// The run folder is still there afterwards.
    pub kept: bool,
    pub isolation: Isolation,
    pub hosts: Vec<HostRun>,
    pub artifacts: [Artifact; 2],
    pub duration: Duration,
}
