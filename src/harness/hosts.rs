//! Running the entry point on every host at once, each in its own sandbox with its own
//! `SM_CURRENT_HOST`, then writing each host's status marker.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;

use super::env::{platform_vars, script_env, HostInputs, Lookup, Machine, ProcessEnv};
use super::hyperparameters::Hyperparameters;
use super::isolate::{wrap, Isolation};
use super::process::{supervise, Limits, Outcome, OutputRoute, StopSignals};
use super::pyvalue::Py;
use super::sandbox::JobSpec;
use super::status::{record, Marker};
use super::watchdog::Watchdog;

/// What every host runs and how.
pub struct Launch<'a> {
    pub spec: &'a JobSpec,
    pub command: &'a [OsString],
    pub job_name: &'a str,
    pub machine: &'a Machine,
    pub isolation: &'a Isolation,
    pub limits: Limits,
    /// Told of every host's process group, to kill them if optml is SIGKILLed.
    pub watchdog: Option<&'a Watchdog>,
    /// The child's stdout goes to optml's stderr (stdout carries a JSON report).
    pub stdout_to_stderr: bool,
}

/// One host's run.
#[derive(Debug)]
pub struct HostRun {
    pub name: String,
    /// The host's /opt/ml folder.
    pub base: PathBuf,
    pub outcome: Outcome,
    pub marker: Result<Marker, String>,
    /// The command line as the failure message quotes it.
    pub command_line: String,
}

/// What every host's environment is built from alike.
struct Shared {
    hyperparameters: Hyperparameters,
    input_data_config: Py,
}

/// The environment and argv for `host`, plus the command line as text.
fn prepare(launch: &Launch, shared: &Shared, host: &str, base: &Path) -> Result<(Command, String), String> {
    let base_str = base.to_str().ok_or_else(|| format!("{}: the sandbox path is not UTF-8", base.display()))?;
    let resource_config = launch.spec.resource_config(host);
    let inputs = HostInputs {
        base_dir: base_str,
        resource_config: &resource_config,
        input_data_config: &shared.input_data_config,
        hyperparameters: &shared.hyperparameters,
        machine: launch.machine,
        job_name: launch.job_name,
    };
    let lookup: &dyn Lookup = &ProcessEnv;
    let env = script_env(&inputs, lookup);
    let (program, fixed_args) = launch.command.split_first().ok_or("no command given")?;
    let mut args: Vec<OsString> = fixed_args.to_vec();
    args.extend(env.args.iter().map(OsString::from));
    let mut command = match launch.isolation {
        Isolation::Namespace => wrap(base, program, &args).map_err(|err| format!("cannot find the optml binary: {err}"))?,
        _ => {
            let mut direct = Command::new(program);
            direct.args(&args);
            direct
        }
    };
    for (name, value) in platform_vars(base, launch.job_name, lookup).into_iter().chain(env.vars) {
        if name.contains(['=', '\0']) || value.contains('\0') {
            return Err(format!("cannot set the environment variable {name:?}: it holds `=` or a NUL byte (from a hyperparameter or channel name)"));
        }
        command.env(name, value);
    }
    let mut line = vec![program.to_string_lossy().into_owned()];
    line.extend(args.iter().map(|a| a.to_string_lossy().into_owned()));
    Ok((command, line.join(" ")))
}

/// Run every host of `bases` (host name, /opt/ml folder) concurrently.
pub fn run_all(launch: &Launch, bases: &[(String, PathBuf)]) -> Result<Vec<HostRun>, String> {
    let shared = Shared { hyperparameters: launch.spec.hyperparameters.decode(), input_data_config: launch.spec.input_data_config() };
    let prepared: Vec<(Command, String)> = bases.iter().map(|(host, base)| prepare(launch, &shared, host, base)).collect::<Result<_, _>>()?;
    let several = bases.len() > 1;
    let signals = StopSignals::catch();
    let runs = thread::scope(|scope| {
        let handles: Vec<_> = prepared
            .into_iter()
            .zip(bases)
            .map(|((command, command_line), (host, base))| {
                let route = OutputRoute { stdout_to_stderr: launch.stdout_to_stderr, label: several.then(|| host.clone()) };
                let limits = launch.limits;
                let watchdog = launch.watchdog;
                scope.spawn(move || {
                    let outcome = supervise(command, &route, limits, watchdog);
                    let marker = record(&base.join("output"), &outcome, &command_line).map_err(|err| format!("{}: {err}", base.join("output").display()));
                    HostRun { name: host.clone(), base: base.clone(), outcome, marker, command_line }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    drop(signals);
    runs.into_iter().map(|r| r.map_err(|_| "a host's supervisor thread panicked".to_string())).collect()
}
