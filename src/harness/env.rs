//! The environment a training script gets: a line-by-line model of the toolkit's
//! `Environment()` and `to_env_vars()` (sagemaker-training 5.1.4 `environment.py`), plus the
//! variables the platform and the toolkit process itself add (contract section 2).

use std::path::Path;
use std::process::Command;

use super::hyperparameters::{to_cmd_args, Hyperparameters};
use super::pyvalue::Py;

/// Facts about this machine the toolkit probes on every `Environment()`; probed once per run.
#[derive(Clone, Debug)]
pub struct Machine {
    /// `multiprocessing.cpu_count()`: online CPUs, not the affinity mask.
    pub num_cpus: u64,
    /// `GPU ` lines of `nvidia-smi --list-gpus`, 0 when it is missing or fails.
    pub num_gpus: u64,
    /// Sum of `nc_count` in `neuron-ls -j`, 0 when it is missing or fails.
    pub neuron_cores: u64,
    /// `which smddprun` / `which smddpmprun` succeed.
    pub smddprun: bool,
    pub smddpmprun: bool,
}

impl Machine {
    pub fn probe() -> Machine {
        // SAFETY: sysconf has no preconditions.
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        Machine {
            num_cpus: u64::try_from(cpus).unwrap_or(1),
            num_gpus: command_output("nvidia-smi", &["--list-gpus"])
                .map(|out| out.split('\n').filter(|line| line.starts_with("GPU ")).count() as u64)
                .unwrap_or(0),
            neuron_cores: command_output("neuron-ls", &["-j"]).and_then(|out| neuron_cores(&out)).unwrap_or(0),
            smddprun: on_path("smddprun"),
            smddpmprun: on_path("smddpmprun"),
        }
    }
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).stderr(std::process::Stdio::null()).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn neuron_cores(json: &str) -> Option<u64> {
    let Py::List(devices) = Py::from_json(json)? else { return None };
    Some(
        devices
            .iter()
            .filter_map(|d| d.get("nc_count"))
            .filter_map(|n| match n {
                Py::Int(digits) => digits.parse::<u64>().ok(),
                _ => None,
            })
            .sum(),
    )
}

/// What `which NAME` finds: an executable file in a `PATH` directory.
fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| std::fs::metadata(dir.join(name)).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0))
}

/// Variables of the process environment the toolkit reads (`os.environ.get`).
pub trait Lookup {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Lookup for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Everything one host's `Environment()` is built from.
pub struct HostInputs<'a> {
    /// `SAGEMAKER_BASE_DIR`.
    pub base_dir: &'a str,
    pub resource_config: &'a Py,
    pub input_data_config: &'a Py,
    pub hyperparameters: &'a Hyperparameters,
    pub machine: &'a Machine,
    /// `TRAINING_JOB_NAME`, as the platform sets it.
    pub job_name: &'a str,
}

/// Distribution flags that put the current group into `distribution_instance_groups`.
const DISTRIBUTION_FLAGS: [&str; 7] = [
    "sagemaker_mpi_enabled",
    "sagemaker_parameter_server_enabled",
    "sagemaker_distributed_dataparallel_enabled",
    "sagemaker_pytorch_ddp_enabled",
    "sagemaker_pytorch_xla_multi_worker_enabled",
    "sagemaker_multi_worker_mirrored_strategy_enabled",
    "sagemaker_torch_distributed_enabled",
];

/// The environment and argv one host's script gets.
#[derive(Clone, Debug)]
pub struct ScriptEnv {
    /// Variables to set, in the order the toolkit computes them (a later duplicate wins).
    pub vars: Vec<(String, String)>,
    /// Hyperparameters as command-line arguments (`to_cmd_args()`).
    pub args: Vec<String>,
}

fn or_default(config: &Py, key: &str, default: Py) -> Py {
    config.get(key).cloned().unwrap_or(default)
}

fn string_list(value: &Py) -> Vec<Py> {
    match value {
        Py::List(items) => items.clone(),
        _ => Vec::new(),
    }
}

/// Python's `x in container` for the containers the toolkit uses here.
fn contains(container: &Py, item: &Py) -> bool {
    match (container, item) {
        (Py::List(items), _) => items.contains(item),
        (Py::Str(text), Py::Str(part)) => text.contains(part.as_str()),
        (Py::Dict(items), Py::Str(key)) => items.iter().any(|(k, _)| k == key),
        _ => false,
    }
}

