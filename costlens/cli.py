"""The `costlens` command line: report, lint, rules, calibrate, bench, guidelines, diff,
compare.

What needs torch (tracing, measuring) is imported by the commands that use it, so that
`costlens --help` and `costlens rules` answer at once.

Exit codes: 0 success (lint: nothing at or above --fail-on); 1 lint findings at or above
--fail-on, or a diff past its --fail-above limits; 2 a usage, configuration, load or trace
error, printed as one line on stderr (the traceback only with --debug).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Sequence

from tabulate import tabulate

from . import __version__
from .errors import CostlensError, first_line
from .graph import OPTIMIZERS
from .latency import Profile, builtin_profiles, estimate, load_profile
from .linting.baseline import new_findings, read_baseline, write_baseline
from .linting.config import load_config
from .linting.finding import Diagnostic
from .linting.linter import lint_settings
from .linting.options import add_arguments as add_lint_options
from .linting.options import over_config
from .linting.rule import Rule
from .linting.rulebook import all_rules
from .linting.targets import TargetConfig
from .measure import ROUNDS
from .measure.device import CPU, DEVICES, Device, device_for
from .report import FORMATS, SORT_KEYS, RowSelection, render
from .report.diagnostics import (
    LintRun,
    render_github,
    render_json,
    render_text,
    summary,
)
from .report.sarif import render_sarif
from .review.diff import FIGURES
from .review.formats import COMPARE_FORMATS, DIFF_FORMATS

if TYPE_CHECKING:
    from .analysis import Analysis
    from .review.sources import Request
    from .tracing.load import LoadedModel

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

LINT_FORMATS = ("text", "json", "sarif", "github")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits 2, and takes options only as
    spelled in full (`--train` is not `--train-step`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="costlens", description=(
        "Static cost analysis of PyTorch models: per-layer FLOPs (multiply-adds), memory access "
        "cost and parallelism, traced on the meta device, and the ShuffleNet V2 efficiency "
        "guidelines as lint rules."))
    parser.add_argument("--version", action="version", version=f"costlens {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    _add_report(commands)
    _add_lint(commands)
    _add_rules(commands)
    _add_calibrate(commands)
    _add_bench(commands)
    _add_guidelines(commands)
    _add_diff(commands)
    _add_compare(commands)
    return parser


def _add_report(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report", help="per-layer FLOPs / MAC / parallelism table of a model",
        description="Trace TARGET once and print its cost per layer.")
    report.add_argument("target", metavar="TARGET", help=_TARGET_HELP)
    _add_input_options(report)
    report.add_argument("--depth", type=_non_negative,
                        help="show modules down to this depth (default 2)")
    report.add_argument("--sort", choices=SORT_KEYS,
                        help="order rows by this figure, largest first (name: alphabetical); "
                             "default: execution order")
    report.add_argument("--top", type=_positive, help="show only the first K rows")
    report.add_argument("--format", choices=FORMATS, default="table",
                        help="table (default), json (always every layer and op), csv, "
                             "markdown, html (one self-contained page: charts, the layer "
                             "tree, lint findings)")
    report.add_argument("--wide", action="store_true",
                        help="table: every column, however wide (default: at most 120 "
                             "characters, the columns that do not fit named under it)")
    report.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    report.add_argument("--strict", action="store_true",
                        help="exit 2 if any op has no cost formula")
    _add_estimate_options(report, "estimated latency per layer and op")
    report.set_defaults(handler=_report)


def _add_lint(commands: argparse._SubParsersAction) -> None:
    lint = commands.add_parser(
        "lint", help="check models against the efficiency guidelines and budgets",
        description="Lint each TARGET (default: the targets of the configuration). Exit 0 when "
                    "clean, 1 when findings at or above --fail-on remain, 2 on an error.")
    lint.add_argument("targets", metavar="TARGET", nargs="*", help=_TARGET_HELP)
    _add_input_options(lint)
    add_lint_options(lint)
    lint.add_argument("--format", choices=LINT_FORMATS, default="text",
                      help="text (default), json, sarif or github (workflow annotations)")
    lint.add_argument("-o", "--output", metavar="FILE", help="write the findings to FILE")
    lint.add_argument("--config", metavar="FILE",
                      help="pyproject.toml or setup.cfg to read (default: the nearest one with "
                           "a costlens section, from here upward)")
    lint.set_defaults(handler=_lint)


def _add_rules(commands: argparse._SubParsersAction) -> None:
    rules = commands.add_parser("rules", help="list the lint rules, or show one's documentation",
                                description="List every rule, or print the documentation of "
                                            "the rule CODE.")
    rules.add_argument("code", metavar="CODE", nargs="?", help="a rule code, e.g. G1")
    rules.add_argument("--format", choices=("text", "markdown"), default="text",
                       help="text (default) or a markdown table (the README's)")
    rules.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    rules.set_defaults(handler=_rules)


def _add_device_options(parser: argparse.ArgumentParser, platform: bool = True) -> None:
    parser.add_argument("--device", choices=tuple(DEVICES), default=CPU.name,
                        help=f"where to measure (default {CPU.name})")
    parser.add_argument("--threads", type=_positive, metavar="N",
                        help="intra-op threads (default: PyTorch's, the number of cores)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    if platform:
        parser.add_argument("--platform", metavar="PROFILE",
                            help="profile to estimate with (default: calibrate this machine "
                                 "first)")


def _add_calibrate(commands: argparse._SubParsersAction) -> None:
    calibrate = commands.add_parser(
        "calibrate", help="measure this machine and write a platform profile",
        description="Time micro-benchmarks of every kernel class (convs, matmul, attention, "
                    "pooling, element-wise, normalization, reductions, data movement) over a "
                    "range of sizes, the fixed cost per op and the memory bandwidth, and write "
                    "the fitted platform profile (JSON) for report --platform, bench and lint.")
    _add_device_options(calibrate, platform=False)
    calibrate.add_argument("-o", "--output", metavar="FILE",
                           help="where to write the profile (default platform-DEVICE-Nt.json)")
    calibrate.add_argument("--name", help="the profile's name (default DEVICE-Nt)")
    calibrate.add_argument("--rounds", type=_positive, default=ROUNDS,
                           help="timing rounds; each figure is their lower quartile (default "
                                f"{ROUNDS})")
    calibrate.add_argument("--list", action="store_true",
                           help="list the built-in profiles (device, threads, date, how each "
                                "was calibrated) and exit")
    calibrate.set_defaults(handler=_calibrate)


def _add_bench(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser(
        "bench", help="run a model for real: measured vs estimated time vs FLOPs, per layer",
        description="Run TARGET for real (eval, no_grad; with --train-step a training step), "
                    "time every op, and print per layer, per op group and per kernel class "
                    "the measured time beside the estimate and the FLOPs share, with each "
                    "predictor's rank correlation; and the whole run's best case (the lower "
                    "quartile of its runs, freed memory kept) and, on a CPU for a forward, its "
                    "typical case (the median in a plain child process), each beside its "
                    "estimate.")
    bench.add_argument("target", metavar="TARGET", help=_TARGET_HELP)
    _add_input_options(bench, debug=False, train=False)  # inference, or a training step:
    add_step_options(bench)
    _add_device_options(bench)
    bench.add_argument("--repeat", type=_positive, default=10,
                       help="timed runs after warm-up; figures are medians, the forward's "
                            "and each module's lower quartile too (default 10)")
    bench.add_argument("--depth", type=_positive, default=1,
                       help="module depth of the per-layer rows (default 1)")
    bench.set_defaults(handler=_bench)


def _add_guidelines(commands: argparse._SubParsersAction) -> None:
    guidelines = commands.add_parser(
        "guidelines", help="rerun the paper's Tables 1-4 here: which guidelines matter",
        description="Measure and estimate the ShuffleNet V2 paper's four validation networks "
                    "(Tables 1-4) on this device at the paper's widths for it, beside the "
                    "paper's figures, and say for each guideline whether it holds here.")
    _add_device_options(guidelines)
    guidelines.add_argument("--column", type=int, choices=(1, 2, 4), default=1,
                            help="the paper's width multiplier column (default 1)")
    guidelines.add_argument("--batch", type=_positive, default=1, help="batch size (default 1)")
    guidelines.set_defaults(handler=_guidelines)


def _add_diff(commands: argparse._SubParsersAction) -> None:
    diff = commands.add_parser(
        "diff", help="what a change costs: totals and per-layer changes between two models",
        description="Compare the costs of BASE and NEW, each a TARGET or a JSON report of "
                    "`costlens report --format json`: the totals and every layer matched by "
                    "module path. With --rev REV: TARGET as the code stands against TARGET at "
                    "git revision REV. Exit 0, 1 when a total grows past a --fail-above "
                    "limit, 2 on an error.")
    diff.add_argument("base", metavar="BASE",
                      help="a TARGET or a JSON report; with --rev, the TARGET. " + _TARGET_HELP)
    diff.add_argument("new", metavar="NEW", nargs="?",
                      help="a TARGET or a JSON report (none with --rev)")
    diff.add_argument("--rev", metavar="REV",
                      help="compare TARGET with TARGET at git revision REV (a commit, branch or "
                           "tag), read from a temporary copy of its files; the working tree "
                           "and the index are left as they are")
    _add_input_options(diff)
    _add_estimate_options(diff, "the estimated latency", "; a JSON report side must carry "
                                                         "latency from that profile")
    diff.add_argument("--depth", type=_non_negative,
                      help="table and markdown: layers down to this depth (default 2); the "
                           "JSON holds every layer")
    diff.add_argument("--format", choices=DIFF_FORMATS, default="table",
                      help="table (default), markdown (a pull-request comment), json or html "
                           "(one self-contained page)")
    diff.add_argument("-o", "--output", metavar="FILE", help="write the diff to FILE")
    diff.add_argument("--fail-above", metavar="LIMITS",
                      help="exit 1 when a total grows past its limit, e.g. "
                           "flops=5%%,latency=3%% (figures: "
                           f"{', '.join(f.name for f in FIGURES)}; latency needs --platform)")
    diff.set_defaults(handler=_diff)


def _add_compare(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser(
        "compare", help="one row per model: params, FLOPs, MAC, kernels, estimated latency",
        description="The ShuffleNet V2 paper's Table 8 for your candidates: one row per "
                    "TARGET (or JSON report of `costlens report --format json`), in the order "
                    "given, with --platform the estimated latency, the FLOP rate it means and "
                    "what bounds it. A target that fails is reported on stderr; the others "
                    "are still shown, and the exit code is 2.")
    compare.add_argument("targets", metavar="TARGET", nargs="+",
                         help=f"{_TARGET_HELP}; or a JSON report")
    _add_input_options(compare)
    _add_estimate_options(compare, "the estimated latency, attained FLOP/s and bound")
    compare.add_argument("--format", choices=COMPARE_FORMATS, default="table",
                         help="table (default), markdown, json, csv or html (one "
                              "self-contained page, with FLOPs against latency drawn)")
    compare.add_argument("-o", "--output", metavar="FILE", help="write the comparison to FILE")
    compare.add_argument("--jobs", type=_positive, metavar="N",
                         help="analyze the TARGETs in N worker processes at once (default: "
                              "one per core)")
    compare.set_defaults(handler=_compare)


def _add_estimate_options(parser: argparse.ArgumentParser, adds: str, more: str = "") -> None:
    """--platform and --fuse, as every command that estimates latency without measuring
    takes them."""
    parser.add_argument("--platform", metavar="PROFILE",
                        help=f"add {adds} from a platform profile: a file from `costlens "
                             "calibrate` or a built-in name "
                             f"({', '.join(builtin_profiles()) or 'none'}){more}")
    parser.add_argument("--fuse", action="store_true",
                        help="with --platform: cost the model as an inference engine runs it "
                             "(BN folded, conv/linear/add + activation fused, no Python costs)")


_TARGET_HELP = ("path/to/file.py:factory or package.module:factory, optionally with literal "
                "arguments: 'file.py:factory(width=0.5)'; or a saved model: model.pt2 "
                "(torch.export), model.pt (a pickle, with --trust-pickle)")


def _add_input_options(parser: argparse.ArgumentParser, debug: bool = True,
                       train: bool = True) -> None:
    parser.add_argument("--input", action="append", metavar="SHAPE", default=[],
                        help="shape of a positional input, e.g. 1x3x224x224; repeat for each "
                             "input; replaces the factory's positional inputs")
    parser.add_argument("--dtype", help="run the model in this dtype, as model.to(DTYPE): "
                             "its floating weights and inputs, and the --input tensors "
                             "(default float32); an integer dtype (int64 for token ids) sets "
                             "the --input tensors only")
    if train:
        parser.add_argument("--train", action="store_true",
                            help="trace in training mode (batch statistics, dropout); default "
                                 "eval")
        add_step_options(parser)
    parser.add_argument("--trust-pickle", action="store_true",
                        help="load .pt / .pth targets, which are pickles: loading one runs the "
                             "code it holds")
    if debug:
        parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def add_step_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train-step", action="store_true",
                        help="a training step instead of a forward: forward, loss and backward "
                             "in training mode, traced on meta (the loss: the factory's, if it "
                             "returns one last, else the sum of the outputs)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS,
                        help="with --train-step: add the optimizer's update of every parameter")


def _step_options(options: argparse.Namespace) -> dict[str, object]:
    """The training-step arguments of analyze / lint_target; --optimizer needs --train-step."""
    if options.optimizer and not options.train_step:
        raise CostlensError("--optimizer adds the optimizer's update to a training step: "
                            "give --train-step too")
    return {"train_step": options.train_step, "optimizer": options.optimizer}


def _report(options: argparse.Namespace) -> int:
    from .api import analyze
    from .tracing.load import load, model_dtype, model_inputs

    _check_report_options(options)
    loaded = load(options.target, trust_pickle=options.trust_pickle)
    inputs = model_inputs(loaded, options.input, options.dtype)
    profile = load_profile(options.platform) if options.platform else None
    analysis = analyze(loaded.model, inputs, train=options.train,
                       dtype=model_dtype(options.dtype), **_step_options(options),
                       loss=loaded.loss if options.train_step else None)
    latency = estimate(analysis, profile, fuse=options.fuse) if profile else None
    depth = 2 if options.depth is None else options.depth
    findings = _page_findings(analysis, loaded, profile) if options.format == "html" else []
    text = render(analysis, options.format, RowSelection(depth, options.sort, options.top),
                  latency, wide=options.wide, profile=profile, diagnostics=findings)
    _write(text, options.output)
    if options.strict and analysis.unsupported_ops:
        ops = ", ".join(f"{op.op} ({op.calls}x)" for op in analysis.unsupported_ops)
        raise CostlensError(f"--strict: ops with no cost formula: {ops}")
    return EXIT_OK


def _page_findings(analysis: Analysis, loaded: LoadedModel,
                   profile: Profile | None) -> list[Diagnostic]:
    """What `costlens lint` finds in the target, for the HTML page: the configuration's rules,
    options and budgets (a configured target of the same TARGET adds its own), graded on the
    report's platform when one is given. Every finding is shown; a baseline hides none."""
    from .linting.linter import TargetId, lint_analysis

    rules = all_rules()
    configured = load_config(rules)
    settings = lint_settings(configured, rules)
    if profile is not None:
        settings = dataclasses.replace(settings, profile=profile)
    budgets = dict(settings.budgets)
    for target in configured.targets:
        if target.spec == loaded.target.text:
            budgets.update(target.budgets)
    return lint_analysis(analysis, TargetId(loaded.target.text), settings, loaded.location,
                         budgets)


