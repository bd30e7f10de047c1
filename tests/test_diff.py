"""`costlens diff`: the totals are the two reports' own, a git revision is read without
touching the repository, --fail-above sets the exit code, every bad input is one line and exit
2; the diff's layer matching, headline and ordering on made-up reports."""
from __future__ import annotations

import copy
import importlib.abc
import importlib.util
import json
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from helpers import EXAMPLES, ROOT
from torch import nn

import costlens
from costlens.cli import build_parser, main
from costlens.review.diff import Change, diff_reports, parse_limits
from costlens.review.diff_render import headline, render_markdown
from costlens.review.revision import Tree
from costlens.review.sources import Side

HALF = f"{EXAMPLES}/shufflenet_v2.py:shufflenet_v2(width=0.5)"
FULL = f"{EXAMPLES}/shufflenet_v2.py:shufflenet_v2"
FIGURES = ("params", "flops", "mac", "mac_bytes", "kernels", "peak_bytes", "latency_ms")


def _json(capsys: pytest.CaptureFixture[str], arguments: list[str]) -> dict[str, Any]:
    assert main(arguments) == 0
    return json.loads(capsys.readouterr().out)


def _exit_code(arguments: list[str]) -> int:
    try:
        return main(arguments)
    except SystemExit as exit_:  # argparse's usage errors
        return int(exit_.code)


def test_the_totals_are_the_two_reports_totals(capsys: pytest.CaptureFixture[str]) -> None:
    """BASE is analyzed in a worker process, NEW here: both as `costlens report` sees them."""
    platform = ["--platform", "epyc-cpu-1t"]
    half = _json(capsys, ["report", HALF, "--format", "json", *platform])
    full = _json(capsys, ["report", FULL, "--format", "json", *platform])
    diff = _json(capsys, ["diff", HALF, FULL, "--format", "json", *platform])
    for figure in FIGURES:
        base, new = half["totals"][figure], full["totals"][figure]
        assert diff["totals"][figure] == {"base": base, "new": new,
                                          "change": float(f"{new / base - 1:.6g}")}, figure
    assert [layer["name"] for layer in diff["layers"]] == [
        layer["name"] for layer in full["layers"] if layer["name"]]  # the same modules
    stage = next(layer for layer in diff["layers"] if layer["name"] == "stage2")
    assert stage["status"] == "changed"
    assert stage["flops"]["base"] == next(
        layer["flops"] for layer in half["layers"] if layer["name"] == "stage2")
    assert diff["base"]["label"] == HALF and diff["new"]["model"] == "ShuffleNetV2"
    assert diff["platform"] == {"profile": "epyc-cpu-1t", "device": "cpu", "threads": 1,
                                "fused": False, "case": "best"}
    assert diff["schema_version"] == half["schema_version"]


MODEL = '''import torch
from torch import nn

from costdiff_widths import HIDDEN

WIDTH = {width}


def build():
    model = nn.Sequential(nn.Conv2d(3, WIDTH, 3), nn.ReLU(), nn.Conv2d(WIDTH, HIDDEN, 1))
    return model, torch.randn(1, 3, 32, 32)
'''


def _flops(width: int, hidden: int) -> int:
    """What costlens.analyze gives for one version of MODEL."""
    model = nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.Conv2d(width, hidden, 1))
    return costlens.analyze(model, torch.randn(1, 3, 32, 32)).totals.flops


