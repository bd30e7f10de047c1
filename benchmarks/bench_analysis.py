"""How fast, how lean and how exact costlens is, against hand counts and two other FLOP counters.

Run ``python benchmarks/bench_analysis.py`` (``--repeat N``, default 5; ``--quick`` for a smoke
run: one repeat, fewer models; fvcore comes with the test extra, ``pip install ".[test]"``). It
prints two tables and exits 0 when every target holds, 1 otherwise.

Table 1, Llama-2-70B at sequence 4096, batch 1, through the command line: the whole ``python -m
costlens report ... --format json`` command is run ``--repeat`` times as a child process. "wall" is
the median wall time of the command (interpreter start, imports and tracing included); "peak RSS"
is the largest peak resident set of any one run, read from ``os.wait4`` so it is that child's own
figure. Targets: < 30 s and < 2 GiB; for a training step of the same model (``--train-step``:
forward, loss and backward, without the KV cache), < 60 s and < 3 GiB, its backward matrix products
twice the forward's (each weight's gradient and its input's). The FLOP rows check the JSON report
against counts derived here from the config alone: the ``matmul`` ops must equal every linear
weight times tokens exactly, and the ``attention`` ops must equal the QK^T and AV products plus the
per-score scale, softmax and causal-mask ops that costlens/costs/attention.py documents. The
relative difference of costlens's total to ``hand_count_flops`` is what the element-wise work
(norms, RoPE, SiLU, residuals, softmax) adds on top of the classic hand count; it is reported, not
a target.

Table 2, analysis time of the CNN examples (batch 1, 224x224), in one process, tools side by
side: ``costlens.analyze``, fvcore's ``FlopCountAnalysis(...).total()`` and torch's
``FlopCounterMode``. Each time is the median of ``--repeat`` runs after one untimed warm-up run of
each tool, so one-time import and initialization costs are left out; they are measured
separately in the "cold start" lines, each tool in its own fresh process. costlens traces on the
meta device; fvcore (a JIT trace) and FlopCounterMode really run the model on the CPU. Target:
costlens no slower than fvcore on ResNet-50 (ratio <= 1.0). All FLOPs are multiply-adds.
FlopCounterMode counts 2 FLOPs per multiply-add, so its figure is halved. The tools count
different ops: costlens counts everything (element-wise, norm and pool ops too), fvcore by default
conv, matmul/linear, norms, upsampling and adaptive pooling (in these CNNs: conv, linear, batch
norm, adaptive pooling), FlopCounterMode only conv, matmul and attention. The
"conv+mm" columns compare like with like, and costlens's must equal fvcore's exactly.

Table 3, every example network (the factories that build one with their default arguments,
the paper's Table 1-4 networks, GPT, Llama and the Mixtral MoE included; bench_lint.ARGUMENTS
gives those whose defaults do not suit), one thread, each model built once:
``costlens.analyze`` beside ``FlopCounterMode`` on a real forward, each the fastest of at least
5 runs, the tools taking turns. Target: costlens no slower on any network (ratio <= 1).

The machine is shared and noisy: trust medians and ratios measured in the same run, not single
numbers.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import fvcore.nn
import torch
from costlens.examples.inception import inception_net
from costlens.examples.llama import CONFIGS, LlamaConfig, hand_count_flops
from costlens.examples.mobilenet_v2 import mobilenet_v2
from costlens.examples.resnet import resnet50, resnext50_32x4d
from costlens.examples.shufflenet_v1 import shufflenet_v1
from costlens.examples.shufflenet_v2 import shufflenet_v2_x1_0
from tabulate import tabulate
from torch.utils.flop_counter import FlopCounterMode

import costlens
from costlens.costs import Category
from costlens.measure.timing import threads
from costlens.tracing.load import load

ROOT = Path(__file__).resolve().parents[1]

# what fvcore and the published figures count: convolutions (depthwise too) and products
CONV_AND_MATMUL = (Category.CONV, Category.DEPTHWISE, Category.MATMUL)

LLAMA_SIZE, LLAMA_SEQ, LLAMA_BATCH = "70b", 4096, 1
LLAMA_TARGET = f"examples/llama.py:llama(size='{LLAMA_SIZE}', seq={LLAMA_SEQ})"
WALL_TARGET_S = 30.0
RSS_TARGET_GIB = 2.0
# a training step (forward, loss, backward) of the plain forward, as training runs it: no cache
STEP_TARGET = f"examples/llama.py:llama(size='{LLAMA_SIZE}', seq={LLAMA_SEQ}, cache=False)"
STEP_WALL_TARGET_S = 60.0
STEP_RSS_TARGET_GIB = 3.0
SPEED_TARGET_MODEL = "ResNet-50"
SPEED_TARGET_RATIO = 1.0

# Per query-key score, besides the two E-long dot products, costlens/costs/attention.py counts
# 1 op to scale the score, 5 for the softmax (max, subtract, exp, sum, divide: reduction.py) and
# 1 for the mask, which a causal SDPA has.
SCALE_OPS_PER_SCORE = 1
SOFTMAX_OPS_PER_SCORE = 5
CAUSAL_MASK_OPS_PER_SCORE = 1

ModelFactory = Callable[[], tuple[torch.nn.Module, torch.Tensor]]

CNN_MODELS: dict[str, ModelFactory] = {
    "ResNet-50": resnet50,
    "ShuffleNet v2 1x": shufflenet_v2_x1_0,
    "ShuffleNet v1": shufflenet_v1,
    "MobileNet v2": mobilenet_v2,
    "Inception": inception_net,
    "ResNeXt-50": resnext50_32x4d,
}
QUICK_CNN_MODELS = ("ResNet-50", "ShuffleNet v2 1x")

# fvcore's by_operator() names for dense products: convolutions and every matmul flavour.
FVCORE_CONV_AND_MM = ("conv", "linear", "addmm", "mm", "matmul", "bmm", "einsum")

# Each tool's first and second call on ResNet-50 in a fresh process, so the one-time cost that
# the in-process medians leave out is visible. Only torch, the tool and the model are imported
# beforehand; the child prints [first s, second s, modules imported by the first call].
COLD_START_CHILD = """
import json, sys, time
import torch
{setup}
from costlens.examples.resnet import resnet50
model, x = resnet50()
modules_before = len(sys.modules)
times = []
for _ in range(2):
    start = time.perf_counter()
    {call}
    times.append(time.perf_counter() - start)
    if len(times) == 1:
        first_call_imports = len(sys.modules) - modules_before
