//! Command-line arguments. Doc comments are the help text; no logic lives here.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::ExitStatus;
use crate::harness::sandbox::ChannelMode;
use crate::harness::OutputArchive;
use crate::report::sanitize::{sanitize, sanitize_lines};
use crate::report::Format;

/// The exit-code contract, shown in `--help`.
const EXIT_CODES: &str = "Exit status: 0 no error finding, 1 error findings (or a mismatch, or the script failed), 2 optml could not do its job (usage, unreadable input, invalid rule file).";

#[derive(Debug, Parser)]
#[command(name = "optml", version, about = "Layout conformance linter and test harness for SageMaker /opt/ml trees and archives", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parse the process's arguments. Help and version go to stdout through [`crate::stdio`]
    /// (a failed write is exit 2, as for any report). A usage error quotes the arguments: it
    /// is rendered from the arguments made inert (a value holding `\n::error::` or a bidi
    /// override is shown escaped), and exits 2.
    pub fn from_args() -> Result<Cli, ExitStatus> {
        let error = match Cli::try_parse() {
            Ok(cli) => return Ok(cli),
            Err(error) => error,
        };
        if matches!(error.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) {
            crate::stdio::out(&error.render().to_string());
            return Err(crate::stdio::conclude(ExitStatus::Clean));
        }
        let inert_args = std::env::args_os().map(|arg| sanitize(&arg.to_string_lossy()).into_owned());
        // The same command line, shown escaped, fails the same way; in the rare case where the
        // escaped values happen to parse, the original message is shown as one escaped line.
        let message = match Cli::try_parse_from(inert_args) {
            Err(inert) => sanitize_lines(&inert.render().to_string()).into_owned(),
            Ok(_) => format!("{}\n", sanitize(error.render().to_string().trim_end())),
        };
        crate::stdio::err(&message);
        Err(ExitStatus::Error)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check /opt/ml trees, model.tar.gz / output.tar.gz archives and job folders.
    Check(CheckArgs),
    /// Check every artifact under a folder or S3 prefix (model.tar.gz, output.tar.gz, source bundles, job
    /// folders) concurrently: one JSON Lines record per artifact, or a summary (docs/audit.md).
    Audit(AuditArgs),
    /// Explain a rule (or all rules) of the loaded packs.
    Rule(RuleArgs),
    /// List every loaded rule: code, name, pack, severity after overrides, summary.
    Rules(RulesArgs),
    /// Write a commented starter optml.toml, or add [tool.optml] to an existing pyproject.toml.
    Init(InitArgs),
    /// List the built-in rule packs.
    Packs,
    /// Record an input as a golden manifest; review, accept or reject pending snapshots.
    Snapshot(SnapshotArgs),
    /// Compare two of: tree, archive, manifest (exit 0 equal, 1 different, 2 error).
    Diff(DiffArgs),
    /// Write a corrected copy of a model archive: the mechanical repairs check findings name.
    Fix(FixArgs),
    /// Run a training entry point in an /opt/ml sandbox as SageMaker would, then pack and check
    /// what it produced: `optml run [OPTIONS] -- COMMAND [ARGS...]`. With a --format other than
    /// human, the command's stdout goes to stderr.
    Run(Box<RunArgs>),
    /// Pack a folder into a deterministic tar.gz (model.tar.gz, output.tar.gz), atomically.
    Pack(PackArgs),
    /// Internal: enter a private mount namespace with SANDBOX at /opt/ml, then exec COMMAND.
    #[command(name = "__isolate", hide = true)]
    Isolate(IsolateArgs),
    /// Internal: kill the job and delete its temp run folder DIR if optml dies (its stdin ends
    /// without `done`).
    #[command(name = "__watchdog", hide = true)]
    Watchdog(WatchdogArgs),
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
    /// A source bundle (sourcedir.tar.gz) or code folder: the contents of /opt/ml/code.
    Code,
    /// A container image: `docker save` output or an OCI layout, tarred or a folder (check only).
    Image,
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

/// Where settings come from: the config file (docs/configuration.md).
#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// Read settings from this file (optml.toml, or a pyproject.toml with [tool.optml]) and do not
    /// search for one. Default: the nearest optml.toml or pyproject.toml with [tool.optml], from
    /// the current folder up.
    #[arg(long, value_name = "FILE", conflicts_with = "isolated")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub discovery: DiscoveryArgs,
}

