//! Serving packs end to end: every rule of sagemaker-model and the framework packs on a failing
//! and a passing model.tar.gz built here, `--pack auto` detection, and `--env`.

use std::ffi::OsStr;

use crate::common::*;
use Member::{Dir, File, Symlink};

const TORCH_HANDLER: &[u8] =
    b"import torch\n\ndef model_fn(model_dir):\n    return torch.jit.load(model_dir + '/net.pt')\n";
const NO_MODEL_FN: &[u8] =
    b"import torch\n\ndef predict_fn(data, model):\n    return model(data)\n";

/// Check a model.tar.gz holding `members`, with extra arguments; returns (exit code, report).
fn check_model(members: &[Member], args: &[&str]) -> (i32, serde_json::Value) {
    let dir = TestDir::new();
    let archive = tar_gz(&dir, "model.tar.gz", members);
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.push(archive.as_os_str());
    check_json(&all)
}

/// `code` fires on `bad` and not on `good`, both checked with `args`.
fn assert_rule(code: &str, bad: &[Member], good: &[Member], args: &[&str]) {
    let (_, doc) = check_model(bad, args);
    assert!(
        !paths_for(&doc, code).is_empty(),
        "{code} should fire: {:#}",
        doc["diagnostics"]
    );
    let (_, doc) = check_model(good, args);
    assert!(
        paths_for(&doc, code).is_empty(),
        "{code} should not fire: {:#}",
        doc["diagnostics"]
    );
}

fn detected(doc: &serde_json::Value) -> Option<String> {
    doc["inputs"][0]["detected"]["pack"]
        .as_str()
        .map(str::to_string)
}

// ------------------------------------------------------------------ sagemaker-model

#[test]
fn mdl101_wrapper_folder_is_an_error_except_for_layouts_that_need_one() {
    let args = ["--pack", "sagemaker-model"];
    assert_rule(
        "MDL101",
        &[Dir("model/"), File("model/model.pt", &TORCHSCRIPT)],
        &[File("model.pt", &TORCHSCRIPT)],
        &args,
    );
    let (code, doc) = check_model(
        &[Dir("model/"), File("model/model.pt", &TORCHSCRIPT)],
        &args,
    );
    assert_eq!(code, 1);
    assert_eq!(paths_for(&doc, "MDL101"), vec!["model"]);
    // TF Serving <name>/<version>/, a Triton model folder and a code-only model are fine.
    for good in [
        vec![File("tfs/1/saved_model.pb", b"pb")],
        // find_models walks the tree: a folder around <name>/<version>/ is still served (as <name>).
        vec![File("repo/name/1/saved_model.pb", b"pb")],
        vec![
            File("fvae/config.pbtxt", b"c"),
            File("fvae/1/model.pt", &TORCHSCRIPT),
        ],
        vec![File("code/inference.py", b"def model_fn(d): pass\n")],
    ] {
        let (_, doc) = check_model(&good, &args);
        assert!(
            paths_for(&doc, "MDL101").is_empty(),
            "{:#}",
            doc["diagnostics"]
        );
    }
}

#[test]
fn mdl101_supersedes_the_training_warning() {
    let (_, doc) = check_model(&[Dir("model/"), File("model/model.pt", &TORCHSCRIPT)], &[]);
    assert!(codes(&doc).contains(&"MDL101".to_string()));
    assert!(
        !codes(&doc).contains(&"SM606".to_string()),
        "{:#}",
        doc["diagnostics"]
    );
}

#[test]
fn mdl102_inference_py_outside_code() {
    let args = ["--pack", "sagemaker-model"];
    assert_rule(
        "MDL102",
        &[
            File("model.pt", &TORCHSCRIPT),
            File("inference.py", TORCH_HANDLER),
        ],
        &[
            File("model.pt", &TORCHSCRIPT),
            File("code/inference.py", TORCH_HANDLER),
        ],
        &args,
    );
    let (_, doc) = check_model(
        &[
            File("w/model.pt", &TORCHSCRIPT),
            File("w/inference.py", TORCH_HANDLER),
        ],
        &args,
    );
    assert_eq!(paths_for(&doc, "MDL102"), vec!["w/inference.py"]);
    let fix = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["rule"] == "MDL102")
        .unwrap()["fix"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        fix.starts_with("move `w/inference.py` to `code/inference.py`"),
        "{fix}"
    );
}