/// `mapping.to_env_vars`' value rule: strings as they are, `None` empty, the rest compact JSON.
fn env_value(value: &Py) -> String {
    match value {
        Py::Str(s) => s.clone(),
        Py::None => String::new(),
        other => other.compact_json(),
    }
}

/// Build the variables of `Environment().to_env_vars()` and the side effects of constructing
/// it, reading the process environment through `lookup`.
pub fn script_env(inputs: &HostInputs, lookup: &dyn Lookup) -> ScriptEnv {
    let base = inputs.base_dir;
    let resource = inputs.resource_config;
    let hps = inputs.hyperparameters;
    let path = |rel: &str| Py::Str(format!("{base}/{rel}"));
    let code_dir = path("code");

    let hosts = or_default(resource, "hosts", Py::List(Vec::new()));
    let current_host = or_default(resource, "current_host", Py::None);
    let instance_type = or_default(resource, "current_instance_type", Py::Str("local".into()));
    let current_group = or_default(resource, "current_group_name", Py::Str("homogeneousCluster".into()));
    let num_neurons = match &instance_type {
        Py::Str(t) if t.contains("trn2.48xlarge") => 64,
        _ => inputs.machine.neuron_cores,
    };
    let user_hps = hps.user();
    let framework = hps.framework();
    let framework_py = Py::Dict(framework.clone());

    let program_env = lookup.var("SAGEMAKER_PROGRAM");
    let program_hp = hps.sagemaker("sagemaker_program").cloned();
    let module_name = match &program_env {
        Some(name) => name.clone(),
        None => program_hp.clone().unwrap_or(Py::None).py_str(),
    };
    let module_name = module_name.strip_suffix(".py").map(str::to_string).unwrap_or(module_name);
    let user_entry_point = match program_env.filter(|p| !p.is_empty()) {
        Some(name) => Py::Str(name),
        None => program_hp.unwrap_or(Py::None),
    };
    let module_dir = Py::Str(hps.sagemaker("sagemaker_submit_directory").cloned().unwrap_or(code_dir).py_str());
    let log_level = hps.sagemaker("sagemaker_container_log_level").cloned().unwrap_or(Py::Int("20".into()));
    let framework_module = lookup.var("SAGEMAKER_TRAINING_MODULE").map(Py::Str).unwrap_or(Py::None);

    let groups_config = string_list(&or_default(resource, "instance_groups", Py::List(Vec::new())));
    let group_name = |g: &Py| g.get("instance_group_name").cloned().unwrap_or(Py::None);
    let current_group_hosts =
        groups_config.iter().find(|g| group_name(g) == current_group).map(|g| g.get("hosts").cloned().unwrap_or(Py::None)).unwrap_or(Py::List(Vec::new()));
    let instance_groups = Py::List(groups_config.iter().map(group_name).collect());
    let instance_groups_dict = Py::Dict(groups_config.iter().map(|g| (group_name(g).py_str(), g.clone())).collect());
    let distribution_groups = match framework_py.get("sagemaker_distribution_instance_groups") {
        Some(groups) => groups.clone(),
        None if DISTRIBUTION_FLAGS.iter().any(|flag| framework_py.get(flag).is_some_and(Py::truthy)) => {
            Py::List(vec![or_default(resource, "current_group_name", Py::Str("homogeneousCluster".into()))])
        }
        None => Py::List(Vec::new()),
    };
    let distribution_hosts = if groups_config.is_empty() {
        string_list(&hosts)
    } else {
        groups_config
            .iter()
            .filter(|g| contains(&distribution_groups, &group_name(g)))
            .flat_map(|g| string_list(&g.get("hosts").cloned().unwrap_or(Py::None)))
            .collect()
    };
    let master = distribution_hosts.first().cloned().or_else(|| string_list(&hosts).first().cloned()).unwrap_or(Py::None);
    let is_master = current_host == master;
    let modelparallel = match lookup.var("SM_HP_MP_PARAMETERS") {
        None => Py::None,
        Some(mp) if mp.is_empty() => Py::Str(mp),
        Some(mp) => Py::Bool(mp != "{}"),
    };
    let channels: Vec<String> = match inputs.input_data_config {
        Py::Dict(items) => items.iter().map(|(k, _)| k.clone()).collect(),
        _ => Vec::new(),
    };
    let channel_dirs: Vec<(String, Py)> = channels.iter().map(|c| (c.clone(), path(&format!("input/data/{c}")))).collect();
    let mut sorted_channels = channels.clone();
    sorted_channels.sort();
    let topology = or_default(resource, "topology", Py::List(Vec::new()));
    let user_args = to_cmd_args(&user_hps);
    let count = |n: u64| Py::Int(n.to_string());
    let machine = inputs.machine;

    // `dict(self)`: every property of Environment (SM_TRAINING_ENV).
    let training_env = Py::Dict(vec![
        ("additional_framework_parameters".into(), framework_py.clone()),
        ("channel_input_dirs".into(), Py::Dict(channel_dirs.clone())),
        ("current_host".into(), current_host.clone()),
        ("current_instance_group".into(), current_group.clone()),
        ("current_instance_group_hosts".into(), current_group_hosts.clone()),
        ("current_instance_type".into(), instance_type.clone()),
        ("distribution_hosts".into(), Py::List(distribution_hosts)),
        ("distribution_instance_groups".into(), distribution_groups.clone()),
        ("framework_module".into(), framework_module.clone()),
        ("hosts".into(), hosts.clone()),
        ("hyperparameters".into(), Py::Dict(user_hps.clone())),
        ("input_config_dir".into(), path("input/config")),
        ("input_data_config".into(), inputs.input_data_config.clone()),
        ("input_dir".into(), path("input")),
        ("instance_groups".into(), instance_groups.clone()),
        ("instance_groups_dict".into(), instance_groups_dict.clone()),
        ("is_hetero".into(), Py::Bool(groups_config.len() > 1)),
        ("is_master".into(), Py::Bool(is_master)),
        ("is_modelparallel_enabled".into(), modelparallel),
        ("is_smddpmprun_installed".into(), Py::Bool(machine.smddpmprun)),
        ("is_smddprun_installed".into(), Py::Bool(machine.smddprun)),
        ("job_name".into(), Py::Str(inputs.job_name.to_string())),
        ("log_level".into(), log_level.clone()),
        ("master_hostname".into(), master),
        ("model_dir".into(), path("model")),
        ("module_dir".into(), module_dir.clone()),
        ("module_name".into(), Py::Str(module_name.clone())),
        ("network_interface_name".into(), or_default(resource, "network_interface_name", Py::Str("eth0".into()))),
        ("num_cpus".into(), count(machine.num_cpus)),
        ("num_gpus".into(), count(machine.num_gpus)),
        ("num_neurons".into(), count(num_neurons)),
        ("output_data_dir".into(), path("output/data")),
        ("output_dir".into(), path("output")),
        ("output_intermediate_dir".into(), path("output/intermediate")),
        ("resource_config".into(), resource.clone()),
        ("topology".into(), topology.clone()),
        ("user_entry_point".into(), user_entry_point.clone()),
    ]);
    let property = |name: &str| training_env.get(name).cloned().unwrap_or(Py::None);

    // `to_env_vars()`, in its order.
    let mut env: Vec<(String, Py)> = [
        "hosts",
        "network_interface_name",
        "hps",
        "user_entry_point",
        "framework_params",
        "resource_config",
        "input_data_config",
        "output_data_dir",
        "channels",
        "current_host",
        "current_instance_type",
        "current_instance_group",
        "current_instance_group_hosts",
        "instance_groups",
        "instance_groups_dict",
        "distribution_instance_groups",
        "is_hetero",
        "module_name",
        "log_level",
        "framework_module",
        "input_dir",
        "input_config_dir",
        "output_dir",
        "num_cpus",
        "num_gpus",
        "num_neurons",
        "model_dir",
        "module_dir",
        "training_env",
        "user_args",
        "output_intermediate_dir",
    ]
    .into_iter()
    .map(|key| {
        let value = match key {
            "hps" => Py::Dict(user_hps.clone()),
            "framework_params" => framework_py.clone(),
            "channels" => Py::str_list(&sorted_channels),
            "training_env" => training_env.clone(),
            "user_args" => Py::str_list(&user_args),
            other => property(other),
        };
        (key.to_string(), value)
    })
    .collect();
    if topology.truthy() {
        env.push(("topology".into(), topology));
    }
    env.extend(channel_dirs.into_iter().map(|(name, dir)| (format!("channel_{name}"), dir)));
    env.extend(user_hps.iter().map(|(key, value)| (format!("hp_{key}"), value.clone())));

    let mut vars: Vec<(String, String)> = env.iter().map(|(key, value)| (format!("SM_{}", key.to_uppercase()), env_value(value))).collect();
    // Side effects of constructing Environment() in the toolkit process, which the script inherits.
    let region = hps.sagemaker("sagemaker_region").map(Py::py_str).or_else(|| lookup.var("AWS_DEFAULT_REGION")).unwrap_or_default();
    vars.push(("SAGEMAKER_JOB_NAME".into(), hps.sagemaker("sagemaker_job_name").map(Py::py_str).unwrap_or_default()));
    vars.push(("CURRENT_HOST".into(), current_host.py_str()));
    vars.push(("SAGEMAKER_REGION".into(), region));
    ScriptEnv { vars, args: user_args }
}