/// Config-file discovery, for commands whose `--config` means something else (snapshot, diff).
#[derive(Debug, Args, Clone, Default)]
pub struct DiscoveryArgs {
    /// Ignore every config file: built-in defaults and flags only.
    #[arg(long)]
    pub isolated: bool,
    /// Say which config file was used (on stderr).
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// Which rules to load and run. Flags beat the config file, which beats the built-in defaults.
#[derive(Debug, Args, Clone, Default)]
pub struct RuleSelection {
    /// Also apply this built-in rule pack (repeatable), next to the default packs: the training
    /// pack, plus sagemaker-model and `auto` (the serving pack that fits each model) for inputs
    /// that hold a model. Naming a serving pack turns `auto` off.
    #[arg(long = "pack", value_name = "NAME")]
    pub packs: Vec<String>,
    /// Also load this rule file (repeatable), next to the packs.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Load only the packs named with --pack (and `packs` in config), not the defaults.
    #[arg(long)]
    pub no_default_packs: bool,
    /// Run only these rules: codes or prefixes (SM4, MDL), comma-separated or repeated. Replaces
    /// `select` in the config file.
    #[arg(long, value_name = "CODES", value_delimiter = ',')]
    pub select: Vec<String>,
    /// Run these rules too: codes or prefixes, added to `select`.
    #[arg(long, value_name = "CODES", value_delimiter = ',')]
    pub extend_select: Vec<String>,
    /// Do not run these rules: codes or prefixes, added to `ignore` in the config file. The
    /// longest matching code or prefix of select and ignore decides.
    #[arg(long, value_name = "CODES", value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// A variable of the environment the model will be deployed with, e.g. HF_MODEL_ID=gpt2
    /// (repeatable); rules that depend on the container's environment read it.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
}

/// Which findings fail the run, and how much is printed.
#[derive(Debug, Args, Clone, Default)]
pub struct ExitArgs {
    /// Exit 1 when a finding of this severity or worse is reported. Default: error.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,
    /// Exit 0 even when findings are reported (2 still means optml could not do its job).
    #[arg(long)]
    pub exit_zero: bool,
    /// Print the findings only: no `checking` headers and no summary line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// The settings flags of every command that checks inputs (check, run, fix).
#[derive(Debug, Args, Clone, Default)]
pub struct CheckSettings {
    #[command(flatten)]
    pub selection: RuleSelection,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub exit: ExitArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub s3: S3Args,
}

/// Where s3:// inputs are read from (docs/s3.md). Each is also a config key (`s3-endpoint-url`,
/// `s3-profile`, `s3-region`); the standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_PROFILE`,
/// `AWS_REGION`) apply when neither is given.
#[derive(Debug, Args, Clone, Default)]
pub struct S3Args {
    /// An S3-compatible endpoint for s3:// inputs (path-style addressing), e.g. http://127.0.0.1:9000.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// The AWS shared-config profile whose credentials and region read s3:// inputs.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The AWS region of s3:// inputs (default: the profile's, or AWS_REGION).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

/// The settings flags of the commands whose report is their output (check, run).
#[derive(Debug, Args, Clone, Default)]
pub struct ReportSettings {
    #[command(flatten)]
    pub check: CheckSettings,
    /// Output format. Default: `format` in the config file, else human.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the report to FILE (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// A severity threshold for `--fail-on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
}

/// Limits on the work one input may cause (docs/security.md). Each is also a config key
/// (`max-entries`, ...); a flag wins over the config file.
#[derive(Debug, Args, Clone, Default)]
pub struct LimitArgs {
    /// Stop reading an archive or tree after N entries, with a finding [default: 1000000].
    #[arg(long, value_name = "N")]
    pub max_entries: Option<u64>,
    /// Stop reading an archive that inflates past SIZE (e.g. 500GiB), with a finding [default: 256GiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_limit_size)]
    pub max_bytes: Option<u64>,
    /// Stop reading an archive that inflates more than N:1 once past 16 MiB, with a finding [default: 200].
    #[arg(long, value_name = "N")]
    pub max_ratio: Option<u64>,
    /// Report a member name longer than N bytes instead of reading it [default: 4096].
    #[arg(long, value_name = "N")]
    pub max_path_bytes: Option<u64>,
    /// Report a member name of more than N components instead of reading it [default: 1024].
    #[arg(long, value_name = "N")]
    pub max_path_depth: Option<u64>,
}

fn parse_limit_size(text: &str) -> Result<u64, String> {
    crate::units::parse_size(text).ok_or_else(|| format!("expected a size such as 100GiB or 5000000, got `{text}`"))
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Inputs: an /opt/ml tree, an archive (.tar, .tar.gz, .tgz) or a job folder. Default:
    /// `inputs` in the config file, else /opt/ml.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Read every input as this role instead of detecting it.
    #[arg(long = "as", value_enum, value_name = "ROLE")]
    pub role: Option<RoleArg>,
    /// The platform (`linux/amd64`, `linux/arm64/v8`) to check when an image index has several.
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// The image (`NAME:TAG`) to check when an image archive holds several; default: all.
    #[arg(long, value_name = "NAME:TAG")]
    pub image: Option<String>,
    /// For an image: where the training code arrives at run time when the estimator ships a
    /// source_dir (a folder, or the uploaded sourcedir.tar.gz); SAGEMAKER_PROGRAM is looked for there.
    #[arg(long, value_name = "DIR|TAR.GZ")]
    pub code: Option<PathBuf>,
    #[command(flatten)]
    pub settings: ReportSettings,
    /// Job phase: a running job has no status marker yet.
    #[arg(long, value_enum, default_value = "finished")]
    pub phase: PhaseArg,
    /// Color in human output.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorArg,
    /// Also compare the input closed-world against this golden manifest (docs/snapshots.md).
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// Overwrite the golden manifest from the input instead of writing FILE.new (never under CI).
    #[arg(long, requires = "snapshot")]
    pub update_snapshots: bool,
    /// Fail only on findings this baseline does not list; report how many it matched and which
    /// of its entries no longer occur (docs/ci.md).
    #[arg(long, value_name = "FILE", conflicts_with = "write_baseline")]
    pub baseline: Option<PathBuf>,
    /// Record the current findings as a baseline in FILE (sorted, atomically), then exit 0
    /// unless an input could not be read.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
}

/// The output of `optml audit`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// A summary table: artifacts per verdict, top rule codes, worst offenders.
    #[default]
    Human,
    /// One JSON record per artifact and line, sorted by artifact (docs/audit.md).
    Jsonl,
    /// check's JSON document over every artifact.
    Json,
    /// SARIF 2.1.0 over every artifact.
    Sarif,
    /// JUnit XML: a testsuite per artifact.
    Junit,
}

/// One part of a sharded audit: `i/N`, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    let bad = || format!("expected i/N with 1 <= i <= N (e.g. 2/5), got `{text}`");
    let (index, count) = text.split_once('/').ok_or_else(bad)?;
    let (index, count): (u64, u64) = (index.trim().parse().map_err(|_| bad())?, count.trim().parse().map_err(|_| bad())?);
    if index == 0 || count == 0 || index > count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(jobs) if (1..=1024).contains(&jobs) => Ok(jobs),
        _ => Err(format!("expected a number of concurrent checks from 1 to 1024, got `{text}`")),
    }
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The folder, or `s3://bucket/prefix/`, to audit (every artifact below it).
    #[arg(value_name = "PREFIX_OR_DIR")]
    pub target: String,
    #[arg(long, value_enum, default_value = "human")]
    pub format: AuditFormat,
    /// Audit only part i of N (1-based): a stable hash of each artifact's path below the
    /// target decides its part, so the N parts are disjoint and together are the whole.
    #[arg(long, value_name = "i/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Check this many artifacts at once [default: 4 x the cores].
    #[arg(long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Record each artifact's identity and record in FILE (atomically, as the audit goes); a
    /// re-run checks only the artifacts that changed and re-emits the stored records of the rest.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Write the report to FILE (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub settings: CheckSettings,
    /// Job phase: a running job has no status marker yet.
    #[arg(long, value_enum, default_value = "finished")]
    pub phase: PhaseArg,
}

