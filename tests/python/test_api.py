"""The API runs the bundled binary and parses its JSON; these tests check what it returns
against inputs whose findings are documented (examples/README.md)."""

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import optml
from optml import _binary


def test_version_is_cargo_toml_version(repo: Path) -> None:
    cargo = (repo / "Cargo.toml").read_text()
    version = next(line.split('"')[1] for line in cargo.splitlines() if line.startswith("version ="))
    assert optml.__version__ == version
    out = subprocess.run([optml.find_binary(), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"optml {version}"
    module = subprocess.run([sys.executable, "-m", "optml", "--version"], capture_output=True, text=True, check=True).stdout
    assert module == out


def test_check_clean_archive_with_a_warning(repo: Path) -> None:
    report = optml.check(repo / "examples/model.tar.gz")
    assert report.ok
    assert report.errors == []
    assert [d.rule for d in report.warnings] == ["SM401"]
    warning = report.warnings[0]
    assert (warning.severity, warning.path, warning.name) == ("warning", "._model.pth", "appledouble-files")
    assert warning.help and "COPYFILE_DISABLE" in warning.help
    assert report.summary == {"errors": 0, "warnings": 1, "infos": 0}
    assert report.inputs[0]["kind"] == "archive"
    assert report.raise_for_errors() is report


def test_check_broken_archive_raises_with_the_human_report(repo: Path) -> None:
    report = optml.check(repo / "examples/broken-model.tar.gz")
    assert not report.ok
    assert report.errors and all(d.severity == "error" for d in report.errors)
    with pytest.raises(optml.CheckFailed) as raised:
        report.raise_for_errors()
    message = str(raised.value)
    assert message == report.human
    assert "checking " in message and "Found " in message
    for diagnostic in report.errors:
        assert diagnostic.rule in message


def test_check_options_reach_the_binary(repo: Path) -> None:
    report = optml.check(repo / "examples/model.tar.gz", ignore=["SM401"])
    assert report.warnings == []
    running = optml.check(repo / "examples/opt-ml", phase="running", packs=["sagemaker-training"])
    assert "sagemaker-training" in running.inputs[0]["packs"]


def test_a_config_file_reaches_the_binary(repo: Path, tmp_path: Path) -> None:
    config = tmp_path / "optml.toml"
    config.write_text('ignore = ["SM4"]\n')
    assert optml.check(repo / "examples/model.tar.gz", config=config).warnings == []
    config.write_text("ignore = 3\n")
    with pytest.raises(optml.OptmlError) as raised:
        optml.check(repo / "examples/model.tar.gz", config=config)
    assert raised.value.exit_code == 2 and "optml.toml" in str(raised.value)


def test_exit_2_raises_optml_error_with_the_binarys_message(tmp_path: Path) -> None:
    with pytest.raises(optml.OptmlError) as raised:
        optml.check(tmp_path / "absent.tar.gz")
    assert raised.value.exit_code == 2
    assert "absent.tar.gz" in str(raised.value)
    assert not isinstance(raised.value, optml.CheckFailed)


def test_a_missing_binary_is_named_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPTML_BINARY", raising=False)
    monkeypatch.setattr(_binary, "_candidates", lambda: [tmp_path / "bin" / "optml"])
    with pytest.raises(optml.BinaryNotFound) as raised:
        optml.check("model.tar.gz")
    assert "the optml binary is missing" in str(raised.value)
    assert str(tmp_path / "bin" / "optml") in str(raised.value)


def _archive(path: Path, members: dict) -> Path:
    source = path.with_suffix(".d")
    for name, data in members.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    with tarfile.open(path, "w:gz") as tar:
        for name in sorted(members):
            tar.add(source / name, arcname=name)
    shutil.rmtree(source)
    return path


def test_snapshot_and_diff(tmp_path: Path) -> None:
    a = _archive(tmp_path / "a.tar.gz", {"model.pth": b"1234567", "code/inference.py": b"import torch\n"})
    b = _archive(tmp_path / "b.tar.gz", {"model.pth": b"12345678901234", "extra.log": b"x"})
    manifest = optml.snapshot(a, fields="+sha256")
    assert manifest.startswith("#optml-manifest v1\n")
    assert "model.pth type=file size=7 sha256=" in manifest
    same = optml.diff(a, a)
    assert same.equal and not same and same.differences == ()
    changed = optml.diff(a, b)
    assert not changed.equal and changed
    assert changed.counts == {"missing": 2, "extra": 1, "changed": 1}
    kinds = {d.path: d.kind for d in changed.differences}
    assert kinds == {"code": "missing", "code/inference.py": "missing", "extra.log": "extra", "model.pth": "changed"}
    size = next(d for d in changed.differences if d.kind == "changed").changes[0]
    assert (size["field"], size["expected"], size["actual"]) == ("size", "7", "14")
    assert "-model.pth type=file size=7" in changed.text and "+model.pth type=file size=14" in changed.text


def test_run_packs_checks_and_keeps_the_run_folder(repo: Path, tmp_path: Path) -> None:
    root = tmp_path / "run"
    result = optml.run(repo / "examples/train/train.py", hyperparameters={"epochs": 2}, channels={"train": repo / "examples/train/data"}, root=root)
    assert result.ok, result.report
    assert result.root == root
    assert [h.name for h in result.hosts] == ["algo-1"] and result.hosts[0].marker == "success"
    assert "--epochs 2" in result.hosts[0].command
    assert "epoch 2/2: 3 rows" in result.output
    assert result.model_archive == root / "artifacts" / "model.tar.gz" and result.model_archive.is_file()
    assert result.trees["algo-1"] == root / "algo-1"
    assert (root / "algo-1" / "model" / "model.json").is_file()
    with tarfile.open(result.model_archive) as tar:
        assert tar.getnames() == ["model.json"]


def test_a_failing_script_is_a_finding(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("import sys\nprint('diverged', file=sys.stderr)\nsys.exit(3)\n")
    result = optml.run(script, root=tmp_path / "run")
    assert not result.ok and result.exit_code == 1
    assert "RUN001" in [d.rule for d in result.report.errors]
    assert result.hosts[0].exit_code == 3 and result.hosts[0].marker == "failure"
    assert "diverged" in str(result.report)
    with pytest.raises(optml.CheckFailed):
        result.report.raise_for_errors()


def test_run_refuses_a_missing_channel(tmp_path: Path) -> None:
    with pytest.raises(optml.OptmlError) as raised:
        optml.run(["true"], channels={"train": tmp_path / "absent"}, root=tmp_path / "run")
    assert raised.value.exit_code == 2 and "absent" in str(raised.value)
