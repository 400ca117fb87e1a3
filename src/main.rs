use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = optml::cli::Cli::parse();
    optml::run(cli).into()
}
