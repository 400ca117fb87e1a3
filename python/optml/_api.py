"""The Python API: each call runs the bundled optml binary and parses its JSON document
(docs/json-schema.md is the contract). No rule is implemented here."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ._binary import OptmlError, invoke

__all__ = [
    "CheckFailed",
    "Diagnostic",
    "Report",
    "Difference",
    "Diff",
    "Host",
    "Artifact",
    "RunResult",
    "check",
    "snapshot",
    "diff",
    "run",
]

PathLike = Union[str, "os.PathLike[str]"]

# The JSON schema version this module reads (docs/json-schema.md: fields are only added within
# a version).
SCHEMA_VERSION = 1


class CheckFailed(AssertionError):
    """`Report.raise_for_errors()` found error findings. The message is optml's human report.

    An AssertionError, so pytest shows the message as a test failure, not an error."""

    def __init__(self, report: "Report") -> None:
        super().__init__(report.human)
        self.report = report


@dataclass(frozen=True)
class Diagnostic:
    """One finding, as the JSON report's `diagnostics[]` entry."""

    rule: str
    """Stable rule code, e.g. `SM401`."""
    name: str
    """The rule's kebab-case name, e.g. `appledouble-files`."""
    severity: str
    """`error`, `warning` or `info`."""
    input: str
    """The input the finding is about, as given."""
    path: str
    """Where, relative to the input (`code/inference.py`; `""` for a whole archive)."""
    location: str
    """As the human report shows it: `model.tar.gz: code/inference.py`."""
    message: str
    help: Optional[str]
    fix: Optional[str]
    docs: Optional[str]

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> "Diagnostic":
        return cls(
            rule=item["rule"],
            name=item.get("name", ""),
            severity=item["severity"],
            input=item.get("input", ""),
            path=item.get("path", ""),
            location=item.get("location", ""),
            message=item["message"],
            help=item.get("help"),
            fix=item.get("fix"),
            docs=item.get("docs"),
        )

    def __str__(self) -> str:
        text = f"{self.severity} {self.rule} {self.name}: {self.location}: {self.message}"
        return text + (f"\n  help: {self.help}" if self.help else "")


def _summary_line(counts: Mapping[str, int]) -> str:
    return f"Found {counts.get('errors', 0)} errors, {counts.get('warnings', 0)} warnings and {counts.get('infos', 0)} infos."


