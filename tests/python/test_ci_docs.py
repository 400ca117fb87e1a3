"""docs/ci.md's YAML snippets parse, and the pre-commit hooks are the ones documented."""

import re
from pathlib import Path

import yaml


def yaml_blocks(markdown: str) -> list:
    return re.findall(r"^```yaml\n(.*?)^```", markdown, flags=re.M | re.S)


def test_every_yaml_snippet_in_docs_ci_parses(repo: Path) -> None:
    blocks = yaml_blocks((repo / "docs/ci.md").read_text())
    # GitLab CI, CodeBuild, pre-commit (remote and local): a snippet dropped by a bad fence
    # would otherwise go unnoticed.
    assert len(blocks) >= 4
    for block in blocks:
        document = yaml.safe_load(block)
        assert isinstance(document, dict) and document, block


def test_gitlab_snippet_uploads_junit_reports(repo: Path) -> None:
    jobs = [yaml.safe_load(b) for b in yaml_blocks((repo / "docs/ci.md").read_text())]
    gitlab = next(doc for doc in jobs if "optml" in doc and "script" in doc["optml"])
    for job in gitlab.values():
        assert job["artifacts"]["reports"]["junit"].endswith(".xml")
        assert job["artifacts"]["when"] == "always"


def test_pre_commit_hooks(repo: Path) -> None:
    hooks = {hook["id"]: hook for hook in yaml.safe_load((repo / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"optml-check", "optml-snapshot"}
    check = hooks["optml-check"]
    assert check["language"] == "python" and check["entry"] == "optml check"
    pattern = re.compile(check["files"])
    for name in ["model.tar.gz", "a/b/output.tar.gz", "x.tgz", "plain.tar"]:
        assert pattern.search(name), name
    for name in ["model.tar.gz.sha256", "train.py", "tar"]:
        assert not pattern.search(name), name
    snapshot = re.compile(hooks["optml-snapshot"]["files"])
    assert snapshot.search("tests/__optml_snapshots__/test_x.manifest")
    assert not snapshot.search("tests/__optml_snapshots__/test_x.manifest.new")
