//! Command-line arguments. Doc comments are the help text; no logic lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::Format;

#[derive(Debug, Parser)]
#[command(name = "optml", version, about = "Layout conformance linter and test harness for SageMaker /opt/ml trees and archives")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check /opt/ml trees, model.tar.gz / output.tar.gz archives and job folders.
    Check(CheckArgs),
    /// Explain a rule (or all rules) of the loaded packs.
    Rule(RuleArgs),
    /// List the built-in rule packs.
    Packs,
}

/// How to read an input that is not a full /opt/ml tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// The contents of /opt/ml/model (model.tar.gz or a model folder).
    Model,
    /// output.tar.gz, or an output folder.
    Output,
    /// A whole /opt/ml tree.
    OptMl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PhaseArg {
    /// The job has ended: status markers are required.
    Finished,
    /// The job is still running: status markers are not expected yet.
    Running,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// Which rules to load.
#[derive(Debug, Args, Clone, Default)]
pub struct RuleSelection {
    /// Built-in rule pack to apply (repeatable); `auto` picks the serving pack that fits each
    /// model from its content. Default: sagemaker-training, plus sagemaker-model and `auto` for
    /// inputs that hold a model (model.tar.gz, a model folder, a job's model artifact).
    #[arg(long = "pack", value_name = "NAME")]
    pub packs: Vec<String>,
    /// Extra rule file to load (repeatable).
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Inputs: an /opt/ml tree, an archive (.tar, .tar.gz, .tgz) or a job folder. Default: /opt/ml.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Read every input as this role instead of detecting it.
    #[arg(long = "as", value_enum, value_name = "ROLE")]
    pub role: Option<RoleArg>,
    #[command(flatten)]
    pub selection: RuleSelection,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Job phase: a running job has no status marker yet.
    #[arg(long, value_enum, default_value = "finished")]
    pub phase: PhaseArg,
    /// A variable of the environment the model will be deployed with, e.g. HF_MODEL_ID=gpt2
    /// (repeatable); rules that depend on the container's environment read it.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Do not report this rule code (repeatable).
    #[arg(long = "ignore", value_name = "CODE")]
    pub ignore: Vec<String>,
    /// Color in human output.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RuleFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct RuleArgs {
    /// The rule code, e.g. SM101.
    #[arg(value_name = "CODE", required_unless_present = "all")]
    pub code: Option<String>,
    /// Every rule of the loaded packs.
    #[arg(long)]
    pub all: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: RuleFormat,
    #[command(flatten)]
    pub selection: RuleSelection,
}

/// `NAME=VALUE` (the value may be empty).
fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{text}`")),
    }
}