#[derive(Debug, Args)]
pub struct FixArgs {
    /// The archive to fix (.tar, .tar.gz, .tgz); it is only read.
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// Where to write the fixed archive (gzip-compressed tar), atomically.
    #[arg(short = 'o', long = "output", value_name = "FIXED.tar.gz")]
    pub output: PathBuf,
    #[command(flatten)]
    pub settings: CheckSettings,
    /// Print what would change and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Color in the report on the fixed archive.
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
    /// The rule code or name, e.g. SM101 or model-in-code-dir.
    #[arg(value_name = "CODE|NAME", required_unless_present = "all")]
    pub code: Option<String>,
    /// Every rule of the loaded packs.
    #[arg(long)]
    pub all: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: RuleFormat,
    #[command(flatten)]
    pub selection: RuleSelection,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// One line per rule: code, name, pack, severity, summary.
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[arg(long, value_enum, default_value = "text")]
    pub format: ListFormat,
    #[command(flatten)]
    pub selection: RuleSelection,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to write the config in.
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// `NAME=VALUE` (the value may be empty).
fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{text}`")),
    }
}

/// What a manifest records (docs/snapshots.md).
#[derive(Debug, Args, Clone, Default)]
pub struct RecordArgs {
    /// Fields to record, comma-separated, from type,size,link,mode,sha256 (default type,size,link);
    /// `+sha256` or `-link` edit the default.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub fields: Option<String>,
    /// Redaction preset (repeatable): tfevents, algo-hosts, job-timestamps, checkpoint-shards, sagemaker.
    #[arg(long, value_name = "PRESET")]
    pub redact: Vec<String>,
    /// A file of manifest header directives (/fields, /redact, /replace, /size, /budget).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SnapshotArgs {
    #[command(subcommand)]
    pub action: Option<SnapshotAction>,
    /// The input to record: an /opt/ml tree or any folder, an archive, a job folder, or an
    /// s3:// key or prefix (docs/s3.md).
    #[arg(value_name = "INPUT", required = true)]
    pub input: Option<PathBuf>,
    /// Write the manifest to FILE (atomically) instead of stdout. An existing FILE keeps its
    /// header unless --fields, --redact or --config is given.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read the input as this role instead of detecting it.
    #[arg(long = "as", value_enum, value_name = "ROLE")]
    pub role: Option<RoleArg>,
    /// For an image input: the image folder to record, /opt/ml or one below it (default /opt/ml).
    #[arg(long, value_name = "PATH")]
    pub under: Option<String>,
    #[command(flatten)]
    pub record: RecordArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub discovery: DiscoveryArgs,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotAction {
    /// Go through pending FILE.new snapshots one by one: accept, reject or skip (needs a terminal).
    Review(PendingArgs),
    /// Accept pending snapshots: FILE.new replaces FILE.
    Accept(PendingArgs),
    /// Reject pending snapshots: FILE.new is deleted.
    Reject(PendingArgs),
}

#[derive(Debug, Args)]
pub struct PendingArgs {
    /// Golden files (or their .new files). Default: every pending snapshot below the current folder.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The expected side: a tree, an archive or a manifest.
    #[arg(value_name = "A")]
    pub a: PathBuf,
    /// The actual side: a tree, an archive or a manifest.
    #[arg(value_name = "B")]
    pub b: PathBuf,
    /// Read archives and folders as this role instead of detecting it.
    #[arg(long = "as", value_enum, value_name = "ROLE")]
    pub role: Option<RoleArg>,
    /// For an image input: the image folder to record, /opt/ml or one below it (default /opt/ml).
    #[arg(long, value_name = "PATH")]
    pub under: Option<String>,
    #[command(flatten)]
    pub record: RecordArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub discovery: DiscoveryArgs,
    #[arg(long, value_enum, default_value = "human")]
    pub format: DiffFormat,
    /// Color in human output.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// A unified diff of the manifests, notes and a verdict line.
    Human,
    /// One JSON document listing each difference.
    Json,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run folder: each host's /opt/ml is DIR/algo-N and the archives go to DIR/artifacts. It
    /// must be empty or absent. Default: a temp folder, deleted afterwards unless --keep.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Keep the temp run folder.
    #[arg(long)]
    pub keep: bool,
    /// Hyperparameter, stored verbatim as a hyperparameters.json string (repeatable; later wins).
    #[arg(long = "hp", value_name = "KEY=VALUE")]
    pub hp: Vec<String>,
    /// A JSON object of hyperparameters; non-string values are JSON-encoded as the SageMaker
    /// SDK does. --hp flags override it.
    #[arg(long, value_name = "FILE")]
    pub hyperparameters: Option<PathBuf>,
    /// Input channel (File mode): a folder or file copied to input/data/NAME (repeatable).
    #[arg(long = "channel", value_name = "NAME=PATH")]
    pub channels: Vec<String>,
    /// How channel data reaches input/data/NAME.
    #[arg(long, value_enum, default_value = "copy")]
    pub channel_mode: ChannelMode,
    /// CheckpointConfig.S3Uri: writes checkpointconfig.json and creates checkpoints/.
    #[arg(long, value_name = "S3URI")]
    pub checkpoints: Option<String>,
    /// Number of hosts (algo-1..algo-N), run at the same time, each in its own sandbox.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub hosts: u16,
    /// current_instance_type in resourceconfig.json.
    #[arg(long, default_value = "ml.m5.xlarge", value_name = "TYPE")]
    pub instance_type: String,
    /// TRAINING_JOB_NAME.
    #[arg(long, default_value = "optml-run", value_name = "NAME")]
    pub job_name: String,
    /// Do not run the command in a private mount namespace with the sandbox at /opt/ml.
    #[arg(long)]
    pub no_isolate: bool,
    /// Seconds between SIGTERM and SIGKILL when the command is stopped (docker stop -t).
    #[arg(long, default_value = "120", value_name = "SECONDS", value_parser = crate::commands::run::seconds)]
    pub stop_timeout: std::time::Duration,
    /// Stop the command after this many seconds (MaxRuntimeInSeconds).
    #[arg(long, value_name = "SECONDS", value_parser = crate::commands::run::seconds)]
    pub max_run: Option<std::time::Duration>,
    /// output.tar.gz flavour: cloud packs output/data, local all of output/ (SDK local mode).
    #[arg(long, value_enum, default_value = "cloud")]
    pub output_archive: OutputArchive,
    /// gzip level of the archives.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub level: u32,
    /// Store what symlinks point to in the archives instead of the links.
    #[arg(long)]
    pub dereference: bool,
    /// Also compare the archives closed-world against this golden manifest: DIR/artifacts read
    /// as a job folder (`model.tar.gz/...`, `output.tar.gz/...`; docs/snapshots.md).
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// Overwrite the golden manifest instead of writing FILE.new (never under CI).
    #[arg(long, requires = "snapshot")]
    pub update_snapshots: bool,
    #[command(flatten)]
    pub settings: ReportSettings,
    /// Color in human output.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorArg,
    /// The entry point and its arguments; hyperparameters are appended as the toolkit does.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct PackArgs {
    /// The folder to pack: its contents become the archive's top level.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The archive to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// gzip level.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub level: u32,
    /// Store what symlinks point to instead of the links; needed when a link leaves DIR.
    #[arg(long)]
    pub dereference: bool,
}

#[derive(Debug, Args)]
pub struct WatchdogArgs {
    pub remove: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IsolateArgs {
    /// Only check that the namespace can be entered.
    #[arg(long)]
    pub probe: bool,
    pub sandbox: PathBuf,
    #[arg(last = true)]
    pub command: Vec<OsString>,
}
