//! The settings stage: command-line flags (low level, as clap parsed them) and the config file
//! become one validated [`Settings`] value, merged in this order: built-in defaults, then the
//! config file, then flags. Every command that reads inputs builds one; nothing else looks at
//! the config file or the selection flags. docs/configuration.md documents the keys.

pub mod config;
pub mod select;

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use globset::GlobSet;
use miette::Report as MietteReport;

use crate::cli::{CheckSettings, ConfigArgs, DiscoveryArgs, ExitArgs, FailOn, LimitArgs, ReportSettings, RuleSelection, S3Args};
use crate::engine::builtin::{self, AUTO, DEFAULT_PACK, MODEL_PACK, ON_DEMAND, PACKS};
use crate::engine::load::{builtin_texts, load, read_user_pack};
use crate::engine::{Applies, PathIgnore, Ruleset};
use crate::exit::ExitStatus;
use crate::finding::{Severity, Summary};
use crate::glob::compile_set;
use crate::report::Format;
use crate::source::s3::S3Settings;
use crate::source::Limits;
use config::ConfigFile;
use select::{longest, nearest, selected, Origin, Selector};

/// What a rule's severity becomes: another severity, or `off` (not run).
pub type Override = Option<Severity>;

/// The flags a command was given, before validation. Commands without some of them leave them
/// at their defaults.
#[derive(Default)]
pub struct Flags<'a> {
    pub config: Option<&'a ConfigArgs>,
    /// For commands whose `--config` means something else (snapshot, diff).
    pub discovery: Option<&'a DiscoveryArgs>,
    pub selection: Option<&'a RuleSelection>,
    pub exit: Option<&'a ExitArgs>,
    pub inputs: &'a [PathBuf],
    pub format: Option<Format>,
    pub output: Option<&'a Path>,
    pub limits: Option<&'a LimitArgs>,
    pub s3: Option<&'a S3Args>,
    /// `--under PATH` of snapshot and diff: the image folder to record.
    pub under: Option<&'a str>,
}

impl<'a> Flags<'a> {
    /// The flags of a command that checks inputs.
    pub fn check(args: &'a CheckSettings) -> Flags<'a> {
        Flags {
            config: Some(&args.config),
            selection: Some(&args.selection),
            exit: Some(&args.exit),
            limits: Some(&args.limits),
            s3: Some(&args.s3),
            ..Flags::default()
        }
    }

    /// The flags of a command that records or compares an input without checking it
    /// (snapshot, diff): where the config is, limits, where s3:// inputs are, `--under`.
    pub fn read(discovery: &'a DiscoveryArgs, limits: &'a LimitArgs, s3: &'a S3Args, under: Option<&'a str>) -> Flags<'a> {
        Flags { discovery: Some(discovery), limits: Some(limits), s3: Some(s3), under, ..Flags::default() }
    }

    /// The flags of a command whose report on `inputs` is its output.
    pub fn report(args: &'a ReportSettings, inputs: &'a [PathBuf]) -> Flags<'a> {
        Flags { inputs, format: args.format, output: args.output.as_deref(), ..Flags::check(&args.check) }
    }
}

