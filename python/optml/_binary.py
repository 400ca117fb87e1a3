"""Finding and running the optml binary that the wheel installs beside this package."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Mapping, Optional, Sequence

__all__ = ["OptmlError", "BinaryNotFound", "find_binary", "invoke"]

_EXECUTABLE = "optml.exe" if os.name == "nt" else "optml"


class OptmlError(Exception):
    """optml could not do its job (exit status 2): bad options, an unreadable input, an invalid
    rule file or manifest. The message is the binary's own error report."""

    def __init__(self, message: str, *, exit_code: Optional[int] = None, command: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.command = list(command)


class BinaryNotFound(OptmlError):
    """The optml binary is not where the wheel installs it."""


def _candidates() -> list[Path]:
    """Where pip, pipx and uv put a wheel's scripts for this interpreter, most likely first."""
    places: list[Path] = []

    def add(path: Optional[str]) -> None:
        if path:
            places.append(Path(path) / _EXECUTABLE)

    # A venv or a system install: the interpreter's own scripts folder.
    add(sysconfig.get_path("scripts"))
    # `pip install --user`.
    user_scheme = sysconfig.get_preferred_scheme("user") if sys.version_info >= (3, 10) else f"{os.name}_user"
    add(sysconfig.get_path("scripts", scheme=user_scheme))
    package = Path(__file__).resolve().parent
    # `pip install --target DIR`: DIR/optml/ and DIR/bin/optml.
    add(str(package.parent / "bin"))
    # `pip install --prefix P`: P/lib/pythonX.Y/site-packages/optml/ and P/bin/optml.
    if len(package.parents) > 3:
        add(str(package.parents[3] / "bin"))
    return places


def find_binary() -> str:
    """The path of the optml binary: `OPTML_BINARY` if set (a development build, say
    `target/debug/optml`), else the one the wheel installed with this package."""
    override = os.environ.get("OPTML_BINARY")
    if override:
        if not os.access(override, os.X_OK):
            raise BinaryNotFound(f"OPTML_BINARY={override} is not an executable file")
        return override
    places = _candidates()
    for place in places:
        if place.is_file() and os.access(place, os.X_OK):
            return str(place)
    looked = "\n".join(f"  {place}" for place in dict.fromkeys(places))
    raise BinaryNotFound(
        "the optml binary is missing: an installed optml wheel always ships it, so this package was "
        "installed without it (a source checkout on sys.path, or a broken install).\n"
        f"Looked in:\n{looked}\n"
        "Reinstall with `pip install --force-reinstall optml`, or set OPTML_BINARY to a built binary."
    )


def invoke(
    args: Sequence[str],
    *,
    env: Optional[Mapping[str, str]] = None,
) -> subprocess.CompletedProcess[str]:
    """Run `optml ARGS`, capturing its output as text. Exit 0 and 1 are results; anything else
    (2: optml could not do its job; a signal) raises OptmlError with the binary's message.

    `env` adds variables to (or overrides them in) this process's environment."""
    command = [find_binary(), *args]
    environment = None
    if env is not None:
        environment = dict(os.environ)
        environment.update(env)
    completed = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        encoding="utf-8",
        errors="replace",
        check=False,
    )
    if completed.returncode not in (0, 1):
        message = (completed.stderr or "").strip() or f"optml exited with status {completed.returncode}"
        raise OptmlError(message, exit_code=completed.returncode, command=command)
    return completed
