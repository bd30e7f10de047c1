"""How cold a conv runs, with its weights cold, when a conv of the same shapes has just run:
the measurement behind the kernel share of costlens/latency/coldness.py's split.

Run ``python benchmarks/bench_conv_reuse.py`` (``--threads N``, default 1). Per conv shape (of
ShuffleNet v1 and v2, MobileNet v2 and ResNet-50), 30 copies with their own weights; in each of
25 rounds: its time straight after a 128 MB copy (cold: weights and kernel), straight after a
call of itself (warm), and, after another 128 MB copy, the time of a second copy called after
the first and a batch norm between (its weights as cold as the first's, its kernel just run).
Figures are the lower quartile of the rounds. It prints the share of the cold excess over the
warm time that is left once the kernel has run (0: warm, 1: cold) beside the share
costlens's split leaves to the weights (their bytes at this machine's copy bandwidth over the
excess).
"""
from __future__ import annotations

import time
from typing import Callable

import torch
from micro import start
from tabulate import tabulate
from torch import nn

from costlens.measure.timing import threads

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
            cold_s, warm_s, reused_s = (_lower_quartile(t) for t in (cold, warm, reused))
            weights = sum(p.numel() * p.element_size() for p in layers[0].parameters())
            excess = cold_s - warm_s
            rows.append([name, f"{1e6 * warm_s:.1f}", f"{1e6 * cold_s:.1f}",
                         f"{1e6 * reused_s:.1f}", f"{(reused_s - warm_s) / excess:.2f}",
                         f"{weights / 1e3:.0f}", f"{min(1.0, weights / bandwidth / excess):.2f}"])
    print(f"{thread_count} thread(s); copy bandwidth {bandwidth / 1e9:.1f} GB/s")
    print(tabulate(rows, headers=["conv", "warm us", "cold us", "kernel just run us",
                                  "excess left", "weights KB", "split's weight share"]))


def _timed(layer: nn.Module, x: torch.Tensor) -> float:
    started = time.perf_counter()
    layer(x)
    return time.perf_counter() - started


def _lower_quartile(times: list[float]) -> float:
    return sorted(times)[len(times) // 4]


if __name__ == "__main__":
    main()
