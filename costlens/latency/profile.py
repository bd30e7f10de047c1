"""A platform profile: what one device, at one thread count, does per second and per op.

A profile is plain data, a JSON file (`format: costlens-platform/2`, JSON Schema:
costlens/schemas/platform.json) made by `costlens calibrate` on the device it describes and read
by the latency estimate. Built-in profiles ship in `costlens/latency/builtin/`; any other
profile is just a file. Every rate is an *effective* rate measured through PyTorch, not a
datasheet figure, because the estimate must predict what a PyTorch model gets, kernel choice
and library overheads included. The file holds one rate or sample per line, so a
recalibration reads as a diff.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CostlensError
from .classes import PROFILED_CLASSES, KernelClass

FORMAT = "costlens-platform/2"
BUILTIN_DIR = Path(__file__).parent / "builtin"


@dataclass(frozen=True)
class ClassRate:
    """Effective throughput of one kernel class, and its fixed cost per op.

    flops_per_s / bytes_per_s: the class's FLOP rate and its byte rate on data in cache; None
    where the rate never bound in calibration. overhead_s: what one op of the class costs beyond its
    work: dispatch or launch, the Python wrapper of its functional form, argument checks, as
    paid inside a network (see measure/calibrate.py).
    """

    flops_per_s: float | None
    bytes_per_s: float | None
    overhead_s: float


@dataclass(frozen=True)
class Sample:
    """One calibration measurement, kept in the profile so a fit can be checked or redone:
    the time of one call of the layer (its module call and fixed cost included)."""

    kernel_class: KernelClass
    label: str
    flops: int
    mac_bytes: int
    parallelism: int
    seconds: float
    warm: bool = False  # measured warm: its weights and code in cache (see calibrate)
    features: tuple[float, ...] = ()  # classes.shape_features of the op (none: older method)


@dataclass(frozen=True)
class Profile:
    """The fitted parameters of one device at one thread count.

    method: how it was calibrated, in words (`costlens calibrate --list` shows it).
    op_overhead_s: fixed cost of the smallest op that runs a kernel (dispatch on a CPU, launch
    on a GPU); used for ops no class covers.
    view_overhead_s: cost of an op that runs none (views, reshapes): dispatch only.
    module_call_overhead_s: cost of one nn.Module call beyond its ops.
    bandwidth_bytes_per_s: streaming bandwidth to main memory (read + write bytes per second).
    cache_bytes: the cache an op's data stays in between ops (a CPU core's L2, a GPU's L2): an
    op's first cache_bytes of MAC move at its class's byte rate, the rest at the bandwidth.
    last_level_cache_bytes: the largest cache (a CPU's L3), which holds a kernel's code between
    two runs of it (latency/coldness.py). None: not read (a GPU, or an older profile): a kernel's
    code is as cold as the network's weights.
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
    page_fault_s, typical_spread: what turns the best case the rates above give (the lower
    quartile of many runs, freed memory kept) into the typical case a user's script measures
    (a plain Python process, the median of repeated runs): the time of one page fault, which a
    plain process takes for every page its allocator hands back and takes again (latency/
    allocator.py), and the median over the best case of a network-length run. None: not measured
    (a GPU, or a profile from before costlens measured them): the estimate is the best case.
    subnormal_mac_s, subnormal_exp_s: the extra time of one multiply-add with a subnormal
    operand and of one softmax weight that comes out subnormal (latency/subnormals.py); an x86
    core takes a microcode assist for each. None: not measured (a GPU, whose units take
    subnormals at full speed, or an older profile): they cost nothing extra.
    """

    name: str
    device: str
    device_name: str
    threads: int
    torch_version: str
    created: str
    calibration_seconds: float
    method: str
    op_overhead_s: float
    view_overhead_s: float
    module_call_overhead_s: float
    bandwidth_bytes_per_s: float
    cache_bytes: int
    saturation: float
    overlap: bool
    rates: dict[KernelClass, ClassRate]
    warm_rates: dict[KernelClass, ClassRate]
    in_network_factor: float
    page_fault_s: float | None = None
    typical_spread: float | None = None
    subnormal_mac_s: float | None = None
    subnormal_exp_s: float | None = None
    last_level_cache_bytes: int | None = None
    samples: tuple[Sample, ...] = field(default=(), repr=False)

    @property
    def has_typical(self) -> bool:
        """Whether the profile can estimate the typical case."""
        return self.page_fault_s is not None and self.typical_spread is not None

    def rate(self, kernel_class: KernelClass, warm: bool = False) -> ClassRate:
        return (self.warm_rates if warm else self.rates)[self.priced_as(kernel_class)]

    def priced_as(self, kernel_class: KernelClass) -> KernelClass:
        """The class whose rates and samples price `kernel_class`: itself, or in a profile
        calibrated before it existed, the class that priced it then (KernelClass.older)."""
        if kernel_class in self.rates or kernel_class.older is None:
            return kernel_class
        return kernel_class.older

    def coldness(self, working_set_bytes: int) -> float:
        """How far a network's weights and buffers (estimate.working_set_bytes) miss the
        cache, from 0 (they fit: every op finds its weights warm) to 1 (four caches' worth or
        more: weights come from memory), log-linear in between."""
        if working_set_bytes <= self.cache_bytes:
            return 0.0
        return min(1.0, math.log(working_set_bytes / self.cache_bytes) / math.log(4))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("rates", "warm_rates"):
            data[key] = {cls.value: asdict(rate) for cls, rate in getattr(self, key).items()}
        data["samples"] = [{**asdict(sample), "kernel_class": sample.kernel_class.value,
                            "features": list(sample.features)} for sample in self.samples]
        return {"format": FORMAT, **data}

    def to_json(self) -> str:
        """Indented JSON with each rate and each sample on one line."""
        lines = []
        for key, value in self.to_dict().items():
            if isinstance(value, dict):
                items = [f"    {json.dumps(name)}: {_compact(item)}"
                         for name, item in value.items()]
                text = "{\n" + ",\n".join(items) + "\n  }"
            elif isinstance(value, list):
                text = "[\n" + ",\n".join(f"    {_compact(item)}" for item in value) + "\n  ]"
            else:
                text = json.dumps(value)
            lines.append(f"  {json.dumps(key)}: {text}")
        return "{\n" + ",\n".join(lines) + "\n}\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """The profile in `data`; ValueError for another format or a missing part."""
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r} is not {FORMAT}")
        fields = {key: value for key, value in data.items() if key != "format"}
        for key in ("rates", "warm_rates"):
            fields[key] = {KernelClass(name): ClassRate(**rate)
                           for name, rate in data[key].items()}
            missing = {cls for cls in PROFILED_CLASSES if cls.older is None} - set(fields[key])
            if missing:
                raise ValueError(f"no {key} for {', '.join(sorted(c.value for c in missing))}")
        fields["samples"] = tuple(
            Sample(**{**sample, "kernel_class": KernelClass(sample["kernel_class"]),
                      "features": tuple(sample["features"])})
            for sample in data.get("samples", ()))
        return cls(**fields)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "))


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
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith(
            "costlens-platform/"):
        raise CostlensError(f"platform profile {spec} is not a costlens platform profile (no "
                            "`format: costlens-platform/N`)")
    if data["format"] != FORMAT:
        raise CostlensError(f"platform profile {spec} is {data['format']}, an older format "
                            f"this costlens does not read ({FORMAT}): recalibrate with "
                            "`costlens calibrate`")
    try:
        return Profile.from_dict(data)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise CostlensError(f"platform profile {spec} is malformed: {error}") from None
