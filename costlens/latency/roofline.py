"""The time model of one op: a roofline on its kernel class, its fixed cost, and a size
correction read from the profile's calibration samples.

Per op, the larger of FLOPs over the class's FLOP rate and MAC bytes over its byte rate (bytes
beyond the cache at the memory bandwidth), slowed by 1 / utilization when the op exposes fewer
work items than the device needs to fill up; plus (CPU) or overlapped with (GPU) the fixed cost
of issuing the op.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from enum import Enum

from .classes import KernelClass
from .coldness import split_coldness
from .profile import Profile

PRIOR_WEIGHT = 1.0  # how strongly a size correction is pulled towards none


class Bound(str, Enum):
    """What limits an op's time; FUSED: absorbed into the op before it (estimate's `fuse`)."""

    COMPUTE = "compute"
    MEMORY = "memory"
    OVERHEAD = "overhead"
    FUSED = "fused"


def op_seconds(profile: Profile, kernel_class: KernelClass, flops: int, mac_bytes: int,
               parallelism: int, coldness: float = 1.0,
               features: tuple[float, ...] = ()) -> tuple[float, Bound]:
    """Predicted time of one op of `kernel_class` in a network of the given coldness (see
    Profile.coldness), and what bounds it: the warm and cold rooflines, each corrected by how
    far the calibration samples of the class nearest in size and shape (`features`:
    classes.shape_features) ran from theirs, blended."""
    if not kernel_class.profiled:
        return roofline_seconds(profile, kernel_class, flops, mac_bytes, parallelism)
    kernel_class = profile.priced_as(kernel_class)
    seconds, bound = 0.0, Bound.OVERHEAD
    for warm, weight in ((False, coldness), (True, 1.0 - coldness)):
        if weight:
            time, regime_bound = roofline_seconds(profile, kernel_class, flops, mac_bytes,
                                                  parallelism, warm)
            seconds += weight * time * size_correction(profile, kernel_class, flops, mac_bytes,
                                                       warm, features)
            bound = regime_bound if weight >= 0.5 else bound
    return seconds, bound


def split_cold_seconds(profile: Profile, kernel_class: KernelClass, flops: int,
                       mac_bytes: int, parallelism: int, features: tuple[float, ...],
                       network: float, kernel: float, weight_bytes: int
                       ) -> tuple[float, Bound, float]:
    """op_seconds of a conv or matrix product whose kernel's state is `kernel` cold
    (coldness.kernel_state_coldness) in a network of coldness `network`, and the coldness it
    runs at: its cold time's excess over its warm one split into moving its `weight_bytes` from
    memory and the rest (coldness.split_coldness). Each regime is costed once."""
    cold, cold_bound = op_seconds(profile, kernel_class, flops, mac_bytes, parallelism, 1.0,
                                  features)
    warm, warm_bound = op_seconds(profile, kernel_class, flops, mac_bytes, parallelism, 0.0,
                                  features)
    coldness = split_coldness(network, kernel, cold - warm,
                              weight_bytes / profile.bandwidth_bytes_per_s)
    return (coldness * cold + (1.0 - coldness) * warm,
            warm_bound if coldness <= 0.5 else cold_bound, coldness)


def roofline_seconds(profile: Profile, kernel_class: KernelClass, flops: int, mac_bytes: int,
                     parallelism: int, warm: bool = False) -> tuple[float, Bound]:
    """The roofline time of one op of `kernel_class` with its fixed cost, and what bounds it."""
    if not kernel_class.profiled:  # a view, or an op with no figures: only its fixed cost
        return fixed_cost(profile, kernel_class), Bound.OVERHEAD
    rate = profile.rate(kernel_class, warm)
    compute = flops / rate.flops_per_s if rate.flops_per_s else 0.0
    in_cache = min(mac_bytes, profile.cache_bytes)
    memory = ((in_cache / rate.bytes_per_s if rate.bytes_per_s else 0.0)
              + (mac_bytes - in_cache) / profile.bandwidth_bytes_per_s)
    utilization = min(1.0, max(parallelism, 1) / profile.saturation)
    work = max(compute, memory) / utilization
    overhead = rate.overhead_s
    seconds = max(overhead, work) if profile.overlap else overhead + work
    if overhead >= work:
        return seconds, Bound.OVERHEAD
    return seconds, Bound.COMPUTE if compute >= memory else Bound.MEMORY


def fixed_cost(profile: Profile, kernel_class: KernelClass) -> float:
    """What one op of the class costs however little it does."""
    if kernel_class is KernelClass.VIEW:
        return profile.view_overhead_s
    if kernel_class is KernelClass.UNSUPPORTED:
        return profile.op_overhead_s
    return profile.rate(kernel_class).overhead_s


def size_correction(profile: Profile, kernel_class: KernelClass, flops: int, mac_bytes: int,
                    warm: bool = False, features: tuple[float, ...] = ()) -> float:
    """How much slower than its roofline an op of this size and shape runs, judged by the
    class's calibration samples nearest in (log FLOPs, log MAC bytes, shape features): a
    weighted geometric mean of their measured-over-roofline ratios, pulled towards 1 (no
    correction) as the nearest samples lie further away (a sample a decade away counts as
    much as the pull to 1 does, one at the same size a hundred times as much). A class's
    kernels are not equally efficient at every shape (a 1x1 conv with 9 input channels runs
    far below its class's rate) and one rate cannot say so; the samples can, within the range
    they cover. `warm` picks the samples of a network that fits in the cache; `features` are
    classes.shape_features of the op (a sample of an older calibration method, with fewer
    features or none, is compared on those it has)."""
    here = (math.log10(flops + 1), math.log10(mac_bytes + 1), *features)
    nearest = sorted((math.dist(here[:len(point)], point[:len(here)]), log_ratio)
                     for point, log_ratio in _residuals(profile).get((kernel_class, warm), ()))[:3]
    weights = [1 / (distance + 0.1) ** 2 for distance, _ in nearest]
    weighted = sum(w * log_ratio for w, (_, log_ratio) in zip(weights, nearest))
    return math.exp(weighted / (sum(weights) + PRIOR_WEIGHT))


Residuals = dict[tuple[KernelClass, bool], list[tuple[tuple[float, ...], float]]]
_RESIDUALS: OrderedDict[int, tuple[Profile, Residuals]] = OrderedDict()
_RESIDUALS_KEPT = 8  # profiles whose residuals stay computed (a process uses one or two)


def _residuals(profile: Profile) -> Residuals:
    """Each sample's point and log(measured / roofline), by class and regime, computed once per
    profile object (profiles are frozen; the cache holds the profile, so its id stays its)."""
    cached = _RESIDUALS.get(id(profile))
    if cached is not None and cached[0] is profile:
        return cached[1]
    residuals: Residuals = {}
    for sample in profile.samples:
        predicted = roofline_seconds(profile, sample.kernel_class, sample.flops,
                                     sample.mac_bytes, sample.parallelism, sample.warm)[0]
        predicted += profile.module_call_overhead_s
        residuals.setdefault((sample.kernel_class, sample.warm), []).append(
            ((math.log10(sample.flops + 1), math.log10(sample.mac_bytes + 1), *sample.features),
             math.log(sample.seconds / predicted)))
    _RESIDUALS[id(profile)] = (profile, residuals)
    while len(_RESIDUALS) > _RESIDUALS_KEPT:
        _RESIDUALS.popitem(last=False)
    return residuals
