"""costlens: what a PyTorch model costs to run, per layer, and why.

`analyze(model, inputs)` traces one forward pass on the meta device and returns a frozen
Analysis: FLOPs (multiply-adds), memory access cost, arithmetic intensity and parallelism per
op, per layer and in total. `lint(model, inputs)` checks it against the ShuffleNet V2
guidelines and cost budgets. `register_formula(op, function)` costs an op of your own (a
`torch.library` custom op) from its shapes; libraries ship theirs through the
`costlens.formulas` entry-point group.

The names below are imported on first use, so that `import costlens.cli` (and `costlens
--help`, `costlens rules`) does not import torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "Analysis": "costlens.analysis", "analyze_graph": "costlens.analysis",
    "analyze": "costlens.api", "lint": "costlens.api", "trace_model": "costlens.api",
    "CostlensError": "costlens.errors", "OpGraph": "costlens.graph",
    "Inputs": "costlens.tracing.inputs", "Diagnostic": "costlens.linting.finding",
    "Severity": "costlens.linting.finding", "Cost": "costlens.costs.user",
    "OpShapes": "costlens.costs.user", "register_formula": "costlens.costs.user",
    "unregister_formula": "costlens.costs.user", "using_formulas": "costlens.costs.user",
}

__all__ = ["Analysis", "Cost", "CostlensError", "Diagnostic", "Inputs", "OpGraph", "OpShapes",
           "Severity", "analyze", "analyze_graph", "lint", "register_formula", "trace_model",
           "unregister_formula", "using_formulas", "__version__"]

if TYPE_CHECKING:
    from .analysis import Analysis, analyze_graph
    from .api import analyze, lint, trace_model
    from .costs.user import Cost, OpShapes, register_formula, unregister_formula, using_formulas
    from .errors import CostlensError
    from .graph import OpGraph
    from .linting.finding import Diagnostic, Severity
    from .tracing.inputs import Inputs


def __getattr__(name: str) -> Any:
    """A public name, imported on first use; or a subpackage (`costlens.latency`)."""
    if name not in _PUBLIC:
        try:
            return importlib.import_module(f"costlens.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module 'costlens' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
