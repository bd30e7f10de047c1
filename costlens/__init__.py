"""costlens: what a PyTorch model costs to run, per layer, and why.

`analyze(model, inputs)` traces one forward pass on the meta device and returns a frozen
Analysis: FLOPs (multiply-adds), memory access cost, arithmetic intensity and parallelism per
op, per layer and in total. `lint(model, inputs)` checks it against the ShuffleNet V2
guidelines and cost budgets.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .analysis import Analysis, analyze_graph
from .api import analyze, lint, trace_model
from .errors import CostlensError
from .graph import OpGraph
from .lint.rule import Diagnostic, Severity
from .tracing.inputs import Inputs

__all__ = ["Analysis", "CostlensError", "Diagnostic", "Inputs", "OpGraph", "Severity", "analyze",
           "analyze_graph", "lint", "trace_model", "__version__"]
