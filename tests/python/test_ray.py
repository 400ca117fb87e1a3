"""optml.ray.audit on a local Ray cluster started by the test (`ray.init(num_cpus=2)`). The
distributed audit must give exactly the records of a single-machine `optml audit`, apart from
their order.

.ci/run installs ray into the wheel's venv; elsewhere the test is skipped with the reason, and
under CI a missing Ray fails instead of skipping."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import optml
import optml.ray

REPO = Path(__file__).resolve().parents[2]

if os.environ.get("CI"):
    # CI installs it: a missing module is a failure there, not a skip.
    ray = importlib.import_module("ray")
else:
    ray = pytest.importorskip("ray", reason="ray is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model registry as a platform team keeps it: 24 training job folders as SageMaker
    writes them (some with a cut-short, corrupt model.tar.gz, some with an output.tar.gz), and
    loose model archives and source bundles."""
    root = tmp_path_factory.mktemp("registry")
    good = (REPO / "examples" / "model.tar.gz").read_bytes()
    for job in range(24):
        output = root / "jobs" / f"job-{job:02d}" / "output"
        output.mkdir(parents=True)
        # Cut short: a corrupt archive is a finding (verdict "errors").
        (output / "model.tar.gz").write_bytes(good[: len(good) // 2] if job % 6 == 5 else good)
        if job % 4 == 0:
            (output / "output.tar.gz").write_bytes(good)
    for index in range(6):
        (root / "loose").mkdir(exist_ok=True)
        (root / "loose" / f"model-{index}.tar.gz").write_bytes(good)
        (root / "loose" / f"sourcedir-{index}.tar.gz").write_bytes(good)
    return root


def _single_machine(target: Path) -> List[Dict[str, Any]]:
    completed = subprocess.run([optml.find_binary(), "audit", str(target), "--format", "jsonl"], capture_output=True, text=True, check=False)
    assert completed.returncode == 1, completed.stderr  # the corrupt archives
    return [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]


def _canonical(records: List[Dict[str, Any]]) -> List[str]:
    return sorted(json.dumps(record, sort_keys=True) for record in records)


@pytest.mark.parametrize("shards", [1, 3, 7])
def test_ray_audit_equals_single_machine_audit(cluster: None, registry: Path, shards: int) -> None:
    single = _single_machine(registry)
    assert len(single) == 24 + 12, [record["artifact"] for record in single]
    assert sum(record["verdict"] == "errors" for record in single) == 4
    distributed = optml.ray.audit(registry, shards=shards)
    assert _canonical(distributed) == _canonical(single)


def test_a_relative_folder_is_resolved_before_the_workers_see_it(cluster: None, registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ray workers run in their own working folder, so a relative path is made absolute first.
    monkeypatch.chdir(registry.parent)
    records = optml.ray.audit(registry.name, shards=2)
    assert _canonical(records) == _canonical(_single_machine(registry))


def test_ray_audit_writes_the_records_atomically(cluster: None, registry: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    records = optml.ray.audit(registry, shards=2, output=out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert _canonical([json.loads(line) for line in lines]) == _canonical(records)
    assert [p.name for p in tmp_path.iterdir()] == ["audit.jsonl"], "no temp file is left behind"


def test_ray_audit_names_the_shards_that_could_not_audit(cluster: None, tmp_path: Path) -> None:
    with pytest.raises(optml.OptmlError) as failure:
        optml.ray.audit(tmp_path / "no-such-registry", shards=2)
    message = str(failure.value)
    assert "shard 1/2" in message and "shard 2/2" in message
    assert "no-such-registry" in message


def test_ray_audit_passes_check_settings_through(cluster: None, registry: Path) -> None:
    records = optml.ray.audit(registry, shards=2, extra_args=["--ignore", "SM401"])
    assert records and not any(d["rule"] == "SM401" for record in records for d in record["diagnostics"])


def test_ray_audit_rejects_a_shard_count_below_one(cluster: None, registry: Path) -> None:
    with pytest.raises(ValueError, match="shards must be at least 1"):
        optml.ray.audit(registry, shards=0)


def test_without_ray_the_error_says_how_to_install_it(registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "ray", None)
    with pytest.raises(optml.OptmlError, match=r"pip install 'optml\[ray\]'"):
        optml.ray.audit(registry)
