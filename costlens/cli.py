"""The `costlens` command line.

Exit codes: 0 success; 2 a usage, load or trace error (one line on stderr, the traceback only
with --debug). Later commands add 1 for lint findings.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from typing import NoReturn, Sequence

from . import __version__, analyze
from .errors import CostlensError, first_line
from .inputs import Inputs, shape_inputs
from .load import LoadedModel, load, required_inputs
from .report import FORMATS, SORT_KEYS, RowSelection, render

EXIT_OK = 0
EXIT_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="costlens", description=(
        "Static cost analysis of PyTorch models: per-layer FLOPs (multiply-adds), memory access "
        "cost and parallelism, traced on the meta device."))
    parser.add_argument("--version", action="version", version=f"costlens {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    report = commands.add_parser(
        "report", help="per-layer FLOPs / MAC / parallelism table of a model",
        description="Trace TARGET once and print its cost per layer.")
    report.add_argument("target", metavar="TARGET",
                        help="path/to/file.py:factory or package.module:factory, optionally with "
                             "literal arguments: 'file.py:factory(width=0.5)'")
    _add_input_options(report)
    report.add_argument("--depth", type=_non_negative, default=2,
                        help="show modules down to this depth (default 2)")
    report.add_argument("--sort", choices=SORT_KEYS,
                        help="order rows by this figure, largest first (name: alphabetical); "
                             "default: execution order")
    report.add_argument("--top", type=_positive, help="show only the first K rows")
    report.add_argument("--format", choices=FORMATS, default="table",
                        help="table (default), json (always every layer and op), csv, markdown")
    report.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    report.add_argument("--strict", action="store_true",
                        help="exit 2 if any op has no cost formula")
    report.set_defaults(handler=_report)
    return parser


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", action="append", metavar="SHAPE", default=[],
                        help="shape of a positional input, e.g. 1x3x224x224; repeat for each "
                             "input; overrides inputs the factory returns")
    parser.add_argument("--dtype", help="dtype of the --input tensors (default float32)")
    parser.add_argument("--train", action="store_true",
                        help="trace in training mode (batch statistics, dropout); default eval")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def _report(options: argparse.Namespace) -> int:
    loaded = load(options.target)
    inputs = _inputs(options, loaded)
    analysis = analyze(loaded.model, inputs, train=options.train)
    text = render(analysis, options.format, RowSelection(options.depth, options.sort, options.top))
    _write(text, options.output)
    if options.strict and analysis.unsupported_ops:
        ops = ", ".join(f"{op.op} ({op.calls}x)" for op in analysis.unsupported_ops)
        raise CostlensError(f"--strict: ops with no cost formula: {ops}")
    return EXIT_OK


def _inputs(options: argparse.Namespace, loaded: LoadedModel) -> Inputs:
    """--input shapes as the positional inputs, else the factory's; the factory's keyword
    inputs either way; an error naming what is missing when the forward needs more."""
    if options.dtype and not options.input:
        raise CostlensError("--dtype sets the dtype of --input shapes; give --input too")
    factory = loaded.inputs or Inputs()
    args = shape_inputs(options.input, options.dtype or "float32").args if options.input \
        else factory.args
    positional, keyword = required_inputs(loaded.model)
    missing = [name for name in positional[len(args):] if name not in factory.kwargs]
    if missing:
        raise CostlensError(f"the forward of {options.target} needs {', '.join(missing)}: pass "
                            "--input SHAPE (e.g. --input 1x3x224x224) once per positional input")
    missing = [name for name in keyword if name not in factory.kwargs]
    if missing:
        raise CostlensError(f"the forward of {options.target} needs keyword inputs "
                            f"{', '.join(missing)}: return them from the factory as "
                            "(model, args, kwargs)")
    return Inputs(args, factory.kwargs)


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
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
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
