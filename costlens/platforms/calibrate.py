"""`costlens calibrate`: measure a device and fit the parameters of a platform profile.

Each kernel class is timed as a network runs it: nn layers (or small modules for bare tensor
operations) over a range of shapes taken from the example networks, each layer after a write
over the whole cache (its weights come from memory), a fresh write of its input (which the op
before it just produced) and a few tiny layers of other kinds (whose code displaced its own);
see _prepare.
Each sample's FLOPs, MAC bytes and parallelism come from costlens's own trace of the layer, so
the estimate reads the figures the fit was made on. Per class a grid search finds the FLOP
rate and byte rate that minimise the squared log error of the predicted layer times: relative
error is what matters for times that span four decades. The fixed cost per op comes from tiny
layers, warm and in a mixed stream (see Plan), the memory bandwidth from a streaming copy.
"""
from __future__ import annotations

import dataclasses
import datetime
import itertools
import math
import random
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..api import analyze
from .classes import VIEW, kernel_class
from .profile import KERNEL_CLASSES, ClassRate, Profile, Sample
from .timing import check_device, device_name, interleaved_medians, synchronizer, threads

COPIES = 8  # distinct layers per shape in the warm workload
GPU_BATCH = 32  # a GPU also runs every case at this batch: at 1 its kernels barely fill it


@dataclass(frozen=True)
class Case:
    """One shape of one kernel class: a layer factory and the input it runs on."""

    kernel_class: str
    label: str
    layer: Callable[[], nn.Module]
    inputs: Callable[[], tuple[torch.Tensor, ...]]