#[test]
fn mdl103_other_handler_module_outside_code() {
    let handler = b"import joblib\ndef model_fn(model_dir):\n    return joblib.load(model_dir)\n";
    assert_rule(
        "MDL103",
        &[File("model.joblib", b"w"), File("serve_model.py", handler)],
        &[
            File("model.joblib", b"w"),
            File("utils.py", b"def helper():\n    pass\n"),
            File("code/serve_model.py", handler),
        ],
        &["--pack", "sagemaker-model"],
    );
}

#[test]
fn mdl104_requirements_outside_code() {
    assert_rule(
        "MDL104",
        &[
            File("model.joblib", b"w"),
            File("requirements.txt", b"numpy\n"),
        ],
        &[
            File("model.joblib", b"w"),
            File("code/requirements.txt", b"numpy\n"),
        ],
        &["--pack", "sagemaker-model"],
    );
}

#[test]
fn mdl105_symlinks_are_rejected_by_endpoints() {
    assert_rule(
        "MDL105",
        &[
            File("blobs/abc", b"w"),
            Symlink("model.safetensors", "blobs/abc"),
        ],
        &[File("model.safetensors", b"w")],
        &["--pack", "sagemaker-model"],
    );
    // A link leaving the archive is SM503's, not reported twice.
    let (_, doc) = check_model(
        &[
            File("model.pt", &TORCHSCRIPT),
            Symlink("x", "../../etc/passwd"),
        ],
        &[],
    );
    assert!(paths_for(&doc, "MDL105").is_empty());
    assert_eq!(paths_for(&doc, "SM503"), vec!["x"]);
}

#[test]
fn mdl106_nested_model_archive() {
    assert_rule(
        "MDL106",
        &[File("model.pt", &TORCHSCRIPT), File("model.tar.gz", b"")],
        &[File("model.pt", &TORCHSCRIPT)],
        &["--pack", "sagemaker-model"],
    );
}

#[test]
fn mdl107_weights_missing_unless_model_fn_or_hf_model_id() {
    let args = ["--pack", "sagemaker-model"];
    let code_only = [
        File("code/inference.py", NO_MODEL_FN),
        File("code/requirements.txt", b"torch\n"),
        File("._x", b""),
    ];
    assert_rule(
        "MDL107",
        &code_only,
        &[
            File("code/inference.py", NO_MODEL_FN),
            File("model.pt", &TORCHSCRIPT),
        ],
        &args,
    );
    let (_, doc) = check_model(&[File("code/inference.py", TORCH_HANDLER)], &args);
    assert!(
        paths_for(&doc, "MDL107").is_empty(),
        "a model_fn may fetch the weights"
    );
    let (_, doc) = check_model(
        &code_only,
        &["--pack", "sagemaker-model", "--env", "HF_MODEL_ID=gpt2"],
    );
    assert!(
        paths_for(&doc, "MDL107").is_empty(),
        "HF_MODEL_ID pulls the weights"
    );
}

#[test]
fn mdl108_weights_under_code() {
    assert_rule(
        "MDL108",
        &[
            File("code/inference.py", TORCH_HANDLER),
            File("code/net.pt", &TORCHSCRIPT),
        ],
        &[
            File("code/inference.py", TORCH_HANDLER),
            File("net.pt", &TORCHSCRIPT),
        ],
        &["--pack", "sagemaker-model"],
    );
}

#[test]
fn mdl109_uncompressed_model_folder_follows_the_s3_key_rules() {
    let dir = TestDir::new();
    dir.file("upload/model.pt", &*TORCHSCRIPT)
        .file("upload/ /w.bin", "x");
    dir.file("clean/model.pt", &*TORCHSCRIPT)
        .file("clean/extra/w.bin", "x");
    let (code, doc) = check_json(&[
        OsStr::new("--as"),
        OsStr::new("model"),
        dir.join("upload").as_os_str(),
    ]);
    assert_eq!(paths_for(&doc, "MDL109"), vec![" "]);
    assert_eq!(code, 1);
    let (code, doc) = check_json(&[
        OsStr::new("--as"),
        OsStr::new("model"),
        dir.join("clean").as_os_str(),
    ]);
    assert_eq!(
        codes(&doc),
        Vec::<String>::new(),
        "{:#}",
        doc["diagnostics"]
    );
    assert_eq!(code, 0);
}