/// Everything a command needs to know about what to check and how to report it, resolved once.
#[derive(Debug)]
pub struct Settings {
    /// The config file in effect, if any.
    pub config: Option<ConfigFile>,
    /// Packs named by the user (config `packs`, `--pack`); with `default_packs`, added to them.
    pub packs: Vec<String>,
    /// Whether the built-in defaults (training, plus sagemaker-model and `auto` for models) load.
    pub default_packs: bool,
    /// Extra rule files, config-relative paths already resolved.
    pub rule_files: Vec<PathBuf>,
    pub select: Vec<Selector>,
    pub extend_select: Vec<Selector>,
    pub ignore: Vec<Selector>,
    pub severity: Vec<(Selector, Override)>,
    /// `[per-path-ignores]`: compiled globs and the selectors they exempt.
    pub per_path_ignores: Vec<(GlobSet, Vec<Selector>)>,
    /// Findings of this severity or worse fail the run.
    pub fail_on: Severity,
    pub exit_zero: bool,
    pub quiet: bool,
    /// The deployment environment (`env` in config, `--env` flags win per name).
    pub env: Vec<(String, String)>,
    /// The inputs: flags, else `inputs` in config (config-relative), else /opt/ml.
    pub inputs: Vec<PathBuf>,
    pub format: Format,
    /// Where the report goes (atomically); `None` is stdout.
    pub output: Option<PathBuf>,
    /// A baseline of known findings (`baseline` in config), config-relative path resolved.
    pub baseline: Option<PathBuf>,
    /// The base URL rule documentation is published at (`docs-url` in config).
    pub docs_url: Option<String>,
    /// How much work one input may cause (`max-*` in config, `--max-*` flags).
    pub limits: Limits,
    /// Where s3:// inputs are read from (`s3-*` in config, `--endpoint-url`, `--profile`, `--region`).
    pub s3: S3Settings,
    /// The folder of an image that snapshot and diff record (`--under`), without the leading
    /// `/`: /opt/ml or below, the only part of an image optml keeps (docs/images.md).
    pub image_under: Vec<u8>,
}

impl From<FailOn> for Severity {
    fn from(fail_on: FailOn) -> Severity {
        match fail_on {
            FailOn::Error => Severity::Error,
            FailOn::Warning => Severity::Warning,
            FailOn::Info => Severity::Info,
        }
    }
}

fn located(err: crate::located::Located) -> MietteReport {
    MietteReport::new(err)
}

impl Settings {
    /// Find and read the config file, validate it, and merge it with the flags.
    pub fn resolve(flags: Flags<'_>) -> Result<Settings, MietteReport> {
        let discovery = flags.config.map(|c| &c.discovery).or(flags.discovery).cloned().unwrap_or_default();
        let explicit = flags.config.and_then(|c| c.config.as_deref());
        let config = match explicit {
            _ if discovery.isolated => None,
            Some(path) => Some(config::read(path)?),
            None => {
                let cwd = std::env::current_dir().map_err(|err| miette::miette!(code = "optml::config", "cannot read the current folder: {err}"))?;
                config::discover(&cwd)?
            }
        };
        if discovery.verbose {
            match (&config, discovery.isolated) {
                (Some(file), _) => crate::stdio::err(&format!("optml: using config file {}\n", crate::report::sanitize::shown(&file.path))),
                (None, true) => crate::stdio::err("optml: --isolated: no config file read\n"),
                (None, false) => crate::stdio::err("optml: no config file found (optml.toml, or [tool.optml] in pyproject.toml)\n"),
            }
        }
        let mut settings = Settings {
            config: None,
            packs: Vec::new(),
            default_packs: true,
            rule_files: Vec::new(),
            select: Vec::new(),
            extend_select: Vec::new(),
            ignore: Vec::new(),
            severity: Vec::new(),
            per_path_ignores: Vec::new(),
            fail_on: Severity::Error,
            exit_zero: false,
            quiet: false,
            env: Vec::new(),
            inputs: Vec::new(),
            format: Format::Human,
            output: None,
            baseline: None,
            docs_url: None,
            limits: Limits::default(),
            s3: S3Settings::default(),
            image_under: b"opt/ml".to_vec(),
        };
        if let Some(file) = &config {
            settings.apply_file(file)?;
        }
        settings.apply_flags(&flags);
        // s3:// inputs of this run share one client built from these.
        crate::source::s3::configure(settings.s3.clone());
        if let Some(under) = flags.under {
            settings.image_under = image_folder(under)?;
        }
        settings.config = config;
        Ok(settings)
    }

