"""Real per-op and per-module time of a model: what `costlens bench` sets beside the estimate.

The model runs for real under a dispatch mode that times every aten op and notes the module it
ran in. Timing each op costs a little Python per op, so the per-op figures are read as shares,
and the model's plain forward time is measured apart, uninstrumented. How one op is timed is
the device's (Device.op_clock): on a CUDA device the op times are the gaps between CUDA events
recorded after each op, so the GPU's timeline is split among the ops, idle waits for the CPU
included.

A forward's layers are timed apart, with marks on the device's timeline (Device.timeline) in
hooks on the modules asked for and nothing between their ops: summed per op, a layer's time
carried the instrumentation's cost and the colder caches it leaves every kernel, which tilted
the layers of many small ops against those of a few large ones (benchmarks/bench_latency.py's
median per-layer error on this project's 2-core build machine: 14% at one thread and 17% at
two summed per op, 4-5% at both timed per module).
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..graph import module_ancestors
from ..tracing.inputs import Inputs
from ..tracing.step import TrainStep, loss_of, make_optimizer
from .device import Device
from .timing import Work, best_of, interleaved, keep_freed_memory


@dataclass(frozen=True)
class TimedOp:
    module: str
    op: str
    seconds: float


@dataclass(frozen=True)
class Measurement:
    """Median per-op times over repeats (in execution order) and the plain forward time: the
    median over repeats and the best case (what calibration's figures are: timing.best_of).
    For a forward, `modules`: the modules asked for, each one's time per forward (its calls
    summed) in forwards timed per module, the best case over repeats (as the estimate beside
    it is); under "" the whole forward's."""

    ops: tuple[TimedOp, ...]
    seconds: float
    best: float
    modules: dict[str, float] = field(default_factory=dict)

    def by_module(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for op in self.ops:
            for path in module_ancestors(op.module):
                totals[path] += op.seconds
        return dict(totals)


class _OpTimer(TorchDispatchMode):
    """Times one forward's (or training step's) aten ops with the device's op clock, each
    noted with the module it ran in: the top of `stack`, which the module hooks keep; in a
    backward, the module whose forward made the autograd node running (`owners.nodes`); in an
    optimizer's update, the module owning the tensor it updates (`owners.tensors`)."""

    def __init__(self, device: Device, stack: list[str], owners: _Owners) -> None:
        super().__init__()
        self.clock = device.op_clock()
        self.stack = stack
        self.owners = owners
        self.ops: list[tuple[str, str]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        name = f"{func.namespace}.{func.__name__}"
        out = self.clock.call(func, *args, **(kwargs or {}))
        self.ops.append((self._module(args, kwargs), name))
        return out

    def _module(self, args: tuple, kwargs: dict | None) -> str:
        if len(self.stack) > 1 or not self.owners.active:
            return self.stack[-1]
        node = torch._C._current_autograd_node()
        if node is not None:
            return self.owners.nodes.get(node._sequence_nr(), "")
        for tensor in tree_flatten((args, kwargs))[0]:
            owner = self.owners.tensors.get(id(tensor))
            if owner is not None:
                return owner
        return ""

    def records(self) -> list[tuple[str, str, float]]:
        """(module, op, seconds) of each op; read after the forward, the device synchronized."""
        return [(module, op, seconds)
                for (module, op), seconds in zip(self.ops, self.clock.seconds())]


@dataclass
class _Owners:
    """Which module a training step's op outside any forward belongs to: per autograd node
    (by sequence number), the module whose forward made it, the innermost claiming it first;
    per parameter and optimizer state tensor (by id), the module owning the parameter."""

    active: bool = False
    nodes: dict[int, str] = field(default_factory=dict)
    tensors: dict[int, str] = field(default_factory=dict)

    def claim(self, path: str, output: Any, floor: int) -> None:
        """The autograd nodes behind a module's output that the call made (sequence numbers
        grow: above `floor`, the last of its inputs') and no module inside it claimed."""
        pending = [t.grad_fn for t in tree_flatten(output)[0]
                   if isinstance(t, torch.Tensor) and t.grad_fn is not None]
        while pending:
            node = pending.pop()
            number = node._sequence_nr()
            if number <= floor or number in self.nodes:
                continue
            self.nodes[number] = path
            pending.extend(next_node for next_node, _ in node.next_functions
                           if next_node is not None)


def measure(model: nn.Module, inputs: Inputs, device: Device, repeat: int = 10,
            warmup: int = 3, step: TrainStep | None = None,
            modules: Collection[str] = ()) -> Measurement:
    """Time `model` on `inputs` (already on `device`), per op and as a whole: a forward
    (eval, no_grad), or with `step` a training step (train mode: forward, loss, backward, the
    optimizer's update), as tracing/step.py runs it. A forward's `modules` (paths) are also
    timed per module (hooks see no backward, so a step's are not)."""
    names = {id(module): path for path, module in model.named_modules()}
    stack = [""]
    owners = _Owners()

    floors: list[int] = []  # per open call, the last autograd node among its inputs

    def enter(module: nn.Module, args: Any) -> None:
        stack.append(names.get(id(module), stack[-1]))
        if owners.active:
            floors.append(max((t.grad_fn._sequence_nr() for t in tree_flatten(args)[0]
                               if isinstance(t, torch.Tensor) and t.grad_fn is not None),
                              default=-1))

    def leave(module: nn.Module, _args: Any, out: Any) -> None:
        if owners.active and floors:
            owners.claim(stack[-1], out, floors.pop())
        if len(stack) > 1:
            stack.pop()

    def forward() -> object:
        return model(*inputs.args, **inputs.kwargs)

    training = model.training
    buffers = [(b, b.clone()) for b in model.buffers()] if step is not None else []
    run = forward if step is None else _training_step(model, forward, step, owners)
    keep_freed_memory()
    runs: list[list[tuple[str, str, float]]] = []
    with torch.no_grad() if step is None else torch.enable_grad():
        for _ in range(warmup):
            run()
        handles = [module.register_forward_pre_hook(enter) for module in model.modules()]
        handles += [module.register_forward_hook(leave) for module in model.modules()]
        try:
            for _ in range(repeat):
                del stack[1:]
                owners.nodes.clear()
                floors.clear()
                owners.active = step is not None
                timer = _OpTimer(device, stack, owners)
                with timer:
                    run()
                device.synchronize()
                owners.active = False
                runs.append(timer.records())
        finally:
            for handle in handles:
                handle.remove()
        timed = _module_times(model, run, device, modules, repeat) if step is None else {}
        plain = interleaved({"run": Work(run, run)}, device, rounds=repeat,
                            statistic=sorted)["run"]
    if step is not None:  # a training step's batch norms moved their running statistics
        model.train(training)
        with torch.no_grad():
            for buffer, before in buffers:
                buffer.copy_(before)
    return Measurement(_median_ops(runs), statistics.median(plain), best_of(plain), timed)


def _module_times(model: nn.Module, run: Callable[[], object], device: Device,
                  paths: Collection[str], repeat: int) -> dict[str, float]:
    """Per module of `paths`, its time per forward (its calls summed) over `repeat` forwards
    timed per module (see module_times), the best case over the forwards (timing.best_of,
    per module: a burst of other tenants' load lands on some modules of a forward and not on
    others); under "" the forward's. Nothing is timed without paths."""
    if not any(path for path in paths):
        return {}
    return best_per_module([module_times(model, run, device, paths) for _ in range(repeat)])


def module_times(model: nn.Module, run: Callable[[], object], device: Device,
                 paths: Collection[str]) -> dict[str, float]:
    """One forward (`run`) timed per module: per module of `paths`, its time (its calls
    summed) between marks on the device's timeline set in hooks before and after each of its
    calls, and under "" the whole forward's. The hooks are there for this forward only, so
    the model can be timed plainly between two such forwards."""
    wanted = {id(module): path for path, module in model.named_modules()
              if path and path in paths}
    timeline = device.timeline()
    opened: list[int] = []
    spans: list[tuple[str, int, int]] = []

    def enter(_module: nn.Module, _args: Any) -> None:
        opened.append(timeline.mark())

    def leave(module: nn.Module, _args: Any, _out: Any) -> None:
        spans.append((wanted[id(module)], opened.pop(), timeline.mark()))

    modules = [module for module in model.modules() if id(module) in wanted]
    handles = [module.register_forward_pre_hook(enter) for module in modules]
    handles += [module.register_forward_hook(leave) for module in modules]
    try:
        start = timeline.mark()
        run()
        end = timeline.mark()
        device.synchronize()
    finally:
        for handle in handles:
            handle.remove()
    times = dict.fromkeys(wanted.values(), 0.0)
    for path, first, last in spans:
        times[path] += timeline.seconds(first, last)
    times[""] = timeline.seconds(start, end)
    return times


def best_per_module(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    """Per module, its best case (timing.best_of) over forwards timed per module
    (module_times)."""
    return {path: best_of([times[path] for times in runs]) for path in runs[0]}


def _training_step(model: nn.Module, forward: Callable[[], object], step: TrainStep,
                   owners: _Owners) -> Callable[[], object]:
    """One training step of the real model, its gradients dropped first, as a loop would; the
    optimizer's learning rate is 0, so that the weights stay as they are over the runs (its
    ops are the same)."""
    model.train()
    parameters = [(path, p) for path, p in model.named_parameters() if p.requires_grad]
    optimizer = make_optimizer(step.optimizer, [p for _, p in parameters], learning_rate=0.0) \
        if step.optimizer else None

    def run() -> object:
        for _, parameter in parameters:
            parameter.grad = None
        loss = loss_of(step, forward())
        loss.backward()
        if optimizer is not None:
            optimizer.step()
            if not owners.tensors:  # once, after the (untimed) first step made the state
                _own(owners, parameters, optimizer)
        return loss

    return run


def _own(owners: _Owners, parameters: list[tuple[str, torch.Tensor]],
         optimizer: torch.optim.Optimizer) -> None:
    """Each parameter and its optimizer state belong to the module owning the parameter."""
    for path, parameter in parameters:
        module = path.rpartition(".")[0]
        owners.tensors[id(parameter)] = module
        for value in optimizer.state.get(parameter, {}).values():
            if isinstance(value, torch.Tensor):
                owners.tensors[id(value)] = module


def _median_ops(runs: list[list[tuple[str, str, float]]]) -> tuple[TimedOp, ...]:
    """Per position, the median over runs; runs whose op sequence differs from the first (data-
    dependent control flow) are left out rather than mixed."""
    first = [(module, op) for module, op, _ in runs[0]]
    same = [run for run in runs if [(m, o) for m, o, _ in run] == first]
    return tuple(TimedOp(module, op, statistics.median(run[i][2] for run in same))
                 for i, (module, op) in enumerate(first))