// ------------------------------------------------------------------ pytorch

#[test]
fn pt101_default_handler_needs_one_model_file() {
    let args = ["--pack", "pytorch"];
    assert_rule(
        "PT101",
        &[File("a.pth", &TORCHSCRIPT), File("b.pth", &TORCHSCRIPT)],
        &[File("a.pth", &TORCHSCRIPT)],
        &args,
    );
    assert_rule(
        "PT101",
        &[File("weights.bin", b"w")],
        &[
            File("model.pt", &TORCHSCRIPT),
            File("other.pt", &TORCHSCRIPT),
        ],
        &args,
    );
    // A duplicate member and an AppleDouble twin are not second models.
    let (_, doc) = check_model(
        &[
            File("m.pth", &TORCHSCRIPT),
            File("m.pth", &TORCHSCRIPT),
            File("._m.pth", &TORCHSCRIPT),
        ],
        &args,
    );
    assert!(
        paths_for(&doc, "PT101").is_empty(),
        "{:#}",
        doc["diagnostics"]
    );
}

#[test]
fn pt102_says_when_it_is_unsure_about_model_fn() {
    let args = ["--pack", "pytorch"];
    assert_rule(
        "PT102",
        &[
            File("a.pth", &TORCHSCRIPT),
            File("b.pth", &TORCHSCRIPT),
            File("code/inference.py", NO_MODEL_FN),
        ],
        &[
            File("a.pth", &TORCHSCRIPT),
            File("b.pth", &TORCHSCRIPT),
            File("code/inference.py", TORCH_HANDLER),
        ],
        &args,
    );
    let (code, doc) = check_model(
        &[
            File("net.bin", b"w"),
            File("code/inference.py", NO_MODEL_FN),
        ],
        &args,
    );
    let help = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["rule"] == "PT102")
        .unwrap()["help"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(help.starts_with("unsure:"), "{help}");
    assert!(paths_for(&doc, "PT101").is_empty());
    assert_eq!(code, 0, "a warning only");
}

// ------------------------------------------------------------------ tensorflow-serving

#[test]
fn tfs101_no_savedmodel() {
    assert_rule(
        "TFS101",
        &[File("model.h5", b"w")],
        &[
            File("1/saved_model.pb", b"pb"),
            File("1/variables/variables.index", b"i"),
        ],
        &["--pack", "tensorflow-serving"],
    );
    // find_models looks for saved_model.pb only: a text SavedModel alone is not found.
    let (_, doc) = check_model(
        &[
            File("1/saved_model.pbtxt", b"pb"),
            File("1/variables/variables.index", b"i"),
        ],
        &["--pack", "tensorflow-serving"],
    );
    assert!(
        !paths_for(&doc, "TFS101").is_empty(),
        "{:#}",
        doc["diagnostics"]
    );
}

#[test]
fn tfs102_savedmodel_outside_a_version_folder() {
    let args = ["--pack", "tensorflow-serving"];
    assert_rule(
        "TFS102",
        &[File("saved_model.pb", b"pb")],
        &[
            File("tfs/00000123/saved_model.pb", b"pb"),
            File("tfs/00000123/variables/v", b"v"),
        ],
        &args,
    );
    // The container's find_models walks the whole tree and keeps every saved_model.pb whose parent
    // is all digits: TF1's export/Servo/<timestamp>/ is served (as model `Servo`).
    let (_, doc) = check_model(
        &[
            File("export/Servo/1507144001/saved_model.pb", b"pb"),
            File("export/Servo/1507144001/variables/variables.index", b"i"),
        ],
        &args,
    );
    assert!(
        paths_for(&doc, "TFS102").is_empty() && paths_for(&doc, "TFS101").is_empty(),
        "{:#}",
        doc["diagnostics"]
    );
    assert!(
        paths_for(&doc, "TFS103").is_empty(),
        "variables/ beside a deep version folder counts"
    );
    let (_, doc) = check_model(&[File("export/saved_model/saved_model.pb", b"pb")], &args);
    assert_eq!(
        paths_for(&doc, "TFS102"),
        vec!["export/saved_model/saved_model.pb"]
    );
    assert!(
        paths_for(&doc, "TFS101").is_empty(),
        "one finding for a misplaced SavedModel"
    );
}