    /// The config file's values, validated at their spans.
    fn apply_file(&mut self, file: &ConfigFile) -> Result<(), MietteReport> {
        let values = &file.values;
        let selectors =
            |list: &[toml::Spanned<String>]| -> Vec<Selector> { list.iter().map(|s| Selector::new(s.get_ref(), Origin::Config(s.span()))).collect() };
        if let Some(packs) = &values.packs {
            self.default_packs = false;
            for pack in packs {
                if pack.get_ref() != AUTO && builtin::find(pack.get_ref()).is_none() {
                    let available = PACKS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ");
                    let help = format!("built-in packs: auto, {available}; load your own rule files with `rules = [...]`");
                    return Err(located(file.problem(pack.span(), format!("unknown pack `{}`", pack.get_ref()), "no such pack", Some(help))));
                }
                self.packs.push(pack.get_ref().clone());
            }
        }
        for path in &values.rules {
            let resolved = file.resolve(path.get_ref());
            if !resolved.is_file() {
                let message = format!("rule file `{}` not found (looked for {})", path.get_ref(), resolved.display());
                return Err(located(file.problem(path.span(), message, "no such file", Some("paths in a config file are relative to its folder".into()))));
            }
            self.rule_files.push(resolved);
        }
        self.select = selectors(&values.select);
        self.extend_select = selectors(&values.extend_select);
        self.ignore = selectors(&values.ignore);
        for (key, value) in &values.severity {
            let level = match value.get_ref().as_str() {
                "off" => None,
                other => match Severity::parse(other) {
                    Some(severity) => Some(severity),
                    None => {
                        let message = format!("unknown severity `{other}` for {}", key.get_ref());
                        return Err(located(file.problem(value.span(), message, "not a severity", Some("expected one of: error, warning, info, off".into()))));
                    }
                },
            };
            self.severity.push((Selector::new(key.get_ref(), Origin::Config(key.span())), level));
        }
        for (glob, codes) in &values.per_path_ignores {
            let globs = compile_set(&[glob.get_ref()])
                .map_err(|err| located(file.problem(glob.span(), format!("invalid glob `{}`", glob.get_ref()), "this glob", Some(err.kind().to_string()))))?;
            self.per_path_ignores.push((globs, selectors(codes)));
        }
        if let Some(value) = &values.fail_on {
            self.fail_on = Severity::parse(value.get_ref()).ok_or_else(|| {
                let message = format!("unknown severity `{}` for fail-on", value.get_ref());
                located(file.problem(value.span(), message, "not a severity", Some("expected one of: error, warning, info".into())))
            })?;
        }
        if let Some(value) = &values.format {
            self.format = Format::from_str(value.get_ref(), false).map_err(|_| {
                let choices: Vec<String> = Format::value_variants().iter().filter_map(|f| f.to_possible_value()).map(|v| v.get_name().to_string()).collect();
                let message = format!("unknown format `{}`", value.get_ref());
                located(file.problem(value.span(), message, "not a format", Some(format!("expected one of: {}", choices.join(", ")))))
            })?;
        }
        self.env = values.env.iter().map(|(name, value)| (name.clone(), value.clone())).collect();
        self.inputs = values.inputs.iter().map(|input| file.resolve(input)).collect();
        self.baseline = values.baseline.as_deref().map(|path| file.resolve(path));
        self.docs_url = values.docs_url.clone();
        let limits = &mut self.limits;
        for (value, limit) in [
            (values.max_entries, &mut limits.entries),
            (values.max_ratio, &mut limits.ratio),
            (values.max_path_bytes, &mut limits.path_bytes),
            (values.max_path_depth, &mut limits.path_depth),
        ] {
            if let Some(value) = value {
                *limit = value;
            }
        }
        self.s3 = S3Settings { endpoint_url: values.s3_endpoint_url.clone(), profile: values.s3_profile.clone(), region: values.s3_region.clone() };
        if let Some(value) = &values.max_bytes {
            let bytes = match value.get_ref() {
                toml::Value::Integer(n) => u64::try_from(*n).ok(),
                toml::Value::String(text) => crate::units::parse_size(text),
                _ => None,
            };
            limits.bytes = bytes.ok_or_else(|| {
                located(file.problem(value.span(), "max-bytes is not a size", "not a size", Some("a number of bytes, or a string such as \"500GiB\"".into())))
            })?;
        }
        Ok(())
    }

