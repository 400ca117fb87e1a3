"""`pre-commit try-repo` of this repository against temp git repos: the optml-check hook fails
on a bad archive and passes on a good one; the optml-snapshot hook verifies goldens.

Not collected with the rest of the suite (its name is not test_*.py): try-repo installs the hook
from source, which builds the crate (needs cargo; minutes). .ci/run names this file."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def new_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q")
    git(path, "config", "user.email", "ci@example.com")
    git(path, "config", "user.name", "ci")
    return path


def try_repo(source: Path, repo: Path, hook: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ)
    # The optml-snapshot hook is `language: system`: it runs the `python` on PATH, this one.
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
    environment.pop("OPTML_BINARY", None)
    command = [sys.executable, "-m", "pre_commit", "try-repo", str(source), hook, "--all-files", "--color", "never"]
    return subprocess.run(command, cwd=repo, env=environment, capture_output=True, text=True)


@pytest.fixture
def source(repo: Path, tmp_path: Path) -> Path:
    """This repository, as try-repo reads it (the working tree, uncommitted changes included)."""
    if shutil.which("cargo") is None:
        pytest.fail("pre-commit try-repo builds optml from source: cargo must be on PATH")
    return repo


def test_optml_check_hook_fails_on_a_bad_archive_and_passes_on_a_good_one(source: Path, repo: Path, tmp_path: Path) -> None:
    project = new_repo(tmp_path / "project")
    (project / "models").mkdir()
    shutil.copy(repo / "examples/model.tar.gz", project / "models/model.tar.gz")
    shutil.copy(repo / "examples/broken-model.tar.gz", project / "models/broken.tar.gz")
    (project / "README.md").write_text("not an archive: the hook must not see it\n")
    git(project, "add", ".")
    # One try-repo run (one build of the crate), both archives: the hook's verdict per file
    # is in its output, and the bad one fails the run.
    result = try_repo(source, project, "optml-check")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "optml check (SageMaker model archives)" in output and "Failed" in output
    assert "checking models/broken.tar.gz" in output and "checking models/model.tar.gz" in output
    assert "checking README.md" not in output
    # The broken archive's wrapper folder is an error (MDL101); the good one has warnings only.
    assert "MDL101" in output and re.search(r"Found [1-9][0-9]* errors?,", output), output

    git(project, "rm", "-q", "-f", "models/broken.tar.gz")
    result = try_repo(source, project, "optml-check")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Passed" in output


def test_optml_snapshot_hook_verifies_goldens(source: Path, tmp_path: Path) -> None:
    project = new_repo(tmp_path / "project")
    tests = project / "tests"
    (tests / "__optml_snapshots__").mkdir(parents=True)
    (tests / "test_layout.py").write_text(
        "def test_layout(tmp_path, optml_snapshot):\n"
        "    (tmp_path / 'model.pth').write_bytes(b'x' * 7)\n"
        "    optml_snapshot(tmp_path)\n"
        "def test_unrelated():\n"
        "    pass\n"
    )
    golden = tests / "__optml_snapshots__/test_layout.manifest"
    golden.write_text("#optml-manifest v1\n/fields type size link\nmodel.pth type=file size=7\n")
    git(project, "add", ".")
    result = try_repo(source, project, "optml-snapshot")
    assert result.returncode == 0, result.stdout + result.stderr
    golden.write_text("#optml-manifest v1\n/fields type size link\nmodel.pth type=file size=8\n")
    git(project, "add", ".")
    result = try_repo(source, project, "optml-snapshot")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "+model.pth type=file size=7" in output
    assert not golden.with_name("test_layout.manifest.new").exists()
