//! One thin orchestrator per subcommand.

pub mod audit;
pub mod check;
pub mod diff;
pub mod fix;
pub mod init;
pub mod pack;
pub mod rule;
pub mod run;
pub mod snapshot;