class _Call(nn.Module):
    """A module around a tensor function, for operations that have no nn layer."""

    def __init__(self, function: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.function = function

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.function(*inputs)


def _maps(channels: int, size: int, batch: int = 1) -> Callable[[], tuple[torch.Tensor, ...]]:
    return lambda: (torch.randn(batch, channels, size, size),)


def _tokens(*shape: int) -> Callable[[], tuple[torch.Tensor, ...]]:
    return lambda: (torch.randn(*shape),)


def _pairs(channels: int, size: int) -> Callable[[], tuple[torch.Tensor, ...]]:
    return lambda: (torch.randn(1, channels, size, size), torch.randn(1, channels, size, size))


def _shuffle(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


def cases() -> list[Case]:
    """The calibration set: shapes of the layers of the example networks at batch 1."""
    out: list[Case] = []

    def conv(cls: str, cin: int, cout: int, size: int, kernel: int, stride: int = 1,
             groups: int = 1) -> None:
        out.append(Case(cls, f"{cin}->{cout} {kernel}x{kernel}/{stride} g{groups} @{size}",
                        lambda: nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups,
                                          bias=False),
                        _maps(cin, size)))

    for cin, cout, size, stride in [(3, 24, 224, 2), (3, 64, 224, 2), (16, 16, 56, 1),
                                    (32, 32, 56, 1), (64, 64, 56, 1), (64, 64, 28, 1),
                                    (128, 128, 28, 1), (128, 128, 14, 1), (256, 256, 14, 1),
                                    (256, 256, 7, 1), (512, 512, 7, 1), (128, 128, 56, 2)]:
        conv("conv_dense", cin, cout, size, 3, stride)
    for cin, cout, size in [(9, 108, 56), (108, 9, 56), (32, 32, 56), (22, 44, 56),
                            (16, 16, 56), (24, 24, 56), (58, 58, 28), (64, 256, 56),
                            (256, 64, 56), (128, 128, 28), (116, 116, 14), (256, 256, 14),
                            (232, 232, 7), (512, 2048, 7), (2048, 512, 7), (32, 192, 28),
                            (960, 160, 7), (13, 78, 56), (128, 128, 56)]:
        conv("conv_1x1", cin, cout, size, 1)
    for channels, size, stride in [(24, 56, 2), (58, 28, 1), (116, 14, 1), (232, 7, 1),
                                   (32, 112, 1), (96, 112, 2), (144, 56, 1), (192, 28, 1),
                                   (384, 14, 1), (960, 7, 1), (48, 28, 1), (144, 28, 2)]:
        conv("conv_depthwise", channels, channels, size, 3, stride, groups=channels)
    for cin, cout, size, kernel, groups in [(128, 128, 56, 3, 32), (256, 256, 28, 3, 32),
                                            (512, 512, 14, 3, 32), (1024, 1024, 7, 3, 32),
                                            (240, 60, 28, 1, 3), (60, 240, 28, 1, 3),
                                            (180, 180, 56, 1, 2), (256, 256, 56, 1, 4),
                                            (360, 360, 56, 1, 8), (90, 90, 56, 1, 2),
                                            (360, 360, 28, 1, 8)]:
        conv("conv_grouped", cin, cout, size, kernel, groups=groups)
    for tokens, cin, cout in [(1, 1024, 1000), (1, 2048, 1000), (1, 464, 1000), (16, 256, 256),
                              (64, 256, 1024), (128, 512, 512), (256, 1024, 256),
                              (128, 256, 768), (256, 128, 128), (4, 512, 512)]:
        out.append(Case("matmul", f"{tokens}x{cin}->{cout}", lambda cin=cin, cout=cout:
                        nn.Linear(cin, cout), _tokens(tokens, cin)))
    for heads, length, dim in [(4, 64, 32), (4, 256, 32), (8, 128, 64), (8, 512, 64),
                               (2, 32, 16), (4, 128, 64)]:
        out.append(Case("attention", f"{heads}h L{length} d{dim}",
                        lambda: _Call(F.scaled_dot_product_attention),
                        lambda heads=heads, length=length, dim=dim: tuple(
                            torch.randn(1, heads, length, dim) for _ in range(3))))
    for channels, size, kernel, stride in [(24, 112, 3, 2), (64, 112, 3, 2), (16, 56, 3, 2),
                                           (64, 56, 2, 2), (128, 28, 2, 2), (192, 28, 3, 1),
                                           (32, 14, 3, 1)]:
        out.append(Case("pool_max", f"{channels}@{size} {kernel}x{kernel}/{stride}",
                        lambda kernel=kernel, stride=stride: nn.MaxPool2d(
                            kernel, stride, kernel // 2 if stride == 1 or kernel == 3 else 0),
                        _maps(channels, size)))
    for channels, size, kind, layer in [
            (64, 56, "2x2/2", lambda: nn.AvgPool2d(2, 2)),
            (128, 28, "2x2/2", lambda: nn.AvgPool2d(2, 2)),
            (32, 112, "2x2/2", lambda: nn.AvgPool2d(2, 2)),
            (256, 14, "2x2/2", lambda: nn.AvgPool2d(2, 2)),
            (192, 28, "3x3/1", lambda: nn.AvgPool2d(3, 1, 1)),
            (64, 56, "3x3/1", lambda: nn.AvgPool2d(3, 1, 1)),
            (32, 28, "3x3/1", lambda: nn.AvgPool2d(3, 1, 1)),
            (96, 28, "3x3/2", lambda: nn.AvgPool2d(3, 2, 1)),
            (64, 14, "adaptive 4", lambda: nn.AdaptiveAvgPool2d(4)),
            (256, 14, "adaptive 4", lambda: nn.AdaptiveAvgPool2d(4)),
            (464, 7, "7x7", lambda: nn.AvgPool2d(7))]:
        out.append(Case("pool_avg", f"average {channels}@{size} {kind}", layer,
                        _maps(channels, size)))
    for channels, size in [(8, 8), (24, 28), (24, 112), (64, 56), (116, 28), (256, 56),
                           (1024, 7), (32, 112)]:
        out.append(Case("elementwise", f"relu {channels}@{size}", nn.ReLU,
                        _maps(channels, size)))
    for channels, size in [(16, 14), (64, 28), (256, 56), (128, 56)]:
        out.append(Case("elementwise", f"add {channels}@{size}", lambda: _Call(torch.add),
                        _pairs(channels, size)))
    for tokens, dim in [(64, 256), (256, 1024)]:
        out.append(Case("elementwise", f"gelu {tokens}x{dim}", nn.GELU, _tokens(tokens, dim)))
    out.append(Case("elementwise", "relu6 96@112", nn.ReLU6, _maps(96, 112)))
    for channels, size in [(24, 112), (64, 56), (128, 28), (256, 14), (512, 7), (1024, 7),
                           (16, 14), (2048, 7)]:
        out.append(Case("normalization", f"batch norm {channels}@{size}",
                        lambda channels=channels: nn.BatchNorm2d(channels).eval(),
                        _maps(channels, size)))
    for tokens, dim in [(64, 256), (256, 512), (128, 1024), (1, 768)]:
        out.append(Case("normalization", f"layer norm {tokens}x{dim}",
                        lambda dim=dim: nn.LayerNorm(dim), _tokens(tokens, dim)))
    for channels, size in [(1024, 7), (2048, 7), (256, 56), (64, 14)]:
        # a global average pool runs as a mean over the map
        out.append(Case("reduction", f"global average pool {channels}@{size}",
                        lambda: nn.AdaptiveAvgPool2d(1), _maps(channels, size)))
    for shape in [(4, 256, 256), (8, 128, 128), (1, 1000), (1, 64, 64)]:
        out.append(Case("reduction", f"softmax {'x'.join(map(str, shape))}",
                        lambda: nn.Softmax(-1), _tokens(*shape)))
    for channels, size in [(58, 28), (116, 14), (24, 56), (232, 7), (128, 56)]:
        out.append(Case("movement", f"cat 2x{channels}@{size}",
                        lambda: _Call(lambda x, y: torch.cat((x, y), 1)), _pairs(channels, size)))
        out.append(Case("movement", f"shuffle {2 * channels}@{size}", lambda: _Call(_shuffle),
                        _maps(2 * channels, size)))
    return out


def tiny_layers() -> dict[str, tuple[nn.Module, tuple[torch.Tensor, ...]]]:
    """One layer of each kernel class on inputs too small to take any time, plus a bare module
    call and a view: what each costs is its fixed cost per op."""
    maps = torch.randn(1, 8, 4, 4)
    rows = torch.randn(4, 16)
    heads = torch.randn(1, 2, 4, 8)
    return {
        "conv_dense": (nn.Conv2d(8, 8, 3, 1, 1, bias=False), (maps,)),
        "conv_1x1": (nn.Conv2d(8, 8, 1, bias=False), (maps,)),
        "conv_grouped": (nn.Conv2d(8, 8, 3, 1, 1, groups=2, bias=False), (maps,)),
        "conv_depthwise": (nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False), (maps,)),
        "matmul": (nn.Linear(16, 16), (rows,)),
        "attention": (_Call(F.scaled_dot_product_attention), (heads, heads, heads)),
        "pool_max": (nn.MaxPool2d(3, 1, 1), (maps,)),
        "pool_avg": (nn.AvgPool2d(2), (maps,)),
        "elementwise": (nn.ReLU(), (maps,)),
        "normalization": (nn.BatchNorm2d(8).eval(), (maps,)),
        "reduction": (nn.Softmax(-1), (rows,)),
        "movement": (_Call(lambda x: torch.cat((x, x), 1)), (maps,)),
        VIEW: (_Call(lambda x: x.view(-1)), (maps,)),
        MODULE_CALL: (nn.Identity(), (maps,)),
    }


MODULE_CALL = "module call"
#: Tiny layers run before each calibration layer (see _prepare).
BETWEEN = ("conv_1x1", "normalization", "elementwise")
SETTING = "setting"
MAX_COPIES = 64  # layers whose weights are too small to fill the cache even so hardly need it
COLD, WARM = "cold", "warm"
BANDWIDTH = "memory bandwidth"
NEAR_BEST = 0.001  # mean squared log error: a fit about 3% worse per sample is "as good"
TINY_REPEATS = 16
STREAM_REPEATS = 8


def _fixed_cost_works(device: torch.device) -> tuple[dict[str, Callable[[], None]], int]:
    """Workloads that time each tiny layer alone (warm: one layer called again and again) and
    all of them in one mixed stream, each call to a layer of its own, as in a network: there
    the ops before have pushed an op's code and data, its module's Python objects included,
    out of the caches. Also the number of layer calls in the stream."""
    def placed() -> dict[str, tuple[nn.Module, tuple[torch.Tensor, ...]]]:
        return {name: (layer.to(device), tuple(t.to(device) for t in inputs))
                for name, (layer, inputs) in tiny_layers().items()}
    warm = placed()
    works = {f"tiny {name}": _calls([layer] * TINY_REPEATS, inputs)
             for name, (layer, inputs) in warm.items()}
    order = random.Random(0).sample(list(warm), len(warm))
    calls = [layers[name] for layers in [placed() for _ in range(STREAM_REPEATS)]
             for name in order]

    def stream() -> None:
        for layer, inputs in calls:
            layer(*inputs)
    works["stream"] = stream
    return works, len(calls)


def calibrate(device: str = "cpu", thread_count: int | None = None, name: str | None = None,
              rounds: int = 7, progress: Callable[[str], None] | None = None) -> Profile:
    """Measure this machine and fit a profile."""
    target = check_device(device)
    started = time.perf_counter()
    with threads(thread_count), torch.no_grad():
        plan = Plan(target, progress)
        if progress:
            progress(f"timing {len(plan.works)} workloads, {rounds} rounds")
        seconds = interleaved_medians(plan.works, target, rounds=rounds, min_seconds=0.01)
        profile = plan.fit(seconds, name)
    return dataclasses.replace(profile,
                               calibration_seconds=round(time.perf_counter() - started, 1))


class Plan:
    """The calibration workloads of one device, and the fit of their timings.

    Built and timed under the thread count and no_grad the profile is for. Timing is left to
    the caller so that other workloads can be timed in the same rounds: on a shared machine
    whose speed drifts by tens of percent over seconds, only workloads timed side by side see
    the same machine (benchmarks/bench_latency.py times the networks it checks that way).

    Every workload is timed in each of several rounds, in a new order each round, and its
    median kept. Fixed costs: each tiny layer's warm time, scaled by how much slower the same
    kinds of layer run in a mixed stream than one by one (one factor for all, far less noisy
    than a difference of streams per class). Rates: per class, fitted to samples taken as a
    network runs a layer (see _prepare), each with the class's in-network fixed cost.
    """

    def __init__(self, device: torch.device,
                 progress: Callable[[str], None] | None = None) -> None:
        self.device = device
        self.cache_bytes = _cache_bytes(device)
        torch.manual_seed(0)
        self.works, self.stream_calls = _fixed_cost_works(device)
        self.bandwidth = self.works[BANDWIDTH] = _Bandwidth(device)
        self.cases = cases()
        self.samples: list[Sample] = []
        self.copies: list[dict[str, int]] = []
        tiny = tiny_layers()
        between = [(layer.to(device), tuple(t.to(device) for t in inputs))
                   for layer, inputs in (tiny[name] for name in BETWEEN)]
        if device.type == "cuda":
            self.cases += [_batched(case, GPU_BATCH) for case in self.cases]
        for number, case in enumerate(self.cases):
            if progress:
                progress(f"[{number + 1}/{len(self.cases)}] {case.kernel_class}: {case.label}")
            sample, works, copies = _prepare(case, device, self.cache_bytes, between)
            self.samples.append(sample)
            self.copies.append(copies)
            self.works.update({f"{kind} {case.label}": work for kind, work in works.items()})

    def fit(self, seconds: dict[str, float], name: str | None = None) -> Profile:
        """The profile these workload medians give."""
        warm = {key[len("tiny "):]: value / TINY_REPEATS
                for key, value in seconds.items() if key.startswith("tiny ")}
        in_network = seconds["stream"] / (sum(warm.values()) * self.stream_calls / len(warm))
        samples = [dataclasses.replace(sample, warm=kind == WARM, seconds=max(
                       seconds[f"{kind} {case.label}"] / copies[kind]
                       - seconds[f"{SETTING} {case.label}"], 1e-9))
                   for kind in (COLD, WARM)
                   for case, sample, copies in zip(self.cases, self.samples, self.copies)]
        used = torch.get_num_threads()
        base = Profile(
            name=name or f"{self.device.type}-{used}t", device=self.device.type,
            device_name=device_name(self.device), threads=used,
            torch_version=torch.__version__, created=datetime.date.today().isoformat(),
            calibration_seconds=0.0,
            op_overhead_s=in_network * max(warm["elementwise"] - warm[MODULE_CALL], 0.0),
            view_overhead_s=in_network * max(warm[VIEW] - warm[MODULE_CALL], 0.0),
            module_call_overhead_s=in_network * warm[MODULE_CALL],
            bandwidth_bytes_per_s=self.bandwidth.bytes_per_s,
            cache_bytes=self.cache_bytes,
            saturation=_lanes(self.device, used), overlap=self.device.type == "cuda",
            rates={}, warm_rates={}, samples=tuple(samples),
            in_network_factor=round(in_network, 3))
        rates: dict[bool, dict[str, ClassRate]] = {False: {}, True: {}}
        for regime, cls in itertools.product(rates, KERNEL_CLASSES):
            flop_rate, byte_rate = fit_rates(
                base, [s for s in samples if s.kernel_class == cls and s.warm == regime],
                in_network * warm[cls])
            rates[regime][cls] = ClassRate(
                flops_per_s=flop_rate, bytes_per_s=byte_rate,
                overhead_s=in_network * max(warm[cls] - warm[MODULE_CALL], 0.0))
        return dataclasses.replace(base, rates=rates[False], warm_rates=rates[True])


def _batched(case: Case, batch: int) -> Case:
    """The case on `batch` times its input: maps and heads gain a batch, token rows multiply."""
    def inputs() -> tuple[torch.Tensor, ...]:
        return tuple(t.repeat(batch, *[1] * (t.dim() - 1)) for t in case.inputs())
    return Case(case.kernel_class, f"{case.label} x{batch}", case.layer, inputs)


def _cache_bytes(device: torch.device) -> int:
    """The cache an op's data stays in between ops: a GPU's L2; a CPU core's L2 (sysfs)."""
    if device.type == "cuda":
        return int(getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 50 << 20))
    for index in range(4):
        base = f"/sys/devices/system/cpu/cpu0/cache/index{index}/"
        try:
            with open(base + "level", encoding="ascii") as level_file:
                if level_file.read().strip() != "2":
                    continue
            with open(base + "size", encoding="ascii") as size_file:
                text = size_file.read().strip()
        except OSError:
            continue
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
    return 1 << 20  # no sysfs: a common size


