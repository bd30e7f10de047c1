"""The Python API: analyze a model, or lint it, in one call."""
from __future__ import annotations

import inspect
from typing import Any, Iterable, Mapping

from .analysis import Analysis, analyze_graph
from .costs import is_known
from .graph import OpGraph, SourceLocation
from .inputs import split_inputs
from .locations import display_path
from .rule import Diagnostic
from .trace import trace


def trace_model(model: Any, inputs: Any = None, *, train: bool = False) -> OpGraph:
    """The op graph of one forward pass; `inputs` as for `analyze`."""
    args, kwargs = split_inputs(inputs)
    return trace(model, args, kwargs, is_known=is_known, train=train)


def analyze(model: Any, inputs: Any = None, *, train: bool = False) -> Analysis:
    """Trace `model` on `inputs` and cost every op.

    `inputs` is a tensor (the one positional input), a tuple or list of positional inputs, a
    dict of keyword inputs, or both as `costlens.Inputs(args, kwargs)`. Tensors may be real or
    on the meta device; only their shapes and dtypes are used unless the model needs values.
    The model is analyzed in eval mode unless `train=True`, and is left as it was.
    """
    return analyze_graph(trace_model(model, inputs, train=train))


def lint(model: Any, inputs: Any = None, *, select: Iterable[str] = (),
         ignore: Iterable[str] = (), options: Mapping[str, Mapping[str, Any]] | None = None,
         budgets: Mapping[str, Any] | None = None, train: bool = False) -> list[Diagnostic]:
    """Run the lint rules on `model`: `select` / `ignore` by code prefix, `options` by rule code
    (`{"G1": {"max_mac_ratio": 1.4}}`), `budgets` as in the configuration
    (`{"flops": "600M"}`). Findings about the model as a whole point at its class."""
    from .config import BUDGET_KEYS
    from .errors import CostlensError
    from .linter import LintSettings, lint_analysis
    from .rule import parse_quantity
    from .rulebook import all_rules, select_rules

    rules = all_rules()
    selected = select_rules(rules, select, ignore)
    parsed: dict[str, dict[str, Any]] = {}
    for code, values in (options or {}).items():
        if code not in rules:
            raise CostlensError(f"unknown rule code {code!r}; known codes: {', '.join(rules)}")
        parsed[code] = {name: rules[code].option(name).parse(value, f"{code}.{name}")
                        for name, value in values.items()}
    limits = {}
    for key, value in (budgets or {}).items():
        if key not in BUDGET_KEYS:
            raise CostlensError(f"unknown budget {key!r}; known budgets: {', '.join(BUDGET_KEYS)}")
        limits[key] = parse_quantity(value, f"budgets.{key}")
    analysis = analyze(model, inputs, train=train)
    settings = LintSettings(selected, parsed, limits)
    return lint_analysis(analysis, type(model).__name__, settings, _class_location(model))


def _class_location(model: Any) -> SourceLocation:
    try:
        filename = inspect.getsourcefile(type(model)) or "<model>"
        line = inspect.getsourcelines(type(model))[1]
    except (OSError, TypeError):
        return SourceLocation("<model>", 1)
    return SourceLocation(display_path(filename), line)