def _check_report_options(options: argparse.Namespace) -> None:
    """Refuse an option this report would ignore, rather than ignore it silently."""
    if not options.platform:
        if options.fuse:
            raise CostlensError("--fuse applies to the latency estimate: give --platform too")
        if options.sort == "latency":
            raise CostlensError("--sort latency orders by the latency estimate: give "
                                "--platform too")
    if options.format in ("json", "html"):
        given = [flag for flag, value in (("--depth", options.depth), ("--sort", options.sort),
                                          ("--top", options.top)) if value is not None]
        if given:
            raise CostlensError(f"{', '.join(given)} select{'s' if len(given) == 1 else ''} "
                                f"the rows of the table, markdown and CSV; the {options.format} "
                                "report always holds every layer")
    if options.wide and options.format != "table":
        raise CostlensError(f"--wide applies to the table; {options.format} always holds "
                            "every figure")


def _diff(options: argparse.Namespace) -> int:
    from .review.collect import diff_sides, revision_sides
    from .review.diff import NO_LATENCY, breaches, diff_reports, parse_limits
    from .review.diff_render import headline
    from .review.formats import DIFF_RENDERERS as RENDERERS
    from .review.sources import is_report, shared_platform

    limits = parse_limits(options.fail_above) if options.fail_above is not None else {}
    if options.rev is not None:
        if options.new is not None:
            raise CostlensError("--rev compares one TARGET with itself at the revision: give "
                                "one TARGET, not two")
        if is_report(options.base):
            raise CostlensError(f"--rev reads a TARGET's code at the revision; {options.base} "
                                "is a JSON report")
    elif options.new is None:
        raise CostlensError("give BASE and NEW, each a TARGET or a JSON report, or one TARGET "
                            "with --rev REV")
    if options.format == "json" and options.depth is not None:
        raise CostlensError("--depth selects the layers of the table and markdown; the JSON "
                            "diff always holds every layer")
    sides = [options.base] if options.rev is not None else [options.base, options.new]
    request = _review_request(options, sides, "BASE and NEW are both JSON reports")
    if "latency" in limits and not options.platform and not any(map(is_report, sides)):
        raise CostlensError(NO_LATENCY)  # said before the analysis, not after
    if options.rev is not None:
        base, new = revision_sides(options.base, options.rev, request, options.debug)
    else:
        base, new = diff_sides(options.base, options.new, request, options.debug)
    diff = diff_reports(base, new, shared_platform([base, new]))
    failed = breaches(diff, limits)
    _write(RENDERERS[options.format](diff, 2 if options.depth is None else options.depth),
           options.output)
    if options.output:  # the terminal still says how it went
        print(f"{headline(diff)}; written to {options.output}.")
    for breach in failed:
        print(f"costlens: {breach.message}", file=sys.stderr)
    return EXIT_FINDINGS if failed else EXIT_OK


