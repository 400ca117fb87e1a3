"""Tests of the optml Python package, run against the installed wheel (.ci/run builds it and
installs it into a fresh venv). `pytester` drives the plugin in inner pytest sessions."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside CI, whatever runs these tests: the local update policy applies."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("OPTML_UPDATE", raising=False)
