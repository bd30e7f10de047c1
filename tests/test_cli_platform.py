"""The platform commands and options: report --platform / --fuse, calibrate, bench,
guidelines, and lint findings that carry their estimated time."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from helpers import EXAMPLES

import costlens
from costlens.cli import main
from costlens.latency import load_profile

SHUFFLENET = f"{EXAMPLES}/shufflenet_v2.py:shufflenet_v2(width=0.5)"
SCHEMA = json.loads((Path(costlens.__file__).parent / "schemas" / "report.json").read_text())


def test_report_adds_latency_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", SHUFFLENET, "--depth", "1", "--platform", "epyc-cpu-1t"]) == 0
    out = capsys.readouterr().out
    assert "Latency: estimated on platform profile epyc-cpu-1t (cpu, 1 thread)" in out
    header = next(line for line in out.splitlines() if line.startswith("module"))
    assert header.split()[-4:] == ["latency", "%", "time", "bound"]
    total = next(line for line in out.splitlines() if line.startswith("total "))
    assert "100%" in total.split()[-2:]


def test_json_latency_adds_up_and_follows_the_schema(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    assert main(["report", SHUFFLENET, "--format", "json", "--platform", "epyc-cpu-1t"]) == 0
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, SCHEMA)
    total = document["totals"]["latency_ms"]
    assert document["platform"]["latency_ms"] == total
    ops = sum(op["latency_ms"] for op in document["ops"])
    assert ops + document["platform"]["module_call_ms"] == pytest.approx(total, rel=1e-4)
    assert document["layers"][0]["latency_ms"] == pytest.approx(total)
    assert {op["bound"] for op in document["ops"]} <= {"compute", "memory", "overhead"}


def test_csv_gets_latency_columns_only_with_a_platform(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    assert main(["report", SHUFFLENET, "--format", "csv"]) == 0
    assert "latency_ms" not in capsys.readouterr().out.splitlines()[0]
    assert main(["report", SHUFFLENET, "--format", "csv", "--platform", "epyc-cpu-1t",
                 "--sort", "latency", "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("latency_ms,time_share,bound")
    times = [float(line.split(",")[-3]) for line in lines[1:4]]
    assert times == sorted(times, reverse=True)


def test_fuse_costs_less_and_needs_a_platform(capsys: pytest.CaptureFixture[str]) -> None:
    documents = []
    for fuse in ([], ["--fuse"]):
        assert main(["report", SHUFFLENET, "--format", "json", "--platform", "epyc-cpu-1t",
                     *fuse]) == 0
        documents.append(json.loads(capsys.readouterr().out))
    eager, fused = documents
    assert fused["platform"]["fused"] and not eager["platform"]["fused"]
    assert fused["totals"]["latency_ms"] < eager["totals"]["latency_ms"]
    assert sum(op["bound"] == "fused" for op in fused["ops"]) >= 50  # every BN and ReLU
    assert main(["report", SHUFFLENET, "--fuse"]) == 2
    assert "--fuse applies to the latency estimate" in capsys.readouterr().err


def test_unknown_profile_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", SHUFFLENET, "--platform", "no-such-profile"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "built-in: epyc-cpu-1t, h200-cuda" in err


def test_calibrate_writes_a_profile_that_loads(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "here.json"
    assert main(["calibrate", "--threads", "1", "--rounds", "1", "-o", str(path),
                 "--name", "here"]) == 0
    profile = load_profile(str(path))
    assert profile.name == "here"
    assert profile.has_typical and profile.typical_spread >= 1.0
    assert 1e-8 < profile.page_fault_s < 1e-4  # a page fault: 0.5-2 us on the build machines
    out = capsys.readouterr().out
    assert out.startswith("Platform profile here:") and "conv_depthwise" in out


def test_cuda_without_a_gpu_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["calibrate", "--device", "cuda"]) == 2
    assert capsys.readouterr().err == ("costlens: error: --device cuda: PyTorch sees no CUDA "
                                       "device on this machine\n")


@pytest.mark.timing
def test_bench_sets_measured_beside_estimated_and_flops(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    assert main(["bench", SHUFFLENET, "--threads", "1", "--platform", "epyc-cpu-1t",
                 "--repeat", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ShuffleNetV2, best case: forward ")
    assert ", the lower quartile of 3 runs, freed memory kept (median " in out.splitlines()[0]
    typical = out.splitlines()[1]
    assert typical.startswith("Typical case: median forward ")
    assert typical.endswith("in a plain Python process; the profile has no typical figure "
                            "(recalibrate for one).")
    assert out.splitlines()[2].startswith("Module times come from forwards timed per module "
                                          "(each module's lower quartile of 3; the forward's ")
    for heading in ("module", "op group", "kernel class"):
        assert any(line.startswith(heading) and "measured %" in line
                   for line in out.splitlines())
    groups = [line.split()[0] for line in out.splitlines()
              if line.split()[:1] in (["conv"], ["element-wise"], ["data"], ["other"])]
    assert groups == ["conv", "element-wise", "data", "other"]
    assert "Rank correlation with the measured layer times (Spearman): estimate" in out


@pytest.mark.timing
def test_a_profile_for_another_thread_count_is_used_with_a_note(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", SHUFFLENET, "--threads", "2", "--platform", "epyc-cpu-1t",
                 "--repeat", "1"]) == 0
    err = capsys.readouterr().err
    assert err == ("costlens: note: profile epyc-cpu-1t is for cpu at 1 thread; measuring cpu "
                   "at 2 (--device and --threads set what is measured)\n")


@pytest.mark.timing
def test_guidelines_reports_every_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["guidelines", "--threads", "1", "--platform", "epyc-cpu-1t"]) == 0
    out = capsys.readouterr().out
    for guideline in ("G1", "G2", "G3", "G4"):
        assert f"\n{guideline}: " in out
    verdicts = [line for line in out.splitlines() if "runs" in line and "as fast as" in line]
    assert len(verdicts) == 4 and all("paper " in line for line in verdicts)
    assert "c1:c2 = 1:12 (9, 108)" in out  # the paper's CPU widths


def test_lint_findings_carry_their_time_and_grade_by_it(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    target = f"{EXAMPLES}/mobilenet_v2.py:mobilenet_v2"
    assert main(["lint", target, "--select", "G1,G4", "--format", "json"]) == 1
    plain = json.loads(capsys.readouterr().out)
    code = main(["lint", target, "--select", "G1,G4", "--format", "json",
                 "--platform", "epyc-cpu-1t", "--fail-on", "error"])
    timed = json.loads(capsys.readouterr().out)
    assert len(timed["diagnostics"]) == len(plain["diagnostics"])
    severities = set()
    shares = []
    for diagnostic in timed["diagnostics"]:
        saving = diagnostic["saving"]
        assert saving["time_ms"] >= 0 and 0 <= saving["time_share"] <= 1
        assert "of the model's estimated" in diagnostic["message"]
        expected = ("note" if saving["time_share"] < 0.01 else
                    "error" if saving["time_share"] >= 0.10 else "warning")
        assert diagnostic["severity"] == expected
        severities.add(expected)
        shares.append(saving["time_share"])
    assert shares == sorted(shares, reverse=True)  # costliest first
    assert code == (1 if "error" in severities else 0)


def test_g4_can_measure_its_share_in_time(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.costlens]\nplatform = "epyc-cpu-1t"\n'
                      '[tool.costlens.rules.G4]\nshare-of = "time"\n')
    target = f"{EXAMPLES}/mobilenet_v2.py:mobilenet_v2"
    main(["lint", target, "--select", "G4", "--config", str(config), "--format", "json"])
    diagnostics = json.loads(capsys.readouterr().out)["diagnostics"]
    assert diagnostics, "MobileNet v2's blocks spend most of their time on element-wise ops"
    for diagnostic in diagnostics:
        assert "of its estimated time on element-wise ops" in diagnostic["message"]
    config.write_text('[tool.costlens.rules.G4]\nshare-of = "time"\n')
    assert main(["lint", target, "--select", "G4", "--config", str(config)]) == 2
    assert "needs a platform profile" in capsys.readouterr().err


def test_calibrate_list_says_how_each_built_in_profile_was_made(capsys) -> None:
    assert main(["calibrate", "--list"]) == 0
    out = capsys.readouterr().out
    assert "epyc-cpu-1t" in out and "h200-cuda" in out
    assert "an earlier method" in out and "median of 7" in out  # the H200 profile's