#[test]
fn tfs103_variables_missing() {
    assert_rule(
        "TFS103",
        &[File("1/saved_model.pb", b"pb")],
        &[
            File("1/saved_model.pb", b"pb"),
            File("1/variables/variables.index", b"i"),
        ],
        &["--pack", "tensorflow-serving"],
    );
}

#[test]
fn tfs104_code_inside_the_version_folder() {
    assert_rule(
        "TFS104",
        &[
            File("1/saved_model.pb", b"pb"),
            File("1/variables/v", b"v"),
            File("1/code/inference.py", b"def handler(d, c): pass\n"),
        ],
        &[
            File("1/saved_model.pb", b"pb"),
            File("1/variables/v", b"v"),
            File("code/inference.py", b"def handler(d, c): pass\n"),
        ],
        &["--pack", "tensorflow-serving"],
    );
}

// ------------------------------------------------------------------ huggingface

#[test]
fn hf101_config_missing_unless_hf_model_id() {
    let args = ["--pack", "huggingface"];
    assert_rule(
        "HF101",
        &[File("model.safetensors", b"w")],
        &[File("config.json", b"{}"), File("model.safetensors", b"w")],
        &args,
    );
    let (_, doc) = check_model(
        &[File("code/requirements.txt", b"transformers\n")],
        &["--pack", "huggingface", "--env", "HF_MODEL_ID=gpt2"],
    );
    assert!(paths_for(&doc, "HF101").is_empty());
}

#[test]
fn hf102_config_without_weights() {
    assert_rule(
        "HF102",
        &[File("config.json", b"{}"), File("tokenizer.json", b"{}")],
        &[
            File("config.json", b"{}"),
            File("unet/diffusion_pytorch_model.safetensors", b"w"),
        ],
        &["--pack", "huggingface"],
    );
}

// ------------------------------------------------------------------ xgboost

#[test]
fn xgb101_dotfile_at_root() {
    assert_rule(
        "XGB101",
        &[File("._xgboost-model", b"x"), File("xgboost-model", b"m")],
        &[File("xgboost-model", b"m")],
        &["--pack", "xgboost"],
    );
}

#[test]
fn xgb102_extra_files_at_root_unless_ensemble() {
    let args = ["--pack", "xgboost"];
    let extra = [
        File("xgboost-model", b"m"),
        File("requirements.txt", b"xgboost\n"),
    ];
    assert_rule(
        "XGB102",
        &extra,
        &[
            File("xgboost-model", b"m"),
            File("code/inference.py", b"import xgboost\n"),
        ],
        &args,
    );
    let (_, doc) = check_model(
        &extra,
        &[
            "--pack",
            "xgboost",
            "--env",
            "SAGEMAKER_INFERENCE_ENSEMBLE=true",
        ],
    );
    assert!(paths_for(&doc, "XGB102").is_empty());
}

#[test]
fn xgb103_no_regular_file_at_root() {
    assert_rule(
        "XGB103",
        &[
            File("model/xgboost-model", b"m"),
            File("code/inference.py", b"import xgboost\n"),
        ],
        &[File("xgboost-model", b"m")],
        &["--pack", "xgboost"],
    );
}

// ------------------------------------------------------------------ sklearn

#[test]
fn skl101_model_fn_not_found() {
    assert_rule(
        "SKL101",
        &[
            File("model.joblib", b"w"),
            File(
                "code/inference.py",
                b"def predict_fn(x, m):\n    return m.predict(x)\n",
            ),
        ],
        &[
            File("model.joblib", b"w"),
            File("code/inference.py", b"from common import model_fn\n"),
        ],
        &["--pack", "sklearn"],
    );
}