    /// Flags beat the file: `--select` replaces `select`; `--ignore`, `--extend-select`,
    /// `--pack` and `--rules` add to the file's lists.
    fn apply_flags(&mut self, flags: &Flags<'_>) {
        if let Some(selection) = flags.selection {
            if selection.no_default_packs {
                self.default_packs = false;
            }
            self.packs.extend(selection.packs.iter().cloned());
            self.rule_files.extend(selection.rules.iter().cloned());
            let selectors = |list: &[String], flag: &'static str| -> Vec<Selector> { list.iter().map(|s| Selector::new(s, Origin::Flag(flag))).collect() };
            if !selection.select.is_empty() {
                self.select = selectors(&selection.select, "--select");
            }
            self.extend_select.extend(selectors(&selection.extend_select, "--extend-select"));
            self.ignore.extend(selectors(&selection.ignore, "--ignore"));
            for (name, value) in &selection.env {
                self.env.retain(|(existing, _)| existing != name);
                self.env.push((name.clone(), value.clone()));
            }
        }
        if let Some(exit) = flags.exit {
            if let Some(fail_on) = exit.fail_on {
                self.fail_on = fail_on.into();
            }
            self.exit_zero = exit.exit_zero;
            self.quiet = exit.quiet;
        }
        if !flags.inputs.is_empty() {
            self.inputs = flags.inputs.to_vec();
        }
        if self.inputs.is_empty() {
            self.inputs = vec![PathBuf::from("/opt/ml")];
        }
        if let Some(format) = flags.format {
            self.format = format;
        }
        self.output = flags.output.map(Path::to_path_buf);
        if let Some(args) = flags.s3 {
            for (flag, setting) in [(&args.endpoint_url, &mut self.s3.endpoint_url), (&args.profile, &mut self.s3.profile), (&args.region, &mut self.s3.region)]
            {
                if flag.is_some() {
                    setting.clone_from(flag);
                }
            }
        }
        if let Some(args) = flags.limits {
            let limits = &mut self.limits;
            for (flag, limit) in [
                (args.max_entries, &mut limits.entries),
                (args.max_bytes, &mut limits.bytes),
                (args.max_ratio, &mut limits.ratio),
                (args.max_path_bytes, &mut limits.path_bytes),
                (args.max_path_depth, &mut limits.path_depth),
            ] {
                if let Some(value) = flag {
                    *limit = value;
                }
            }
        }
    }

    /// Which built-in packs to load, which of them the user named (named packs apply to every
    /// input; `auto`'s only when detected), and whether the others apply only to inputs that
    /// hold a model.
    fn pack_plan(&self, extra: &[&str]) -> (Vec<String>, Vec<String>, bool) {
        let mut named: Vec<String> = Vec::new();
        let add = |list: &mut Vec<String>, name: &str| {
            if !list.iter().any(|n| n == name) {
                list.push(name.to_string());
            }
        };
        let mut auto = self.packs.iter().any(|name| name == AUTO);
        let mut defaults: Vec<&str> = Vec::new();
        if self.default_packs {
            add(&mut named, DEFAULT_PACK);
            defaults.push(MODEL_PACK);
            // Naming a serving pack replaces `auto`'s choice; the model pack stays.
            let serving = self.packs.iter().any(|name| ![AUTO, DEFAULT_PACK, MODEL_PACK].contains(&name.as_str()) && !ON_DEMAND.contains(&name.as_str()));
            auto |= !serving;
        }
        for name in self.packs.iter().filter(|name| *name != AUTO) {
            add(&mut named, name);
        }
        for name in extra {
            add(&mut named, name);
        }
        let mut wanted = named.clone();
        for name in defaults {
            add(&mut wanted, name);
        }
        if auto {
            for pack in PACKS.iter().filter(|pack| !ON_DEMAND.contains(&pack.name)) {
                add(&mut wanted, pack.name);
            }
        }
        // `auto` named by the user looks at every input's model, not only model inputs'.
        (wanted, named, self.default_packs && !self.packs.iter().any(|name| name == AUTO))
    }

