"""How cold a memory-bound op runs by how much the forward touched since its kernel last ran:
the measurement behind costlens/latency/coldness.py.

Run ``python benchmarks/bench_kernel_reuse.py`` (``--threads N``, default 1). Each op (a batch
norm, an out-of-place ReLU, an in-place add, a channel concatenation, a spatial mean, on
128x28x28 maps) is called, then k distinct 1x1 convs (128 to 128 channels, each writing a new
map, each followed by an in-place ReLU), then the same op again, timed. Each figure is the
fastest of 25 rounds, every round started after a 128 MB copy. Per op and k it prints the
coldness that time implies between the op's warm call (k = 0) and its call straight after a
128 MB copy (calibration's cold figure), and first the coldness costlens's rule gives for the
bytes written and read between the two calls against this machine's last-level cache.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
from micro import start
from tabulate import tabulate

from costlens.latency.coldness import kernel_coldness
from costlens.measure.device import CPU
from costlens.measure.timing import threads

CHANNELS, SIZE, ROUNDS = 128, 28, 25
BETWEEN = (0, 2, 8, 16, 32, 64)
COPY_ELEMENTS = 1 << 25  # 128 MB of float32


def main() -> None:
    thread_count = start(__doc__)
    source, target = torch.ones(COPY_ELEMENTS), torch.empty(COPY_ELEMENTS)
    convs = [torch.nn.Conv2d(CHANNELS, CHANNELS, 1, bias=False) for _ in range(max(BETWEEN))]
    x = torch.randn(1, CHANNELS, SIZE, SIZE)
    other = torch.randn_like(x)
    norm = torch.nn.BatchNorm2d(CHANNELS).eval()
    ops: dict[str, Callable[[torch.Tensor], object]] = {
        "batch norm": norm, "relu": torch.relu, "add_": lambda y: y.add_(other),
        "cat": lambda y: torch.cat([y, other], 1), "mean": lambda y: y.mean((2, 3))}
    touched = x.numel() * x.element_size() + convs[0].weight.numel() * 4  # per conv

    def fastest(op: Callable[[torch.Tensor], object], between: int,
                copy_before: bool = False) -> float:
        times = []
        for _ in range(ROUNDS):
            target.copy_(source)
            y = x.clone()
            op(y)
            for conv in convs[:between]:
                y = torch.relu_(conv(y))
            if copy_before:
                target.copy_(source)
                y.mul_(1.0)  # the input just written, as the op before leaves it
            started = time.perf_counter()
            op(y)
            times.append(time.perf_counter() - started)
        return min(times)

    last_level = CPU().last_level_cache_bytes()
    rows: list[list[object]] = [["costlens's rule", "", ""] + [
        f"{kernel_coldness(k * touched, last_level):.2f}" for k in BETWEEN]]
    with threads(thread_count), torch.no_grad():
        for name, op in ops.items():
            warm, cold = fastest(op, 0), fastest(op, 0, copy_before=True)
            rows.append([name, f"{1e6 * warm:.1f}", f"{1e6 * cold:.1f}"] + [
                f"{(fastest(op, k) - warm) / (cold - warm):.2f}" for k in BETWEEN])
    print(f"{thread_count} thread(s), maps {CHANNELS}x{SIZE}x{SIZE}; last-level cache "
          f"{(last_level or 0) / 2**20:.0f} MiB; each conv between writes and reads "
          f"{touched / 1e6:.2f} MB")
    print(tabulate(rows, headers=["coldness, k convs between", "warm us", "cold us"]
                   + [f"k={k} ({k * touched / 1e6:.0f} MB)" for k in BETWEEN]))


if __name__ == "__main__":
    main()