#[test]
fn skl102_entry_point_not_in_archive_is_info() {
    let args = ["--pack", "sklearn"];
    assert_rule(
        "SKL102",
        &[File("model.joblib", b"w")],
        &[
            File("model.joblib", b"w"),
            File("code/inference.py", b"def model_fn(d): pass\n"),
        ],
        &args,
    );
    let (code, _) = check_model(&[File("model.joblib", b"w")], &args);
    assert_eq!(code, 0);
}

// ------------------------------------------------------------------ mxnet

#[test]
fn mx101_default_handler_files() {
    let complete = [
        File("model-symbol.json", b"{}"),
        File("model-0000.params", b"p"),
        File("model-shapes.json", b"[]"),
    ];
    assert_rule(
        "MX101",
        &[
            File("model-symbol.json", b"{}"),
            File("model-0000.params", b"p"),
        ],
        &complete,
        &["--pack", "mxnet"],
    );
    let (_, doc) = check_model(
        &[
            File("model-symbol.json", b"{}"),
            File("model-0000.params", b"p"),
        ],
        &["--pack", "mxnet"],
    );
    assert_eq!(paths_for(&doc, "MX101"), vec!["*-shapes.json"]);
}

// ------------------------------------------------------------------ triton

#[test]
fn trt101_config_at_root() {
    assert_rule(
        "TRT101",
        &[File("config.pbtxt", b"c"), File("1/model.pt", &TORCHSCRIPT)],
        &[
            File("m/config.pbtxt", b"c"),
            File("m/1/model.pt", &TORCHSCRIPT),
        ],
        &["--pack", "triton"],
    );
}

#[test]
fn trt102_no_model_folder() {
    assert_rule(
        "TRT102",
        &[
            File("repo/m/config.pbtxt", b"c"),
            File("repo/m/1/model.pt", &TORCHSCRIPT),
        ],
        &[
            File("m/config.pbtxt", b"c"),
            File("m/1/model.pt", &TORCHSCRIPT),
        ],
        &["--pack", "triton"],
    );
}

#[test]
fn trt103_several_models_need_a_default() {
    let two = [
        File("a/config.pbtxt", b"c"),
        File("a/1/model.pt", &TORCHSCRIPT),
        File("b/config.pbtxt", b"c"),
        File("b/1/model.pt", &TORCHSCRIPT),
    ];
    assert_rule(
        "TRT103",
        &two,
        &[
            File("a/config.pbtxt", b"c"),
            File("a/1/model.pt", &TORCHSCRIPT),
        ],
        &["--pack", "triton"],
    );
    let (_, doc) = check_model(
        &two,
        &[
            "--pack",
            "triton",
            "--env",
            "SAGEMAKER_TRITON_DEFAULT_MODEL_NAME=a",
        ],
    );
    assert!(paths_for(&doc, "TRT103").is_empty());
}

#[test]
fn trt104_version_folder_missing() {
    assert_rule(
        "TRT104",
        &[
            File("m/config.pbtxt", b"c"),
            File("m/model.pt", &TORCHSCRIPT),
        ],
        &[
            File("m/config.pbtxt", b"c"),
            File("m/1/model.pt", &TORCHSCRIPT),
        ],
        &["--pack", "triton"],
    );
}

#[test]
fn triton_python_backend_is_not_an_inference_toolkit_handler() {
    let (_, doc) = check_model(
        &[
            File("m/config.pbtxt", b"backend: \"python\""),
            File("m/1/model.py", b"def model_fn(x): pass\n"),
            File("requirements.txt", b"x"),
        ],
        &["--pack", "triton"],
    );
    for code in ["MDL102", "MDL103", "MDL104"] {
        assert!(
            paths_for(&doc, code).is_empty(),
            "{code}: {:#}",
            doc["diagnostics"]
        );
    }
}

// ------------------------------------------------------------------ djl-lmi

