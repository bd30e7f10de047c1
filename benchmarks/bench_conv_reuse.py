"""How cold a conv runs, with its weights cold, when a conv of the same shapes has just run,
and how much faster a conv shape's repeats run than its first run inside a network: the
measurements behind costlens/latency/coldness.py's split of a conv's cold excess.

Run ``python benchmarks/bench_conv_reuse.py`` (``--threads N``, default 1). Per conv shape (of
ShuffleNet v1 and v2, MobileNet v2 and ResNet-50), 30 copies with their own weights; in each of
25 rounds: its time straight after a 128 MB copy (cold: weights and kernel), straight after a
call of itself (warm), and, after another 128 MB copy, the time of a second copy called after
the first and a batch norm between (its weights as cold as the first's, its kernel just run).
Figures are the lower quartile of the rounds. It prints the share of the cold excess over the
warm time that is left once the kernel has run (0: warm, 1: cold) beside the share
costlens's split leaves to the weights (their bytes at this machine's copy bandwidth over the
excess).

Then, inside ShuffleNet v1 and v2 (examples/), every conv is timed per module (a mark before and
after it in hooks, nothing between its ops) in 25 forwards: per conv shape that runs three times
or more, the lower quartile of its first run beside the median over its repeats of theirs. A
conv of the same shapes a block earlier, with a dozen other ops and a few MB between, is what a
network's repeated blocks give a conv, not one straight before it. Last, the same per conv
shape in the rows of the paper's Table 4 (the same convs, with and without ReLUs and shortcut
adds), beside the bytes each forward writes and holds at its peak: whether what the
element-wise ops add to the traffic between two runs of a conv slows it.
"""
from __future__ import annotations

import functools
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
from micro import start
from tabulate import tabulate
from torch import nn

from costlens import analyze
from costlens.latency.coldness import working_set_bytes
from costlens.measure.device import CPU
from costlens.measure.guidelines import experiments
from costlens.measure.timing import best_of, threads
from costlens.tracing.inputs import Inputs
from costlens.tracing.load import load, model_inputs

ROUNDS, COPIES = 25, 30
COPY_ELEMENTS = 1 << 25  # 128 MB of float32

CASES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "ShuffleNet v2 1x1 116 @14": (lambda: nn.Conv2d(116, 116, 1, bias=False), (1, 116, 14, 14)),
    "ShuffleNet v2 1x1 58 @28": (lambda: nn.Conv2d(58, 58, 1, bias=False), (1, 58, 28, 28)),
    "ShuffleNet v2 depthwise 116 @14": (
        lambda: nn.Conv2d(116, 116, 3, padding=1, groups=116, bias=False), (1, 116, 14, 14)),
    "ShuffleNet v1 1x1 g3 120->480 @14": (
        lambda: nn.Conv2d(120, 480, 1, groups=3, bias=False), (1, 120, 14, 14)),
    "ShuffleNet v1 1x1 g3 480->120 @14": (
        lambda: nn.Conv2d(480, 120, 1, groups=3, bias=False), (1, 480, 14, 14)),
    "MobileNet v2 1x1 96->576 @14": (lambda: nn.Conv2d(96, 576, 1, bias=False), (1, 96, 14, 14)),
    "ResNet-50 1x1 1024->256 @14": (
        lambda: nn.Conv2d(1024, 256, 1, bias=False), (1, 1024, 14, 14)),
}