@dataclass(frozen=True)
class Report:
    """The result of a check: optml's JSON report, parsed.

    `str(report)` (and `report.human`) is the human report."""

    diagnostics: Tuple[Diagnostic, ...]
    """Every finding, sorted by input, path, severity, then code."""
    summary: Mapping[str, int]
    """`{"errors": N, "warnings": N, "infos": N}`."""
    inputs: Tuple[Mapping[str, Any], ...]
    """The `inputs[]` of the JSON report: kind, entries, packs, parts, detected."""
    document: Mapping[str, Any] = field(repr=False)
    """The whole JSON document, for fields this class does not name."""
    _render: Callable[[], str] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, document: Mapping[str, Any], render: Callable[[], str]) -> "Report":
        version = document.get("version")
        if version != SCHEMA_VERSION:
            raise OptmlError(f"optml printed a JSON report of version {version!r}; this package reads version {SCHEMA_VERSION}")
        return cls(
            diagnostics=tuple(Diagnostic.from_json(item) for item in document.get("diagnostics", [])),
            summary=dict(document.get("summary", {})),
            inputs=tuple(document.get("inputs", [])),
            document=document,
            _render=render,
        )

    @property
    def ok(self) -> bool:
        """No finding of error severity (optml's exit status 0)."""
        return not self.errors

    @property
    def errors(self) -> List[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> List[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def infos(self) -> List[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "info"]

    @property
    def snapshot(self) -> Optional[Mapping[str, Any]]:
        """The `snapshot` object when the check compared against a golden manifest."""
        return self.document.get("snapshot")

    @property
    def human(self) -> str:
        """The human report (no color)."""
        return self._render()

    def raise_for_errors(self) -> "Report":
        """Raise CheckFailed (its message is the human report) if any error finding exists;
        else return the report, so calls chain."""
        if not self.ok:
            raise CheckFailed(self)
        return self

    def __str__(self) -> str:
        return self.human


def _once(compute: Callable[[], str]) -> Callable[[], str]:
    """A renderer that runs the binary once, on first use."""
    cache: List[str] = []

    def render() -> str:
        if not cache:
            cache.append(compute())
        return cache[0]

    return render


def _paths(values: Iterable[PathLike]) -> List[str]:
    return [os.fspath(value) for value in values]


def _repeat(flag: str, values: Optional[Iterable[str]]) -> List[str]:
    return [part for value in values or () for part in (flag, value)]


def _parse(stdout: str, command: str) -> Dict[str, Any]:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError as err:
        raise OptmlError(f"optml {command} did not print a JSON document ({err}):\n{stdout[:2000]}") from None


def _selection(packs: Optional[Sequence[str]], rules: Optional[Sequence[PathLike]]) -> List[str]:
    return _repeat("--pack", packs) + _repeat("--rules", _paths(rules or ()))


def check(
    *inputs: PathLike,
    packs: Optional[Sequence[str]] = None,
    rules: Optional[Sequence[PathLike]] = None,
    config: Optional[PathLike] = None,
    env: Optional[Mapping[str, str]] = None,
    phase: str = "finished",
    role: Optional[str] = None,
    ignore: Optional[Sequence[str]] = None,
) -> Report:
    """Check /opt/ml trees, archives (model.tar.gz, output.tar.gz) and job folders, as
    `optml check` does. No inputs: `inputs` of the config file, else /opt/ml, as the CLI.

    - `packs`: built-in rule packs to apply next to the default ones (`--pack`), e.g.
      `["huggingface"]`;
    - `rules`: extra rule files (`--rules`, docs/rule-language.md);
    - `config`: the settings file (`--config`: an optml.toml, or a pyproject.toml with
      `[tool.optml]`); default: the nearest one from the current folder up, as the CLI finds it;
    - `env`: the environment the model will be deployed with (`--env NAME=VALUE`), e.g.
      `{"HF_MODEL_ID": "gpt2"}`; not the environment optml runs in;
    - `phase`: `"finished"` or `"running"` (a running job has no status marker yet);
    - `role`: read every input as `"model"`, `"output"`, `"opt-ml"` or `"code"` (`--as`);
    - `ignore`: rule codes or prefixes to drop (`SM606`, `SM4`).

    Raises OptmlError when optml cannot do its job (a missing input, a bad rule file)."""
    args = ["check", *_paths(inputs), *_selection(packs, rules), "--phase", phase]
    args += [part for name, value in (env or {}).items() for part in ("--env", f"{name}={value}")]
    args += _repeat("--ignore", ignore)
    if config is not None:
        args += ["--config", os.fspath(config)]
    if role is not None:
        args += ["--as", role]
    completed = invoke([*args, "--format", "json"])
    render = _once(lambda: invoke([*args, "--format", "human", "--color", "never"]).stdout)
    return Report.from_json(_parse(completed.stdout, "check"), render)


def _record_args(fields: Optional[Union[str, Sequence[str]]], redact: Optional[Sequence[str]], config: Optional[PathLike], role: Optional[str]) -> List[str]:
    args: List[str] = []
    if fields is not None:
        args += ["--fields", fields if isinstance(fields, str) else ",".join(fields)]
    args += _repeat("--redact", redact)
    if config is not None:
        args += ["--config", os.fspath(config)]
    if role is not None:
        args += ["--as", role]
    return args


def snapshot(
    input: PathLike,
    fields: Optional[Union[str, Sequence[str]]] = None,
    redact: Optional[Sequence[str]] = None,
    config: Optional[PathLike] = None,
    role: Optional[str] = None,
) -> str:
    """Record a tree, archive or job folder as a golden manifest and return its text
    (docs/snapshots.md), as `optml snapshot INPUT` prints it.

    - `fields`: what to record, e.g. `"type,size,sha256"`, `"+sha256"` or `["type", "size"]`;
    - `redact`: redaction presets, e.g. `["sagemaker"]`;
    - `config`: a file of manifest header directives (/fields, /redact, /size, /budget)."""
    return invoke(["snapshot", os.fspath(input), *_record_args(fields, redact, config, role)]).stdout


@dataclass(frozen=True)
class Difference:
    """One difference of a comparison: `kind` is `missing` (only in the expected side), `extra`
    (only in the actual side) or `changed`."""

    kind: str
    path: str
    expected: Optional[Mapping[str, Any]]
    actual: Optional[Mapping[str, Any]]
    changes: Tuple[Mapping[str, str], ...]
    """For `changed`: `{"field": "size", "expected": "7", "actual": "14"}` per field."""

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> "Difference":
        return cls(item["kind"], item["path"], item.get("expected"), item.get("actual"), tuple(item.get("changes", [])))


@dataclass(frozen=True)
class Diff:
    """The result of `optml diff A B`. `str(diff)` is the readable unified diff."""

    equal: bool
    """No difference and no budget exceeded."""
    differences: Tuple[Difference, ...]
    counts: Mapping[str, int]
    """`{"missing": N, "extra": N, "changed": N}`."""
    notes: Tuple[str, ...]
    """The SageMaker packing rules that were applied."""
    budgets: Tuple[Mapping[str, Any], ...]
    document: Mapping[str, Any] = field(repr=False)
    _render: Callable[[], str] = field(repr=False, compare=False)

    @property
    def text(self) -> str:
        """The human form: a unified diff of the manifests, notes and a verdict line."""
        return self._render()

    def __bool__(self) -> bool:
        """True when the two sides differ, as `if optml.diff(a, b): ...` reads."""
        return not self.equal

    def __str__(self) -> str:
        return self.text


def diff(
    a: PathLike,
    b: PathLike,
    fields: Optional[Union[str, Sequence[str]]] = None,
    redact: Optional[Sequence[str]] = None,
    config: Optional[PathLike] = None,
    role: Optional[str] = None,
) -> Diff:
    """Compare any two of: tree, archive, manifest, under SageMaker's packing rules (`a` is the
    expected side). A manifest's header rules the comparison; otherwise `fields`, `redact` and
    `config` do, as in snapshot()."""
    args = ["diff", os.fspath(a), os.fspath(b), *_record_args(fields, redact, config, role)]
    document = _parse(invoke([*args, "--format", "json"]).stdout, "diff")
    render = _once(lambda: invoke([*args, "--format", "human", "--color", "never"]).stdout)
    return Diff(
        equal=bool(document["equal"]),
        differences=tuple(Difference.from_json(item) for item in document.get("differences", [])),
        counts=dict(document.get("counts", {})),
        notes=tuple(document.get("notes", [])),
        budgets=tuple(document.get("budgets", [])),
        document=document,
        _render=render,
    )


@dataclass(frozen=True)
class Host:
    """How one host (`algo-N`) of a run ended; `root` is its /opt/ml sandbox, kept on disk."""

    name: str
    root: Path
    command: str
    exit_code: Optional[int]
    signal: Optional[int]
    stopped: Optional[str]
    """`None`, `"max-run"` or `"signal"`."""
    marker: Optional[str]
    """`"success"`, `"failure"`, `"script-failure"` (the script wrote its own) or `None`."""
    duration_seconds: float
    zones: Mapping[str, Mapping[str, int]]
    """Files and bytes per zone: `{"model": {"files": 1, "bytes": 36}, ...}`."""

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> "Host":
        return cls(
            name=item["name"],
            root=Path(item["root"]),
            command=item.get("command", ""),
            exit_code=item.get("exit_code"),
            signal=item.get("signal"),
            stopped=item.get("stopped"),
            marker=item.get("marker"),
            duration_seconds=float(item.get("duration_seconds", 0.0)),
            zones=item.get("zones", {}),
        )


@dataclass(frozen=True)
class Artifact:
    """An archive the run packed (model.tar.gz, output.tar.gz)."""

    path: Path
    written: bool
    files: int
    bytes: int
    archive_bytes: Optional[int]
    error: Optional[str]

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> "Artifact":
        return cls(
            path=Path(item["path"]),
            written=bool(item.get("written")),
            files=int(item.get("files", 0)),
            bytes=int(item.get("bytes", 0)),
            archive_bytes=item.get("archive_bytes"),
            error=item.get("error"),
        )


@dataclass(frozen=True)
class RunResult:
    """What `optml run` did: how each host ended, the archives it packed and their check.

    The run folder is kept: `root / "algo-1"` is host 1's /opt/ml, `root / "artifacts"` holds the
    archives."""

    exit_code: int
    """optml's exit status: 0 when every host exited 0 and no error finding exists, else 1."""
    report: Report
    """The check of every host's tree and both archives, plus the harness's RUN findings."""
    root: Path
    hosts: Tuple[Host, ...]
    artifacts: Tuple[Artifact, ...]
    isolation: Mapping[str, Any]
    duration_seconds: float
    output: str = field(repr=False)
    """What the command printed (stdout and stderr, in order; several hosts' lines prefixed)."""

    @property
    def ok(self) -> bool:
        """Every host exited 0 and no error finding exists."""
        return self.exit_code == 0

    def _archive(self, name: str) -> Optional[Path]:
        for artifact in self.artifacts:
            if artifact.written and artifact.path.name == name:
                return artifact.path
        return None

    @property
    def model_archive(self) -> Optional[Path]:
        """`artifacts/model.tar.gz`, or None when it was not written."""
        return self._archive("model.tar.gz")

    @property
    def output_archive(self) -> Optional[Path]:
        """`artifacts/output.tar.gz`, or None when it was not written."""
        return self._archive("output.tar.gz")

    @property
    def artifacts_dir(self) -> Path:
        """`root / "artifacts"`: a job folder, as `optml check` and `optml snapshot` read it."""
        return self.root / "artifacts"

    @property
    def trees(self) -> Dict[str, Path]:
        """Each host's /opt/ml sandbox by host name."""
        return {host.name: host.root for host in self.hosts}


def _run_report_text(document: Mapping[str, Any], output: str) -> str:
    """The readable form of a run's findings. The binary prints its human report only instead of
    JSON, and a run cannot be repeated to get both, so this lists the JSON's diagnostics."""
    run_section = document.get("run", {})
    lines = []
    for host in run_section.get("hosts", []):
        ended = f"exit {host.get('exit_code')}" if host.get("signal") is None else f"signal {host.get('signal')}"
        lines.append(f"{host.get('name')}: {host.get('command')}: {ended}, marker {host.get('marker')}")
    lines += [str(Diagnostic.from_json(item)) for item in document.get("diagnostics", [])]
    lines.append(_summary_line(document.get("summary", {})))
    tail = output.strip().splitlines()[-20:]
    if tail:
        lines += ["", "last lines of the command's output:", *(f"  {line}" for line in tail)]
    return "\n".join(lines) + "\n"


def run(
    entry_point: Union[PathLike, Sequence[PathLike]],
    hyperparameters: Optional[Mapping[str, Any]] = None,
    channels: Optional[Mapping[str, PathLike]] = None,
    hosts: int = 1,
    root: Optional[PathLike] = None,
    packs: Optional[Sequence[str]] = None,
    rules: Optional[Sequence[PathLike]] = None,
    max_run: Optional[float] = None,
    isolate: bool = True,
    snapshot: Optional[PathLike] = None,
    update_snapshots: bool = False,
    python: Optional[str] = None,
) -> RunResult:
    """Run a training entry point in an /opt/ml sandbox as SageMaker would, then pack and check
    what it produced, as `optml run` does (docs/run.md).

    - `entry_point`: a `.py` script (run with `python`, default: this interpreter), or a command
      as a list, e.g. `["bash", "train.sh"]`;
    - `hyperparameters`: as the SageMaker SDK passes them; non-string values are JSON-encoded
      the way its framework estimators do (`{"epochs": 1}` arrives as `--epochs 1`);
    - `channels`: input channel name to a folder or file, copied to /opt/ml/input/data/NAME;
    - `hosts`: number of hosts (algo-1..algo-N), run at the same time;
    - `root`: the run folder (must be empty or absent); default: a new temp folder. It is kept,
      so the trees and archives can be inspected; delete it when done;
    - `snapshot`: also compare the archives against this golden manifest (docs/snapshots.md).

    The command's output is collected in `RunResult.output` and echoed to stderr afterwards.
    Raises OptmlError when optml cannot run (a missing channel path, a non-empty root)."""
    if isinstance(entry_point, (str, os.PathLike)):
        script = os.fspath(entry_point)
        command = [python or sys.executable, script] if script.endswith(".py") else [script]
    else:
        command = _paths(entry_point)
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="optml-run-")) / "run"
    args = ["run", "--root", os.fspath(root), "--hosts", str(hosts), "--format", "json", *_selection(packs, rules)]
    args += [part for name, path in (channels or {}).items() for part in ("--channel", f"{name}={os.fspath(path)}")]
    if max_run is not None:
        args += ["--max-run", str(max_run)]
    if not isolate:
        args.append("--no-isolate")
    if snapshot is not None:
        args += ["--snapshot", os.fspath(snapshot)]
        if update_snapshots:
            args.append("--update-snapshots")
    with tempfile.TemporaryDirectory(prefix="optml-hp-") as scratch:
        if hyperparameters:
            hp_file = Path(scratch) / "hyperparameters.json"
            hp_file.write_text(json.dumps(dict(hyperparameters)), encoding="utf-8")
            args += ["--hyperparameters", str(hp_file)]
        completed = invoke([*args, "--", *command])
    output = completed.stderr or ""
    if output:
        sys.stderr.write(output)
    document = _parse(completed.stdout, "run")
    run_section = document.get("run", {})
    text = _run_report_text(document, output)
    return RunResult(
        exit_code=completed.returncode,
        report=Report.from_json(document, lambda: text),
        root=Path(run_section.get("root", os.fspath(root))),
        hosts=tuple(Host.from_json(item) for item in run_section.get("hosts", [])),
        artifacts=tuple(Artifact.from_json(item) for item in run_section.get("artifacts", [])),
        isolation=run_section.get("isolation", {}),
        duration_seconds=float(run_section.get("duration_seconds", 0.0)),
        output=output,
    )
