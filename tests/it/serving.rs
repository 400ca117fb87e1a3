//! Serving packs end to end: `--pack auto` detection, uncertain detection, the serving plan, and
//! real archives. Each rule's own behaviour, on both sides, is a row of
//! tests/fixtures/serving-cases.toml (run by `serving_cases`).

use std::ffi::OsStr;

use crate::common::*;
use Member::{Dir, File};

const TORCH_HANDLER: &[u8] = b"import torch\n\ndef model_fn(model_dir):\n    return torch.jit.load(model_dir + '/net.pt')\n";

/// Check a model.tar.gz holding `members`, with extra arguments; returns (exit code, report).
fn check_model(members: &[Member], args: &[&str]) -> (i32, serde_json::Value) {
    let dir = TestDir::new();
    let archive = tar_gz(&dir, "model.tar.gz", members);
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.push(archive.as_os_str());
    check_json(&all)
}

fn detected(doc: &serde_json::Value) -> Option<String> {
    doc["inputs"][0]["detected"]["pack"].as_str().map(str::to_string)
}

// ------------------------------------------------------------------ selection and detection

#[test]
fn auto_detects_each_framework() {
    let cases: Vec<(&str, Vec<Member>)> = vec![
        ("pytorch", vec![File("model.pth", &TORCHSCRIPT), File("code/inference.py", TORCH_HANDLER)]),
        ("tensorflow-serving", vec![File("1/saved_model.pb", b"pb"), File("1/variables/variables.index", b"i")]),
        (
            "huggingface",
            vec![
                File("config.json", b"{\"model_type\": \"bert\", \"architectures\": [\"BertForSequenceClassification\"]}"),
                File("model.safetensors", b"w"),
                File("tokenizer.json", b"{}"),
            ],
        ),
        ("xgboost", vec![File("xgboost-model", b"m")]),
        ("sklearn", vec![File("model.joblib", b"w"), File("code/inference.py", b"import joblib\ndef model_fn(d): pass\n")]),
        (
            "mxnet",
            vec![
                File("model-symbol.json", b"{}"),
                File("model-0000.params", b"p"),
                File("model-shapes.json", b"[]"),
                File("code/inference.py", b"import mxnet\n"),
            ],
        ),
        ("triton", vec![File("m/config.pbtxt", b"c"), File("m/1/model.pt", &TORCHSCRIPT)]),
        ("djl-lmi", vec![File("serving.properties", b"engine=Python\noption.model_id=gpt2\n")]),
    ];
    for (pack, members) in cases {
        let (code, doc) = check_model(&members, &[]);
        assert_eq!(detected(&doc).as_deref(), Some(pack), "{:#}", doc["inputs"]);
        assert_eq!(doc["inputs"][0]["detected"]["certain"], true, "{:#}", doc["inputs"]);
        let packs: Vec<&str> = doc["inputs"][0]["packs"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        assert_eq!(packs, vec!["layout", "sagemaker-training", "sagemaker-model", pack]);
        assert_eq!(code, 0, "{pack}: {:#}", doc["diagnostics"]);
    }
}

#[test]
fn auto_never_picks_one_of_two_equally_likely_packs() {
    let (_, doc) = check_model(&[File("model.pth", &TORCHSCRIPT), File("model.joblib", b"w")], &[]);
    assert_eq!(detected(&doc), None);
    let reason = doc["inputs"][0]["detected"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("uncertain: pytorch and sklearn fit equally well"), "{reason}");
    let packs: Vec<&str> = doc["inputs"][0]["packs"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(packs, vec!["layout", "sagemaker-training", "sagemaker-model"]);
}

#[test]
fn auto_says_when_it_is_unsure() {
    let (_, doc) = check_model(&[File("model.pkl", b"w")], &[]);
    assert_eq!(detected(&doc).as_deref(), Some("sklearn"));
    assert_eq!(doc["inputs"][0]["detected"]["certain"], false);
    assert!(doc["inputs"][0]["detected"]["reason"].as_str().unwrap().contains("uncertain"));
}

#[test]
fn training_trees_get_only_the_training_pack_by_default() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("ml/model/inference.py", "def model_fn(d): pass\n");
    let (_, doc) = check_json(&[root.as_os_str()]);
    assert!(doc["inputs"][0].get("detected").is_none());
    assert_eq!(doc["inputs"][0]["packs"], serde_json::json!(["layout", "sagemaker-training"]));
    // Asked for, auto looks at model/ of the tree too.
    let (_, doc) = check_json(&[OsStr::new("--pack"), OsStr::new("auto"), root.as_os_str()]);
    assert_eq!(paths_for(&doc, "MDL102"), vec!["model/inference.py"]);
}

#[test]
fn human_header_names_the_chosen_pack_and_why() {
    let dir = TestDir::new();
    let archive = tar_gz(&dir, "model.tar.gz", &[Dir("model/"), File("model/xgboost-model", b"m")]);
    let output = optml().args(["check", "--color", "never"]).arg(&archive).output().unwrap();
    let text = transcript(&output, dir.path());
    snapshot_settings("serving").bind(|| insta::assert_snapshot!("human_auto_xgboost", text));
}

#[test]
fn bad_env_argument_is_a_usage_error() {
    let output = optml().args(["check", "--env", "NOEQUALS", "."]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

// ------------------------------------------------------------------ real archives

/// Real model archives (tests/fixtures/corpus, see PROVENANCE.md) with a serving story: one
/// line each with the exit code, the pack `auto` chose and every finding as CODE@path.
const SERVING_CORPUS: &[&str] = &[
    "AREP-2026-1__Taller02__model.tar.gz",
    "AggarwalJitesh__End-to-End-MLOps-Pipeline-on-AWS-SageMaker__model.tar",
    "AnderssonProgramming__logistic-regression-aws-ai__model.tar.gz",
    "AnnamalaiC5I__sagemaker__model.tar.gz",
    "BDM3014ProjectWinter2024__BankChurnPrediction__model.tar.gz",
    "Btrainwilson__triton-fashionvae__model.tar.gz",
    "DavidChatak__MLDP09__Advertising1__model.tar.gz",
    "Eliza-05__Logistic-Regression__model.tar.gz",
    "Fabrizio-Andrew__Vacation-Rental-Model__model.tar.gz",
    "FnuAbhijith__Store-item-demand-forecasting__model.tar.gz",
    "Ioana-P__sagemaker_inroads__model.tar.gz",
    "JoyceHe1998__Deploy-Your-Model-To-AWS-SageMaker__model.tar.gz",
    "Nischal1011__house_price_prediction__model.tar.gz",
    "Pradeepbisht1__ai-devops-autofix-pipeline__ml_model__models__model.tar.gz",
    "RamVegiraju__Pre-Trained-Sklearn-SageMaker__model.tar.gz",
    "ShreySharma07__aws-realtime-fraud-detection__model.tar.gz",
    "Sohibbity__binary-classification-ml-pipeline__model.tar.gz",
    "aws-samples__easy-amazon-sagemaker-deployments__34ae74b8__notebooks__model1.tar.gz",
    "aws-samples__easy-amazon-sagemaker-deployments__model.tar.gz",
    "aws__amazon-sagemaker-examples__archived__model_monitor_tensorflow__model__tensorflow_california_housing_model.tar.gz",
    "aws__amazon-sagemaker-examples__sagemaker_model_monitor__tensorflow__model__tensorflow-boston-housing-model.tar.gz",
    "aws__sagemaker-mxnet-inference-toolkit__test__resources__default_handlers__model.tar.gz",
    "aws__sagemaker-python-sdk__tests__data__lmi-model-falcon-7b__mymodel-7B.tar.gz",
    "aws__sagemaker-python-sdk__tests__data__pytorch_eia__model_mnist.tar.gz",
    "aws__sagemaker-python-sdk__tests__data__pytorch_mnist__packed_model.tar.gz",
    "aws__sagemaker-python-sdk__tests__data__tf-iris-model.tar.gz",
    "aws__sagemaker-pytorch-inference-toolkit__test-toolkit__resources__mnist__model_cpu__model.tar.gz",
    "aws__sagemaker-tensorflow-serving-container__test__data__python-with-requirements.tar.gz",
    "aws__sagemaker-tensorflow-serving-container__test__data__test-model.tar.gz",
    "makawtharani__openai-whisper-deployment__model__model.tar.gz",
    "marshmellow77__deploy-flan-t5-sagemaker__model__model.tar.gz",
    "philschmid__transformers-inferentia__model__model.tar.gz",
];

pub fn corpus_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus").join(name)
}

#[test]
fn corpus_detected_packs_and_verdicts() {
    let mut lines = Vec::new();
    for name in SERVING_CORPUS {
        let (code, doc) = check_json(&[corpus_file(name).as_os_str()]);
        let detection = &doc["inputs"][0]["detected"];
        let pack = match (detection["pack"].as_str(), detection["certain"].as_bool()) {
            (Some(pack), Some(true)) => pack.to_string(),
            (Some(pack), _) => format!("{pack}?"),
            (None, _) => "-".to_string(),
        };
        let mut findings: Vec<String> =
            doc["diagnostics"].as_array().unwrap().iter().map(|d| format!("{}@{}", d["rule"].as_str().unwrap(), d["path"].as_str().unwrap())).collect();
        findings.dedup();
        lines.push(format!("{name} | exit {code} | {pack} | {}", findings.join(" ")));
    }
    snapshot_settings("serving").bind(|| insta::assert_snapshot!("corpus_verdicts", lines.join("\n")));
}

#[test]
fn a_job_folders_model_artifact_gets_the_serving_packs() {
    let dir = TestDir::new();
    tar_gz(&dir, "job/output/model.tar.gz", &[File("model.pth", &TORCHSCRIPT), File("inference.py", TORCH_HANDLER)]);
    tar_gz(&dir, "job/output/output.tar.gz", &[File("metrics.json", b"{}")]);
    let (_, doc) = check_json(&[dir.join("job").as_os_str()]);
    assert_eq!(doc["inputs"][0]["kind"], "job");
    assert_eq!(detected(&doc).as_deref(), Some("pytorch"));
    assert_eq!(paths_for(&doc, "MDL102"), vec!["output/model.tar.gz/inference.py"]);
}

#[test]
fn builtin_algorithm_outputs_are_not_mxnet_models() {
    // DeepAR writes model_algo-1-symbol.json / -0000.params / -config.json: MXNet-style files that
    // the DeepAR algorithm image serves, not the MXNet framework container (no MX101).
    let deepar = [File("model_algo-1-config.json", b"{}"), File("model_algo-1-0000.params", b"p"), File("model_algo-1-symbol.json", b"{}")];
    let (code, doc) = check_model(&deepar, &[]);
    assert_eq!(code, 0, "{:#}", doc["diagnostics"]);
    assert_eq!(detected(&doc), None);
    assert!(paths_for(&doc, "MX101").is_empty());
    // A real MXNet Module checkpoint is still detected.
    let (_, doc) = check_model(&[File("model-symbol.json", b"{}"), File("model-0000.params", b"p"), File("model-shapes.json", b"[]")], &[]);
    assert_eq!(detected(&doc).as_deref(), Some("mxnet"));
}

/// (replacing, replaced) pairs: a rule code or a pack name, and a rule code.
type Replacements = Vec<(String, String)>;

/// Which codes each code replaces: rule-level `supersedes` (on a related path) and pack-level
/// `supersedes` (whenever the pack applies), read from the built-in rule files.
fn supersedes() -> (Replacements, Replacements) {
    let (mut by_rule, mut by_pack) = (Vec::new(), Vec::new());
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for file in std::fs::read_dir(rules).expect("rules dir") {
        let text = std::fs::read_to_string(file.expect("entry").path()).expect("rule file");
        let doc: toml::Value = toml::from_str(&text).expect("rule file parses");
        let pack = doc["pack"]["name"].as_str().expect("pack name").to_string();
        for code in doc["pack"].get("supersedes").and_then(|s| s.as_array()).into_iter().flatten() {
            by_pack.push((pack.clone(), code.as_str().expect("code").to_string()));
        }
        for rule in doc.get("rule").and_then(|r| r.as_array()).into_iter().flatten() {
            for code in rule.get("supersedes").and_then(|s| s.as_array()).into_iter().flatten() {
                by_rule.push((rule["code"].as_str().expect("code").to_string(), code.as_str().expect("code").to_string()));
            }
        }
    }
    (by_rule, by_pack)
}

/// Codes about a property of the entry itself (its mode bits, its being stored twice): they may
/// stand beside a finding about the same entry's place or content, which has another cause.
const ENTRY_PROPERTY_CODES: [&str; 2] = ["SM506", "SM509"];

/// One cause, one finding, on every real archive: no code twice on one path, no two codes on one
/// path unless one is about a property of the entry, no finding a reported rule supersedes on a
/// related path (the same, one above or below it, or the whole input), and no code a pack that
/// applied supersedes.
#[test]
fn corpus_archives_get_one_finding_per_cause() {
    let (by_rule, by_pack) = supersedes();
    let related = |a: &str, b: &str| a.is_empty() || b.is_empty() || a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"));
    let mut doubles = Vec::new();
    for archive in crate::corpus::corpus_files() {
        let (_, doc) = check_json(&[archive.as_os_str()]);
        let name = archive.file_name().unwrap().to_string_lossy().into_owned();
        let findings: Vec<(String, String)> =
            doc["diagnostics"].as_array().unwrap().iter().map(|d| (d["rule"].as_str().unwrap().to_string(), d["path"].as_str().unwrap().to_string())).collect();
        let packs: Vec<&str> = doc["inputs"][0]["packs"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        for (i, (code, path)) in findings.iter().enumerate() {
            if findings[..i].contains(&(code.clone(), path.clone())) {
                doubles.push(format!("{name}: {code} twice on `{path}`"));
            }
            for (other, other_path) in &findings[..i] {
                let independent = ENTRY_PROPERTY_CODES.contains(&code.as_str()) || ENTRY_PROPERTY_CODES.contains(&other.as_str());
                if other_path == path && other != code && !independent {
                    doubles.push(format!("{name}: {other} and {code} on `{path}`"));
                }
            }
            for (other, other_path) in &findings {
                if by_rule.contains(&(other.clone(), code.clone())) && related(path, other_path) {
                    doubles.push(format!("{name}: {code}@{path} beside {other}@{other_path}, which supersedes it"));
                }
            }
            if let Some((pack, _)) = by_pack.iter().find(|(pack, superseded)| superseded == code && packs.contains(&pack.as_str())) {
                doubles.push(format!("{name}: {code}@{path} although pack {pack} applied"));
            }
        }
    }
    assert!(doubles.is_empty(), "double findings for one cause:\n{}", doubles.join("\n"));
}

// ------------------------------------------------------------------ uncertain detection, plan

#[test]
fn uncertain_detection_turns_the_packs_errors_into_warnings() {
    // Tokenizer files alone hint at Hugging Face (weak evidence): HF101 is then a warning.
    let members = [File("tokenizer.json", b"{}"), File("vocab.txt", b"a\n"), File("weights.bin", b"w")];
    let (code, doc) = check_model(&members, &[]);
    assert_eq!(detected(&doc).as_deref(), Some("huggingface"));
    assert_eq!(doc["inputs"][0]["detected"]["certain"], false);
    let hf101: Vec<&serde_json::Value> = doc["diagnostics"].as_array().unwrap().iter().filter(|d| d["rule"] == "HF101").collect();
    assert_eq!(hf101.len(), 1, "{:#}", doc["diagnostics"]);
    assert_eq!(hf101[0]["severity"], "warning");
    assert!(hf101[0]["message"].as_str().unwrap().contains("confirm with --pack huggingface"));
    assert_eq!(code, 0);
    // Confirmed with --pack, it is the error the container's behaviour makes it.
    let (code, doc) = check_model(&members, &["--pack", "huggingface"]);
    let severities: Vec<&serde_json::Value> = doc["diagnostics"].as_array().unwrap().iter().filter(|d| d["rule"] == "HF101").map(|d| &d["severity"]).collect();
    assert_eq!(severities, vec!["error"]);
    assert_eq!(code, 1);
}

/// The plan's items as `item: value`.
fn plan(doc: &serde_json::Value) -> Vec<String> {
    doc["inputs"][0]["plan"].as_array().into_iter().flatten().map(|i| format!("{}: {}", i["item"].as_str().unwrap(), i["value"].as_str().unwrap())).collect()
}

/// A step listing the files it loads names the first eight, in archive order, and counts the
/// rest, also when the entries are many enough to be matched in parts on several threads.
#[test]
fn the_plan_lists_the_first_model_files_and_counts_the_rest() {
    let names: Vec<String> = (0..40_000).map(|i| format!("shard-{i:05}.bin")).collect();
    let mut members = vec![File("config.json", b"{}")];
    members.extend(names.iter().map(|name| File(name, b"w")));
    let (_, doc) = check_model(&members, &["--pack", "huggingface"]);
    let files = plan(&doc).into_iter().find(|item| item.starts_with("model-files: ")).expect("a model-files item");
    let shown: Vec<String> = std::iter::once("config.json".to_string()).chain(names[..7].iter().cloned()).collect();
    assert_eq!(files, format!("model-files: from_pretrained('/opt/ml/model'): {} and 39993 more", shown.join(", ")));
}

#[test]
fn the_plan_states_what_the_container_will_do_and_follows_the_environment() {
    let members = [
        File("config.json", b"{\"architectures\": [\"DistilBertForSequenceClassification\"]}"),
        File("model.safetensors", b"w"),
        File("code/requirements.txt", b"accelerate\n"),
    ];
    let (_, doc) = check_model(&members, &["--pack", "huggingface"]);
    let items = plan(&doc);
    assert!(
        items.contains(&"task: text-classification (inferred from config.json architectures[0] = DistilBertForSequenceClassification)".to_string()),
        "{items:#?}"
    );
    assert!(items.contains(&"module: none: default handler".to_string()), "{items:#?}");
    assert!(items.contains(&"requirements: pip install -r code/requirements.txt at start-up".to_string()), "{items:#?}");
    assert!(doc["inputs"][0]["plan"].as_array().unwrap().iter().all(|i| !i["source"].as_str().unwrap().is_empty()));
    let (_, doc) = check_model(&members, &["--pack", "huggingface", "--env", "HF_TASK=fill-mask"]);
    assert!(plan(&doc).contains(&"task: fill-mask (HF_TASK)".to_string()), "{:#?}", plan(&doc));
    // A training tree has no model to serve: no plan.
    let dir = TestDir::new();
    let (_, doc) = check_json(&[dir.opt_ml("ml").as_os_str()]);
    assert!(doc["inputs"][0].get("plan").is_none());
}
