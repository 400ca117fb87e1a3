//! Path normalizations in the spirit of insta redactions: volatile parts of names (times,
//! hosts, step numbers) become placeholders, so a golden manifest stays valid across runs.

use regex::bytes::Regex;

/// A named, shipped set of redactions for names SageMaker jobs make volatile.
pub struct Preset {
    pub name: &'static str,
    pub description: &'static str,
    /// (regex, replacement) pairs, applied in order to the whole path.
    pub rules: &'static [(&'static str, &'static str)],
    /// Globs (over redacted paths) whose sizes are not recorded.
    pub size_ignore: &'static [&'static str],
}

const TFEVENTS: (&str, &str) = (r"(events\.out\.tfevents)\.[0-9]+\.[^/]*?(\.v2)?$", "${1}.[TIME].[HOST]${2}");
const ALGO_HOSTS: (&str, &str) = (r"algo-[0-9]+", "algo-[N]");
/// `name_from_base` (`base-2024-01-15-10-20-30-123`) and tuning jobs (`base-240115-1020-001-1a2b3c4d`).
const JOB_TIMESTAMPS: [(&str, &str); 2] =
    [(r"[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{3}", "[TIMESTAMP]"), (r"[0-9]{6}-[0-9]{4}(-[0-9]{3}-[0-9a-f]{8})?", "[TIMESTAMP]")];
/// `checkpoint-500/`, `global_step500/`, `ckpt-5.index`, `model-00001-of-00004.safetensors`.
const CHECKPOINT_SHARDS: [(&str, &str); 3] =
    [(r"(checkpoint|ckpt|epoch|step)([-_]?)[0-9]+", "${1}${2}[N]"), (r"[0-9]+-of-[0-9]+", "[N]-of-[M]"), (r"(mp_rank|rank)_[0-9]+", "${1}_[N]")];

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "tfevents",
        description: "TensorBoard `events.out.tfevents.<time>.<host>...` files; their sizes are not recorded",
        rules: &[TFEVENTS],
        size_ignore: &["**/events.out.tfevents.*"],
    },
    Preset { name: "algo-hosts", description: "`algo-1`, `algo-2`, ... host names of multi-instance jobs", rules: &[ALGO_HOSTS], size_ignore: &[] },
    Preset {
        name: "job-timestamps",
        description: "job names with SDK timestamps (`-2024-01-15-10-20-30-123`, tuning `-240115-1020-001-1a2b3c4d`)",
        rules: &JOB_TIMESTAMPS,
        size_ignore: &[],
    },
    Preset {
        name: "checkpoint-shards",
        description: "checkpoint and shard numbers (`checkpoint-500`, `global_step500`, `00001-of-00004`, `rank_0`)",
        rules: &CHECKPOINT_SHARDS,
        size_ignore: &[],
    },
    Preset {
        name: "sagemaker",
        description: "all of the above",
        rules: &[TFEVENTS, ALGO_HOSTS, JOB_TIMESTAMPS[0], JOB_TIMESTAMPS[1], CHECKPOINT_SHARDS[0], CHECKPOINT_SHARDS[1], CHECKPOINT_SHARDS[2]],
        size_ignore: &["**/events.out.tfevents.*"],
    },
];

/// Redactions in the order the header lists them.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    rules: Vec<(Regex, String)>,
}

impl Redactor {
    pub fn add_preset(&mut self, preset: &Preset) {
        for (pattern, replacement) in preset.rules {
            self.rules.push((Regex::new(pattern).expect("preset regexes are valid"), replacement.to_string()));
        }
    }

    pub fn add_regex(&mut self, pattern: &str, replacement: &str) -> Result<(), String> {
        let regex = Regex::new(pattern).map_err(|err| format!("invalid regex: {err}"))?;
        self.rules.push((regex, replacement.to_string()));
        Ok(())
    }

    pub fn apply(&self, path: &[u8]) -> Vec<u8> {
        let mut out = path.to_vec();
        for (regex, replacement) in &self.rules {
            if regex.is_match(&out) {
                out = regex.replace_all(&out, replacement.as_bytes()).into_owned();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sagemaker(path: &str) -> String {
        let mut redactor = Redactor::default();
        redactor.add_preset(PRESETS.iter().find(|p| p.name == "sagemaker").unwrap());
        String::from_utf8(redactor.apply(path.as_bytes())).unwrap()
    }

    #[test]
    fn sagemaker_preset() {
        assert_eq!(sagemaker("output/tensorboard/events.out.tfevents.1700000000.algo-1.123.0.v2"), "output/tensorboard/events.out.tfevents.[TIME].[HOST].v2");
        assert_eq!(sagemaker("events.out.tfevents.1700000000.ip-10-0-0-1.ec2.internal"), "events.out.tfevents.[TIME].[HOST]");
        assert_eq!(sagemaker("model_algo-12"), "model_algo-[N]");
        assert_eq!(sagemaker("pytorch-training-2024-01-15-10-20-30-123/output"), "pytorch-training-[TIMESTAMP]/output");
        assert_eq!(sagemaker("xgb-240115-1020-001-1a2b3c4d/model.tar.gz"), "xgb-[TIMESTAMP]/model.tar.gz");
        assert_eq!(sagemaker("checkpoints/checkpoint-500/model-00001-of-00004.safetensors"), "checkpoints/checkpoint-[N]/model-[N]-of-[M].safetensors");
        assert_eq!(sagemaker("global_step1000/mp_rank_00_model_states.pt"), "global_step[N]/mp_rank_[N]_model_states.pt");
        assert_eq!(sagemaker("model/inference.py"), "model/inference.py");
    }
}
