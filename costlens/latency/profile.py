"""A platform profile: what one device, at one thread count, does per second and per op.

A profile is plain data (a JSON file, format `costlens-platform/1`), made by `costlens
calibrate` on the device it describes and read by the latency estimate. Built-in profiles ship in
`costlens/latency/builtin/`; any other profile is just a file. Every rate is an *effective*
rate measured through PyTorch, not a datasheet figure, because the estimate must predict what a
PyTorch model gets, kernel choice and library overheads included.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import CostlensError

FORMAT = "costlens-platform/1"
BUILTIN_DIR = Path(__file__).parent / "builtin"
PRIOR_WEIGHT = 1.0  # how strongly a size correction is pulled towards none

#: Kernel classes the profile gives rates for, with what usually limits each.
KERNEL_CLASSES: dict[str, str] = {
    "conv_dense": "compute",       # groups == 1, a kernel larger than 1
    "conv_1x1": "compute",         # groups == 1, 1x1 (pointwise)
    "conv_grouped": "compute",     # 1 < groups < channels
    "conv_depthwise": "compute",   # one input channel per group
    "matmul": "compute",           # mm, addmm, bmm, linear
    "attention": "compute",        # fused scaled dot-product attention
    "pool_max": "compute",         # max pooling: one comparison per window tap
    "pool_avg": "compute",         # average pooling, adaptive included
    "elementwise": "memory",       # activations, arithmetic, comparisons
    "normalization": "memory",     # batch / layer / group / RMS norm
    "reduction": "memory",         # sum, mean, softmax, ...
    "movement": "memory",          # copies: cat, contiguous, index, embedding, ...
}


@dataclass(frozen=True)
class ClassRate:
    """Effective throughput of one kernel class, and its fixed cost per op.

    flops_per_s / bytes_per_s: the class's FLOP rate and its byte rate on data in cache; None
    where the rate never bound in calibration. overhead_s: what one op of the class costs beyond its
    work: dispatch or launch, the Python wrapper of its functional form, argument checks, as
    paid inside a network (see calibrate.py).
    """

    flops_per_s: float | None
    bytes_per_s: float | None
    overhead_s: float


@dataclass(frozen=True)
class Sample:
    """One calibration measurement, kept in the profile so a fit can be checked or redone:
    the time of one call of the layer (its module call and fixed cost included)."""

    kernel_class: str
    label: str
    flops: int
    mac_bytes: int
    parallelism: int
    seconds: float
    warm: bool = False  # measured warm: its weights and code in cache (calibrate._workloads)
    features: tuple[float, ...] = ()  # classes.shape_features of the op (none: older profiles)


@dataclass(frozen=True)
class Profile:
    """The fitted parameters of one device at one thread count.

    op_overhead_s: fixed cost of the smallest op that runs a kernel (dispatch on a CPU, launch
    on a GPU); used for ops no class covers.
    view_overhead_s: cost of an op that runs none (views, reshapes): dispatch only.
    module_call_overhead_s: cost of one nn.Module call beyond its ops.
    bandwidth_bytes_per_s: streaming bandwidth to main memory (read + write bytes per second).
    cache_bytes: the cache an op's data stays in between ops (a CPU core's L2, a GPU's L2): an
    op's first cache_bytes of MAC move at its class's byte rate, the rest at the bandwidth.
    saturation: work items (output elements) an op needs to fill the device: the device's
    parallel lanes (a CPU: threads x 16 float lanes; a GPU: SMs x resident threads per SM). An
    op with fewer runs at parallelism / saturation of its class's rate.
    rates / warm_rates: per kernel class, as a network whose weights exceed the cache runs its
    ops (weights and code come from memory) and as one whose weights fit runs them; an estimate
    blends the two by the network's weights (see coldness).
    in_network_factor: how much slower tiny ops run in a mixed stream than one by one; every
    cold fixed cost above is the warm one times this factor.
    overlap: whether the fixed per-op cost overlaps the kernel's run (a GPU's asynchronous
    launches) rather than adding to it (a CPU, where the same core does both).
    """

    name: str
    device: str
    device_name: str
    threads: int
    torch_version: str
    created: str
    calibration_seconds: float
    op_overhead_s: float
    view_overhead_s: float
    module_call_overhead_s: float
    bandwidth_bytes_per_s: float
    cache_bytes: int
    saturation: float
    overlap: bool
    rates: dict[str, ClassRate]
    warm_rates: dict[str, ClassRate]
    in_network_factor: float
    samples: tuple[Sample, ...] = field(default=(), repr=False)

    def rate(self, kernel_class: str, warm: bool = False) -> ClassRate:
        return (self.warm_rates if warm else self.rates)[kernel_class]

    def coldness(self, working_set_bytes: int) -> float:
        """How far a network's weights and buffers (estimate.working_set_bytes) miss the
        cache, from 0 (they fit: every op finds its weights warm) to 1 (four caches' worth or
        more: weights come from memory), log-linear in between."""
        if working_set_bytes <= self.cache_bytes:
            return 0.0
        return min(1.0, math.log(working_set_bytes / self.cache_bytes) / math.log(4))

    def correction(self, kernel_class: str, flops: int, mac_bytes: int, warm: bool = False,
                   features: tuple[float, ...] = ()) -> float:
        """How much slower than its roofline an op of this size and shape runs, judged by the
        class's calibration samples nearest in (log FLOPs, log MAC bytes, shape features): a
        weighted geometric mean of their measured-over-roofline ratios, pulled towards 1 (no
        correction) as the nearest samples lie further away (a sample a decade away counts as
        much as the pull to 1 does, one at the same size a hundred times as much). A class's
        kernels are not equally efficient at every shape (a 1x1 conv with 9 input channels
        runs far below its class's rate) and one rate cannot say so; the samples can, within
        the range they cover. `warm` picks the samples of a network that fits in the cache;
        `features` are classes.shape_features of the op (samples of older profiles, which have
        none, are compared by size alone)."""
        here = (math.log10(flops + 1), math.log10(mac_bytes + 1), *features)
        nearest = sorted((math.dist(here[:len(point)], point), log_ratio)
                         for point, log_ratio in self._residuals.get((kernel_class, warm), ())
                         if len(point) in (2, len(here)))[:3]
        weights = [1 / (distance + 0.1) ** 2 for distance, _ in nearest]
        weighted = sum(w * log_ratio for w, (_, log_ratio) in zip(weights, nearest))
        return math.exp(weighted / (sum(weights) + PRIOR_WEIGHT))

    @cached_property
    def _residuals(self) -> dict[tuple[str, bool], list[tuple[tuple[float, float], float]]]:
        from .estimate import roofline_seconds
        residuals: dict[tuple[str, bool], list[tuple[tuple[float, float], float]]] = {}
        for sample in self.samples:
            predicted = roofline_seconds(self, sample.kernel_class, sample.flops,
                                         sample.mac_bytes, sample.parallelism, sample.warm)[0]
            predicted += self.module_call_overhead_s
            residuals.setdefault((sample.kernel_class, sample.warm), []).append(
                ((math.log10(sample.flops + 1), math.log10(sample.mac_bytes + 1),
                  *sample.features), math.log(sample.seconds / predicted)))
        return residuals

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rates"] = {name: asdict(rate) for name, rate in self.rates.items()}
        data["warm_rates"] = {name: asdict(rate) for name, rate in self.warm_rates.items()}
        data["samples"] = [asdict(sample) for sample in self.samples]
        return {"format": FORMAT, **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} profile (format: {data.get('format')!r})")
        fields = {key: value for key, value in data.items() if key != "format"}
        fields["rates"] = {name: ClassRate(**rate) for name, rate in data["rates"].items()}
        fields["warm_rates"] = {name: ClassRate(**rate)
                                for name, rate in data["warm_rates"].items()}
        fields["samples"] = tuple(Sample(**{**sample, "features": tuple(
            sample.get("features", ()))}) for sample in data.get("samples", ()))
        missing = (set(KERNEL_CLASSES) - set(fields["rates"])) | (
            set(KERNEL_CLASSES) - set(fields["warm_rates"]))
        if missing:
            raise ValueError(f"no rate for {', '.join(sorted(missing))}")
        return cls(**fields)


def builtin_profiles() -> dict[str, Path]:
    """Built-in profile names (the file stem) and their files."""
    return {path.stem: path for path in sorted(BUILTIN_DIR.glob("*.json"))}


def load_profile(spec: str) -> Profile:
    """A profile from a built-in name or a file path."""
    builtin = builtin_profiles()
    path = builtin.get(spec) or Path(spec)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        names = ", ".join(builtin) or "none"
        raise CostlensError(f"no platform profile {spec!r}: not a file, nor a built-in "
                            f"profile (built-in: {names})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CostlensError(f"cannot read platform profile {spec}: {error}") from None
    except json.JSONDecodeError as error:
        raise CostlensError(f"platform profile {spec} is not JSON: {error.msg} at line "
                            f"{error.lineno}") from None
    try:
        return Profile.from_dict(data)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise CostlensError(f"platform profile {spec} is malformed: {error}") from None
