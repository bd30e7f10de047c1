"""How much longer a network's convolutions take inside its forward than the same layers
called one by one, as calibration times them (docs/latency.md, "How well it predicts").

    python benchmarks/bench_conv_context.py [--width 1.0] [--rounds 30]

Each round runs one forward of ShuffleNet v2 (batch 1, one thread, freed memory kept, eval,
no_grad), timing every Conv2d call inside it (each conv is wrapped in a module that reads the
clock around the call: forward hooks would add the hooks' own dispatch, about 15 us a call
here, to every figure), and then calls copies of the same layers one by one in a shuffled order
on copies of the inputs they got in the network: first with each input rewritten just before
its layer, as calibration's cold workloads are, then with each input written by a batch norm
and ReLU first. The figures are each layer's fastest of the rounds, summed per kind of conv.
Measures only; no target.
"""
from __future__ import annotations

import argparse
import copy
import random
import time
from collections import defaultdict
from typing import Callable

import torch
from costlens.examples import shufflenet_v2
from tabulate import tabulate
from torch import nn

from costlens.measure.timing import keep_freed_memory

CONTEXTS = ("inside the network", "alone, input rewritten", "alone, after BN + ReLU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=30)
    options = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model, x = shufflenet_v2.shufflenet_v2(width=options.width)
    model.eval()
    convs = {name: module for name, module in model.named_modules()
             if isinstance(module, nn.Conv2d)}
    times: dict[str, dict[str, list[float]]] = {context: defaultdict(list)
                                                for context in CONTEXTS}
    inputs = _wrap(model, convs, times[CONTEXTS[0]])
    with torch.no_grad():
        model(x)
        alone = [(name, copy.deepcopy(convs[name]), inputs[name].clone(),
                  nn.BatchNorm2d(inputs[name].shape[1]).eval()) for name in convs]
        times[CONTEXTS[0]].clear()
        shuffler = random.Random(0)
        for _ in range(options.rounds):
            model(x)
            shuffler.shuffle(alone)
            for name, layer, tensor, _ in alone:
                tensor.mul_(1.0)
                times[CONTEXTS[1]][name].append(_time(lambda: layer(tensor)))
            shuffler.shuffle(alone)
            for name, layer, tensor, norm in alone:
                written = torch.relu_(norm(tensor))
                times[CONTEXTS[2]][name].append(_time(lambda: layer(written)))
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for name, module in convs.items():
        for context in CONTEXTS:
            totals[_kind(module)][context] += min(times[context][name])
    rows = [[kind, sum(1 for m in convs.values() if _kind(m) == kind),
             *(f"{1e3 * totals[kind][context]:.3f}" for context in CONTEXTS),
             *(f"x{totals[kind][CONTEXTS[0]] / totals[kind][context]:.2f}"
               for context in CONTEXTS[1:])]
            for kind in sorted(totals)]
    print(f"ShuffleNet v2 {options.width}x, batch 1, 1 thread, fastest of {options.rounds} rounds")
    print(tabulate(rows, headers=["conv", "layers", *(f"{c} ms" for c in CONTEXTS),
                                  "network / rewritten", "network / after BN"],
                   disable_numparse=True))


class _Timed(nn.Module):
    """A conv that reads the clock around its own call, as `_time` does for the copies."""

    def __init__(self, conv: nn.Conv2d, name: str, times: dict[str, list[float]],
                 inputs: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.conv, self.name, self.times, self.inputs = conv, name, times, inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs[self.name] = x
        start = time.perf_counter()
        out = self.conv(x)
        self.times[self.name].append(time.perf_counter() - start)
        return out


def _wrap(model: nn.Module, convs: dict[str, nn.Conv2d], times: dict[str, list[float]]
          ) -> dict[str, torch.Tensor]:
    """Put every conv of `model` inside a _Timed; the inputs each last got, filled in as the
    model runs."""
    inputs: dict[str, torch.Tensor] = {}
    for name, conv in convs.items():
        parent, _, attribute = name.rpartition(".")
        setattr(model.get_submodule(parent), attribute, _Timed(conv, name, times, inputs))
    return inputs


def _time(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _kind(conv: nn.Conv2d) -> str:
    if conv.groups > 1 and conv.groups == conv.in_channels:
        return "depthwise"
    return "1x1" if conv.kernel_size == (1, 1) else "dense"


if __name__ == "__main__":
    main()
