"""The command line: exit codes, one-line errors, tracebacks only with --debug."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EXAMPLES, ROOT

from costlens.cli import main

SHUFFLENET = f"{EXAMPLES}/shufflenet_v2.py:shufflenet_v2(width=0.5)"


def test_report_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", SHUFFLENET, "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ShuffleNetV2 on args[0] 1x3x224x224 float32")
    assert "\ntotal " in out


def test_input_shapes_override_the_factory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", SHUFFLENET, "--input", "2x3x112x112", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["model"]["inputs"] == [{"name": "args[0]", "shape": [2, 3, 112, 112],
                                            "dtype": "float32"}]


DTYPE_MODEL = ("def build():\n"
               "    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU())\n"
               "    return model, torch.randn(2, 3, 32, 32)\n")


@pytest.mark.parametrize("extra", [["--input", "2x3x32x32"], []], ids=["input", "factory"])
def test_dtype_runs_the_model_in_it_as_model_to_would(
        extra: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every tensor an op touches is bf16 (the stem's MAC bytes exactly half of fp32), with
    --input shapes and with the factory's own inputs; the model the factory built is left in
    fp32 (checked by tracing it in a second report)."""
    target = f"{_model_file(tmp_path, DTYPE_MODEL)}:build"
    bytes_of = {}
    for dtype in ("float32", "bfloat16"):
        assert main(["report", target, "--dtype", dtype, *extra, "--format", "json"]) == 0
        document = json.loads(capsys.readouterr().out)
        assert document["model"]["inputs"][0]["dtype"] == dtype
        bytes_of[dtype] = {row["name"]: row["mac_bytes"] for row in document["layers"]}
    assert bytes_of["bfloat16"] == {name: value // 2 for name, value in bytes_of["float32"].items()}


def test_dtype_casts_the_traced_copy_not_the_model() -> None:
    import torch

    from costlens import analyze
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    analysis = analyze(model, torch.randn(2, 4, dtype=torch.float16), dtype="float16")
    assert {op.mac_bytes for op in analysis.ops if op.mac} == {
        op.mac * 2 for op in analysis.ops if op.mac}
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert model[1].num_batches_tracked.dtype == torch.int64


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    assert main(["report", SHUFFLENET, "--format", "csv", "-o", str(target)]) == 0
    assert target.read_text().splitlines()[0].startswith("name,forward_of,type,depth")


def _model_file(tmp_path: Path, body: str) -> str:
    path = tmp_path / "cli_model.py"
    path.write_text("import torch\nfrom torch import nn\n\n" + body)
    return str(path)


def test_strict_fails_on_an_unsupported_op(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = _model_file(tmp_path, (
        "class Spectral(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return torch.fft.rfft(x).abs()\n\n"
        "def build():\n    return Spectral(), torch.randn(2, 8)\n"))
    assert main(["report", f"{path}:build"]) == 0
    assert "aten._fft_r2c.default: 1 call in (model)" in capsys.readouterr().out
    assert main(["report", f"{path}:build", "--strict"]) == 2
    captured = capsys.readouterr()
    assert "total" in captured.out
    assert captured.err == ("costlens: error: --strict: ops with no cost formula: "
                            "aten._fft_r2c.default (1x)\n")


@pytest.mark.parametrize("arguments, message", [
    (["report", "missing/file.py:build"], "target file not found: missing/file.py"),
    (["report", SHUFFLENET, "--input", "1x3xfoo"], "bad --input '1x3xfoo'"),
    (["report", SHUFFLENET, "--input", "1x3x8x8", "--dtype", "float13"], "unknown --dtype"),
    (["report", SHUFFLENET, "--dtype", "int64"], "--dtype int64 without --input would cast"),
    (["report", SHUFFLENET, "--format", "yaml"], "invalid choice: 'yaml'"),
    (["report", SHUFFLENET, "--sort", "latency"],
     "--sort latency orders by the latency estimate: give --platform too"),
    (["report", SHUFFLENET, "--fuse"], "--fuse applies to the latency estimate"),
    (["report", SHUFFLENET, "--format", "json", "--depth", "1", "--top", "3"],
     "--depth, --top select the rows of the table, markdown and CSV"),
    (["report", SHUFFLENET, "--format", "csv", "--wide"], "--wide applies to the table"),
    (["bench", SHUFFLENET, "--train"], "unrecognized arguments: --train"),
    (["calibrate", "--list", "--threads", "2"], "--list lists the built-in profiles and "
     "measures nothing: drop --threads"),
    (["report", SHUFFLENET, "--depth", "-1"], "must be 0 or more"),
    (["report", f"{EXAMPLES}/resnet.py:resnet50", "--input", "1x5x64x64"],
     "the model's forward failed in conv1 (a Conv2d taking Nx3xHxW) at "
     "aten.convolution.default with inputs 1x5x64x64"),
    (["report", f"{EXAMPLES}/resnet.py:resnet50", "--input", "1x3x64"],
     "with inputs 1x1x3x64, 64x3x7x7: RuntimeError: Invalid channel dimensions (the model was "
     "called with args[0] 1x3x64 float32)"),
])
def test_errors_exit_2_with_one_line(arguments, message,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(arguments) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def _exit_code(arguments: list[str]) -> int:
    """main's return value, or the code argparse exits with on a usage error."""
    try:
        return main(arguments)
    except SystemExit as exit_:
        return int(exit_.code)


def test_a_model_without_inputs_asks_for_input(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = _model_file(tmp_path, "def build():\n    return nn.Linear(4, 4)\n")
    assert main(["report", f"{path}:build"]) == 2
    assert "needs input: pass --input SHAPE" in capsys.readouterr().err
    assert main(["report", f"{path}:build", "--input", "2x4"]) == 0


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "missing/file.py:build", "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def _run(*arguments: str) -> subprocess.CompletedProcess[str]:
    """A command run as a user would, against the installed costlens."""
    return subprocess.run(arguments, capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_python_dash_m_and_the_console_script() -> None:
    result = _run(sys.executable, "-m", "costlens", "report",
                  "examples/paper_benchmarks.py:g1_network(c1=13, c2=78)", "--depth", "1")
    assert result.returncode == 0, result.stderr
    assert "Sequential on args[0] 1x13x56x56" in result.stdout
    script = shutil.which("costlens", path=str(Path(sys.executable).parent))
    assert script is not None, "the costlens console script is not installed"
    assert _run(script, "--version").stdout.startswith("costlens ")


def test_keyword_inputs_come_from_the_factory(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = _model_file(tmp_path, (
        "class Masked(nn.Module):\n"
        "    def forward(self, x, *, mask):\n"
        "        return x * mask\n\n"
        "def bare():\n    return Masked()\n\n"
        "def full():\n    return Masked(), (torch.randn(2, 4),), {'mask': torch.ones(4)}\n"))
    assert main(["report", f"{path}:bare", "--input", "2x4"]) == 2
    assert "needs keyword inputs mask: return them from the factory" in capsys.readouterr().err
    assert main(["report", f"{path}:full", "--input", "3x4", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [i["name"] for i in document["model"]["inputs"]] == ["args[0]", "kwargs['mask']"]