def _review_request(options: argparse.Namespace, sides: Sequence[str], all_reports: str,
                    jobs: int | None = None) -> Request:
    """What diff and compare analyze each TARGET with; options that only a TARGET takes are
    refused when every side is a JSON report."""
    from .review.sources import Request, is_report

    if options.fuse and not options.platform:
        raise CostlensError("--fuse applies to the latency estimate: give --platform too")
    given = [flag for flag, value in (("--input", options.input), ("--dtype", options.dtype),
                                      ("--train", options.train),
                                      ("--train-step", options.train_step),
                                      ("--trust-pickle", options.trust_pickle),
                                      ("--jobs", jobs)) if value]
    if given and all(is_report(side) for side in sides):
        raise CostlensError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to "
                            f"TARGETs, and {all_reports}")
    return Request("", tuple(options.input), options.dtype, options.train,
                   options.trust_pickle,
                   load_profile(options.platform) if options.platform else None,
                   options.fuse, **_step_options(options))


def _compare(options: argparse.Namespace) -> int:
    from .review.collect import compare_sides
    from .review.compare import compare
    from .review.formats import COMPARE_RENDERERS as RENDERERS
    from .review.sources import Side, shared_platform

    request = _review_request(options, options.targets, "every one given is a JSON report",
                              jobs=options.jobs)
    found = compare_sides(options.targets, request, options.jobs or os.cpu_count() or 1,
                          options.debug)
    sides = [item for item in found if isinstance(item, Side)]
    if sides:
        _write(RENDERERS[options.format](compare(sides, shared_platform(sides))),
               options.output)
    failures = [item for item in found if isinstance(item, str)]
    for message in failures:
        print(f"costlens: error: {message}", file=sys.stderr)
    return EXIT_ERROR if failures else EXIT_OK


