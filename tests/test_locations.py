"""Source locations: the assignment that actually ran, never a library file."""
from __future__ import annotations

import textwrap
from pathlib import Path

import costlens
from costlens.tracing.load import load
from costlens.tracing.locations import is_user_file


def test_the_recorded_assignment_is_the_branch_that_ran(tmp_path: Path) -> None:
    (tmp_path / "branchy.py").write_text(textwrap.dedent('''
        import torch
        from torch import nn


        class Unit(nn.Module):
            def __init__(self, wide):
                super().__init__()
                if not wide:
                    self.conv = nn.Conv2d(16, 16, 1)
                else:
                    self.conv = nn.Conv2d(16, 96, 1)
                self.out = nn.Conv2d(96 if wide else 16, 16, 1)

            def forward(self, x):
                return self.out(self.conv(x))


        def build():
            return nn.Sequential(Unit(True), Unit(False)), torch.randn(1, 16, 28, 28)
    '''))
    loaded = load(f"{tmp_path}/branchy.py:build")
    graph = costlens.trace_model(loaded.model, loaded.inputs)
    sites = {module.path: module.source for module in graph.modules}
    assert sites["0.conv"].line == 12 and sites["1.conv"].line == 10
    assert sites["0"].line == 20  # inside nn.Sequential(...): the user's call of it


def test_installed_and_library_files_are_not_user_code() -> None:
    assert not is_user_file("/usr/lib/python3/dist-packages/fakelib/nets.py")
    assert not is_user_file("/opt/venv/lib/python3.11/site-packages/timm/models/vit.py")
    assert not is_user_file(costlens.__file__)
    assert not is_user_file("<string>")
    assert is_user_file(__file__)


def test_a_users_copy_of_installed_code_is_the_users(tmp_path) -> None:
    """Code objects compare equal whatever file they come from: the same function in an
    installed file and in the user's must still be told apart."""
    from costlens.tracing.locations import user_location

    source = "def where(locate):\n    return locate()\n"
    found = []
    for folder in ("site-packages", "project"):
        path = tmp_path / folder / "helper.py"
        path.parent.mkdir()
        path.write_text(source)
        namespace: dict = {}
        exec(compile(source, str(path), "exec"), namespace)
        found.append(namespace["where"](user_location))
    assert found[0] is None or "site-packages" not in found[0].file
    assert found[1] is not None and found[1].file.endswith("project/helper.py")
