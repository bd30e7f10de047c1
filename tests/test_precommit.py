"""The real pre-commit, from PyPI, set up as the README says, runs costlens's hook in a fresh
git repository, written out as a local hook or taken from this repository's
.pre-commit-hooks.yaml pinned to HEAD's commit hash: a commit that adds a model breaking a
guideline is refused, a clean one goes through."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import ROOT


def _git(repository: Path, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *arguments], cwd=repository, capture_output=True, text=True,
                          check=check, env=_environment(repository))


def _environment(repository: Path) -> dict[str, str]:
    """This interpreter's bin first on PATH (the hook runs the costlens installed beside it),
    pre-commit's cache inside the test, and a git identity."""
    environment = dict(os.environ)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    environment["PRE_COMMIT_HOME"] = str(repository.parent / "pre-commit-cache")
    environment.update(GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.com",
                       GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.com")
    return environment


def _model(width: int, hidden: int) -> str:
    """Two 1x1 convolutions, width -> hidden -> width: unequal widths break G1."""
    return textwrap.dedent(f'''
        import torch
        from torch import nn


        def build():
            model = nn.Sequential(nn.Conv2d({width}, {hidden}, 1), nn.Conv2d({hidden}, {width}, 1))
            return model, torch.randn(1, {width}, 28, 28)
    ''')


def _readme_configurations() -> list[str]:
    """The two .pre-commit-config.yaml blocks of the README's pre-commit section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## pre-commit\n", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```yaml\n")[1:]]


@pytest.fixture(params=["local", "remote"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A fresh git repository set up as the README says, with its local hook, or with the hook
    from this repository pinned to HEAD's commit hash."""
    local, remote = _readme_configurations()
    if request.param == "local":
        configuration = local
        example = (ROOT / "examples" / "pre-commit-config.yaml").read_text()
        assert configuration == "repos:" + example.split("repos:", 1)[1], \
            "the README shows the example file's configuration"
    else:
        if not (ROOT / ".git").exists():
            pytest.skip("costlens is not a git checkout here: pre-commit installs its hook "
                        "from a git repository at a revision")
        head = _git(ROOT, "rev-parse", "HEAD").stdout.strip()
        configuration = re.sub(r"rev: \S+", f"rev: {head}",
                               remote.replace("<costlens URL>", str(ROOT)))
    repository = tmp_path / "project"
    repository.mkdir()
    _git(repository, "init", "-q")
    (repository / ".pre-commit-config.yaml").write_text(configuration)
    (repository / "pyproject.toml").write_text('[tool.costlens]\ntargets = ["model.py:build"]\n')
    (repository / "model.py").write_text(_model(59, 59))
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    assert pre_commit, "pre-commit is not installed beside this interpreter (pip install .[test])"
    subprocess.run([pre_commit, "install"], cwd=repository, check=True, capture_output=True,
                   env=_environment(repository))
    return repository


def test_the_hook_refuses_a_violating_model_and_accepts_a_clean_one(repository: Path) -> None:
    _git(repository, "add", ".")
    clean = _git(repository, "commit", "-m", "clean model", check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (repository / "model.py").write_text(_model(24, 144))
    _git(repository, "add", "model.py")
    refused = _git(repository, "commit", "-m", "unequal widths", check=False)
    assert refused.returncode != 0
    assert "G1 unequal-channel-widths" in refused.stdout + refused.stderr
    assert _git(repository, "log", "--oneline").stdout.count("\n") == 1