def _lint(options: argparse.Namespace) -> int:
    from .api import lint_target

    rules = all_rules()
    configured = load_config(rules, Path(options.config) if options.config else None)
    settings = over_config(configured, options, rules)
    lint = lint_settings(settings, rules)
    targets = _lint_targets(options, settings.targets)
    diagnostics: list[Diagnostic] = []
    failures: list[tuple[str, CostlensError]] = []
    for target in targets:
        try:
            diagnostics.extend(lint_target(target, lint, train=options.train,
                                           trust_pickle=options.trust_pickle,
                                           **_step_options(options)))
        except CostlensError as error:  # report it, lint the other targets
            failures.append((target.label, error))
    if settings.write_baseline:
        write_baseline(settings.write_baseline, diagnostics)
        print(f"costlens: recorded {len(diagnostics)} finding"
              f"{'s' if len(diagnostics) != 1 else ''} in {settings.write_baseline}",
              file=sys.stderr)
    baseline = settings.baseline
    shown = new_findings(diagnostics, read_baseline(baseline), baseline.parent) \
        if baseline and not settings.write_baseline else diagnostics
    root = configured.path.parent if configured.path is not None else Path.cwd()
    run = LintRun(shown, [t.label for t in targets], len(diagnostics) - len(shown), root)
    _write(_render_lint(run, options.format, lint.rules), options.output)
    if options.output:  # the terminal still says how it went
        print(f"{summary(run).removesuffix('.')}; written to {options.output}.")
    for spec, error in failures:
        if options.debug:
            traceback.print_exception(error)
        message = str(error)
        print(f"costlens: error: {message if message.startswith(spec) else f'{spec}: {message}'}",
              file=sys.stderr)
    if failures:
        return EXIT_ERROR
    failing = [d for d in shown if d.severity.rank >= settings.fail_on.rank]
    return EXIT_FINDINGS if failing and not settings.write_baseline else EXIT_OK