#[test]
fn djl_tolerates_a_wrapper_folder() {
    let (code, doc) = check_model(
        &[File(
            "mymodel-7B/serving.properties",
            b"engine=Python\noption.model_id=tiiuae/falcon-7b\n",
        )],
        &["--pack", "djl-lmi"],
    );
    assert_eq!(codes(&doc), Vec::<String>::new());
    assert_eq!(code, 0);
}

#[test]
fn djl101_serving_properties_missing() {
    assert_rule(
        "DJL101",
        &[File("model.py", b"x")],
        &[
            File("serving.properties", b"engine=Python\n"),
            File("model.py", b"x"),
        ],
        &["--pack", "djl-lmi"],
    );
}

#[test]
fn djl102_engine_missing() {
    assert_rule(
        "DJL102",
        &[File("serving.properties", b"option.model_id=gpt2\n")],
        &[File(
            "serving.properties",
            b"# comment\nengine = Python\noption.model_id=gpt2\n",
        )],
        &["--pack", "djl-lmi"],
    );
}

#[test]
fn djl103_invalid_property_line() {
    let args = ["--pack", "djl-lmi"];
    for bad in [
        &b"engine=Python\noption.model_id gpt2\n"[..],
        b"engine=Python\noption.model id=gpt2\n",
        b"engine=Python\noption$x=1\n",
    ] {
        let (_, doc) = check_model(&[File("serving.properties", bad)], &args);
        assert!(
            !paths_for(&doc, "DJL103").is_empty(),
            "{}: {:#}",
            String::from_utf8_lossy(bad),
            doc["diagnostics"]
        );
    }
    let (_, doc) = check_model(
        &[File(
            "serving.properties",
            b"engine=Python\noption.model_id gpt2\n",
        )],
        &args,
    );
    let message = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["rule"] == "DJL103")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.ends_with("`option.model_id gpt2`"), "{message}");
    let good = b"# LMI\n! also a comment\nengine=MPI\noption.tensor_parallel_degree : 4\noption.rolling_batch=vllm\n\n";
    let (_, doc) = check_model(
        &[
            File("serving.properties", good),
            File("model.safetensors", b"w"),
        ],
        &args,
    );
    assert_eq!(
        codes(&doc),
        Vec::<String>::new(),
        "{:#}",
        doc["diagnostics"]
    );
}

#[test]
fn djl104_no_model_source() {
    assert_rule(
        "DJL104",
        &[File("serving.properties", b"engine=Python\n")],
        &[File(
            "serving.properties",
            b"engine=Python\noption.model_id=s3://bucket/llama/\n",
        )],
        &["--pack", "djl-lmi"],
    );
}

// ------------------------------------------------------------------ selection and detection

#[test]
fn auto_detects_each_framework() {
    let cases: Vec<(&str, Vec<Member>)> = vec![
        (
            "pytorch",
            vec![
                File("model.pth", &TORCHSCRIPT),
                File("code/inference.py", TORCH_HANDLER),
            ],
        ),
        (
            "tensorflow-serving",
            vec![
                File("1/saved_model.pb", b"pb"),
                File("1/variables/variables.index", b"i"),
            ],
        ),
        (
            "huggingface",
            vec![
                File("config.json", b"{\"model_type\": \"bert\"}"),
                File("model.safetensors", b"w"),
                File("tokenizer.json", b"{}"),
            ],
        ),
        ("xgboost", vec![File("xgboost-model", b"m")]),
        (
            "sklearn",
            vec![
                File("model.joblib", b"w"),
                File(
                    "code/inference.py",
                    b"import joblib\ndef model_fn(d): pass\n",
                ),
            ],
        ),
        (
            "mxnet",
            vec![
                File("model-symbol.json", b"{}"),
                File("model-0000.params", b"p"),
                File("model-shapes.json", b"[]"),
            ],
        ),
        (
            "triton",
            vec![
                File("m/config.pbtxt", b"c"),
                File("m/1/model.pt", &TORCHSCRIPT),
            ],
        ),
        (
            "djl-lmi",
            vec![File(
                "serving.properties",
                b"engine=Python\noption.model_id=gpt2\n",
            )],
        ),
    ];
    for (pack, members) in cases {
        let (code, doc) = check_model(&members, &[]);
        assert_eq!(detected(&doc).as_deref(), Some(pack), "{:#}", doc["inputs"]);
        assert_eq!(
            doc["inputs"][0]["detected"]["certain"], true,
            "{:#}",
            doc["inputs"]
        );
        let packs: Vec<&str> = doc["inputs"][0]["packs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(
            packs,
            vec!["layout", "sagemaker-training", "sagemaker-model", pack]
        );
        assert_eq!(code, 0, "{pack}: {:#}", doc["diagnostics"]);
    }
}

