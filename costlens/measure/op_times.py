"""Real per-op time of a model: what `costlens bench` sets beside the estimate.

The model runs for real under a dispatch mode that times every aten op and notes the module it
ran in. Timing each op costs a little Python per op, so the per-op figures are read as shares
and per-layer sums, and the model's plain forward time is measured apart, uninstrumented. How
one op is timed is the device's (Device.op_clock): on a CUDA device the op times are the gaps
between CUDA events recorded after each op, so the GPU's timeline is split among the ops, idle
waits for the CPU included.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..graph import module_ancestors
from ..tracing.inputs import Inputs
from .device import Device
from .timing import Work, interleaved, keep_freed_memory


@dataclass(frozen=True)
class TimedOp:
    module: str
    op: str
    seconds: float


@dataclass(frozen=True)
class Measurement:
    """Median per-op times over repeats (in execution order) and the plain forward time: the
    median over repeats and the fastest (what calibration's figures are: see timing)."""

    ops: tuple[TimedOp, ...]
    seconds: float
    fastest: float

    def by_module(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for op in self.ops:
            for path in module_ancestors(op.module):
                totals[path] += op.seconds
        return dict(totals)


class _OpTimer(TorchDispatchMode):
    """Times one forward's aten ops with the device's op clock, each noted with the module it
    ran in (the top of `stack`, which the module hooks keep)."""

    def __init__(self, device: Device, stack: list[str]) -> None:
        super().__init__()
        self.clock = device.op_clock()
        self.stack = stack
        self.ops: list[tuple[str, str]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        name = f"{func.namespace}.{func.__name__}"
        out = self.clock.call(func, *args, **(kwargs or {}))
        self.ops.append((self.stack[-1], name))
        return out

    def records(self) -> list[tuple[str, str, float]]:
        """(module, op, seconds) of each op; read after the forward, the device synchronized."""
        return [(module, op, seconds)
                for (module, op), seconds in zip(self.ops, self.clock.seconds())]


def measure(model: nn.Module, inputs: Inputs, device: Device, repeat: int = 10,
            warmup: int = 3) -> Measurement:
    """Time `model` on `inputs` (already on `device`), per op and as a whole."""
    names = {id(module): path for path, module in model.named_modules()}
    stack = [""]

    def enter(module: nn.Module, _args: Any) -> None:
        stack.append(names.get(id(module), stack[-1]))

    def leave(module: nn.Module, _args: Any, _out: Any) -> None:
        if len(stack) > 1:
            stack.pop()

    def forward() -> object:
        return model(*inputs.args, **inputs.kwargs)

    keep_freed_memory()
    runs: list[list[tuple[str, str, float]]] = []
    with torch.no_grad():
        for _ in range(warmup):
            forward()
        handles = [module.register_forward_pre_hook(enter) for module in model.modules()]
        handles += [module.register_forward_hook(leave) for module in model.modules()]
        try:
            for _ in range(repeat):
                del stack[1:]
                timer = _OpTimer(device, stack)
                with timer:
                    forward()
                device.synchronize()
                runs.append(timer.records())
        finally:
            for handle in handles:
                handle.remove()
        plain = interleaved({"forward": Work(forward, forward)}, device, rounds=repeat,
                            statistic=sorted)["forward"]
    return Measurement(_median_ops(runs), statistics.median(plain), plain[0])


def _median_ops(runs: list[list[tuple[str, str, float]]]) -> tuple[TimedOp, ...]:
    """Per position, the median over runs; runs whose op sequence differs from the first (data-
    dependent control flow) are left out rather than mixed."""
    first = [(module, op) for module, op, _ in runs[0]]
    same = [run for run in runs if [(m, o) for m, o, _ in run] == first]
    return tuple(TimedOp(module, op, statistics.median(run[i][2] for run in same))
                 for i, (module, op) in enumerate(first))