def _lint_targets(options: argparse.Namespace,
                  configured: Sequence[TargetConfig]) -> list[TargetConfig]:
    """The command line's targets, each as every configured target of that TARGET (its inputs,
    budgets and name; --input / --dtype make it one target on those inputs); else the
    configured ones."""
    if not options.targets:
        if options.input or options.dtype:
            raise CostlensError("--input and --dtype apply to targets given on the command "
                                "line; set a configured target's inputs in the configuration")
        if not configured:
            raise CostlensError("nothing to lint: give a TARGET, or set targets under "
                                "[tool.costlens] in pyproject.toml or [costlens] in setup.cfg")
        return list(configured)
    known: dict[str, list[TargetConfig]] = {}
    for target in configured:
        known.setdefault(target.spec, []).append(target)
    targets = []
    for spec in options.targets:
        matches = known.get(spec, [TargetConfig(spec)])
        if options.input or options.dtype:  # one target: the inputs given here
            matches = [dataclasses.replace(matches[0], inputs=tuple(options.input),
                                           dtype=options.dtype, name=None)]
        targets.extend(matches)
    return targets


def _render_lint(run: LintRun, output_format: str, rules: Sequence[type[Rule]]) -> str:
    if output_format == "json":
        return render_json(run)
    if output_format == "sarif":
        return render_sarif(run, rules)
    if output_format == "github":
        return render_github(run)
    return render_text(run)


