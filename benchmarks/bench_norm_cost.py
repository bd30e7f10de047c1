"""What a network's batch norms cost inside its forward, measured without instrumentation,
beside the estimate's figure with and without the kernel-reuse rule (latency/coldness.py).

Run ``python benchmarks/bench_norm_cost.py --platform PROFILE`` (a profile of this machine, at
``--threads N``, default 1). Per network, its forward and the same forward with every
BatchNorm2d replaced by nn.Identity are timed in the same interleaved rounds (timing.interleaved:
each the lower quartile of 25, straight after an untimed call); their difference is what the batch
norms cost where they stand. Per-op timing cannot say this: the instrumentation between ops
changes how warm each kernel finds the core.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from pathlib import Path

import torch
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_latency import NETWORKS, _built, _forward  # noqa: E402

from costlens import analyze  # noqa: E402
from costlens.latency import estimate, load_profile  # noqa: E402
from costlens.latency.classes import KernelClass  # noqa: E402
from costlens.measure.device import CPU  # noqa: E402
from costlens.measure.timing import interleaved, threads  # noqa: E402

#: networks whose batch norms take a share of the forward well above its run-to-run noise
WITH_NORMS = ("MobileNet v2", "ShuffleNet v2 1x", "EfficientNet-B0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", required=True, help="a profile of this machine")
    parser.add_argument("--threads", type=int, default=1, metavar="N")
    options = parser.parse_args()
    profile = load_profile(options.platform)
    without_rule = dataclasses.replace(profile, last_level_cache_bytes=None)
    torch.manual_seed(0)
    rows = []
    with threads(options.threads), torch.no_grad():
        built = {name: _built(NETWORKS[name]) for name in WITH_NORMS}
        works = {}
        for name, (model, inputs) in built.items():
            works[name] = _forward(model, inputs)
            works[f"{name} without norms"] = _forward(_without_norms(model), inputs)
        best = interleaved(works, CPU())
        for name, (model, inputs) in built.items():
            analysis = analyze(model, inputs)
            measured = best[name] - best[f"{name} without norms"]
            estimated = [sum(op.seconds for op in estimate(analysis, p, typical=False).ops
                             if op.kernel_class is KernelClass.NORMALIZATION)
                         for p in (profile, without_rule)]
            rows.append((name, f"{1e3 * best[name]:.2f}", f"{1e3 * measured:.2f}",
                         *(f"{1e3 * e:.2f} ({100 * (e / measured - 1):+.0f}%)"
                           for e in estimated)))
    print(f"{profile.name}, {options.threads} thread(s); batch norms' time in ms")
    print(tabulate(rows, headers=("network", "forward", "batch norms", "estimated",
                                  "without the reuse rule")))


def _without_norms(model: torch.nn.Module) -> torch.nn.Module:
    bare = copy.deepcopy(model)
    for module in list(bare.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.BatchNorm2d):
                setattr(module, name, torch.nn.Identity())
    return bare


if __name__ == "__main__":
    main()