print(json.dumps(times + [first_call_imports]))
"""
COLD_START_TOOLS: dict[str, tuple[str, str]] = {
    "costlens": ("import costlens", "costlens.analyze(model, x)"),
    "fvcore": ("import fvcore.nn",
               "fvcore.nn.FlopCountAnalysis(model, x).unsupported_ops_warnings(False)"
               ".uncalled_modules_warnings(False).total()"),
    "FlopCounterMode": ("from torch.utils.flop_counter import FlopCounterMode",
                        "with torch.no_grad(), FlopCounterMode(display=False) as m: model(x)"),
}


@dataclass(frozen=True)
class Check:
    """One target: what was measured, against what, and whether it held."""

    name: str
    value: str
    target: str
    ok: bool


@dataclass(frozen=True)
class CliRun:
    """Wall time and peak memory of one `costlens report` child process."""

    wall_s: float
    peak_rss_kib: int


def run_cli_once(output: Path, target: str = LLAMA_TARGET, *options: str) -> CliRun:
    """Run the 70B report once as a child and measure it alone.

    `os.wait4` returns that child's own rusage, whereas RUSAGE_CHILDREN would be the maximum
    over every child reaped so far; ru_maxrss is in KiB on Linux.
    """
    command = [sys.executable, "-m", "costlens", "report", target, *options,
               "--format", "json", "-o", str(output)]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if process.returncode != 0:
        raise SystemExit(f"costlens report exited {process.returncode}: {' '.join(command)}")
    return CliRun(wall, usage.ru_maxrss)


def linear_flops(config: LlamaConfig, tokens: int) -> int:
    """Every linear weight times tokens: wq/wk/wv/wo and w1/w2/w3 of every layer plus the LM
    head. Counted from the config, independently of `hand_count_flops`, since it is the
    reference the matmul ops must hit exactly."""
    q_dim = config.heads * config.head_dim
    kv_dim = config.kv_heads * config.head_dim
    attention_weights = config.dim * q_dim + 2 * config.dim * kv_dim + q_dim * config.dim
    mlp_weights = 3 * config.dim * config.ffn_dim
    head_weights = config.dim * config.vocab
    return tokens * (config.layers * (attention_weights + mlp_weights) + head_weights)


def attention_scores(config: LlamaConfig, seq: int, batch: int) -> int:
    """Query-key scores over the whole model; GQA repeats k/v, so every query head has its
    own full seq x seq square."""
    return config.layers * batch * config.heads * seq * seq


def flops_by_category(report: dict) -> dict[str, int]:
    """Sum the JSON report's per-op FLOPs by category (rather than trusting its totals)."""
    sums: dict[str, int] = {}
    for op in report["ops"]:
        sums[op["category"]] = sums.get(op["category"], 0) + op["flops"]
    return sums