/// Variables the platform (and `write_env_vars`) set around the toolkit's own: the sandbox as
/// `SAGEMAKER_BASE_DIR`, the job name, the DNS-wait bypass and the code dir first on PYTHONPATH.
pub fn platform_vars(base_dir: &Path, job_name: &str, lookup: &dyn Lookup) -> Vec<(String, String)> {
    let base = base_dir.to_string_lossy();
    let code = format!("{base}/code");
    let python_path = match lookup.var("PYTHONPATH").filter(|p| !p.is_empty()) {
        Some(existing) => format!("{code}:{existing}"),
        None => code,
    };
    vec![
        ("SAGEMAKER_BASE_DIR".into(), base.into_owned()),
        ("TRAINING_JOB_NAME".into(), job_name.to_string()),
        // Without it the toolkit resolves every host name, retrying for up to 15 minutes.
        ("SM_STUDIO_LOCAL_MODE".into(), "true".into()),
        ("PYTHONPATH".into(), python_path),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::hyperparameters::RawHyperparameters;

    struct NoEnv;
    impl Lookup for NoEnv {
        fn var(&self, _: &str) -> Option<String> {
            None
        }
    }

    #[test]
    fn matches_the_recorded_toolkit_dump() {
        // Contract section 7.3 (host-dependent values aside).
        let mut raw = RawHyperparameters::default();
        for flag in ["epochs=3", "learning-rate=0.01", "use_amp=true", "k=5", "sagemaker_custom_thing=\"abc\""] {
            raw.add_flag(flag).unwrap();
        }
        let hps = raw.decode();
        let resource = Py::from_json(
            r#"{"current_host": "algo-1", "current_instance_type": "ml.m5.xlarge", "current_group_name": "homogeneousCluster",
                "hosts": ["algo-1", "algo-2"], "instance_groups": [{"instance_group_name": "homogeneousCluster",
                "instance_type": "ml.m5.xlarge", "hosts": ["algo-2", "algo-1"]}], "network_interface_name": "eth0"}"#,
        )
        .unwrap();
        let data = Py::from_json(r#"{"validation": {"TrainingInputMode": "File"}, "train": {"TrainingInputMode": "File"}}"#).unwrap();
        let machine = Machine { num_cpus: 2, num_gpus: 0, neuron_cores: 0, smddprun: false, smddpmprun: false };
        let inputs =
            HostInputs { base_dir: "/b", resource_config: &resource, input_data_config: &data, hyperparameters: &hps, machine: &machine, job_name: "job" };
        let env = script_env(&inputs, &NoEnv);
        let get = |name: &str| env.vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap();
        assert_eq!(get("SM_CHANNELS"), r#"["train","validation"]"#);
        assert_eq!(get("SM_CHANNEL_TRAIN"), "/b/input/data/train");
        assert_eq!(get("SM_CURRENT_INSTANCE_GROUP_HOSTS"), r#"["algo-2","algo-1"]"#);
        assert_eq!(get("SM_DISTRIBUTION_INSTANCE_GROUPS"), "[]");
        assert_eq!(get("SM_FRAMEWORK_PARAMS"), r#"{"sagemaker_custom_thing":"abc"}"#);
        assert_eq!(get("SM_HPS"), r#"{"epochs":3,"k":5,"learning-rate":0.01,"use_amp":true}"#);
        assert_eq!(get("SM_HP_LEARNING-RATE"), "0.01");
        assert_eq!(get("SM_HP_USE_AMP"), "true");
        assert_eq!(get("SM_USER_ARGS"), r#"["--epochs","3","-k","5","--learning-rate","0.01","--use_amp","True"]"#);
        assert_eq!(get("SM_MODULE_NAME"), "None");
        assert_eq!(get("SM_USER_ENTRY_POINT"), "");
        assert_eq!(get("SM_MODULE_DIR"), "/b/code");
        assert_eq!(get("SM_LOG_LEVEL"), "20");
        assert_eq!(get("SM_IS_HETERO"), "false");
        assert_eq!(get("SM_NUM_CPUS"), "2");
        assert_eq!(get("CURRENT_HOST"), "algo-1");
        assert!(get("SM_TRAINING_ENV").contains(r#""master_hostname":"algo-1""#));
    }
}
