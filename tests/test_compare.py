"""`costlens compare`: one row per target in the order given, the same rows whether the targets
are analyzed here or in worker processes, a broken target one line on stderr while the others
still print, the latency columns with a platform profile only."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import EXAMPLES

from costlens.cli import main

TARGETS = [f"{EXAMPLES}/shufflenet_v2.py:shufflenet_v2(width=0.5)",
           f"{EXAMPLES}/paper_benchmarks.py:g1_network(c1=13, c2=78)",
           f"{EXAMPLES}/shufflenet_v1.py:shufflenet_v1"]
#: The example networks, one of each family, for the rows of --jobs 1 and --jobs 2.
NETWORKS = [*TARGETS, f"{EXAMPLES}/resnet.py:resnet50", f"{EXAMPLES}/mobilenet_v2.py:mobilenet_v2",
            f"{EXAMPLES}/inception.py:inception_net", f"{EXAMPLES}/gpt.py:gpt",
            f"{EXAMPLES}/llama.py:llama(size='tiny', cache=False)",
            f"{EXAMPLES}/mixtral.py:mixtral"]
BROKEN = "missing/model.py:build"


def test_two_jobs_print_the_rows_of_one_and_a_broken_target_is_one_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["compare", NETWORKS[0], BROKEN, *NETWORKS[1:], "--format", "csv"]
    outputs = []
    for jobs in ("1", "2"):
        assert main([*arguments, "--jobs", jobs]) == 2
        captured = capsys.readouterr()
        assert captured.err == ("costlens: error: missing/model.py:build: target file not "
                                "found: missing/model.py\n")
        outputs.append(captured.out)
    assert outputs[0] == outputs[1]
    lines = outputs[0].splitlines()
    assert lines[0] == "target,model,params,flops,mac,kernels"
    assert [line.rsplit(",", 5)[0] for line in lines[1:]] == [f'"{t}"' if "," in t else t
                                                             for t in NETWORKS]


def test_the_latency_columns_come_with_a_platform(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    """FLOP/s is the FLOPs over the estimated seconds, bound the whole model's; a JSON report
    estimated on the same profile makes the same row as its TARGET."""
    report = tmp_path / "half.json"
    assert main(["report", TARGETS[0], "--format", "json", "--platform", "epyc-cpu-1t",
                 "-o", str(report)]) == 0
    whole = json.loads(report.read_text())
    assert main(["compare", TARGETS[0], str(report), "--platform", "epyc-cpu-1t",
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows[0] | {"target": str(report)} == rows[1]
    row = rows[0]
    assert row["latency_ms"] == whole["totals"]["latency_ms"]
    assert row["flops_per_second"] == pytest.approx(
        whole["totals"]["flops"] / (whole["totals"]["latency_ms"] / 1e3), rel=1e-5)
    assert row["bound"] == whole["layers"][0]["bound"] and whole["layers"][0]["name"] == ""
    assert main(["compare", TARGETS[0], "--platform", "epyc-cpu-1t"]) == 0
    table = capsys.readouterr().out
    assert "latency (ms)" in table and "FLOP/s: FLOPs (multiply-adds) per estimated second" in table


def test_without_a_platform_a_line_says_how_to_get_latency(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", TARGETS[1], "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "latency" not in out.split("\n\n")[1]  # the table
    assert out.rstrip().endswith("add --platform PROFILE (a file from `costlens calibrate`, or "
                                 "built-in: epyc-cpu-1t, h200-cuda, xeon-cpu-1t, xeon-cpu-2t).")


def test_a_report_that_cannot_meet_the_platform_is_its_own_error(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "plain.json"
    assert main(["report", TARGETS[1], "--format", "json", "-o", str(report)]) == 0
    assert main(["compare", str(report), TARGETS[1], "--platform", "epyc-cpu-1t"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"costlens: error: {report} carries no latency estimate")
    assert captured.err.count("\n") == 1
    assert TARGETS[1] in captured.out
    assert main(["compare", str(report), "--input", "1x13x8x8"]) == 2
    assert "--input applies to TARGETs, and every one given is a JSON report" in \
        capsys.readouterr().err