def llama_table(repeat: int) -> tuple[str, list[Check]]:
    """Time the 70B report `repeat` times and check its FLOPs against the config."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "llama70b.json"
        runs = [run_cli_once(output) for _ in range(repeat)]
        report = json.loads(output.read_text(encoding="utf-8"))
        step_runs = [run_cli_once(output, STEP_TARGET, "--train-step") for _ in range(repeat)]
        step = json.loads(output.read_text(encoding="utf-8"))

    config = CONFIGS[LLAMA_SIZE]
    tokens = LLAMA_BATCH * LLAMA_SEQ
    scores = attention_scores(config, LLAMA_SEQ, LLAMA_BATCH)
    products = 2 * scores * config.head_dim
    per_score = SCALE_OPS_PER_SCORE + SOFTMAX_OPS_PER_SCORE + CAUSAL_MASK_OPS_PER_SCORE
    linear = linear_flops(config, tokens)
    hand = hand_count_flops(config, LLAMA_SEQ, LLAMA_BATCH)
    by_category = flops_by_category(report)
    matmul, attention = by_category.get("matmul", 0), by_category.get("attention", 0)
    costlens_products = matmul + attention - per_score * scores
    total = report["totals"]["flops"]

    wall = statistics.median(run.wall_s for run in runs)
    peak_gib = max(run.peak_rss_kib for run in runs) / 2**20
    checks = [
        Check(f"wall, median of {repeat}", f"{wall:.2f} s", f"< {WALL_TARGET_S:g} s",
              wall < WALL_TARGET_S),
        Check(f"peak RSS, max of {repeat}", f"{peak_gib:.3f} GiB", f"< {RSS_TARGET_GIB:g} GiB",
              peak_gib < RSS_TARGET_GIB),
        Check("matmul ops", f"{matmul:,}", f"= linear weights x tokens {linear:,}",
              matmul == linear),
        Check("attention ops", f"{attention:,}",
              f"= products {products:,} + {per_score} x {scores:,} scores",
              attention == products + per_score * scores),
        Check("hand_count_flops", f"{hand:,}", "= linear + attention products",
              hand == linear + products),
        Check("costlens matmul + attention products", f"{costlens_products:,}",
              "= hand count", costlens_products == hand),
    ]
    step_wall = statistics.median(run.wall_s for run in step_runs)
    step_gib = max(run.peak_rss_kib for run in step_runs) / 2**20
    backward_matmul = sum(op["flops"] for op in step["ops"]
                          if op["phase"] == "backward" and op["category"] == "matmul")
    checks += [
        Check(f"training step: wall, median of {repeat}", f"{step_wall:.2f} s",
              f"< {STEP_WALL_TARGET_S:g} s", step_wall < STEP_WALL_TARGET_S),
        Check(f"training step: peak RSS, max of {repeat}", f"{step_gib:.3f} GiB",
              f"< {STEP_RSS_TARGET_GIB:g} GiB", step_gib < STEP_RSS_TARGET_GIB),
        Check("training step: backward matmul ops", f"{backward_matmul:,}",
              f"= 2 x linear weights x tokens {2 * linear:,}", backward_matmul == 2 * linear),
    ]
    rows = [(c.name, c.value, c.target, "ok" if c.ok else "FAIL") for c in checks]
    rows.append(("costlens total", f"{total:,}", f"{(total - hand) / hand:+.3%} vs hand count",
                 "info"))
    title = (f"1. Llama-2-{LLAMA_SIZE.upper()}, seq {LLAMA_SEQ}, batch {LLAMA_BATCH}: "
             f"`costlens report --format json` as a child process; FLOPs are multiply-adds")
    table = tabulate(rows, headers=("measure", "value", "target / expected", ""))
    return f"{title}\n{table}", checks


def run_costlens(model: torch.nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """costlens's total and its conv + matmul part (the ops fvcore's conv/linear count)."""
    analysis = costlens.analyze(model, x)
    dense = sum(op.flops for op in analysis.ops if op.category in CONV_AND_MATMUL)
    return analysis.totals.flops, dense


def run_fvcore(model: torch.nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """fvcore's default total and its conv + linear part; a fresh analysis object each call,
    since it caches its result."""
    analysis = (fvcore.nn.FlopCountAnalysis(model, x)
                .unsupported_ops_warnings(False).uncalled_modules_warnings(False))
    total = analysis.total()
    by_operator = analysis.by_operator()
    return total, sum(by_operator.get(name, 0) for name in FVCORE_CONV_AND_MM)


def run_flop_counter(model: torch.nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """FlopCounterMode's total, halved to multiply-adds; it counts only conv and matmul, so it
    is its own dense part."""
    with torch.no_grad(), FlopCounterMode(display=False) as mode:
        model(x)
    flops = mode.get_total_flops() // 2
    return flops, flops


TOOLS: dict[str, Callable[[torch.nn.Module, torch.Tensor], tuple[int, int]]] = {
    "costlens": run_costlens,
    "fvcore": run_fvcore,
    "FlopCounterMode": run_flop_counter,
}


def time_tools(model: torch.nn.Module, x: torch.Tensor, repeat: int
               ) -> dict[str, tuple[float, tuple[int, int]]]:
    """Median milliseconds and FLOPs of each tool on one model.

    One untimed warm-up call per tool first, so lazy imports and caches are not counted; the
    tools then take turns in each repeat, so a noisy moment on the shared cores hits all of them
    rather than one.
    """
    results = {name: tool(model, x) for name, tool in TOOLS.items()}
    times: dict[str, list[float]] = {name: [] for name in TOOLS}
    for _ in range(repeat):
        for name, tool in TOOLS.items():
            gc.collect()
            start = time.perf_counter()
            tool(model, x)
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: (statistics.median(times[name]), results[name]) for name in TOOLS}


def cold_start(tool: str, repeat: int) -> tuple[float, float, int]:
    """Median first and second call of `tool` on ResNet-50 in fresh processes, and how many
    modules the first call imported (torch loads much lazily on first use)."""
    setup, call = COLD_START_TOOLS[tool]
    code = COLD_START_CHILD.format(setup=setup, call=call)
    samples = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:  # not the checkout: `-c` puts the
            # working directory first on the path, and the checkout's costlens/ holds no
            # examples (they install as costlens.examples)
            done = subprocess.run([sys.executable, "-c", code, tool], cwd=folder,
                                  check=True, capture_output=True, text=True)
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first, second, imports = zip(*samples)
    return statistics.median(first), statistics.median(second), max(imports)


def giga(flops: int) -> str:
    """Multiply-adds in G, enough digits to see a difference of a few thousand."""
    return f"{flops / 1e9:.6f}"


def cnn_table(models: dict[str, ModelFactory], repeat: int) -> tuple[str, list[Check]]:
    """Time the three tools on each CNN and compare what they count."""
    rows = []
    checks = []
    for label, factory in models.items():
        model, x = factory()
        measured = time_tools(model, x, repeat)
        ms = {name: median for name, (median, _) in measured.items()}
        cl_total, cl_dense = measured["costlens"][1]
        fv_total, fv_dense = measured["fvcore"][1]
        fcm = measured["FlopCounterMode"][1][0]
        to_fvcore = ms["costlens"] / ms["fvcore"]
        to_fcm = ms["costlens"] / ms["FlopCounterMode"]
        rows.append((label, f"{ms['costlens']:.1f}", f"{ms['fvcore']:.1f}",
                     f"{ms['FlopCounterMode']:.1f}", f"{to_fvcore:.2f}", f"{to_fcm:.2f}",
                     giga(cl_total), giga(cl_dense), giga(fv_total), giga(fv_dense), giga(fcm),
                     "yes" if cl_dense == fv_dense else "NO"))
        checks.append(Check(f"{label}: costlens conv+mm FLOPs", f"{cl_dense:,}",
                            f"= fvcore conv+linear {fv_dense:,}", cl_dense == fv_dense))
        if label == SPEED_TARGET_MODEL:
            checks.append(Check(f"{label}: costlens/fvcore time", f"{to_fvcore:.2f}",
                                f"<= {SPEED_TARGET_RATIO:g}", to_fvcore <= SPEED_TARGET_RATIO))
    headers = ("model", "costlens\nms", "fvcore\nms", "FCM\nms", "costlens\n/fvcore",
               "costlens\n/FCM", "costlens\ntotal G", "costlens\nconv+mm G", "fvcore\ntotal G",
               "fvcore\nconv+lin G", "FCM/2\nG", "conv+mm\nequal")
    title = (f"2. Analysis time, batch 1, 224x224, in one process: median of {repeat} runs after "
             "one untimed warm-up run of each tool (import/initialization costs excluded).\n"
             "FLOPs in G multiply-adds; FCM = torch FlopCounterMode, which counts 2 per "
             "multiply-add, halved here.\ncostlens counts every op (element-wise, norm, pool "
             "too); fvcore conv/linear/batch-norm/adaptive-pool; FCM conv and matmul only.\n"
             f"Torch threads: {torch.get_num_threads()} on {os.cpu_count()} visible cores.")
    table = tabulate(rows, headers=headers, disable_numparse=True)
    return f"{title}\n{table}", checks


SMALL_NETWORK_REPEAT = 5
SMALL_NETWORK_TARGET_RATIO = 1.0


def example_networks() -> list[str]:
    """Every example factory that builds a network with its default arguments, as a TARGET
    (the ShuffleNet V2 widths but the default one, which only scale it, left out)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_lint import networks
    return [target for target in networks()
            if not any(width in target for width in ("x0_5", "x1_0", "x1_5", "x2_0"))]


