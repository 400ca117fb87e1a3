//! The /opt/ml sandbox of one host: config files shaped as the platform writes them
//! (contract section 1.2), channel data, and the empty folders a job starts with.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::hyperparameters::RawHyperparameters;
use super::pyvalue::Py;

/// The instance group every host of a homogeneous cluster is in.
pub const GROUP: &str = "homogeneousCluster";

/// How channel data gets into `input/data/<channel>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ChannelMode {
    /// Copy the files (File mode, as SageMaker downloads them).
    Copy,
    /// Hard-link the files (fast, no extra space; the script can then modify your data), or
    /// copy those on another filesystem.
    Link,
}

#[derive(Clone, Debug)]
pub struct Channel {
    pub name: String,
    pub source: PathBuf,
}

impl Channel {
    /// Parse `NAME=PATH`; names follow the CreateTrainingJob pattern `[A-Za-z0-9.\-_]+`, 1-64 chars.
    pub fn parse(flag: &str) -> Result<Channel, String> {
        let (name, path) = flag.split_once('=').ok_or_else(|| format!("--channel {flag}: expected NAME=PATH"))?;
        let valid = (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !valid {
            return Err(format!("--channel {flag}: channel names are 1-64 letters, digits, `.`, `-` or `_`"));
        }
        let source = PathBuf::from(path);
        if !source.exists() {
            return Err(format!("--channel {flag}: {path} does not exist"));
        }
        Ok(Channel { name: name.to_string(), source })
    }
}

/// What every host's sandbox is made from.
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// `algo-1` .. `algo-N`, sorted as the platform sorts them (lexicographically).
    pub hosts: Vec<String>,
    pub instance_type: String,
    pub channels: Vec<Channel>,
    pub channel_mode: ChannelMode,
    pub hyperparameters: RawHyperparameters,
    /// `CheckpointConfig.S3Uri`: when set, checkpointconfig.json and `checkpoints/` exist.
    pub checkpoint_uri: Option<String>,
}

impl JobSpec {
    pub fn host_names(count: usize) -> Vec<String> {
        let mut hosts: Vec<String> = (1..=count).map(|i| format!("algo-{i}")).collect();
        hosts.sort();
        hosts
    }

    /// resourceconfig.json for `host`.
    pub fn resource_config(&self, host: &str) -> Py {
        let hosts = Py::str_list(&self.hosts);
        let group = Py::Dict(vec![
            ("instance_group_name".into(), Py::Str(GROUP.into())),
            ("instance_type".into(), Py::Str(self.instance_type.clone())),
            ("hosts".into(), hosts.clone()),
        ]);
        Py::Dict(vec![
            ("current_host".into(), Py::Str(host.into())),
            ("current_instance_type".into(), Py::Str(self.instance_type.clone())),
            ("current_group_name".into(), Py::Str(GROUP.into())),
            ("hosts".into(), hosts),
            ("instance_groups".into(), Py::List(vec![group])),
            ("network_interface_name".into(), Py::Str("eth0".into())),
        ])
    }

    /// inputdataconfig.json: File mode, fully replicated, in `--channel` order.
    pub fn input_data_config(&self) -> Py {
        let file_mode = Py::Dict(vec![
            ("TrainingInputMode".into(), Py::Str("File".into())),
            ("S3DistributionType".into(), Py::Str("FullyReplicated".into())),
            ("RecordWrapperType".into(), Py::Str("None".into())),
        ]);
        Py::Dict(self.channels.iter().map(|c| (c.name.clone(), file_mode.clone())).collect())
    }

    /// Lay out `base` (an /opt/ml folder, created empty) for `host`.
    pub fn create_host(&self, base: &Path, host: &str) -> Result<(), String> {
        for dir in ["input/config", "input/data", "model", "output/data", "code"] {
            let path = base.join(dir);
            fs::create_dir_all(&path).map_err(at(&path))?;
        }
        let config = base.join("input/config");
        let write = |name: &str, text: String| {
            let path = config.join(name);
            fs::write(&path, text).map_err(at(&path))
        };
        write("hyperparameters.json", self.hyperparameters.to_json())?;
        write("resourceconfig.json", self.resource_config(host).spaced_json())?;
        write("inputdataconfig.json", self.input_data_config().spaced_json())?;
        if let Some(uri) = &self.checkpoint_uri {
            let local = base.join("checkpoints");
            fs::create_dir_all(&local).map_err(at(&local))?;
            let config = Py::Dict(vec![("LocalPath".into(), Py::Str(local.to_string_lossy().into_owned())), ("S3Uri".into(), Py::Str(uri.clone()))]);
            write("checkpointconfig.json", config.spaced_json())?;
        }
        for channel in &self.channels {
            copy_into(&channel.source, &base.join("input/data").join(&channel.name), self.channel_mode)?;
        }
        Ok(())
    }
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> String + '_ {
    move |err| format!("{}: {err}", path.display())
}

/// Copy (or hard-link) `source` (a folder, or one file) into the new folder `target`. Symlinks
/// are copied as links; other special files are skipped, as S3 cannot hold them.
fn copy_into(source: &Path, target: &Path, mode: ChannelMode) -> Result<(), String> {
    fs::create_dir_all(target).map_err(at(target))?;
    let single_file = source.is_file();
    for item in WalkDir::new(source).follow_root_links(true).sort_by_file_name().min_depth(usize::from(!single_file)) {
        let item = item.map_err(|err| format!("{}: {err}", source.display()))?;
        let rel = if single_file { PathBuf::from(item.file_name()) } else { item.path().strip_prefix(source).unwrap_or(item.path()).to_path_buf() };
        let dest = target.join(rel);
        let fail = |err: io::Error| format!("copying {} to {}: {err}", item.path().display(), dest.display());
        let kind = item.file_type();
        if kind.is_dir() {
            fs::create_dir_all(&dest).map_err(fail)?;
        } else if kind.is_symlink() {
            symlink(fs::read_link(item.path()).map_err(fail)?, &dest).map_err(fail)?;
        } else if kind.is_file() {
            let linked = mode == ChannelMode::Link && fs::hard_link(item.path(), &dest).is_ok();
            if !linked {
                fs::copy(item.path(), &dest).map_err(fail)?;
            }
        }
    }
    Ok(())
}
