"""costlens: what a PyTorch model costs to run, per layer, and why.

`analyze(model, inputs)` traces one forward pass on the meta device and returns a frozen
Analysis: FLOPs (multiply-adds), memory access cost, arithmetic intensity and parallelism per
op, per layer and in total.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .analysis import Analysis, analyze_graph
from .costs import is_known
from .errors import CostlensError
from .graph import OpGraph
from .inputs import split_inputs
from .trace import trace as _trace

__all__ = ["Analysis", "CostlensError", "OpGraph", "analyze", "analyze_graph", "trace_model",
           "__version__"]


def trace_model(model: Any, inputs: Any = None, *, train: bool = False) -> OpGraph:
    """The op graph of one forward pass; `inputs` as for `analyze`."""
    args, kwargs = split_inputs(inputs)
    return _trace(model, args, kwargs, is_known=is_known, train=train)


def analyze(model: Any, inputs: Any = None, *, train: bool = False) -> Analysis:
    """Trace `model` on `inputs` and cost every op.

    `inputs` is a tensor (the one positional input), a tuple or list of positional inputs, a
    dict of keyword inputs, or an `(args, kwargs)` pair given as `costlens.Inputs`. Tensors may
    be real or on the meta device; only their shapes and dtypes are used unless the model needs
    values. The model is analyzed in eval mode unless `train=True`, and is left as it was.
    """
    return analyze_graph(trace_model(model, inputs, train=train))