def _lanes(device: torch.device, thread_count: int) -> float:
    """Work items that fill the device: CPU threads x 16 float lanes (one AVX-512 register);
    GPU multiprocessors x resident threads per multiprocessor."""
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        per_processor = getattr(properties, "max_threads_per_multi_processor", 2048)
        return float(properties.multi_processor_count * per_processor)
    return float(thread_count * 16)


def _calls(layers: Sequence[nn.Module], inputs: tuple[torch.Tensor, ...]) -> Callable[[], None]:
    def run() -> None:
        for layer in layers:
            layer(*inputs)
    return run


class _Bandwidth:
    """A streaming copy between buffers far beyond the cache, keeping its fastest time: the
    memory bandwidth is what the device can do, and other tenants of a shared machine only
    ever take from it, so the best of many copies is the steady figure (a median moves with
    the neighbours' load by a third here)."""

    def __init__(self, device: torch.device) -> None:
        elements = (1 << 28) if device.type == "cuda" else (1 << 24)
        self.source = torch.ones(elements, device=device)
        self.target = torch.empty_like(self.source)
        self.bytes = 2 * elements * self.source.element_size()
        self.sync = synchronizer(device)
        self.fastest = math.inf

    def __call__(self) -> None:
        self.sync()
        start = time.perf_counter()
        self.target.copy_(self.source)
        self.sync()
        self.fastest = min(self.fastest, time.perf_counter() - start)

    @property
    def bytes_per_s(self) -> float:
        return self.bytes / self.fastest


