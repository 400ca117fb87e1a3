"""optml.ray.audit on a local Ray cluster started by the test (`ray.init(num_cpus=2)`). The
distributed audit must give exactly the records of a single-machine `optml audit`, apart from
their order: over a local folder, and over an S3 prefix on moto's S3 server on loopback.

.ci/run installs ray into the wheel's venv, and moto into the venv `OPTML_S3_VENV` names (the
one the Rust S3 tests use); elsewhere a test without them is skipped with the reason, and under
CI a missing one fails instead of skipping."""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

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


def _single_machine(target: Any, extra_args: Sequence[str] = (), env: Optional[Mapping[str, str]] = None) -> List[Dict[str, Any]]:
    completed = subprocess.run(
        [optml.find_binary(), "audit", str(target), "--format", "jsonl", *extra_args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
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


# moto's test credentials, and nothing of this machine's AWS setup.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


@pytest.fixture(scope="module")
def s3_venv() -> Path:
    venv = Path(os.environ.get("OPTML_S3_VENV", "/nonexistent"))
    if not (venv / "bin" / "moto_server").exists():
        message = "OPTML_S3_VENV names no venv with moto[server] and boto3 (.ci/run installs one)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(f"SKIPPED: {message}")
    return venv


@pytest.fixture(scope="module")
def moto_endpoint(s3_venv: Path) -> Iterator[str]:
    """moto's S3 server on a free loopback port, stopped after the module."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(s3_venv / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"moto_server did not listen on port {port} within 30 s"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait()


UPLOAD = """
import sys
from pathlib import Path
import boto3
endpoint, bucket, root = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
s3.create_bucket(Bucket=bucket)
for path in sorted(Path(root).rglob("*")):
    if path.is_file():
        s3.upload_file(str(path), bucket, "registry/" + path.relative_to(root).as_posix())
"""


@pytest.fixture(scope="module")
def s3_registry(s3_venv: Path, moto_endpoint: str, registry: Path) -> str:
    """The registry uploaded through the S3 API (boto3, in the S3 venv)."""
    subprocess.run([str(s3_venv / "bin" / "python"), "-c", UPLOAD, moto_endpoint, "models", str(registry)], check=True)
    return "s3://models/registry/"


@pytest.mark.parametrize("shards", [1, 3])
def test_ray_audit_of_an_s3_prefix_equals_single_machine_audit(cluster: None, moto_endpoint: str, s3_registry: str, shards: int) -> None:
    endpoint = ["--endpoint-url", moto_endpoint]
    single = _single_machine(s3_registry, endpoint, S3_ENV)
    assert len(single) == 24 + 12, [record["artifact"] for record in single]
    assert sum(record["verdict"] == "errors" for record in single) == 4
    assert all(record["artifact"].startswith(s3_registry) and record["identity"]["key"] for record in single)
    distributed = optml.ray.audit(s3_registry, shards=shards, extra_args=endpoint, env=S3_ENV)
    assert _canonical(distributed) == _canonical(single)


def test_ray_audit_of_a_missing_bucket_names_it(cluster: None, moto_endpoint: str) -> None:
    with pytest.raises(optml.OptmlError) as failure:
        optml.ray.audit("s3://no-such-bucket/registry/", shards=2, extra_args=["--endpoint-url", moto_endpoint], env=S3_ENV)
    assert "cannot audit s3://no-such-bucket/registry/: no such bucket" in str(failure.value)
