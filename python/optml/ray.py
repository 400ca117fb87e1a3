"""`optml audit` spread over a Ray cluster (docs/audit.md, "Past one machine: Ray").

Ray is the scheduler: this module only cuts the audit into deterministic shards and runs the
bundled binary's `optml audit PREFIX --shard i/N --format jsonl` once per shard in a Ray task.
The binary lists the artifacts, picks its shard and checks them, so the records of a
distributed audit are the binary's own records, identical to a single-machine
`optml audit PREFIX --format jsonl` apart from their order. Nothing is checked in Python.

Every Ray worker node needs the optml wheel installed (a `runtime_env` with `pip`, or an image
that has it) and must see the audited folder at the same path, or reach the audited `s3://`
prefix with its own AWS credentials.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._binary import OptmlError, invoke

__all__ = ["audit"]

PathLike = Union[str, "os.PathLike[str]"]

# What one shard's task returns: (exit code, stdout, stderr).
ShardResult = Tuple[int, str, str]


def _run_shard(arguments: Sequence[str], environment: Optional[Mapping[str, str]]) -> ShardResult:
    """Runs on a Ray worker: one `optml audit` invocation. Exit 2 is returned, not raised, so
    the driver can name the shard that failed."""
    try:
        completed = invoke(arguments, env=environment)
    except OptmlError as error:
        return (error.exit_code if error.exit_code is not None else 2, "", error.message)
    return (completed.returncode, completed.stdout, completed.stderr)


def _shard_arguments(
    prefix: str,
    index: int,
    count: int,
    *,
    jobs: Optional[int],
    extra_args: Sequence[str],
) -> List[str]:
    arguments = ["audit", prefix, "--format", "jsonl", "--shard", f"{index}/{count}", "--quiet"]
    if jobs is not None:
        arguments += ["--jobs", str(jobs)]
    return arguments + list(extra_args)


def _records(stdout: str, shard: str) -> List[Dict[str, Any]]:
    records = []
    for number, line in enumerate(stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise OptmlError(f"shard {shard}: line {number} of the audit output is not JSON: {error}") from None
    return records


def _write_atomically(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """JSON Lines to `path` through a temp file in the same folder and a rename, so a reader
    never sees half a file and an interrupted write leaves the old one."""
    path = path.resolve()
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record, sort_keys=True, ensure_ascii=False))
                out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def audit(
    prefix: PathLike,
    *,
    shards: Optional[int] = None,
    jobs: Optional[int] = None,
    extra_args: Sequence[str] = (),
    env: Optional[Mapping[str, str]] = None,
    output: Optional[PathLike] = None,
    address: Optional[str] = None,
) -> List[Dict[str, Any]]:
    """Audit every artifact under `prefix`, a folder every worker can read (a shared file system
    such as EFS or FSx, or the one machine of a local cluster) or an `s3://bucket/prefix/`
    (passed through as it is), with one Ray task per shard;
    return the JSON Lines records of `optml audit`. A relative folder is made absolute first,
    since Ray workers run in folders of their own; the records then name it absolutely, as
    `optml audit /absolute/folder` does.

    - `shards`: how many tasks (default: the cluster's CPU count). Shards are disjoint and their
      union is the whole audit, whatever the count.
    - `jobs`: `--jobs` inside each task (network-bound concurrency per task).
    - `extra_args`: any other `optml audit` options, such as `["--ignore", "SM401"]`.
    - `env`: environment variables added in each task (credentials are better left to the
      workers' own AWS chain).
    - `output`: also write the records there as JSON Lines, atomically.
    - `address`: the Ray cluster to connect to when Ray is not initialised yet (`"auto"`, or
      `ray://head:10001`); without it a local Ray instance starts.

    Raises OptmlError naming the shard when any task's optml could not do its job (exit 2:
    access denied, a missing bucket, a bad option). Findings are results, not errors: read
    each record's verdict."""
    try:
        import ray
    except ImportError:  # pragma: no cover - depends on the environment
        raise OptmlError("optml.ray needs Ray: pip install 'optml[ray]' (or pip install ray)") from None

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    if shards is None:
        shards = max(1, int(ray.cluster_resources().get("CPU", 1)))
    if shards < 1:
        raise ValueError(f"shards must be at least 1, not {shards}")

    target = os.fspath(prefix)
    if "://" not in target:
        target = os.path.abspath(target)
    run_shard = ray.remote(_run_shard)
    pending = [
        run_shard.remote(
            _shard_arguments(target, index, shards, jobs=jobs, extra_args=extra_args),
            dict(env) if env is not None else None,
        )
        for index in range(1, shards + 1)
    ]
    results: List[ShardResult] = ray.get(pending)

    records: List[Dict[str, Any]] = []
    failures = []
    for index, (code, stdout, stderr) in enumerate(results, 1):
        shard = f"{index}/{shards}"
        if code not in (0, 1):
            failures.append(f"shard {shard} (exit {code}): {stderr.strip()}")
            continue
        records.extend(_records(stdout, shard))
    if failures:
        raise OptmlError("optml audit failed on Ray:\n" + "\n".join(failures), exit_code=2)
    if output is not None:
        _write_atomically(Path(output), records)
    return records
