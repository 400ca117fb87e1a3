"""optml.ray.audit on a local Ray cluster against a real S3-compatible server on loopback (moto's
standalone server, started in this process). The distributed audit must give exactly the
records of a single-machine `optml audit`, apart from their order.

.ci/run installs ray, moto[server] and boto3 into the wheel's venv; elsewhere the test is
skipped with the reason, and under CI a missing dependency fails instead of skipping."""

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


def _require(module: str) -> Any:
    if os.environ.get("CI"):
        # CI installs it: a missing module is a failure there, not a skip.
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} is not installed (.ci/run installs it)")


ray = _require("ray")
boto3 = _require("boto3")
moto_server = _require("moto.server")

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # No instance-metadata lookups: nothing here may leave loopback.
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def bucket(endpoint: str, repo: Path) -> str:
    """A registry of 24 training jobs: clean models, models with error findings, a corrupt
    archive and output archives, under job prefixes as SageMaker writes them."""
    s3 = boto3.client("s3", endpoint_url=endpoint, **_client_credentials())
    s3.create_bucket(Bucket="registry")
    good = (repo / "examples" / "model.tar.gz").read_bytes()
    for job in range(24):
        prefix = f"jobs/job-{job:02d}/output"
        if job % 6 == 5:
            body = good[: len(good) // 2]  # cut short: a corrupt archive is a finding
        else:
            body = good
        s3.put_object(Bucket="registry", Key=f"{prefix}/model.tar.gz", Body=body)
        if job % 4 == 0:
            s3.put_object(Bucket="registry", Key=f"{prefix}/output.tar.gz", Body=good)
    return "s3://registry/jobs/"


def _client_credentials() -> Dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def _single_machine(prefix: str, endpoint: str) -> List[Dict[str, Any]]:
    completed = subprocess.run(
        [optml.find_binary(), "audit", prefix, "--format", "jsonl", "--endpoint-url", endpoint],
        env={**os.environ, **CREDENTIALS},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode in (0, 1), completed.stderr
    return [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]


def _canonical(records: List[Dict[str, Any]]) -> List[str]:
    return sorted(json.dumps(record, sort_keys=True) for record in records)


@pytest.mark.parametrize("shards", [1, 3, 7])
def test_ray_audit_equals_single_machine_audit(cluster: None, bucket: str, endpoint: str, shards: int) -> None:
    single = _single_machine(bucket, endpoint)
    # 24 model archives and 6 output archives, each one record.
    assert len(single) >= 30, single
    distributed = optml.ray.audit(bucket, shards=shards, endpoint_url=endpoint, env=CREDENTIALS)
    assert _canonical(distributed) == _canonical(single)


def test_ray_audit_writes_the_records_atomically(cluster: None, bucket: str, endpoint: str, tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    records = optml.ray.audit(bucket, shards=2, endpoint_url=endpoint, env=CREDENTIALS, output=out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert _canonical([json.loads(line) for line in lines]) == _canonical(records)
    assert [p.name for p in tmp_path.iterdir()] == ["audit.jsonl"], "no temp file is left behind"


def test_ray_audit_names_the_shard_that_could_not_audit(cluster: None, endpoint: str) -> None:
    with pytest.raises(optml.OptmlError) as failure:
        optml.ray.audit("s3://no-such-bucket/jobs/", shards=2, endpoint_url=endpoint, env=CREDENTIALS)
    message = str(failure.value)
    assert "shard 1/2" in message and "shard 2/2" in message
    assert "no-such-bucket" in message


def test_ray_audit_rejects_a_shard_count_below_one(cluster: None, bucket: str) -> None:
    with pytest.raises(ValueError, match="shards must be at least 1"):
        optml.ray.audit(bucket, shards=0)

