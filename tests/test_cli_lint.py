"""`costlens lint` end to end: exit codes, selection, configuration, baselines and the four
output formats (SARIF checked against the official 2.1.0 schema)."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
from helpers import EXAMPLES, ROOT

from costlens.cli import main

SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
LINT_SCHEMA = json.loads((ROOT / "costlens" / "schemas" / "lint.json").read_text())

MODEL = '''
import torch
from torch import nn


class Unit(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.expand = nn.Conv2d(width, hidden, 1, bias=False)
        self.project = nn.Conv2d(hidden, width, 1, bias=False)

    def forward(self, x):
        return self.project(self.expand(x))


class Net(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.first = Unit(32, hidden)
        self.second = Unit(32, 32)

    def forward(self, x):
        return self.second(self.first(x))


def build(hidden=32):
    return Net(hidden), torch.randn(1, 32, 28, 28)
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose pyproject.toml lints models/net.py, run from inside it."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.py").write_text(MODEL)
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent('''
        [tool.costlens]
        targets = ["models/net.py:build(hidden=192)"]
    '''))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    try:
        code = main(["lint", *arguments])
    except SystemExit as exit_:  # argparse usage errors
        code = int(exit_.code)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_configured_targets_and_exit_codes(project: Path, capsys) -> None:
    code, out, err = _run(capsys)
    assert code == 1 and err == ""
    lines = out.splitlines()
    # each would save 11% of this small model's memory traffic: an error
    assert lines[0].startswith("models/net.py:9: G1 unequal-channel-widths [error] first.expand: "
                               "1x1 conv 32->192 (1:6) has MAC")
    assert lines[-2] == ("  G1 unequal-channel-widths: 2 findings, 2 instances, 422KB of memory "
                         "traffic to save")
    assert lines[-1] == "2 findings (2 errors) in 1 target."
    assert _run(capsys, "models/net.py:build")[0] == 0  # equal widths: clean
    assert _run(capsys, "--ignore", "G1")[0] == 0
    assert _run(capsys, "--fail-on", "error")[0] == 1
    graded = ("--rule-option", "G1.error_from=1", "--rule-option", "G1.note_below=0.2")
    code, out, _ = _run(capsys, *graded)
    assert code == 0 and out.endswith("2 findings (2 notes) in 1 target.\n")


def test_select_and_ignore_by_prefix(project: Path, capsys) -> None:
    assert _run(capsys, "--select", "G", "--ignore", "G1")[0] == 0
    assert _run(capsys, "--select", "G1", "--ignore", "G")[0] == 1
    code, _, err = _run(capsys, "--select", "G9")
    assert code == 2 and err.startswith("costlens: error: --select: unknown rule code 'G9'")


def test_configuration_errors_exit_2_naming_the_key(project: Path, capsys) -> None:
    (project / "pyproject.toml").write_text("[tool.costlens]\ntargetz = []\n")
    code, out, err = _run(capsys)
    assert (code, out) == (2, "")
    assert "unknown key 'targetz'" in err and err.count("\n") == 1


def test_nothing_to_lint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys)
    assert code == 2 and "nothing to lint" in err


def test_budgets_from_the_configuration(project: Path, capsys) -> None:
    (project / "pyproject.toml").write_text(textwrap.dedent('''
        [tool.costlens]
        targets = [
            "models/net.py:build",
            {target = "models/net.py:build(hidden=64)", budgets = {params = "1K"}},
        ]
        [tool.costlens.budgets]
        flops = "20M"
    '''))
    code, out, _ = _run(capsys, "--format", "json")
    found = [(d["target"], d["code"]) for d in json.loads(out)["diagnostics"]]
    assert code == 1
    assert ("models/net.py:build", "B1") not in found  # 3.2M FLOPs, under 20M
    assert ("models/net.py:build(hidden=64)", "B3") in found
    budget = next(d for d in json.loads(out)["diagnostics"] if d["code"] == "B3")
    assert budget["location"] == {"file": "models/net.py", "line": 26}  # the factory
    assert budget["severity"] == "error" and budget["figures"]["budget"] == 1000


def test_per_module_ignores(project: Path, capsys) -> None:
    with (project / "pyproject.toml").open("a") as handle:
        handle.write('[tool.costlens.per-module-ignores]\n"first.*" = ["G1"]\n')
    assert _run(capsys)[0] == 0


def test_baseline_round_trip(project: Path, capsys) -> None:
    code, out, err = _run(capsys, "--write-baseline", "baseline.json")
    assert code == 0 and out.endswith("2 findings (2 errors) in 1 target.\n")
    assert err == "costlens: recorded 2 findings in baseline.json\n"
    recorded = json.loads((project / "baseline.json").read_text())["findings"]
    assert len(recorded) == 2
    code, out, _ = _run(capsys, "--baseline", "baseline.json")
    assert code == 0 and out == "No findings in 1 target; 2 more hidden by the baseline.\n"
    (project / "models" / "net.py").write_text(
        MODEL.replace("self.second = Unit(32, 32)", "self.second = Unit(32, 384)"))
    code, out, _ = _run(capsys, "--baseline", "baseline.json")
    assert code == 1
    # a new cause: Unit built at another line (second.project makes the output: left alone)
    findings = [line for line in out.splitlines() if line.startswith("models/")]
    assert len(findings) == 1 and " second.expand: 1x1 conv 32->384" in findings[0]
    code, _, err = _run(capsys, "--baseline", "missing.json")
    assert code == 2 and "baseline not found: missing.json" in err


def test_sarif_validates_and_points_at_lines(project: Path, capsys) -> None:
    code, out, _ = _run(capsys, "--format", "sarif", f"{EXAMPLES}/inception.py:inception_net",
                        "models/net.py:build(hidden=192)")
    document = json.loads(out)
    jsonschema.validate(document, SARIF_SCHEMA)
    run = document["runs"][0]
    assert {rule["id"] for rule in run["tool"]["driver"]["rules"]} == {
        "B1", "B2", "B3", "G1", "G2", "G3", "G4"}
    assert run["results"] and code == 1
    for result in run["results"]:
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"].endswith(".py")
        assert location["region"]["startLine"] >= 1
        rule = run["tool"]["driver"]["rules"][result["ruleIndex"]]
        assert rule["id"] == result["ruleId"] and rule["help"]["text"].startswith(result["ruleId"])


def test_github_annotations(project: Path, capsys) -> None:
    code, out, _ = _run(capsys, "--format", "github")
    first = out.splitlines()[0]
    assert code == 1
    assert first.startswith("::error file=models/net.py,line=9,title=G1 unequal-channel-widths::"
                            "first.expand: 1x1 conv 32->192")


def test_json_lists_every_finding_with_its_figures(project: Path, capsys) -> None:
    code, out, _ = _run(capsys, "--format", "json")
    document = json.loads(out)
    assert code == 1 and document["summary"]["findings"] == 2
    finding = document["diagnostics"][0]
    assert set(finding) == {"code", "name", "severity", "target", "module", "message",
                            "location", "figures", "pattern", "instances", "saving"}
    assert finding["figures"]["ratio"] > 1.3 and finding["location"]["line"] == 9
    assert finding["instances"] == [{"module": "first.expand", "figures": finding["figures"]}]
    assert finding["saving"]["mac_bytes"] > 0 and 0 < finding["saving"]["share"] < 1
    jsonschema.validate(document, LINT_SCHEMA)


def test_one_broken_target_does_not_hide_the_others(project: Path, capsys) -> None:
    (project / "broken.py").write_text("def build():\n    raise ValueError('no weights')\n")
    code, out, err = _run(capsys, "models/net.py:build(hidden=192)", "broken.py:build")
    assert code == 2
    assert out.endswith("2 findings (2 errors) in 2 targets.\n")
    assert err == "costlens: error: broken.py:build: the factory raised ValueError: no weights\n"


def test_a_target_named_on_the_command_line_keeps_its_configured_budgets(project: Path,
                                                                          capsys) -> None:
    (project / "pyproject.toml").write_text(textwrap.dedent('''
        [tool.costlens]
        targets = [{target = "models/net.py:build", budgets = {params = "1K"}}]
    '''))
    code, out, _ = _run(capsys, "models/net.py:build", "--format", "json")
    assert code == 1 and [d["code"] for d in json.loads(out)["diagnostics"]] == ["B3"]


def test_factory_arguments_with_spaces_and_quotes_in_configured_targets(project: Path,
                                                                        capsys) -> None:
    (project / "pyproject.toml").write_text(textwrap.dedent('''
        [tool.costlens]
        targets = ["models/net.py:build(hidden=192, )"]
    '''))
    assert _run(capsys)[0] == 1


def test_write_baseline_still_reports_in_the_chosen_format(project: Path, capsys) -> None:
    code, out, _ = _run(capsys, "--write-baseline", "b.json", "--format", "json", "-o", "o.json")
    assert (code, out) == (0, "2 findings (2 errors) in 1 target; written to o.json.\n")
    assert json.loads((project / "o.json").read_text())["summary"]["findings"] == 2
    recorded = json.loads((project / "b.json").read_text())["findings"]
    assert recorded == sorted(recorded, key=lambda f: (f["target"], f["code"], f["cause"],
                                                       f["site"]))
    # Unit is used twice: a cause is the class, the line that builds it and the layer's role
    assert {(f["cause"], f["site"]) for f in recorded} == {("Unit/expand", "models/net.py:19"),
                                                            ("Unit/project", "models/net.py:19")}


@pytest.mark.parametrize("output_format", ["text", "sarif", "github"])
def test_findings_written_to_a_file_leave_the_summary_on_the_terminal(
        output_format: str, project: Path, capsys) -> None:
    code, out, _ = _run(capsys, "--format", output_format, "-o", "found.out")
    assert code == 1 and (project / "found.out").stat().st_size > 0
    assert out == "2 findings (2 errors) in 1 target; written to found.out.\n"


def test_sarif_uris_are_encoded(project: Path, capsys) -> None:
    (project / "sp ace#1").mkdir()
    (project / "sp ace#1" / "net.py").write_text(MODEL)
    _, out, _ = _run(capsys, "--format", "sarif", "sp ace#1/net.py:build(hidden=192)")
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in json.loads(out)["runs"][0]["results"]}
    assert uris == {"sp%20ace%231/net.py"}


GROUPED = '''
import torch
from torch import nn


class Unit(nn.Module):
    def __init__(self):
        super().__init__()
        self.expand = nn.Conv2d(16, 96, 1, bias=False)
        self.project = nn.Conv2d(96, 16, 1, bias=False)

    def forward(self, x):
        return self.project(self.expand(x))


class Net(nn.Module):
    def __init__(self, units):
        super().__init__()
        self.units = nn.ModuleList(Unit() for _ in range(units))
        self.head = nn.Conv2d(16, 16, 1)

    def forward(self, x):
        for unit in self.units:
            x = unit(x)
        return self.head(x)


def grouped(units=3):
    return Net(units), torch.randn(1, 16, 16, 16)
'''


def test_repeated_blocks_are_one_finding_and_one_baseline_entry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    models = tmp_path / "mymodels"
    models.mkdir()
    (models / "cnn.py").write_text(GROUPED)
    (tmp_path / "pyproject.toml").write_text('[tool.costlens]\n')
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(capsys, "mymodels/cnn.py:grouped", "--format", "json")
    diagnostics = json.loads(out)["diagnostics"]
    assert [(d["pattern"], len(d["instances"])) for d in diagnostics] == [
        ("units.*.expand", 3), ("units.*.project", 3)]
    assert diagnostics[0]["message"].startswith("Unit x3 (units.0 ... units.2), worst units.")
    assert _run(capsys, "mymodels/cnn.py:grouped", "--write-baseline", "baseline.json")[0] == 0
    assert len(json.loads((tmp_path / "baseline.json").read_text())["findings"]) == 2
    (tmp_path / "pyproject.toml").write_text('[tool.costlens]\nbaseline = "baseline.json"\n')
    # the same causes, the TARGET spelled from the sub-folder, one more instance of the block
    monkeypatch.chdir(models)
    code, out, _ = _run(capsys, "cnn.py:grouped(units=4)")
    assert code == 1  # other factory arguments: another target
    code, out, _ = _run(capsys, "cnn.py:grouped")
    assert (code, out) == (0, "No findings in 1 target; 2 more hidden by the baseline.\n")
    (models / "cnn.py").write_text(GROUPED.replace("range(units)", "range(units + 1)"))
    code, out, _ = _run(capsys, "cnn.py:grouped")
    assert (code, out) == (0, "No findings in 1 target; 2 more hidden by the baseline.\n")


@pytest.fixture
def two_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project configuring one factory twice, on two input sizes; run from inside it."""
    (tmp_path / "cnn.py").write_text(GROUPED)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.costlens]\ntargets = [\n'
        '    {target = "cnn.py:grouped", input = ["1x16x16x16"]},\n'
        '    {target = "cnn.py:grouped", input = ["1x16x32x32"]},\n]\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_configured_targets_of_one_factory_are_told_apart(two_inputs: Path, capsys) -> None:
    config = two_inputs / "pyproject.toml"
    config.write_text(config.read_text().removesuffix("]\n")
                      + '    {target = "cnn.py:grouped", name = "small"},\n]\n')
    code, out, _ = _run(capsys, "--format", "json")
    targets = [d["target"] for d in json.loads(out)["diagnostics"]]
    assert set(targets) == {"cnn.py:grouped --input 1x16x16x16",
                            "cnn.py:grouped --input 1x16x32x32", "small"}
    assert _run(capsys, "--write-baseline", "b.json")[0] == 0
    recorded = json.loads((two_inputs / "b.json").read_text())["findings"]
    assert len({(f["target"], f["cause"]) for f in recorded}) == len(recorded) == 6


def test_an_older_baseline_is_a_one_line_error(project: Path, capsys) -> None:
    (project / "old.json").write_text('{"version": 1, "tool": "costlens", "findings": []}')
    code, _, err = _run(capsys, "--baseline", "old.json")
    assert code == 2 and err == ("costlens: error: old.json is not a costlens baseline of "
                                 "version 2 (it is version 1: rewrite it with "
                                 "--write-baseline)\n")


def test_the_view_judges_the_network_fused_or_eager(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys) -> None:
    """ResNet-style blocks with batch norm: fused, the folded norms and fused ReLUs cost
    nothing; eager, they count and are named as what an engine would fold."""
    target = f"{EXAMPLES}/resnet.py:resnet50"
    fused = json.loads(_run(capsys, target, "--select", "G4", "--format", "json")[1])
    eager = json.loads(_run(capsys, target, "--select", "G4", "--format", "json",
                            "--view", "eager")[1])
    assert all("batch_norm" not in d["message"] for d in fused["diagnostics"])
    assert eager["diagnostics"] and all(
        "fold or fuse into the ops before them" in d["message"] for d in eager["diagnostics"])
    assert sum(len(d["instances"]) for d in eager["diagnostics"]) > sum(
        len(d["instances"]) for d in fused["diagnostics"])


def test_a_target_on_the_command_line_lints_every_configured_target_of_it(
        two_inputs: Path, capsys) -> None:
    _, out, _ = _run(capsys, "cnn.py:grouped", "--format", "json")
    assert json.loads(out)["summary"]["targets"] == ["cnn.py:grouped --input 1x16x16x16",
                                                     "cnn.py:grouped --input 1x16x32x32"]
    _, out, _ = _run(capsys, "cnn.py:grouped", "--input", "1x16x8x8", "--format", "json")
    assert json.loads(out)["summary"]["targets"] == ["cnn.py:grouped --input 1x16x8x8"]


def test_the_baseline_key_reads_the_factory_call_however_it_is_written(project: Path,
                                                                      capsys) -> None:
    assert _run(capsys, "models/net.py:build(hidden=192)", "--write-baseline", "b.json")[0] == 0
    code, out, _ = _run(capsys, "models/net.py:build( hidden = 192, )", "--baseline", "b.json")
    assert (code, out) == (0, "No findings in 1 target; 2 more hidden by the baseline.\n")


def test_a_rule_that_cannot_run_is_one_error_before_anything_is_traced(project: Path,
                                                                        capsys) -> None:
    code, out, err = _run(capsys, "--rule-option", "G4.share_of=time", "models/net.py:build",
                          "broken.py:build")
    assert (code, out) == (2, "")
    assert err == ("costlens: error: G4 share_of = 'time' needs a platform profile (--platform, "
                   "or platform in the configuration)\n")
