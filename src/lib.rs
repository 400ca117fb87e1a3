//! optml: a layout conformance linter and test harness for SageMaker /opt/ml trees and archives.
//!
//! Data flows one way: `source` (tree, archive, job folder -> entries) -> `layout` (zones)
//! -> `facts` -> `engine` (declarative rules) -> `finding` -> `report`.

pub mod atomic;
pub mod cli;
pub mod commands;
pub mod detect;
pub mod engine;
pub mod entry;
pub mod exit;
pub mod facts;
pub mod fields;
pub mod finding;
pub mod fix;
pub mod glob;
pub mod harness;
pub mod layout;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod snapshot;
pub mod source;
pub mod tarwriter;
pub mod units;

use cli::{Cli, Command};
use exit::ExitStatus;

/// Run a parsed command line; errors are rendered to stderr and become exit status 2.
pub fn run(cli: Cli) -> ExitStatus {
    let result = match &cli.command {
        Command::Check(args) => commands::check::run(args),
        Command::Rule(args) => commands::rule::run(args),
        Command::Packs => commands::rule::packs(),
        Command::Snapshot(args) => commands::snapshot::run(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Fix(args) => commands::fix::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Pack(args) => commands::pack::run(args),
        // Enters the namespace and execs the command: returns only on failure.
        Command::Isolate(args) => std::process::exit(i32::from(harness::isolate::shim_main(args.probe, &args.sandbox, &args.command))),
    };
    match result {
        Ok(status) => status,
        Err(report) => {
            eprintln!("{report:?}");
            ExitStatus::Error
        }
    }
}