def _prepare(case: Case, device: torch.device, cache_bytes: int,
             between: Sequence[tuple[nn.Module, tuple[torch.Tensor, ...]]]
             ) -> tuple[Sample, dict[str, Callable[[], None]], dict[str, int]]:
    """A case's figures from costlens's trace, its workloads by name (the layer in a network
    whose weights do not fit the cache, COLD, and in one whose weights do, WARM, and the
    setting both share) and how many layers each of the two runs.

    Each workload runs distinct copies of the layer on one input, each after the `between`
    tiny layers (whose code pushes the op's own out of the instruction caches, as the ops
    between two layers of a network do); the setting runs the tiny layers alone and is
    subtracted. The input stays in cache, as a network's activations do from the op that
    makes them to the op that reads them. The warm workload has COPIES copies; the cold one
    enough that their weights fill twice the cache (up to MAX_COPIES), so that each copy's
    weights come from memory, as a large network's do: they were last used a whole forward
    ago. A layer without weights runs the same either way.
    """
    inputs = case.inputs()
    layer = case.layer()
    analysis = analyze(layer, inputs)
    classes = [kernel_class(node, op.category)
               for node, op in zip(analysis.graph.nodes, analysis.ops)]
    main = [op for op, cls in zip(analysis.ops, classes) if cls == case.kernel_class]
    if len(main) != 1:
        raise RuntimeError(f"calibration case {case.label} runs {len(main)} "
                           f"{case.kernel_class} ops, not one")
    weight_bytes = sum(p.numel() * p.element_size() for p in layer.parameters())
    cold_copies = COPIES if not weight_bytes else min(
        MAX_COPIES, max(COPIES, -(-2 * cache_bytes // weight_bytes)))
    layers = [layer.to(device)] + [case.layer().to(device) for _ in range(cold_copies - 1)]
    op = main[0]
    sample = Sample(case.kernel_class, case.label, op.flops or 0, op.mac_bytes or 0,
                    op.parallelism or 0, 0.0)
    placed = tuple(t.to(device) for t in inputs)

    def run(copies: Sequence[nn.Module]) -> Callable[[], None]:
        def in_setting() -> None:
            for copy in copies:
                for other, other_inputs in between:
                    other(*other_inputs)
                copy(*placed)
        return in_setting

    def setting() -> None:
        for other, other_inputs in between:
            other(*other_inputs)
    return (sample, {COLD: run(layers), WARM: run(layers[:COPIES]), SETTING: setting},
            {COLD: len(layers), WARM: COPIES})


def fit_rates(profile: Profile, samples: Sequence[Sample],
              fixed_s: float) -> tuple[float | None, float | None]:
    """The FLOP rate and byte rate of one class that best predict its samples, each sample
    taken as `fixed_s` plus its roofline time (see estimate.op_seconds); None for a rate that
    never binds. A memory class gets a byte rate only: its FLOPs grow with its bytes, so the two
    rates would trade places from run to run. A grid search minimises the squared log error,
    since relative error is what matters for times that span four decades. The grids run from
    fast to slow, so that where a rate never binds the fastest candidate, the least assuming
    one, wins the tie."""
    if not samples:
        raise ValueError("no samples")
    flops = torch.tensor([s.flops for s in samples], dtype=torch.float64)
    nbytes = torch.tensor([s.mac_bytes for s in samples], dtype=torch.float64)
    work_items = torch.tensor([max(s.parallelism, 1) for s in samples], dtype=torch.float64)
    measured = torch.tensor([s.seconds for s in samples], dtype=torch.float64)
    memory_class = KERNEL_CLASSES[samples[0].kernel_class] == "memory"
    flop_rates = (torch.tensor([math.inf], dtype=torch.float64) if memory_class
                  else _rate_grid(flops / measured)).view(-1, 1, 1)
    byte_rates = _rate_grid(nbytes / measured).view(1, -1, 1)
    compute = flops / flop_rates
    in_cache = nbytes.clamp(max=profile.cache_bytes)
    memory = in_cache / byte_rates + (nbytes - in_cache) / profile.bandwidth_bytes_per_s
    kernel = torch.maximum(compute, memory) / (work_items / profile.saturation).clamp(max=1.0)
    predicted = torch.clamp(kernel, min=fixed_s) if profile.overlap else kernel + fixed_s
    error = (predicted.log() - measured.log()).pow(2).mean(-1)
    # Where FLOPs and bytes grow together (pooling, say) many pairs fit about equally well and
    # the best one wanders with the noise; among the pairs within NEAR_BEST of the best fit, take
    # the fastest byte rate (the least that memory explains), then that rate's best FLOP rate.
    near = error <= error.min() + NEAR_BEST
    b = int(near.any(0).nonzero()[0])
    f = int(torch.argmin(error[:, b]))
    return _finite(float(flop_rates.flatten()[f])), _finite(float(byte_rates.flatten()[b]))


def _rate_grid(implied: torch.Tensor) -> torch.Tensor:
    """Candidate rates, fastest first: unbounded, then from far above the fastest rate any
    sample implies down to well below the slowest."""
    positive = implied[implied > 0]
    if not len(positive):
        return torch.tensor([math.inf], dtype=torch.float64)
    high, low = math.log10(float(positive.max()) * 16), math.log10(float(positive.min()) / 4)
    return torch.cat([torch.tensor([math.inf], dtype=torch.float64),
                      torch.logspace(high, low, 160, dtype=torch.float64)])


def _finite(rate: float) -> float | None:
    return None if math.isinf(rate) else rate
