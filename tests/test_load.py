"""TARGET strings: files and modules, factory arguments, the forms a factory may return, and
one clear error for each way it can go wrong."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import EXAMPLES
from torch import nn

from costlens import CostlensError
from costlens.tracing.load import load, parse_target, required_inputs


def _write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


def test_parse_target_with_literal_arguments() -> None:
    target = parse_target("examples/shufflenet_v2.py:shufflenet_v2(width=0.5, name='x')")
    assert (target.location, target.factory) == ("examples/shufflenet_v2.py", "shufflenet_v2")
    assert target.kwargs == {"width": 0.5, "name": "x"} and target.is_file
    assert not parse_target("package.module:build").is_file


@pytest.mark.parametrize("text", ["no_colon", "file.py:", "file.py:f(width=open('x'))",
                                  "file.py:f(1 +)"])
def test_bad_target_strings(text: str) -> None:
    with pytest.raises(CostlensError, match="bad target"):
        parse_target(text)


@pytest.mark.parametrize("text, message", [
    ("cnn.py:build(", "'(' is never closed"), ("cnn.py:build(a=(1, 2)", "'(' is never closed"),
    ("cnn.py:build(a=1))", "')' is never opened"), ("cnn.py:build(a=[1)", "')' is never opened"),
])
def test_an_unbalanced_bracket_is_named(text: str, message: str) -> None:
    with pytest.raises(CostlensError, match=rf"bad target .*: {re.escape(message)} in the "
                                            "factory arguments"):
        parse_target(text)


def test_brackets_inside_strings_do_not_count() -> None:
    assert parse_target("cnn.py:build(name='(', tag=\")]\")").kwargs == {"name": "(", "tag": ")]"}


def test_file_target_returning_model_and_inputs() -> None:
    loaded = load(f"{EXAMPLES}/shufflenet_v2.py:shufflenet_v2(width=0.5)")
    assert type(loaded.model).__name__ == "ShuffleNetV2"
    assert loaded.inputs.args[0].shape == (1, 3, 224, 224)


def test_file_imports_modules_beside_it(tmp_path: Path) -> None:
    _write(tmp_path, "helper_layers_beside.py", "from torch import nn\nWIDTH = 7\n")
    path = _write(tmp_path, "net_beside.py", """
        from torch import nn
        from helper_layers_beside import WIDTH

        def build():
            return nn.Linear(WIDTH, 2)
    """)
    assert load(f"{path}:build").model.in_features == 7


def test_module_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "zoo_pkg"
    package.mkdir()
    _write(package, "__init__.py", "")
    _write(package, "nets.py", """
        import torch
        from torch import nn

        def build(width=4):
            return nn.Linear(width, 2), {"input": torch.randn(1, width)}
    """)
    monkeypatch.chdir(tmp_path)
    loaded = load("zoo_pkg.nets:build(width=5)")
    assert loaded.model.in_features == 5
    assert set(loaded.inputs.kwargs) == {"input"}


def test_factory_forms(tmp_path: Path) -> None:
    path = _write(tmp_path, "forms_net.py", """
        import torch
        from torch import nn

        def bare():
            return nn.Linear(3, 3)

        def with_tuple():
            return nn.Linear(3, 3), (torch.randn(1, 3),)

        def with_args_kwargs():
            return nn.Bilinear(3, 3, 2), (torch.randn(1, 3),), {"input2": torch.randn(1, 3)}
    """)
    assert load(f"{path}:bare").inputs is None
    assert len(load(f"{path}:with_tuple").inputs.args) == 1
    loaded = load(f"{path}:with_args_kwargs")
    assert len(loaded.inputs.args) == 1 and set(loaded.inputs.kwargs) == {"input2"}


@pytest.mark.parametrize("body, message", [
    ("x = 1\n", "has no 'build'"),
    ("build = 3\n", "not a callable factory"),
    ("def build():\n    raise ValueError('bad width')\n",
     "the factory raised ValueError: bad width"),
    ("def build():\n    return 'model'\n", "returned a str"),
    ("def build(:\n", "syntax error"),
    ("import not_a_module_anywhere\n", "ModuleNotFoundError"),
])
def test_errors_are_one_line_and_say_what(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / f"broken_{abs(hash(body))}.py"
    path.write_text(body)
    with pytest.raises(CostlensError, match=message) as caught:
        load(f"{path}:build")
    assert "\n" not in str(caught.value)


def test_missing_file_and_module() -> None:
    with pytest.raises(CostlensError, match="target file not found"):
        load("does/not/exist.py:build")
    with pytest.raises(CostlensError, match="module not found"):
        load("no_such_package_here.models:build")


def test_same_stem_in_two_directories_loads_both(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    for directory, width in ((first, 1), (second, 2)):
        _write(directory, "samestem.py",
               f"from torch import nn\ndef build():\n    return nn.Linear({width}, {width})\n")
    assert load(f"{first}/samestem.py:build").model.in_features == 1
    assert load(f"{second}/samestem.py:build").model.in_features == 2


def test_required_inputs() -> None:
    assert required_inputs(nn.Linear(2, 2)) == (["input"], [])

    class Mixed(nn.Module):
        def forward(self, x: torch.Tensor, *, mask: torch.Tensor, scale: float = 1.0):
            return x * mask * scale

    assert required_inputs(Mixed()) == (["x"], ["mask"])


def test_loader_leaves_sys_modules_clean_after_a_failed_import(tmp_path: Path) -> None:
    path = tmp_path / "fails_at_import.py"
    path.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(CostlensError):
        load(f"{path}:build")
    assert "fails_at_import" not in sys.modules


INSTALLED_EXAMPLES = ["shufflenet_v2:shufflenet_v2", "shufflenet_v1:shufflenet_v1",
                      "mobilenet_v2:mobilenet_v2", "resnet:resnet50", "inception:inception_net",
                      "gpt:gpt", "llama:llama(size='tiny')"]


def test_installed_examples_load_as_module_targets(tmp_path: Path) -> None:
    """As a pip-only user names them: a fresh interpreter in a folder without examples/."""
    code = ("import sys\nfrom costlens.tracing.load import load\n"
            "for target in sys.argv[1:]:\n    load(target)\n")
    done = subprocess.run([sys.executable, "-c", code,
                           *(f"costlens.examples.{name}" for name in INSTALLED_EXAMPLES)],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_file_in_a_package_may_import_its_siblings_relatively(tmp_path: Path) -> None:
    package = tmp_path / "zoo_models"
    package.mkdir()
    _write(package, "__init__.py", "")
    _write(package, "parts.py", """
        from torch import nn
        def stem():
            return nn.Conv2d(3, 8, 3)
        """)
    _write(package, "net.py", """
        import torch
        from torch import nn
        from .parts import stem
        def build():
            return nn.Sequential(stem(), nn.ReLU()), torch.randn(1, 3, 8, 8)
        """)
    loaded = load("zoo_models/net.py:build", tmp_path)
    assert type(loaded.model[0]).__name__ == "Conv2d"
    assert loaded.location.file.endswith("net.py")
