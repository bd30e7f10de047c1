"""Every bad input ends in exit code 2 and a short, readable message on stderr (what went
wrong, where, what to do), the traceback only with --debug. The README's "Errors and exit
codes" section lists these cases."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from costlens.cli import main

BROKEN = {
    "syntax.py": "def build(:\n    pass\n",
    "imports.py": "import torch\nimport not_installed_anywhere\n",
    "factories.py": textwrap.dedent('''
        import torch
        from torch import nn

        WIDTH = 3

        def raises():
            raise RuntimeError("checkpoint missing")

        def returns_a_string():
            return "model"

        def no_inputs():
            return nn.Linear(4, 4)

        def linear():
            return nn.Linear(4, 4), torch.randn(2, 4)

        def on_meta():
            return nn.Linear(4, 4, device="meta"), torch.randn(2, 4, device="meta")

        def spectral():
            class Spectral(nn.Module):
                def forward(self, x):
                    return torch.fft.rfft(x).abs()
            return Spectral(), torch.randn(2, 8)
    '''),
    "configured/pyproject.toml": "[tool.costlens]\nselect = 'G1'\ncolour = 'red'\n",
    "configured/g4-time.toml": "[tool.costlens.rules.G4]\nshare-of = 'time'\n",
    "configured/g4-bytes.toml": "[tool.costlens.rules.G4]\nshare-of = 'bytes'\n",
}

CASES = [
    (["report", "missing.py:build"], "target file not found: missing.py"),
    (["report", "syntax.py:build"], "syntax.py:1: syntax error"),
    (["report", "imports.py:build"],
     "importing imports.py failed: ModuleNotFoundError: No module named 'not_installed_anywhere'"),
    (["report", "factories.py:absent"], "factories.py has no 'absent'; it defines"),
    (["report", "factories.py:WIDTH"], "factories.py:WIDTH is an int, not a callable factory"),
    (["report", "factories.py:raises"],
     "factories.py:raises: the factory raised RuntimeError: checkpoint missing"),
    (["report", "factories.py:returns_a_string"], "the factory returned a str; expected a"),
    (["report", "factories.py:linear", "--input", "2x5"],
     "the model's forward failed in the model (a Linear taking ...x4) at aten.addmm.default "
     "with inputs 4, 2x5, 4x4"),
    (["report", "factories.py:no_inputs"], "needs input: pass --input SHAPE"),
    (["report", "factories.py:linear", "--input", "2xfour"], "bad --input '2xfour'"),
    (["report", "factories.py:linear", "--input", "2x4", "--dtype", "float7"],
     "unknown --dtype 'float7'"),
    (["report", "factories.py:linear", "--format", "yaml"], "invalid choice: 'yaml'"),
    (["lint", "factories.py:linear", "--select", "Q7"], "unknown rule code 'Q7'"),
    (["lint", "factories.py:linear", "--config", "configured/pyproject.toml"],
     "unknown key 'colour'"),
    (["report", "factories.py:spectral", "--strict"],
     "--strict: ops with no cost formula: aten._fft_r2c.default (1x)"),
    (["report", "model.pt"], "model.pt is a pickle"),
    (["reportt", "x.py:f"], "invalid choice: 'reportt'"),
    (["report", "factories.py:linear", "--depth", "deep"], "expected a whole number, not 'deep'"),
    (["lint", "factories.py:linear", "--config", "syntax.py"],
     "syntax.py: not a valid setup.cfg: File contains no section headers."),
    (["report", "factories.py:linear", "--platform", "mine.json"],
     "no platform profile 'mine.json': not a file, nor a built-in profile (built-in: "
     "epyc-cpu-1t, h200-cuda, xeon-cpu-1t, xeon-cpu-2t)"),
    (["report", "factories.py:linear", "--platform", "syntax.py"],
     "platform profile syntax.py is not JSON"),
    (["report", "factories.py:linear", "--fuse"],
     "--fuse applies to the latency estimate: give --platform too"),
    (["bench", "factories.py:linear", "--threads", "0"], "must be 1 or more, not 0"),
    (["bench", "factories.py:on_meta", "--platform", "epyc-cpu-1t"],
     "bench runs the model for real, and its weights are on the meta device (no data)"),
    (["lint", "factories.py:linear", "--config", "configured/g4-time.toml"],
     "G4 share_of = 'time' needs a platform profile"),
    (["lint", "factories.py:linear", "--config", "configured/g4-bytes.toml"],
     "rules.G4.share-of: expected one of mac, time, got 'bytes'"),
]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in BROKEN.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "model.pt").write_bytes(b"\x80\x04.")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _exit(arguments: list[str]) -> int:
    try:
        return main(arguments)
    except SystemExit as exit_:  # argparse's usage errors
        return int(exit_.code)


@pytest.mark.parametrize("arguments, message", CASES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_bad_input_exits_2_with_a_short_message(workspace: Path, arguments, message: str,
                                                capsys) -> None:
    assert _exit(arguments) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and err.count("\n") <= 2


def test_debug_adds_the_traceback(workspace: Path, capsys) -> None:
    assert _exit(["report", "factories.py:raises", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "checkpoint missing" in err


def test_wrong_commands_never_print_a_traceback(workspace: Path) -> None:
    """As a new user would type them, in a fresh process each."""
    for arguments in (["report"], ["lint", "--fail-on", "sometimes"], ["report", "x"],
                      ["rules", "G9"], ["report", "factories.py:linear", "--depth", "-2"]):
        result = subprocess.run([sys.executable, "-m", "costlens", *arguments], cwd=workspace,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, (arguments, result.stderr)
        assert "Traceback" not in result.stderr and result.stderr.startswith("costlens")
        assert result.stdout == ""
