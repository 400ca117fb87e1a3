"""pre-commit hook entry points (.pre-commit-hooks.yaml).

`python -m optml.hooks snapshot FILE...`: the `optml-snapshot` hook. FILEs are golden manifests
(`__optml_snapshots__/<test>.manifest`); the tests beside them that use `optml_snapshot` are run
with `OPTML_UPDATE=no`, so a commit is refused when a golden no longer matches what its test
produces, and nothing is ever written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List, Sequence

from .pytest_plugin import SNAPSHOT_DIR

# pytest's exit status when it collected no test.
NO_TESTS_COLLECTED = 5


def snapshot(files: Sequence[str]) -> int:
    goldens = [Path(f) for f in files if f.endswith(".manifest") and Path(f).parent.name == SNAPSHOT_DIR]
    folders = sorted({str(golden.parent.parent) for golden in goldens})
    if not folders:
        return 0
    environment = dict(os.environ, OPTML_UPDATE="no")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--optml-snapshots-only", *folders]
    status = subprocess.call(command, env=environment)
    if status == NO_TESTS_COLLECTED:
        # A golden whose test is gone is stale, not verified: say so instead of pytest's exit 5.
        print(f"optml-snapshot: no test in {', '.join(folders)} uses optml_snapshot, so these goldens have no test: {', '.join(map(str, goldens))}", file=sys.stderr)
        return 1
    return status


def main(argv: List[str]) -> int:
    if not argv or argv[0] != "snapshot":
        print("usage: python -m optml.hooks snapshot FILE...", file=sys.stderr)
        return 2
    return snapshot(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
