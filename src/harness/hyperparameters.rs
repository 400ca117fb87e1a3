//! Hyperparameters: what `--hp` and `--hyperparameters` put in hyperparameters.json, and how the
//! toolkit decodes them and turns them into argv (contract sections 1.2, 2.3 and 2.4).

use std::path::Path;

use super::pyvalue::Py;

/// `sagemaker_*` keys the toolkit consumes itself: not user hyperparameters and not
/// `SM_FRAMEWORK_PARAMS` either (`params.SAGEMAKER_HYPERPARAMETERS`).
pub const RESERVED: [&str; 9] = [
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "default_user_module_name",
    "_tuning_objective_metric",
    "sagemaker_s3_output",
];

/// hyperparameters.json as written: string keys to string values, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawHyperparameters {
    pub entries: Vec<(String, String)>,
}

impl RawHyperparameters {
    /// Set `key`, replacing an earlier value in place (later flags win).
    pub fn set(&mut self, key: String, value: String) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Add `--hyperparameters FILE`: a JSON object. String values are stored as they are;
    /// other values are JSON-encoded the way the SageMaker SDK's framework estimators do it
    /// (`json.dumps`), because hyperparameters.json can only hold strings.
    pub fn add_file(&mut self, path: &Path) -> Result<(), String> {
        let text = crate::open::read_text(path, crate::open::CONFIG_LIMIT).map_err(|err| format!("{}: {err}", path.display()))?;
        let Some(Py::Dict(items)) = Py::from_json(&text) else {
            return Err(format!("{}: not a JSON object of hyperparameters", path.display()));
        };
        for (key, value) in items {
            let value = match value {
                Py::Str(s) => s,
                other => other.spaced_json(),
            };
            self.set(key, value);
        }
        Ok(())
    }

    /// Add `--hp KEY=VALUE`: VALUE is stored verbatim, exactly as hyperparameters.json holds it.
    pub fn add_flag(&mut self, flag: &str) -> Result<(), String> {
        let (key, value) = flag.split_once('=').ok_or_else(|| format!("--hp {flag}: expected KEY=VALUE"))?;
        self.set(key.to_string(), value.to_string());
        Ok(())
    }

    /// The file's JSON text (`json.dump` style, keys in order).
    pub fn to_json(&self) -> String {
        Py::Dict(self.entries.iter().map(|(k, v)| (k.clone(), Py::Str(v.clone()))).collect()).spaced_json()
    }

    /// `environment.read_hyperparameters()`: each value through `json.loads`, the raw string
    /// where that fails.
    pub fn decode(&self) -> Hyperparameters {
        let all = self.entries.iter().map(|(k, v)| (k.clone(), Py::from_json(v).unwrap_or_else(|| Py::Str(v.clone())))).collect();
        Hyperparameters { all }
    }
}

/// Decoded hyperparameters, split as `mapping.split_by_criteria` splits them.
#[derive(Clone, Debug)]
pub struct Hyperparameters {
    pub all: Vec<(String, Py)>,
}

impl Hyperparameters {
    fn is_sagemaker(key: &str) -> bool {
        RESERVED.contains(&key) || key.starts_with("sagemaker_")
    }

    /// User hyperparameters (`env.hyperparameters`, `SM_HPS`).
    pub fn user(&self) -> Vec<(String, Py)> {
        self.all.iter().filter(|(k, _)| !Self::is_sagemaker(k)).cloned().collect()
    }

    /// The `sagemaker_*` ones and the reserved keys.
    pub fn sagemaker(&self, key: &str) -> Option<&Py> {
        self.all.iter().find(|(k, _)| k == key && Self::is_sagemaker(k)).map(|(_, v)| v)
    }

    /// `additional_framework_parameters` (`SM_FRAMEWORK_PARAMS`).
    pub fn framework(&self) -> Vec<(String, Py)> {
        self.all.iter().filter(|(k, _)| Self::is_sagemaker(k) && !RESERVED.contains(&k.as_str())).cloned().collect()
    }
}

/// `mapping.to_cmd_args`: keys sorted, `--key` (or `-k` for one character), then `str(value)`;
/// `None` is an empty argument and a mapping becomes `k1=v1,k2=v2` with sorted keys.
pub fn to_cmd_args(user: &[(String, Py)]) -> Vec<String> {
    let mut sorted: Vec<&(String, Py)> = user.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut args = Vec::with_capacity(sorted.len() * 2);
    for (key, value) in sorted {
        args.push(match key.chars().count() {
            0 => String::new(),
            1 => format!("-{key}"),
            _ => format!("--{key}"),
        });
        args.push(match value {
            Py::None => String::new(),
            Py::Dict(items) => {
                let mut items: Vec<&(String, Py)> = items.iter().collect();
                items.sort_by(|a, b| a.0.cmp(&b.0));
                items.iter().map(|(k, v)| format!("{k}={}", v.py_str())).collect::<Vec<_>>().join(",")
            }
            other => other.py_str(),
        });
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_like_the_toolkit() {
        let mut raw = RawHyperparameters::default();
        for flag in [
            "epochs=3",
            "learning-rate=0.01",
            "use_amp=true",
            "flag_py=True",
            "name=\"resnet\"",
            "bare=hello world",
            "layers=[64, 128]",
            "opts={\"b\": \"x\", \"a\": 1}",
            "k=5",
            "empty=",
            "nullish=null",
            "sagemaker_program=\"train.py\"",
            "sagemaker_custom_thing=\"abc\"",
        ] {
            raw.add_flag(flag).unwrap();
        }
        let hps = raw.decode();
        assert_eq!(
            to_cmd_args(&hps.user()),
            [
                "--bare",
                "hello world",
                "--empty",
                "",
                "--epochs",
                "3",
                "--flag_py",
                "True",
                "-k",
                "5",
                "--layers",
                "[64, 128]",
                "--learning-rate",
                "0.01",
                "--name",
                "resnet",
                "--nullish",
                "",
                "--opts",
                "a=1,b=x",
                "--use_amp",
                "True"
            ]
        );
        assert_eq!(hps.framework(), vec![("sagemaker_custom_thing".to_string(), Py::Str("abc".into()))]);
        assert_eq!(hps.sagemaker("sagemaker_program"), Some(&Py::Str("train.py".into())));
    }

    #[test]
    fn later_flags_replace_earlier_values_in_place() {
        let mut raw = RawHyperparameters::default();
        raw.add_flag("a=1").unwrap();
        raw.add_flag("b=2").unwrap();
        raw.add_flag("a=3").unwrap();
        assert_eq!(raw.to_json(), "{\"a\": \"3\", \"b\": \"2\"}");
        assert!(raw.add_flag("novalue").is_err());
    }
}
