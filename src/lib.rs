//! optml: a layout conformance linter and test harness for SageMaker /opt/ml trees and archives.
//!
//! Data flows one way: `source` (tree, archive, job folder -> entries) -> `layout` (zones)
//! -> `facts` -> `engine` (declarative rules) -> `finding` -> `report`.

pub mod atomic;
pub mod audit;
pub mod baseline;
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
pub mod image;
pub mod layout;
pub mod located;
pub mod open;
pub mod parts;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod settings;
pub mod snapshot;
pub mod source;
pub mod stdio;
pub mod tarwriter;
pub mod units;

use cli::{Cli, Command};
use exit::ExitStatus;

/// Run a parsed command line; errors are rendered to stderr and become exit status 2.
pub fn run(cli: Cli) -> ExitStatus {
    let result = match &cli.command {
        Command::Check(args) => commands::check::run(args),
        Command::Audit(args) => commands::audit::run(args),
        Command::Rule(args) => commands::rule::run(args),
        Command::Rules(args) => commands::rule::list(args),
        Command::Init(args) => commands::init::run(args),
        Command::Packs => commands::rule::packs(),
        Command::Snapshot(args) => commands::snapshot::run(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Fix(args) => commands::fix::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Pack(args) => commands::pack::run(args),
        // Enters the namespace and execs the command: returns only on failure.
        Command::Isolate(args) => std::process::exit(i32::from(harness::isolate::shim_main(args.probe, &args.sandbox, &args.command))),
        Command::Watchdog(args) => std::process::exit(i32::from(harness::watchdog::watchdog_main(args.remove.as_deref()))),
    };
    let status = match result {
        Ok(status) => status,
        Err(report) => {
            stdio::err(&render_error(&report));
            ExitStatus::Error
        }
    };
    stdio::conclude(status)
}

/// An error as miette renders it, with what untrusted text it quotes (paths, member names)
/// made inert: miette indents every line it draws, so only the characters need escaping. No
/// color, so that every escape sequence left in the text is one to neutralise.
fn render_error(report: &miette::Report) -> String {
    let mut text = String::new();
    let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor()).with_width(80).with_links(false);
    // Rendering into a String cannot fail.
    let _ = handler.render_report(&mut text, report.as_ref());
    let mut text = report::sanitize::sanitize_lines(&text).into_owned();
    text.push('\n');
    text
}
