"""The optml pytest plugin (registered through the `pytest11` entry point): golden-file
regression tests of training code.

- `optml_run(entry_point, hyperparameters=..., channels=...)` runs a training entry point in an
  /opt/ml sandbox, as `optml run` does, in the test's tmp_path; it returns an optml.RunResult.
- `optml_snapshot(target)` asserts that a tree, archive or job folder (or a RunResult's
  archives) matches the golden manifest `__optml_snapshots__/<test>.manifest` beside the test
  file. On a mismatch the assertion message is the readable diff.

The comparison and the update policy are the binary's (`optml check --snapshot`,
docs/snapshots.md): the golden's header carries its redactions and size tolerances; a new or
changed snapshot is written as FILE.new for review; `pytest --optml-update` or `OPTML_UPDATE=always`
(or `1`) overwrites the golden; when `CI` is set nothing is ever written and the test fails,
even when the golden is missing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, List, Optional, Union

import pytest

from ._api import RunResult, run
from ._binary import invoke

SNAPSHOT_DIR = "__optml_snapshots__"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("optml", "optml golden snapshots")
    group.addoption(
        "--optml-update",
        action="store_true",
        default=False,
        help="write optml golden manifests (__optml_snapshots__/*.manifest) from what the tests produce; never under CI",
    )
    group.addoption(
        "--optml-snapshots-only",
        action="store_true",
        default=False,
        help="run only the tests that use the optml_snapshot fixture (the optml-snapshot pre-commit hook)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    if not config.getoption("optml_snapshots_only"):
        return
    uses = ["optml_snapshot" in getattr(item, "fixturenames", ()) for item in items]
    keep = [item for item, used in zip(items, uses) if used]
    deselected = [item for item, used in zip(items, uses) if not used]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = keep


def _test_name(node: pytest.Item) -> str:
    """`test_x`, `TestClass.test_x`, `test_x[param]`, as a file name."""
    qualified = node.nodeid.split("::", 1)[-1].replace("::", ".")
    return re.sub(r"[^\w.-]+", "_", qualified).strip("_")


class _SnapshotAssert:
    """The `optml_snapshot` fixture's value: call it with what to compare."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._folder = Path(request.node.path).parent / SNAPSHOT_DIR
        self._name = _test_name(request.node)
        self._update = bool(request.config.getoption("optml_update"))
        self._calls = 0

    def golden(self, name: Optional[str] = None) -> Path:
        """The golden file for this test: `<test>.manifest`, or `<test>.<name>.manifest`."""
        return self._folder / (f"{self._name}.{name}.manifest" if name else f"{self._name}.manifest")

    def __call__(self, target: Union[str, "os.PathLike[str]", RunResult], *, name: Optional[str] = None) -> None:
        """Assert that `target` (a tree, archive, job folder, or a RunResult, whose archives
        are compared as a job folder) matches its golden manifest. A second unnamed call in
        the same test uses `<test>.2.manifest`, and so on."""
        self._calls += 1
        if name is None and self._calls > 1:
            name = str(self._calls)
        golden = self.golden(name)
        path = target.artifacts_dir if isinstance(target, RunResult) else Path(os.fspath(target))
        # Only the snapshot pack, and no config file's settings: the golden's header alone rules
        # this assertion; checking the layout is the test's own business (optml.check).
        args = ["check", str(path), "--snapshot", str(golden), "--no-default-packs", "--pack", "snapshot", "--isolated"]
        args += ["--format", "human", "--color", "never"]
        if self._update:
            args.append("--update-snapshots")
        completed = invoke(args)
        if completed.returncode != 0:
            hint = "pytest --optml-update (or OPTML_UPDATE=always) accepts it; `optml snapshot review` goes through FILE.new files"
            pytest.fail(f"{path} does not match {golden}\n\n{completed.stdout.rstrip()}\n\n{hint}", pytrace=False)


@pytest.fixture
def optml_snapshot(request: pytest.FixtureRequest) -> _SnapshotAssert:
    """Assert that a tree or archive matches `__optml_snapshots__/<test>.manifest`."""
    return _SnapshotAssert(request)


@pytest.fixture
def optml_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., RunResult]:
    """Run a training entry point as `optml run` does, in a fresh run folder under pytest's
    temp directory; takes optml.run's arguments (but `root`) and returns its RunResult."""

    def run_entry_point(entry_point: Any, **options: Any) -> RunResult:
        if "root" in options:
            raise TypeError("optml_run chooses the run folder itself; call optml.run(root=...) to choose it")
        root = tmp_path_factory.mktemp("optml-run") / "run"
        return run(entry_point, root=root, **options)

    return run_entry_point