def _rules(options: argparse.Namespace) -> int:
    rules = all_rules()
    if options.code:
        if options.code not in rules:
            raise CostlensError(f"unknown rule code {options.code!r}; known codes: "
                                f"{', '.join(rules)}")
        rule = rules[options.code]
        print(rule.documentation())
        return EXIT_OK
    rows = [[rule.code, rule.name, rule.severity.value, rule.summary()] for rule in rules.values()]
    if options.format == "markdown":
        rows = [[f"`{code}`", f"`{name}`", severity, summary]
                for code, name, severity, summary in rows]
    print(tabulate(rows, headers=["code", "name", "severity", "what it reports"],
                   tablefmt="github" if options.format == "markdown" else "simple"))
    return EXIT_OK


def _calibrate(options: argparse.Namespace) -> int:
    if options.list:
        given = [flag for flag, value in (("--device", options.device != CPU.name),
                                          ("--threads", options.threads), ("-o", options.output),
                                          ("--name", options.name),
                                          ("--rounds", options.rounds != ROUNDS)) if value]
        if given:
            raise CostlensError(f"--list lists the built-in profiles and measures nothing: "
                                f"drop {', '.join(given)}")
        rows = [[name, profile.device_name, profile.device, profile.threads, profile.created,
                 profile.method] for name, profile in
                ((name, load_profile(name)) for name in builtin_profiles())]
        print(tabulate(rows, headers=["profile", "device", "kind", "threads", "calibrated",
                                      "method"], maxcolwidths=[None] * 5 + [60]))
        return EXIT_OK
    from .measure.calibrate import calibrate
    from .measure.timing import threads
    from .report.platform import render_profile

    device = device_for(options.device)
    with threads(options.threads) as used:
        path = options.output or f"platform-{device.name}-{used}t.json"
        profile = calibrate(device, used, options.name, options.rounds,
                            progress=lambda line: print(line, file=sys.stderr))
    _write(profile.to_json(), path)
    print(render_profile(profile, path), end="")
    return EXIT_OK