def main() -> None:
    thread_count = start(__doc__)
    source, target = torch.ones(COPY_ELEMENTS), torch.empty(COPY_ELEMENTS)
    between, between_input = nn.BatchNorm2d(64).eval(), torch.randn(1, 64, 28, 28)
    rows = []
    with threads(thread_count), torch.no_grad():
        target.copy_(source)  # once untimed: its pages are faulted in
        started = time.perf_counter()
        target.copy_(source)
        bandwidth = 2 * COPY_ELEMENTS * 4 / (time.perf_counter() - started)
        for name, (make, shape) in CASES.items():
            x = torch.randn(shape)
            layers = [make() for _ in range(COPIES)]
            cold, warm, reused = [], [], []
            for number in range(ROUNDS):
                first = layers[number % (COPIES // 2)]
                second = layers[COPIES // 2 + number % (COPIES // 2)]
                target.copy_(source)
                x.mul_(1.0)  # the input just written, as the op before leaves it
                cold.append(_timed(first, x))
                first(x)
                x.mul_(1.0)
                warm.append(_timed(first, x))
                target.copy_(source)
                x.mul_(1.0)
                first(x)
                between(between_input)
                x.mul_(1.0)
                reused.append(_timed(second, x))
            cold_s, warm_s, reused_s = (best_of(t) for t in (cold, warm, reused))
            weights = sum(p.numel() * p.element_size() for p in layers[0].parameters())
            excess = cold_s - warm_s
            rows.append([name, f"{1e6 * warm_s:.1f}", f"{1e6 * cold_s:.1f}",
                         f"{1e6 * reused_s:.1f}", f"{(reused_s - warm_s) / excess:.2f}",
                         f"{weights / 1e3:.0f}", f"{min(1.0, weights / bandwidth / excess):.2f}"])
    print(f"{thread_count} thread(s); copy bandwidth {bandwidth / 1e9:.1f} GB/s")
    print(tabulate(rows, headers=["conv", "warm us", "cold us", "kernel just run us",
                                  "excess left", "weights KB", "split's weight share"]))
    print()
    with threads(thread_count), torch.no_grad():
        repeats = [row for network in NETWORKS for row in _repeats(network)]
        rows4 = _g4_rows(CPU().paper_platform)
    print(tabulate(repeats, headers=["network", "conv shape (input, out, kernel, groups)",
                                     "runs", "first us", "repeats us", "repeats faster by"]))
    print()
    print(tabulate(rows4, headers=["paper's G4 row", "MB written (and weights)", "MB at peak"]
                   + [f"conv {number} us" for number in range(1, len(rows4[0]) - 2)]))


NETWORKS = {"ShuffleNet v1 1x g3": "shufflenet_v1.py:shufflenet_v1",
            "ShuffleNet v2 1x": "shufflenet_v2.py:shufflenet_v2(width=1.0)"}
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FORWARDS, LEAST_RUNS = 25, 3


def _repeats(network: str) -> list[list[object]]:
    """Per conv shape of the network that runs LEAST_RUNS times or more: its first run's time
    and its repeats' median."""
    loaded = load(NETWORKS[network], base=EXAMPLES)
    rows = []
    for shape, runs in _conv_times(loaded.model.eval(), model_inputs(loaded, [], None)).items():
        if len(runs) >= LEAST_RUNS:
            first, repeat = runs[0], statistics.median(runs[1:])
            rows.append([network, str(shape), len(runs), f"{1e6 * first:.1f}",
                         f"{1e6 * repeat:.1f}", f"{1 - repeat / first:.0%}"])
    return rows


def _g4_rows(platform: str) -> list[list[object]]:
    """Per row of the paper's Table 4 (the same convs, with and without ReLUs and shortcut
    adds): the bytes its forward writes and holds at its peak, and per conv shape the median
    time of its runs after the first (the first reads the input fresh)."""
    rows = []
    for guideline, label, _, factory in experiments(platform):
        if guideline != "G4":
            continue
        model, x = factory()
        analysis = analyze(model.eval(), x)
        times = _conv_times(model, Inputs((x,), {}))
        rows.append([label, f"{working_set_bytes(analysis) / 1e6:.1f}",
                     f"{analysis.totals.peak_bytes / 1e6:.1f}"]
                    + [f"{1e6 * statistics.median(runs[1:]):.1f}" for runs in times.values()])
    return rows


def _conv_times(model: nn.Module, inputs: Inputs) -> dict[tuple[object, ...], list[float]]:
    """Per conv shape (input, out channels, kernel, groups), the time of each of its convs in
    the order they run, each timed per module (a mark before and after it in hooks, nothing
    between its ops): the lower quartile of FORWARDS forwards."""
    convs = [(name, module) for name, module in model.named_modules()
             if isinstance(module, nn.Conv2d)]
    started: dict[str, float] = {}
    times: dict[str, list[float]] = {name: [] for name, _ in convs}
    shapes: dict[str, tuple[object, ...]] = {}
    for name, conv in convs:
        conv.register_forward_pre_hook(functools.partial(_mark, started, shapes, name))
        conv.register_forward_hook(functools.partial(_record, started, times, name))
    for _ in range(3):  # untimed: the steady state
        model(*inputs.args, **inputs.kwargs)
    for name in times:
        times[name].clear()
    for _ in range(FORWARDS):
        model(*inputs.args, **inputs.kwargs)
    by_shape: dict[tuple[object, ...], list[float]] = {}
    for name, _ in convs:  # in the order they run
        by_shape.setdefault(shapes[name], []).append(best_of(times[name]))
    return by_shape


def _mark(started: dict[str, float], shapes: dict[str, tuple[object, ...]], name: str,
          conv: nn.Conv2d, args: tuple[torch.Tensor, ...]) -> None:
    shapes[name] = (tuple(args[0].shape), conv.out_channels, conv.kernel_size, conv.groups)
    started[name] = time.perf_counter()


def _record(started: dict[str, float], times: dict[str, list[float]], name: str,
            conv: nn.Conv2d, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
    times[name].append(time.perf_counter() - started[name])


def _timed(layer: nn.Module, x: torch.Tensor) -> float:
    started = time.perf_counter()
    layer(x)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