#[test]
fn auto_never_picks_one_of_two_equally_likely_packs() {
    let (_, doc) = check_model(
        &[File("model.pth", &TORCHSCRIPT), File("model.joblib", b"w")],
        &[],
    );
    assert_eq!(detected(&doc), None);
    let reason = doc["inputs"][0]["detected"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("uncertain: pytorch and sklearn fit equally well"),
        "{reason}"
    );
    let packs: Vec<&str> = doc["inputs"][0]["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        packs,
        vec!["layout", "sagemaker-training", "sagemaker-model"]
    );
}

#[test]
fn auto_says_when_it_is_unsure() {
    let (_, doc) = check_model(&[File("model.pkl", b"w")], &[]);
    assert_eq!(detected(&doc).as_deref(), Some("sklearn"));
    assert_eq!(doc["inputs"][0]["detected"]["certain"], false);
    assert!(doc["inputs"][0]["detected"]["reason"]
        .as_str()
        .unwrap()
        .contains("uncertain"));
}

#[test]
fn training_trees_get_only_the_training_pack_by_default() {
    let dir = TestDir::new();
    let root = dir.opt_ml("ml");
    dir.file("ml/model/inference.py", "def model_fn(d): pass\n");
    let (_, doc) = check_json(&[root.as_os_str()]);
    assert!(doc["inputs"][0].get("detected").is_none());
    assert_eq!(
        doc["inputs"][0]["packs"],
        serde_json::json!(["layout", "sagemaker-training"])
    );
    // Asked for, auto looks at model/ of the tree too.
    let (_, doc) = check_json(&[OsStr::new("--pack"), OsStr::new("auto"), root.as_os_str()]);
    assert_eq!(paths_for(&doc, "MDL102"), vec!["model/inference.py"]);
}

#[test]
fn human_header_names_the_chosen_pack_and_why() {
    let dir = TestDir::new();
    let archive = tar_gz(
        &dir,
        "model.tar.gz",
        &[Dir("model/"), File("model/xgboost-model", b"m")],
    );
    let output = optml()
        .args(["check", "--color", "never"])
        .arg(&archive)
        .output()
        .unwrap();
    let text = transcript(&output, dir.path());
    snapshot_settings("serving").bind(|| insta::assert_snapshot!("human_auto_xgboost", text));
}

#[test]
fn bad_env_argument_is_a_usage_error() {
    let output = optml()
        .args(["check", "--env", "NOEQUALS", "."])
        .output()
        .unwrap();
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
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/corpus")
        .join(name)
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
        let mut findings: Vec<String> = doc["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                format!(
                    "{}@{}",
                    d["rule"].as_str().unwrap(),
                    d["path"].as_str().unwrap()
                )
            })
            .collect();
        findings.dedup();
        lines.push(format!(
            "{name} | exit {code} | {pack} | {}",
            findings.join(" ")
        ));
    }
    snapshot_settings("serving")
        .bind(|| insta::assert_snapshot!("corpus_verdicts", lines.join("\n")));
}

#[test]
fn a_job_folders_model_artifact_gets_the_serving_packs() {
    let dir = TestDir::new();
    tar_gz(
        &dir,
        "job/output/model.tar.gz",
        &[
            File("model.pth", &TORCHSCRIPT),
            File("inference.py", TORCH_HANDLER),
        ],
    );
    tar_gz(
        &dir,
        "job/output/output.tar.gz",
        &[File("metrics.json", b"{}")],
    );
    let (_, doc) = check_json(&[dir.join("job").as_os_str()]);
    assert_eq!(doc["inputs"][0]["kind"], "job");
    assert_eq!(detected(&doc).as_deref(), Some("pytorch"));
    assert_eq!(
        paths_for(&doc, "MDL102"),
        vec!["output/model.tar.gz/inference.py"]
    );
}