def _git(repository: Path, *arguments: str) -> str:
    return subprocess.run(["git", *arguments], cwd=repository, capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository holding models/net.py, which imports a width from a module at the
    root (on sys.path, as an installed project's would be), committed with WIDTH 16 and
    HIDDEN 8, then changed to 24 and 12 without committing. The working directory is models/."""
    repository = tmp_path / "repository"
    (repository / "models").mkdir(parents=True)
    (repository / "models" / "net.py").write_text(MODEL.format(width=16))
    (repository / "costdiff_widths.py").write_text("HIDDEN = 8\n")
    (repository / ".gitignore").write_text("__pycache__/\n")
    _git(repository, "init", "-q")
    _git(repository, "add", "-A")
    _git(repository, "-c", "user.name=test", "-c", "user.email=test@example.com", "commit",
         "-qm", "the model")
    (repository / "models" / "net.py").write_text(MODEL.format(width=24))
    (repository / "costdiff_widths.py").write_text("HIDDEN = 12\n")
    monkeypatch.syspath_prepend(str(repository))
    monkeypatch.chdir(repository / "models")
    monkeypatch.delitem(sys.modules, "costdiff_widths", raising=False)
    yield repository
    sys.modules.pop("costdiff_widths", None)


def _state(repository: Path) -> list[str]:
    """What a diff must leave as it was: the index, the working tree's changes, HEAD, the
    stashes and worktrees."""
    return [_git(repository, *arguments) for arguments in (
        ("ls-files", "--stage"), ("status", "--porcelain"), ("rev-parse", "HEAD"),
        ("stash", "list"), ("worktree", "list"))]


def test_a_revision_is_diffed_from_its_own_files_and_the_repository_is_untouched(
        repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    temporary = tmp_path / "temporary"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    before = _state(repository)
    old, new = _flops(16, 8), _flops(24, 12)
    growth = 100 * (new / old - 1)  # about 93%
    assert main(["diff", "net.py:build", "--rev", "HEAD", "--format", "json",
                 "--fail-above", f"flops={growth - 1:.1f}%"]) == 1
    captured = capsys.readouterr()
    diff = json.loads(captured.out)
    assert (diff["totals"]["flops"]["base"], diff["totals"]["flops"]["new"]) == (old, new)
    assert diff["base"]["label"].startswith("net.py:build at HEAD (")
    assert captured.err == (f"costlens: flops grew {growth:+.1f}%, past its limit of "
                            f"{growth - 1:.1f}% (--fail-above)\n")
    assert main(["diff", "net.py:build", "--rev", "HEAD", "--format", "markdown",
                 "--fail-above", f"flops={growth + 1:.1f}%"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"params +{100 * (_params(24, 12) / _params(16, 8) - 1):.1f}"
                                   f"%, FLOPs {growth:+.1f}%, MAC ")
    assert captured.err == ""
    assert _state(repository) == before
    assert not [path.name for path in temporary.iterdir() if path.name.startswith("costlens")]


def _params(width: int, hidden: int) -> int:
    return sum(p.numel() for p in nn.Sequential(
        nn.Conv2d(3, width, 3), nn.ReLU(), nn.Conv2d(width, hidden, 1)).parameters())


def test_tracked_modules_come_from_the_revision_whatever_finds_them(tmp_path: Path) -> None:
    """An editable install maps a package to the working tree by a finder of its own: while a
    revision is read, the package comes from the revision's files, and a tracked module the
    revision lacks is missing."""
    name = "costdiff_editable"
    work, tree = tmp_path / "work", tmp_path / "tree"
    for root, width in ((work, 2), (tree, 1)):
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
        (root / name / "widths.py").write_text(f"WIDTH = {width}\n")
    (work / name / "added.py").write_text("")

    class Editable(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname != name:
                return None
            return importlib.util.spec_from_file_location(
                name, work / name / "__init__.py", submodule_search_locations=[str(work / name)])

    tracked = frozenset(f"{name}/{file}" for file in ("__init__.py", "widths.py", "added.py"))
    revision = Tree("HEAD", "0" * 40, str(tree), str(tree), str(work), tracked)
    editable = Editable()
    sys.meta_path.append(editable)
    try:
        with revision.reading():
            assert importlib.import_module(f"{name}.widths").WIDTH == 1
            with pytest.raises(ModuleNotFoundError):
                importlib.import_module(f"{name}.added")
    finally:
        sys.meta_path.remove(editable)
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    """A JSON report of a small model, as `costlens report --format json` writes it."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    path = tmp_path / "report.json"
    path.write_text(costlens.analyze(model, torch.randn(1, 3, 16, 16)).to_json())
    return path


def _estimated(report_file: Path, profile: str) -> Path:
    """The report of report_file's model with the latency of a built-in profile."""
    from costlens.latency import estimate, load_profile
    from costlens.report.json_report import with_latency

    analysis = costlens.analyze(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()),
                                torch.randn(1, 3, 16, 16))
    path = report_file.with_name(f"{profile}.json")
    path.write_text(json.dumps(with_latency(analysis.to_dict(),
                                            estimate(analysis, load_profile(profile)))))
    return path


def _older(report_file: Path) -> Path:
    document = json.loads(report_file.read_text())
    document["schema_version"] = 1
    path = report_file.with_name("old.json")
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("case, arguments, message", [
    ("repository", ["net.py:build", "--rev", "no-such-branch"],
     "--rev no-such-branch: no such commit in the repository at "),
    ("repository", ["net.py:build", "net.py:build", "--rev", "HEAD"],
     "--rev compares one TARGET with itself at the revision: give one TARGET, not two"),
    ("folder", ["net.py:build", "--rev", "HEAD"], " is not in a git repository"),
    ("reports", ["{old}", "{report}"], "old.json is a costlens report of schema_version 1 and "),
    ("reports", ["{report}", "{old}"], "report.json is a costlens report of schema_version 3 "
                                       "and "),
    ("reports", ["{old}", FULL], "old.json is a costlens report of schema_version 1; this "
                                 "costlens reads schema_version 3: rewrite it"),
    ("reports", ["{other}", "{report}"], "other.json is not a costlens JSON report (write one"),
    ("reports", ["{report}", "{report}", "--platform", "epyc-cpu-1t"],
     "report.json carries no latency estimate, and a JSON report cannot be estimated again"),
    ("reports", ["{epyc}", "{h200}"], "epyc-cpu-1t.json was estimated on platform profile "
                                      "epyc-cpu-1t (cpu, 1 thread, eager, best case) and "),
    ("reports", ["{epyc}", "{h200}", "--platform", "epyc-cpu-1t"],
     "h200-cuda.json carries latency from platform profile h200-cuda (cuda, "),
    ("reports", ["{epyc}", "{epyc}", "--platform", "epyc-cpu-1t", "--fuse"],
     "not from platform profile epyc-cpu-1t (cpu, 1 thread, fused, best case) as --platform "
     "asks"),
    ("reports", ["{report}", "{report}", "--input", "1x3x8x8"],
     "--input applies to TARGETs, and BASE and NEW are both JSON reports"),
    ("reports", ["{report}"], "give BASE and NEW, each a TARGET or a JSON report, or one TARGET "
                              "with --rev REV"),
    ("reports", ["{report}", "{report}", "--fail-above", "flop=5%"],
     "--fail-above: unknown figure 'flop'; figures: params, flops, mac, mac_bytes, kernels"),
    ("reports", ["{report}", "{report}", "--fail-above", "flops=5"],
     "--fail-above flops=5: write the limit as a percentage, e.g. flops=5%"),
    ("reports", ["{report}", "{report}", "--fail-above", "flops=-1%"],
     "--fail-above flops=-1%: a limit is 0% or more"),
    ("reports", ["{report}", "{report}", "--fail-above", "flops=x%"],
     "--fail-above flops=x%: not a number"),
    ("reports", ["{report}", "{report}", "--fail-above", "flops=5%;mac=1%"],
     "--fail-above flops=5%;mac=1%: not a number"),
    ("reports", ["{report}", "{report}", "--fail-above", "latency=3%"],
     "--fail-above latency: this diff has no latency figures: give --platform"),
    ("reports", ["{report}", "{report}", "--format", "json", "--depth", "1"],
     "--depth selects the layers of the table and markdown"),
    ("reports", ["{report}", "{report}", "--format", "csv"], "invalid choice: 'csv'"),
])
def test_bad_input_is_one_line_and_exit_2(case: str, arguments: list[str], message: str,
                                          request: pytest.FixtureRequest, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    if case == "repository":
        request.getfixturevalue("repository")
        Path("added.py").write_text(MODEL.format(width=4))  # never committed
    elif case == "folder":
        monkeypatch.chdir(tmp_path)
    else:
        report = request.getfixturevalue("report_file")
        (tmp_path / "other.json").write_text('{"totals": {"flops": 1}}')
        paths = {"report": report, "old": _older(report), "other": tmp_path / "other.json",
                 "epyc": _estimated(report, "epyc-cpu-1t"), "h200": _estimated(report, "h200-cuda")}
        arguments = [argument.format(**paths) for argument in arguments]
    assert _exit_code(["diff", *arguments]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_target_missing_at_the_revision_is_named(repository: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    Path("added.py").write_text(MODEL.format(width=4))
    assert main(["diff", "added.py:build", "--rev", "HEAD"]) == 2
    assert re.fullmatch(r"costlens: error: added\.py:build at HEAD \(\w{10}\): added\.py does "
                        r"not exist at that revision\n", capsys.readouterr().err)


# The diff itself, on made-up reports


def _report(layers: dict[str, tuple[int, int]], latency: float | None = None) -> dict:
    """A report whose layers (depth 1 unless dotted) have the given (params, flops); MAC
    twice the FLOPs."""
    rows = [{"name": name, "type": "Conv2d", "depth": name.count(".") + 1, "params": params,
             "flops": flops, "mac": 2 * flops, "mac_bytes": 8 * flops, "kernels": 1,
             "peak_bytes": 4 * params}
            for name, (params, flops) in layers.items()]
    root = {key: sum(row[key] for row in rows if row["depth"] == 1)
            for key in ("params", "flops", "mac", "mac_bytes", "kernels", "peak_bytes")}
    report = {"schema_version": 3, "model": {"type": "Net", "inputs": []},
              "totals": dict(root), "layers": [{"name": "", "type": "Net", "depth": 0, **root},
                                               *rows]}
    if latency is not None:
        report["platform"] = {"profile": "epyc-cpu-1t", "device": "cpu", "threads": 1,
                              "fused": False}
        report["totals"]["latency_ms"] = latency
        for row in report["layers"]:
            row["latency_ms"] = latency * row["flops"] / root["flops"]
    return report


def test_layers_are_matched_by_name_and_ordered_by_their_change() -> None:
    base = Side("base", _report({"a": (10, 100), "b": (10, 100), "c": (5, 50), "c.x": (5, 50)}))
    new = Side("new", _report({"a": (10, 100), "b": (10, 400), "c": (5, 90), "c.y": (5, 90),
                               "d": (1, 1)}))
    diff = diff_reports(base, new, None)
    assert [(layer.name, layer.status) for layer in diff.layers] == [
        ("a", "unchanged"), ("b", "changed"), ("c", "changed"), ("c.x", "removed"),
        ("c.y", "added"), ("d", "added")]
    assert diff.totals["flops"] == Change(250, 591)
    markdown = render_markdown(diff, 1)
    assert markdown.splitlines()[0] == "params +4.0%, FLOPs +136.4%, MAC +136.4%"
    changed = markdown.split("**Changed layers")[1].split("**Added layers")[0]
    assert changed.index("`b`") < changed.index("`c`")  # +300 FLOPs before +40
    assert "`c.y`" not in markdown and "`d`" in markdown.split("**Added layers")[1]
    assert "2 more changed, added or removed layers deeper than depth 1" in markdown
    assert "`c.x`" in render_markdown(diff, 2).split("**Removed layers")[1]


def test_the_headline_names_latency_and_its_profile() -> None:
    base = Side("base", _report({"a": (10, 1000), "b": (10, 1000)}, latency=2.0))
    new = Side("new", _report({"a": (10, 1248), "b": (10, 1000)}, latency=2.16))
    assert headline(diff_reports(base, new, base.platform)) == (
        "FLOPs +12.4%, MAC +12.4%, est. latency +8.0% on epyc-cpu-1t")
    assert headline(diff_reports(base, copy.deepcopy(base), base.platform)) == "no cost change"
    halved = copy.deepcopy(base.report)  # as in bfloat16: only the bytes change
    for row in [halved["totals"], *halved["layers"]]:
        row["mac_bytes"] //= 2
    assert headline(diff_reports(base, Side("new", halved), base.platform)) == (
        "FLOPs 0.0%, MAC 0.0%, MAC bytes -50.0%, est. latency 0.0% on epyc-cpu-1t")


def test_changes_from_zero_have_no_ratio_and_pass_any_limit() -> None:
    from costlens.review.diff import breaches

    base = Side("base", _report({"a": (0, 0)}))
    new = Side("new", _report({"a": (0, 5)}))
    diff = diff_reports(base, new, None)
    assert diff.to_dict()["totals"]["flops"] == {"base": 0, "new": 5, "change": None}
    assert [b.message for b in breaches(diff, parse_limits("flops=1000%,params=0%"))] == [
        "flops grew from 0 to 5, past any limit (--fail-above)"]
    assert headline(diff).startswith("FLOPs from 0 to 5, MAC from 0 to 10")


def test_limits_are_compared_exactly() -> None:
    from costlens.review.diff import breaches

    base = Side("base", _report({"a": (100, 100)}))
    new = Side("new", _report({"a": (105, 100)}))
    diff = diff_reports(base, new, None)
    assert breaches(diff, parse_limits("params=5%")) == []
    assert [b.figure.name for b in breaches(diff, parse_limits("params=4.99%"))] == ["params"]


# The GitHub Actions example


def test_the_workflow_example_runs_a_diff_the_parser_accepts() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github-cost-diff.yml").read_text())
    assert "pull_request" in str(workflow.get("on", workflow.get(True)))
    job = next(iter(workflow["jobs"].values()))
    assert job["permissions"]["pull-requests"] == "write"
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    assert steps[0]["with"]["fetch-depth"] == 0
    index, command = next((index, step["run"]) for index, step in enumerate(steps)
                          if "costlens diff" in step.get("run", ""))
    expressions = {"github.base_ref": "main"}
    command = re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: expressions[m.group(1)], command)
    arguments = shlex.split(command)
    assert arguments[:2] == ["costlens", "diff"]
    options = build_parser().parse_args(arguments[1:])
    assert (options.rev, options.platform, options.format, options.output) == (
        "origin/main", "epyc-cpu-1t", "markdown", "cost-diff.md")
    assert set(parse_limits(options.fail_above)) == {"flops", "latency"}
    comment = steps[index + 1]
    assert comment["if"].startswith("always()")
    assert "gh pr comment ${{ github.event.pull_request.number }} --body-file cost-diff.md" in \
        comment["run"]
    assert "GH_TOKEN" in comment["env"]