    /// Load the packs and rule files, then apply select/ignore, severity overrides and
    /// per-path ignores to the rules. `extra` packs are ones a subsystem needs (`snapshot` for
    /// `--snapshot`, `harness` for `optml run`), applied like named packs.
    pub fn ruleset(&self, extra: &[&str]) -> Result<Ruleset, MietteReport> {
        let (wanted, named, defaults) = self.pack_plan(extra);
        let mut texts = builtin_texts(&wanted)?;
        for path in &self.rule_files {
            texts.push(read_user_pack(path)?);
        }
        let mut ruleset = load(texts)?;
        for (index, pack) in ruleset.packs.iter().enumerate() {
            // The layout (zones, no rules) always applies; so do named packs and user rule files.
            if pack.builtin && builtin::find(&pack.name).is_some() && !named.contains(&pack.name) {
                ruleset.applies[index] = Applies { model_inputs_only: defaults, detected: !pack.signals.is_empty() };
            }
        }
        ruleset.set_env(self.env.clone());
        self.apply_selection(&mut ruleset)?;
        Ok(ruleset)
    }

    /// The layout alone (zones, archive mappings, job-folder artifacts) for reading inputs
    /// without rules (snapshot, diff).
    pub fn layout_only(&self) -> Result<Ruleset, MietteReport> {
        Ok(load(builtin_texts(&[])?)?)
    }

    fn apply_selection(&self, ruleset: &mut Ruleset) -> Result<(), MietteReport> {
        let all_selectors = self
            .select
            .iter()
            .chain(&self.extend_select)
            .chain(&self.ignore)
            .chain(self.severity.iter().map(|(s, _)| s))
            .chain(self.per_path_ignores.iter().flat_map(|(_, codes)| codes));
        let mut known: Option<Vec<String>> = None;
        for selector in all_selectors {
            if ruleset.rules.iter().any(|rule| selector.matches(&rule.code)) {
                continue;
            }
            // A code of a pack that is not loaded now (a serving pack, snapshot) is still a code.
            let known = match &mut known {
                Some(known) => known,
                None => known.insert(all_codes(ruleset)?),
            };
            if !known.iter().any(|code| selector.matches(code)) {
                return Err(self.unknown_code(selector, known));
            }
        }
        for (index, rule) in ruleset.rules.iter_mut().enumerate() {
            let mut on = selected(&rule.code, &self.select, &self.extend_select, &self.ignore);
            match longest(&self.severity, &rule.code) {
                Some(None) => on = false,
                Some(Some(severity)) => rule.severity = *severity,
                None => {}
            }
            ruleset.enabled[index] = on;
        }
        for (globs, codes) in &self.per_path_ignores {
            let rules = ruleset.rules.iter().map(|rule| codes.iter().any(|s| s.matches(&rule.code))).collect();
            ruleset.path_ignores.push(PathIgnore { globs: globs.clone(), rules });
        }
        Ok(())
    }

    fn unknown_code(&self, selector: &Selector, known: &[String]) -> MietteReport {
        let mut candidates: Vec<&str> = known.iter().map(String::as_str).collect();
        let prefixes: Vec<String> = known.iter().map(|code| code.trim_end_matches(|c: char| c.is_ascii_digit()).to_string()).collect();
        candidates.extend(prefixes.iter().map(String::as_str));
        let help = match nearest(&selector.text, candidates) {
            Some(code) => format!("did you mean `{code}`? `optml rules` lists every code"),
            None => "`optml rules` lists every code".to_string(),
        };
        let message = format!("`{}` is not a rule code or prefix of any rule", selector.text);
        match (&selector.origin, &self.config) {
            (Origin::Config(span), Some(file)) => located(file.problem(span.clone(), message, "unknown code", Some(help))),
            (Origin::Flag(flag), _) => miette::miette!(code = "optml::usage", help = help, "{flag} {}: {message}", selector.text),
            (Origin::Config(_), None) => miette::miette!(code = "optml::config", help = help, "{message}"),
        }
    }

