"""The typical case beside the best: a profile's page fault cost and spread, the estimate that
says which case it is, and the plain child process that measures what a user's script sees."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest
import torch
from helpers import EXAMPLES

import costlens
from costlens import analyze
from costlens.cli import main
from costlens.errors import CostlensError
from costlens.latency import estimate, load_profile
from costlens.latency.allocator import faulted_pages
from costlens.latency.profile import Profile
from costlens.measure.plain_run import typical_runs

SHUFFLENET = f"{EXAMPLES}/shufflenet_v2.py:shufflenet_v2(width=0.5)"
SCHEMAS = Path(costlens.__file__).parent / "schemas"


def _with_factor(spread: float | None, page_fault_s: float | None = 1e-6) -> Profile:
    return dataclasses.replace(load_profile("epyc-cpu-1t"), typical_spread=spread,
                               page_fault_s=page_fault_s)


def test_the_typical_case_is_the_best_spread_plus_the_page_faults() -> None:
    # 4 MB maps, three alive at once: the heap gives them back after each run
    model = torch.nn.Sequential(torch.nn.Conv2d(16, 64, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(64, 64, 3, padding=1))
    analysis = analyze(model, torch.randn(1, 16, 128, 128))
    faults = faulted_pages(analysis)
    assert sum(faults) > 1000
    best = estimate(analysis, _with_factor(1.25), typical=False)
    typical = estimate(analysis, _with_factor(1.25))
    assert (best.case, typical.case) == ("best", "typical")
    assert [t.seconds for t in typical.ops] == pytest.approx(
        [1.25 * b.seconds + 1e-6 * pages for b, pages in zip(best.ops, faults)])
    for missing in (_with_factor(None), _with_factor(1.25, None)):  # never measured
        without = estimate(analysis, missing)
        assert without.case == "best" and without.seconds == pytest.approx(best.seconds)


def test_the_report_says_which_case_it_shows(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "typical.json"
    path.write_text(_with_factor(1.2).to_json())
    assert load_profile(str(path)).typical_spread == 1.2
    assert main(["report", SHUFFLENET, "--depth", "1", "--platform", str(path)]) == 0
    assert "typical: the median of a plain Python process." in _words(capsys)
    assert main(["report", SHUFFLENET, "--depth", "1", "--platform", "epyc-cpu-1t"]) == 0
    assert "best: the lower quartile of repeated runs, freed memory kept." in _words(capsys)
    assert main(["report", SHUFFLENET, "--format", "json", "--platform", str(path)]) == 0
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, json.loads((SCHEMAS / "report.json").read_text()))
    assert document["platform"]["case"] == "typical"


def _words(capsys: pytest.CaptureFixture[str]) -> str:
    """The output with its lines joined, as wrapped text reads."""
    return " ".join(capsys.readouterr().out.split())


def test_profiles_with_and_without_the_typical_case_follow_the_schema() -> None:
    schema = json.loads((SCHEMAS / "platform.json").read_text())
    for spread, fault in ((None, None), (1.1, 1e-6)):
        jsonschema.validate(json.loads(_with_factor(spread, fault).to_json()), schema)


def test_a_plain_process_times_a_target(tmp_path: Path) -> None:
    runs = typical_runs([SHUFFLENET], threads=1, repeat=3)
    assert len(runs) == 3 and all(0 < seconds < 5 for seconds in runs)
    with pytest.raises(CostlensError, match="the plain-process run failed: .*"):
        typical_runs([f"{tmp_path}/missing.py:build"], threads=1, repeat=1)
