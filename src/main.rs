use std::process::ExitCode;

fn main() -> ExitCode {
    match optml::cli::Cli::from_args() {
        Ok(cli) => optml::run(cli).into(),
        Err(status) => status.into(),
    }
}