    /// The exit status a report with `summary` implies: 1 when a finding at `fail_on` or worse
    /// was reported (unless `--exit-zero`).
    pub fn exit_status(&self, summary: &Summary) -> ExitStatus {
        let failing = match self.fail_on {
            Severity::Error => summary.errors,
            Severity::Warning => summary.errors + summary.warnings,
            Severity::Info => summary.errors + summary.warnings + summary.infos,
        };
        if self.exit_zero {
            ExitStatus::Clean
        } else {
            ExitStatus::from_errors(failing)
        }
    }

    /// Write a finished report: to `--output FILE` atomically, else to stdout.
    pub fn emit(&self, text: &str) -> Result<(), MietteReport> {
        match &self.output {
            Some(file) => crate::atomic::write(file, text.as_bytes())
                .map_err(|err| miette::miette!(code = "optml::output", "cannot write the report to {}: {err}", file.display())),
            None => {
                crate::report::print(text);
                Ok(())
            }
        }
    }
}

/// Every rule code of the built-in packs and of `ruleset` (which holds the user's rule files).
fn all_codes(ruleset: &Ruleset) -> Result<Vec<String>, MietteReport> {
    let names: Vec<String> = PACKS.iter().map(|pack| pack.name.to_string()).collect();
    let everything = load(builtin_texts(&names)?)?;
    Ok(everything.rules.iter().chain(&ruleset.rules).map(|rule| rule.code.clone()).collect())
}

/// `--under PATH` as an image path: absolute, /opt/ml or below, no `..`.
fn image_folder(under: &str) -> Result<Vec<u8>, MietteReport> {
    let name = crate::entry::normalize_name(under.as_bytes());
    let inside = name.name == b"opt/ml" || name.name.starts_with(b"opt/ml/");
    if !name.absolute || name.parent_dir || name.invalid || !inside {
        return Err(miette::miette!(
            code = "optml::usage",
            help = "optml keeps only /opt/ml (and the few paths its checks read) of an image; see docs/images.md",
            "--under {under}: expected /opt/ml or a folder below it, such as /opt/ml/code"
        ));
    }
    Ok(name.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(packs: &[&str], default_packs: bool) -> Settings {
        let selection = RuleSelection { packs: packs.iter().map(|p| p.to_string()).collect(), no_default_packs: !default_packs, ..RuleSelection::default() };
        let config = ConfigArgs { discovery: DiscoveryArgs { isolated: true, verbose: false }, config: None };
        Settings::resolve(Flags { config: Some(&config), selection: Some(&selection), ..Flags::default() }).expect("isolated settings")
    }

    #[test]
    fn a_named_pack_is_added_to_the_defaults() {
        let (wanted, named, model_only) = settings(&["pytorch"], true).pack_plan(&[]);
        assert_eq!(named, ["sagemaker-training", "pytorch"]);
        assert!(wanted.contains(&MODEL_PACK.to_string()), "the model pack stays: {wanted:?}");
        assert!(!wanted.contains(&"huggingface".to_string()), "naming a serving pack turns auto off: {wanted:?}");
        assert!(model_only);
    }

    #[test]
    fn defaults_bring_auto_and_no_default_packs_replaces_them() {
        let (wanted, named, _) = settings(&[], true).pack_plan(&["snapshot"]);
        assert_eq!(named, ["sagemaker-training", "snapshot"]);
        assert!(wanted.contains(&"huggingface".to_string()) && !wanted.contains(&"harness".to_string()), "{wanted:?}");
        let (wanted, named, model_only) = settings(&["pytorch"], false).pack_plan(&[]);
        assert_eq!((wanted, named, model_only), (vec!["pytorch".to_string()], vec!["pytorch".to_string()], false));
    }
}
