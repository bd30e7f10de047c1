"""How close the latency estimate of a training step comes to a real one, on this machine.

    python benchmarks/bench_train_step.py [--repeat N] [--optimizer adam] [--platform NAME]

For each network: a real training step (train mode: forward, the sum of the outputs as the loss,
backward, the optimizer's update; gradients dropped before each step, as a loop does), timed as
`costlens bench --train-step` times it (median and lower quartile of --repeat uninstrumented runs,
after warm-up, one thread), beside the estimate of the same step on the platform profile (default:
the built-in epyc-cpu-1t, calibrated on this machine). The error is the estimate's, relative to the
best case (what calibration measures) and to the median. The profile holds no backward kernels: a
backward op is estimated with the rates of the forward kernel class of its kind (report/table.py
says so), which is what this measures. Nothing is a target: the README quotes the figures.
"""
from __future__ import annotations

import argparse
import statistics
import sys

import torch
from costlens.examples.gpt import gpt
from costlens.examples.inception import inception_net
from costlens.examples.llama import llama
from costlens.examples.mobilenet_v2 import mobilenet_v2
from costlens.examples.resnet import resnet50
from costlens.examples.shufflenet_v2 import shufflenet_v2
from tabulate import tabulate

import costlens
from costlens.latency import estimate, load_profile
from costlens.measure.device import device_for
from costlens.measure.op_times import measure
from costlens.measure.timing import threads
from costlens.tracing.inputs import Inputs
from costlens.tracing.step import TrainStep

NETWORKS = {
    "ResNet-50": resnet50, "MobileNet v2": mobilenet_v2, "ShuffleNet v2 1x": shufflenet_v2,
    "Inception": inception_net, "GPT": gpt, "Llama tiny": lambda: llama(size="tiny",
                                                                        cache=False),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--optimizer", default="adam", choices=("sgd", "adam", "adamw"))
    parser.add_argument("--platform", default="epyc-cpu-1t")
    options = parser.parse_args()
    profile = load_profile(options.platform)
    step = TrainStep(optimizer=options.optimizer)
    rows, errors = [], []
    with threads(1):
        for name, factory in NETWORKS.items():
            built = factory()
            model, args = built[0], built[1]
            kwargs = built[2] if len(built) > 2 else {}
            if any(p.is_meta for p in model.parameters()):
                model = model.to_empty(device="cpu")
                for parameter in model.parameters():
                    torch.nn.init.normal_(parameter, std=0.02)
            inputs = Inputs(args if isinstance(args, tuple) else (args,), kwargs)
            analysis = costlens.analyze(model, inputs, optimizer=options.optimizer)
            estimated = estimate(analysis, profile, typical=False).seconds
            real = Inputs(tuple(_real(t) for t in inputs.args), inputs.kwargs)
            measured = measure(model, real, device_for("cpu"), options.repeat, step=step)
            error = estimated / measured.best - 1
            errors.append(error)
            rows.append((name, f"{measured.best * 1e3:.1f}", f"{measured.seconds * 1e3:.1f}",
                         f"{estimated * 1e3:.1f}", f"{error:+.1%}",
                         f"{estimated / measured.seconds - 1:+.1%}"))
    print(f"Training steps ({options.optimizer}), batch as each example builds it, 1 thread, "
          f"estimated on {profile.name}; times in ms.")
    print(tabulate(rows, headers=("network", "best", "median", "estimated",
                                  "error (best)", "error (median)"),
                   disable_numparse=True, stralign="right", colalign=("left",)))
    print(f"Median absolute error against the best case: "
          f"{statistics.median(abs(e) for e in errors):.1%}.")
    return 0


def _real(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.dtype.is_floating_point:
        return torch.randn(tensor.shape)
    return torch.randint(0, 10, tensor.shape)


if __name__ == "__main__":
    sys.exit(main())