def small_network_table(repeat: int) -> tuple[str, list[Check]]:
    """costlens.analyze beside FlopCounterMode on a real forward, on one thread, every example
    network built once; each the fastest of `repeat` runs, the two tools taking turns."""
    rows, checks = [], []
    with threads(1):
        for target in example_networks():
            loaded = load(target)
            model, inputs = loaded.model.eval(), loaded.inputs
            args, kwargs = tuple(inputs.args), dict(inputs.kwargs)

            def flop_counter() -> None:
                with torch.no_grad(), FlopCounterMode(display=False):
                    model(*args, **kwargs)

            def analysis() -> None:
                costlens.analyze(model, inputs)
            best = {"costlens": math.inf, "FlopCounterMode": math.inf}
            tools = {"costlens": analysis, "FlopCounterMode": flop_counter}
            for tool in tools.values():
                tool()  # warm-up
            for _ in range(max(repeat, SMALL_NETWORK_REPEAT)):
                for name, tool in tools.items():
                    gc.collect()
                    start = time.perf_counter()
                    tool()
                    best[name] = min(best[name], (time.perf_counter() - start) * 1e3)
            ratio = best["costlens"] / best["FlopCounterMode"]
            ops = len(costlens.analyze(model, inputs).ops)
            rows.append((target.removeprefix("examples/"), ops, f"{best['costlens']:.1f}",
                         f"{best['FlopCounterMode']:.1f}", f"{ratio:.2f}"))
            checks.append(Check(f"{target}: costlens/FlopCounterMode time", f"{ratio:.2f}",
                                f"<= {SMALL_NETWORK_TARGET_RATIO:g}",
                                ratio <= SMALL_NETWORK_TARGET_RATIO))
    title = (f"3. Every example network, 1 thread, each model built once: costlens.analyze "
             f"beside FlopCounterMode on a real forward, the fastest of "
             f"{max(repeat, SMALL_NETWORK_REPEAT)} runs each, taking turns. Target: costlens no "
             "slower on any (ratio <= 1).")
    table = tabulate(rows, headers=("network", "ops", "costlens ms", "FCM ms", "costlens/FCM"),
                     disable_numparse=True)
    return f"{title}\n{table}", checks