#[test]
fn builtin_algorithm_outputs_are_not_mxnet_models() {
    // DeepAR writes model_algo-1-symbol.json / -0000.params / -config.json: MXNet-style files that
    // the DeepAR algorithm image serves, not the MXNet framework container (no MX101).
    let deepar = [
        File("model_algo-1-config.json", b"{}"),
        File("model_algo-1-0000.params", b"p"),
        File("model_algo-1-symbol.json", b"{}"),
    ];
    let (code, doc) = check_model(&deepar, &[]);
    assert_eq!(code, 0, "{:#}", doc["diagnostics"]);
    assert_eq!(detected(&doc), None);
    assert!(paths_for(&doc, "MX101").is_empty());
    // A real MXNet Module checkpoint is still detected.
    let (_, doc) = check_model(
        &[
            File("model-symbol.json", b"{}"),
            File("model-0000.params", b"p"),
            File("model-shapes.json", b"[]"),
        ],
        &[],
    );
    assert_eq!(detected(&doc).as_deref(), Some("mxnet"));
}

#[test]
fn mdl110_a_plain_tar_model_is_not_a_tar_gz() {
    // ModelDataUrl must be a gzip-compressed tar; a gunzipped model.tar is not extracted.
    let dir = TestDir::new();
    let plain = dir.join("model.tar");
    std::fs::write(&plain, tar_bytes(&[File("xgboost-model", b"booster")])).expect("write");
    let (code, doc) = check_json(&[plain.as_os_str()]);
    assert_eq!((code, codes(&doc)), (1, vec!["MDL110".to_string()]));
    // Named .tar.gz it is SM601 alone; gzip-compressed it passes; an output archive is no model.
    let named = dir.join("model.tar.gz");
    std::fs::write(&named, tar_bytes(&[File("xgboost-model", b"booster")])).expect("write");
    let (_, doc) = check_json(&[named.as_os_str()]);
    assert_eq!(codes(&doc), vec!["SM601".to_string()]);
    let (code, doc) = check_model(&[File("xgboost-model", b"booster")], &[]);
    assert_eq!((code, codes(&doc)), (0, Vec::<String>::new()));
    let output = dir.join("output.tar");
    std::fs::write(&output, tar_bytes(&[File("metrics.json", b"{}")])).expect("write");
    let (code, doc) = check_json(&[output.as_os_str()]);
    assert_eq!((code, codes(&doc)), (0, Vec::<String>::new()));
}

#[test]
fn skl103_xgb104_a_root_inference_py_is_dead_weight_not_an_error_for_script_mode_containers() {
    // The scikit-learn and XGBoost containers import the entry point the SDK uploads separately
    // (SAGEMAKER_SUBMIT_DIRECTORY), never a script at the root of model.tar.gz: a warning, not
    // the inference toolkit's MDL102 error.
    let script = b"import joblib\n\ndef model_fn(model_dir):\n    return joblib.load(model_dir + '/model.joblib')\n";
    let (code, doc) = check_model(
        &[File("model.joblib", b"j"), File("inference.py", script)],
        &[],
    );
    assert_eq!(detected(&doc).as_deref(), Some("sklearn"));
    assert_eq!(code, 0, "{:#}", doc["diagnostics"]);
    assert_eq!(paths_for(&doc, "SKL103"), vec!["inference.py"]);
    assert!(paths_for(&doc, "MDL102").is_empty());
    let (code, doc) = check_model(
        &[
            File("xgboost-model", b"x"),
            File("inference.py", b"import xgboost\n"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{:#}", doc["diagnostics"]);
    assert_eq!(paths_for(&doc, "XGB104"), vec!["inference.py"]);
    // The inference toolkit containers (PyTorch here) still get MDL102.
    let (code, doc) = check_model(
        &[
            File("model.pt", &TORCHSCRIPT),
            File("inference.py", TORCH_HANDLER),
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(paths_for(&doc, "MDL102"), vec!["inference.py"]);
}