def _profile_for(options: argparse.Namespace, device: Device, used: int) -> Profile:
    """--platform, else a calibration of this machine now (said on stderr). A profile made
    for another device or thread count is used as asked, with a note on stderr: its estimate
    then describes another setting than the one measured."""
    if options.platform:
        profile = load_profile(options.platform)
        if (profile.device, profile.threads) != (device.name, used):
            print(f"costlens: note: profile {profile.name} is for {profile.device} at "
                  f"{profile.threads} thread{'s' if profile.threads != 1 else ''}; measuring "
                  f"{device.name} at {used} (--device and --threads set what is measured)",
                  file=sys.stderr)
        return profile
    from .measure.calibrate import calibrate
    print(f"costlens: no --platform given: calibrating {device.name} at {used} thread"
          f"{'s' if used != 1 else ''} first (save one with `costlens calibrate`)",
          file=sys.stderr)
    return calibrate(device, used)


def _bench(options: argparse.Namespace) -> int:
    import torch

    from .api import analyze, training_step
    from .measure.compare import compare, timed_modules
    from .measure.op_times import measure
    from .measure.plain_run import typical_seconds
    from .measure.timing import threads
    from .report.platform import Typical, render_bench
    from .tracing.inputs import inputs_on
    from .tracing.load import load, model_dtype, model_inputs

    device = device_for(options.device)
    loaded = load(options.target, trust_pickle=options.trust_pickle)
    if any(t.is_meta for t in (*loaded.model.parameters(), *loaded.model.buffers())):
        raise CostlensError("bench runs the model for real, and its weights are on the meta "
                            "device (no data): build it on a real device (analyze and report "
                            "take it as it is)")
    inputs = model_inputs(loaded, options.input, options.dtype)
    step = training_step(**_step_options(options),
                         loss=loaded.loss if options.train_step else None)
    with threads(options.threads) as used, torch.no_grad():  # measure() enables it for a step
        profile = _profile_for(options, device, used)
        dtype = model_dtype(options.dtype)
        analysis = analyze(loaded.model, inputs, dtype=dtype, **_step_options(options),
                           loss=step.loss if step else None)
        latency = estimate(analysis, profile, typical=False)
        model = loaded.model.eval().to(device=device.torch_device, dtype=dtype)
        measurement = measure(model, inputs_on(inputs, device.torch_device), device,
                              options.repeat, step=step,
                              modules=timed_modules(analysis, options.depth))
        typical = None
        if step is None and device.name == CPU.name:
            measured = typical_seconds(_plain_run_arguments(options), used, options.repeat)
            typical = Typical(measured, estimate(analysis, profile).seconds
                              if profile.has_typical else None)
    comparison = compare(analysis, latency, measurement, options.depth)
    print(render_bench(comparison, analysis.model_type, options.repeat, profile.name,
                       "training step" if step else "forward", typical), end="")
    return EXIT_OK


def _plain_run_arguments(options: argparse.Namespace) -> list[str]:
    """bench's target and input options, as measure/plain_run.py takes them."""
    arguments = [options.target]
    for shape in options.input:
        arguments += ["--input", shape]
    if options.dtype:
        arguments += ["--dtype", options.dtype]
    if options.trust_pickle:
        arguments.append("--trust-pickle")
    return arguments


def _guidelines(options: argparse.Namespace) -> int:
    import torch

    from .measure.guidelines import run_guidelines
    from .measure.timing import threads
    from .report.platform import render_guidelines

    device = device_for(options.device)
    with threads(options.threads) as used, torch.no_grad():
        profile = _profile_for(options, device, used)
        column = {1: 0, 2: 1, 4: 2}[options.column]
        rows, verdicts = run_guidelines(profile, device, column, options.batch)
    print(render_guidelines(rows, verdicts, profile.device_name, used, device.paper_platform),
          end="")
    return EXIT_OK


def _write(text: str, path: str | None) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise CostlensError(f"cannot write {path}: {error.strerror}") from error


def _non_negative(text: str) -> int:
    return _whole_number(text, 0)


def _positive(text: str) -> int:
    return _whole_number(text, 1)


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be {least} or more, not {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    try:
        return options.handler(options)
    except CostlensError as error:
        if options.debug:
            traceback.print_exc()
        print(f"costlens: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # `costlens report ... | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - a bug in costlens: say so, in one line
        if options.debug:
            traceback.print_exc()
        print(f"costlens: internal error: {type(error).__name__}: {first_line(error)} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_ERROR
