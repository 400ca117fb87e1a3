"""optml: a layout conformance linter and test harness for Amazon SageMaker /opt/ml trees,
model.tar.gz / output.tar.gz archives and job folders.

This package ships the optml binary and a thin typed API over its JSON reports::

    import optml

    report = optml.check("model.tar.gz")
    report.raise_for_errors()          # CheckFailed, with the human report, on error findings

Every call runs the bundled binary (docs/json-schema.md is the contract); see docs/python.md.
The pytest plugin (fixtures ``optml_run`` and ``optml_snapshot``) is registered automatically.
"""

from importlib.metadata import PackageNotFoundError, version as _version

from ._api import (
    Artifact,
    CheckFailed,
    Diagnostic,
    Diff,
    Difference,
    Host,
    Report,
    RunResult,
    check,
    diff,
    run,
    snapshot,
)
from ._binary import BinaryNotFound, OptmlError, find_binary

try:
    __version__ = _version("optml")
except PackageNotFoundError:  # a source checkout on sys.path, not installed
    __version__ = "0+unknown"

__all__ = [
    "Artifact",
    "BinaryNotFound",
    "CheckFailed",
    "Diagnostic",
    "Diff",
    "Difference",
    "Host",
    "OptmlError",
    "Report",
    "RunResult",
    "check",
    "diff",
    "find_binary",
    "run",
    "snapshot",
    "__version__",
]