def cold_start_lines(repeat: int) -> str:
    """The first-call cost each tool pays once per process, which table 2 deliberately leaves
    out; it matters for one-shot use such as the command line."""
    lines = [f"Cold start, ResNet-50, each tool in its own fresh process after importing torch "
             f"and the tool (median of {repeat}):"]
    for tool in COLD_START_TOOLS:
        first, second, imports = cold_start(tool, repeat)
        lines.append(f"  {tool:<16} first call {first * 1e3:7.0f} ms, second {second * 1e3:6.0f}"
                     f" ms; the first call imported {imports} modules")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measure (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: repeat 1 and only " + ", ".join(QUICK_CNN_MODELS))
    options = parser.parse_args()
    repeat = 1 if options.quick else options.repeat
    if repeat < 1:
        parser.error("--repeat must be 1 or more")
    models = {name: CNN_MODELS[name] for name in QUICK_CNN_MODELS} if options.quick else CNN_MODELS

    start = time.perf_counter()
    llama_text, llama_checks = llama_table(repeat)
    print(llama_text, end="\n\n", flush=True)
    cnn_text, cnn_checks = cnn_table(models, repeat)
    print(cnn_text, end="\n\n", flush=True)
    small_text, small_checks = small_network_table(repeat)
    print(small_text, end="\n\n", flush=True)
    print(cold_start_lines(repeat), end="\n\n")

    failed = [check for check in llama_checks + cnn_checks + small_checks if not check.ok]
    for check in failed:
        print(f"FAIL {check.name}: {check.value}, expected {check.target}")
    print(f"{'All targets hold' if not failed else f'{len(failed)} target(s) missed'} "
          f"(benchmark took {time.perf_counter() - start:.0f} s).")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
