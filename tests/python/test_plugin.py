"""The pytest plugin, driven through pytest's own `pytester`: inner test sessions that pass,
fail with a diff, update goldens, and refuse to update under CI."""

import json
from pathlib import Path

import pytest

# The inner project: a test that builds a model folder from spec.json and snapshots it, so the
# outer test changes what the inner test produces by editing spec.json.
INNER_TEST = '''
import json
from pathlib import Path

def test_model_layout(tmp_path, optml_snapshot):
    spec = json.loads((Path(__file__).parent / "spec.json").read_text())
    model = tmp_path / "model"
    for name, size in spec.items():
        (model / name).parent.mkdir(parents=True, exist_ok=True)
        (model / name).write_bytes(b"x" * size)
    optml_snapshot(model)
'''

GOLDEN = Path("__optml_snapshots__/test_model_layout.manifest")


@pytest.fixture
def project(pytester: pytest.Pytester, local: None) -> pytest.Pytester:
    pytester.makepyfile(test_layout=INNER_TEST)
    spec(pytester, {"model.pth": 7, "code/inference.py": 20})
    return pytester


def spec(pytester: pytest.Pytester, files: dict) -> None:
    (pytester.path / "spec.json").write_text(json.dumps(files))


def golden(pytester: pytest.Pytester) -> Path:
    return pytester.path / GOLDEN


def test_missing_golden_fails_and_writes_it_for_review(project: pytest.Pytester) -> None:
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*does not match*test_model_layout.manifest*", "*SNAP005*"])
    assert not golden(project).exists()
    pending = golden(project).with_name("test_model_layout.manifest.new")
    assert "model.pth type=file size=7" in pending.read_text()


def test_update_writes_the_golden_then_it_passes(project: pytest.Pytester) -> None:
    project.runpytest("--optml-update").assert_outcomes(passed=1)
    text = golden(project).read_text()
    assert text.startswith("#optml-manifest v1\n")
    assert "code/inference.py type=file size=20\n" in text and "model.pth type=file size=7\n" in text
    project.runpytest().assert_outcomes(passed=1)


def test_a_mismatch_fails_with_the_readable_diff(project: pytest.Pytester) -> None:
    project.runpytest("--optml-update").assert_outcomes(passed=1)
    before = golden(project).read_text()
    spec(project, {"model.pth": 14, "notes.log": 1})
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_model_layout.manifest",
            "*+++ actual",
            "*-code/inference.py type=file size=20",
            "*-model.pth type=file size=7",
            "*+model.pth type=file size=14",
            "*+notes.log type=file size=1",
            "*pytest --optml-update*",
        ]
    )
    assert golden(project).read_text() == before
    assert golden(project).with_name("test_model_layout.manifest.new").is_file()


def test_optml_update_1_rewrites_the_golden(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    project.runpytest("--optml-update").assert_outcomes(passed=1)
    spec(project, {"model.pth": 14})
    monkeypatch.setenv("OPTML_UPDATE", "1")
    project.runpytest().assert_outcomes(passed=1)
    assert golden(project).read_text().endswith("model.pth type=file size=14\n")
    monkeypatch.delenv("OPTML_UPDATE")
    project.runpytest().assert_outcomes(passed=1)


def test_ci_never_writes_and_fails_even_without_a_golden(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("OPTML_UPDATE", "always")
    result = project.runpytest("--optml-update")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*SNAP005*", "*never written under CI*"])
    assert not (project.path / "__optml_snapshots__").exists()

    monkeypatch.delenv("CI")
    project.runpytest("--optml-update").assert_outcomes(passed=1)
    recorded = golden(project).read_text()
    spec(project, {"model.pth": 8})
    monkeypatch.setenv("CI", "1")
    result = project.runpytest("--optml-update")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*-model.pth type=file size=7", "*+model.pth type=file size=8"])
    assert golden(project).read_text() == recorded
    assert sorted(p.name for p in golden(project).parent.iterdir()) == [GOLDEN.name]


def test_the_goldens_redactions_and_size_tolerances_apply(project: pytest.Pytester) -> None:
    golden(project).parent.mkdir()
    golden(project).write_text(
        "#optml-manifest v1\n/fields type size link\n/redact tfevents\n/size tolerance=5% *.pth\n"
        "events.out.tfevents.[TIME].[HOST].v2 type=file\nmodel.pth type=file size=1000\n"
    )
    spec(project, {"model.pth": 1049, "events.out.tfevents.1700000000.algo-1.12.0.v2": 321})
    project.runpytest().assert_outcomes(passed=1)
    spec(project, {"model.pth": 1051, "events.out.tfevents.1800000000.algo-2.9.0.v2": 5})
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*+model.pth type=file size=1051"])


def test_optml_run_and_snapshot_of_its_archive(pytester: pytest.Pytester, local: None, repo: Path) -> None:
    pytester.makepyfile(
        test_train=f'''
def test_train_layout(optml_run, optml_snapshot):
    run = optml_run({str(repo / "examples/train/train.py")!r}, hyperparameters={{"epochs": 1}}, channels={{"train": {str(repo / "examples/train/data")!r}}})
    assert run.ok, run.report
    optml_snapshot(run.model_archive)
    optml_snapshot(run)
'''
    )
    pytester.runpytest("--optml-update").assert_outcomes(passed=1)
    folder = pytester.path / "__optml_snapshots__"
    assert (folder / "test_train_layout.manifest").read_text().endswith("model.json type=file size=35\n")
    job = (folder / "test_train_layout.2.manifest").read_text()
    assert "model.tar.gz/model.json type=file" in job and "output.tar.gz/metrics.json type=file" in job
    pytester.runpytest().assert_outcomes(passed=1)


def test_snapshot_hook_fails_on_a_golden_without_a_test(pytester: pytest.Pytester, local: None, capfd: pytest.CaptureFixture) -> None:
    from optml import hooks

    pytester.makepyfile(test_other="def test_other():\n    pass\n")
    stale = pytester.path / "__optml_snapshots__" / "test_gone.manifest"
    stale.parent.mkdir()
    stale.write_text("#optml-manifest v1\n/fields type size link\n")
    # pytest collects test_other and deselects it: its exit 5 must not pass for a verification.
    assert hooks.main(["snapshot", str(stale)]) == 1
    assert "have no test" in capfd.readouterr().err
    assert hooks.main(["snapshot", "README.md"]) == 0
