"""How well costlens predicts the latency of the example networks, against FLOPs alone.

Run ``python benchmarks/bench_latency.py`` (``--rounds N``, default 25; ``--save-profile FILE``
keeps the fitted profile; ``--profile FILE`` skips calibrating and uses that one). It builds
``costlens calibrate``'s workloads for this machine at one thread (none of them is one of these
networks) and times them in the same interleaved rounds as the real forward of every example
network and of every row of the paper's Tables 1-4 (CPU widths), at batch 1, eval, no_grad:
each round times every workload once, and each figure is the fastest of the rounds, as
calibration's own are. This machine's speed drifts by tens of percent over seconds, so only
workloads timed side by side see the same machine. A network's forward is timed straight after
an untimed one (its steady state). The profile is fitted on the calibration workloads alone,
and the estimate (a roofline per op on it; nothing fitted to these networks) is set beside the
measurement. FLOPs alone get the best single scale (seconds per FLOP chosen to minimise their
median error after the fact), which flatters them.

Targets: the estimate's median absolute error <= 10%, every network within 25%, Spearman rank
correlation >= 0.95, better than FLOPs alone on each of the three figures, and for each of
Tables 1-4 the speed ratio of the paper's best row over its worst predicted within 15%. Exits 0
when all hold, 1 otherwise. Trust medians over runs, and rerun when a figure sits at its limit.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent

from costlens.examples import (  # noqa: E402
    convnext,
    densenet,
    efficient,
    gpt,
    hybrid,
    inception,
    llama,
    mobilenet_v2,
    regnet,
    resnet,
    shufflenet_v1,
    shufflenet_v2,
    swin,
    vgg,
)

from costlens import analyze  # noqa: E402
from costlens.latency import estimate, load_profile  # noqa: E402
from costlens.measure.calibrate import Plan  # noqa: E402
from costlens.measure.device import CPU  # noqa: E402
from costlens.measure.guidelines import GUIDELINES, experiments  # noqa: E402
from costlens.measure.stats import best_scale, relative_errors, spearman  # noqa: E402
from costlens.measure.timing import Work, interleaved, threads  # noqa: E402

Factory = Callable[[], tuple[torch.nn.Module, torch.Tensor]]

NETWORKS: dict[str, Factory] = {
    "ShuffleNet v2 0.5x": lambda: shufflenet_v2.shufflenet_v2(width=0.5),
    "ShuffleNet v2 1x": lambda: shufflenet_v2.shufflenet_v2(width=1.0),
    "ShuffleNet v2 1.5x": lambda: shufflenet_v2.shufflenet_v2(width=1.5),
    "ShuffleNet v2 2x": lambda: shufflenet_v2.shufflenet_v2(width=2.0),
    "ShuffleNet v1 1x g3": shufflenet_v1.shufflenet_v1,
    "MobileNet v2": mobilenet_v2.mobilenet_v2,
    "ResNet-50": resnet.resnet50,
    "ResNeXt-50 32x4d": resnet.resnext50_32x4d,
    "Inception-style": inception.inception_net,
    "RegNetY-400MF": regnet.regnet_y_400mf,
    "EfficientNet-B0": efficient.efficientnet_b0,
    "DenseNet-121": densenet.densenet121,
    "VGG-11": vgg.vgg11,
    "ConvNeXt-T": convnext.convnext_t,
    "Swin-T": swin.swin_t,
    "Conv-attention hybrid (CoAtNet-0-like)": hybrid.conv_attention_hybrid,
    "GPT (4 layers, 256 wide, seq 128)": gpt.gpt,
    "Llama tiny (seq 256)": lambda: _tokens_only(llama.llama(size="tiny", seq=256,
                                                             device="cpu", cache=False)),
}

MEDIAN_LIMIT, EACH_LIMIT, SPEARMAN_LEAST, GUIDELINE_LIMIT = 0.10, 0.25, 0.95, 0.15


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", help="a profile to use instead of calibrating now")
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--save-profile", metavar="FILE", help="write the fitted profile here")
    options = parser.parse_args()
    torch.manual_seed(0)
    cpu = CPU()
    with threads(1), torch.no_grad():
        built = {name: factory() for name, factory in NETWORKS.items()}
        rows = experiments(cpu.paper_platform)
        built.update({label: factory() for _, label, _, factory in rows})
        analyses = {name: analyze(model, x) for name, (model, x) in built.items()}
        works = {name: _forward(model.eval(), x) for name, (model, x) in built.items()}
        started = time.perf_counter()
        if options.profile:
            profile = load_profile(options.profile)
            measured = interleaved(works, cpu, rounds=options.rounds)
        else:
            plan = Plan(cpu)
            if set(plan.works) & set(works):
                raise SystemExit("a network has the name of a calibration workload")
            seconds = interleaved({**plan.works, **works}, cpu, rounds=options.rounds,
                                  sizes=plan.sizes)
            profile = plan.fit(seconds)
            measured = {name: seconds[name] for name in works}
        print(f"{'measured' if options.profile else 'calibrated and measured'} in "
              f"{time.perf_counter() - started:.0f} s ({profile.device_name}, 1 thread)")
    if options.save_profile:
        Path(options.save_profile).write_text(profile.to_json(), encoding="utf-8")
    estimates = {name: estimate(analyses[name], profile).seconds for name in built}
    guideline_errors = _guidelines(rows, measured, estimates)
    names = list(NETWORKS)
    flops = [analyses[name].totals.flops for name in names]
    times = [measured[name] for name in names]
    predicted = [estimates[name] for name in names]
    scale = best_scale(flops, times)
    by_flops = [scale * f for f in flops]
    rows = [[name, f"{f / 1e6:,.0f}", f"{m * 1e3:.2f}", f"{e * 1e3:.2f}",
             f"{100 * (e / m - 1):+.1f}%", f"{s * 1e3:.2f}", f"{100 * (s / m - 1):+.1f}%"]
            for name, f, m, e, s in zip(names, flops, times, predicted, by_flops)]
    print(tabulate(rows, headers=["network (batch 1, 1 thread)", "MFLOPs", "measured ms",
                                  "estimate ms", "error", "FLOPs-only ms", "error"],
                   disable_numparse=True))
    figures = {"estimate": _figures(predicted, times), "FLOPs alone": _figures(by_flops, times)}
    print()
    print(tabulate([[label, f"{100 * f[0]:.1f}%", f"{100 * f[1]:.1f}%", f"{f[2]:.3f}"]
                    for label, f in figures.items()],
                   headers=["predictor", "median |error|", "worst |error|", "Spearman"],
                   disable_numparse=True))
    est, fl = figures["estimate"], figures["FLOPs alone"]
    checks = {
        f"estimate median |error| <= {MEDIAN_LIMIT:.0%}": est[0] <= MEDIAN_LIMIT,
        f"every network within {EACH_LIMIT:.0%}": est[1] <= EACH_LIMIT,
        f"Spearman >= {SPEARMAN_LEAST}": est[2] >= SPEARMAN_LEAST,
        "beats FLOPs alone on all three": est[0] < fl[0] and est[1] < fl[1] and est[2] > fl[2],
        f"guideline best/worst ratios within {GUIDELINE_LIMIT:.0%}":
            max(abs(e) for e in guideline_errors) <= GUIDELINE_LIMIT,
    }
    print()
    for label, held in checks.items():
        print(f"{'ok  ' if held else 'FAIL'} {label}")
    return 0 if all(checks.values()) else 1


def _guidelines(rows: list, measured: dict[str, float], estimates: dict[str, float]
                ) -> list[float]:
    """Print, per guideline table, the speed ratio of the paper's best row over its worst,
    measured and estimated; return the estimate's relative errors."""
    lines, errors = [], []
    for guideline in GUIDELINES:
        members = [(label, paper) for g, label, paper, _ in rows if g == guideline]
        best = max(members, key=lambda member: member[1])[0]
        worst = min(members, key=lambda member: member[1])[0]
        real = measured[worst] / measured[best]
        predicted = estimates[worst] / estimates[best]
        errors.append(predicted / real - 1)
        lines.append([guideline, best, worst, f"{real:.2f}x", f"{predicted:.2f}x",
                      f"{100 * errors[-1]:+.1f}%"])
    print(tabulate(lines, headers=["guideline", "paper's best row", "paper's worst row",
                                   "measured ratio", "estimated ratio", "error"],
                   disable_numparse=True))
    print()
    return errors


def _tokens_only(built: tuple) -> tuple[torch.nn.Module, torch.Tensor]:
    """The model and its token ids: the plain forward, as calibrated."""
    model, (tokens,), _ = built
    return model, tokens


def _forward(model: torch.nn.Module, x: torch.Tensor) -> Work:
    """A network's forward, timed straight after an untimed one: its steady state."""
    def forward() -> object:
        return model(x)
    return Work(forward, forward)


def _figures(predicted: list[float], measured: list[float]) -> tuple[float, float, float]:
    errors = [abs(e) for e in relative_errors(predicted, measured)]
    return statistics.median(errors), max(errors), spearman(predicted, measured)


if __name__ == "__main__":
    sys.exit(main())
