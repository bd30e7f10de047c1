"""How cold each op runs: the network's weights against the core's cache, and for an op that
streams maps still in the core's cache, its kernel's reuse distance against the last-level
cache; for a conv or matrix product, the part of its cold excess that is not its weights as cold
as the memory the forward holds at its peak, against the last-level cache."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from helpers import made_up_profile
from torch import nn

import costlens
from costlens.latency.classes import KernelClass, kernel_class
from costlens.latency.coldness import (
    kernel_coldness,
    kernel_state_coldness,
    op_coldness,
    split_coldness,
    splits_cold_excess,
    working_set_bytes,
)
from costlens.latency.estimate import estimate
from costlens.latency.profile import ClassRate, Profile
from costlens.latency.roofline import op_seconds
from costlens.measure.device import CPU

LAST_LEVEL = 32 << 20


def test_working_set_is_the_weights_and_buffers_once_each_and_what_the_ops_write() -> None:
    shared = nn.Conv2d(4, 4, 1, bias=False)
    chain = nn.Sequential(nn.Conv2d(4, 8, 1, bias=False), nn.BatchNorm2d(8).eval(),
                          nn.ReLU(inplace=True), nn.Conv2d(8, 4, 1, bias=False), shared, shared,
                          nn.Flatten())
    analysis = costlens.analyze(chain, torch.randn(1, 4, 16, 16))
    weights, norm = (4 * 8 + 8 * 4 + 4 * 4) * 4, 4 * 8 * 4
    # the shared conv's weight counts once; of the maps, each conv's and the batch norm's
    # output with its two statistics (the ReLU writes over its input, the flatten is a view);
    # the input not at all
    maps = (8 + 8 + 4 + 4 + 4) * 16 * 16 * 4 + 2 * 8 * 4
    assert working_set_bytes(analysis) == weights + norm + maps


def test_a_kernel_is_warm_up_to_an_eighth_of_the_last_level_cache_and_cold_from_four_times_it(
        ) -> None:
    assert kernel_coldness(LAST_LEVEL // 8, LAST_LEVEL) == 0
    assert kernel_coldness(4 * LAST_LEVEL, LAST_LEVEL) == 1
    assert kernel_coldness(100 * LAST_LEVEL, LAST_LEVEL) == 1
    halfway = int(LAST_LEVEL / 8 * math.sqrt(32))  # log-linear between the two
    assert kernel_coldness(halfway, LAST_LEVEL) == pytest.approx(0.5, abs=1e-6)
    assert kernel_coldness(0, None) == 1  # an older profile, or a GPU: as cold as the network


class Residual(nn.Module):
    """Convs whose weights miss a tiny cache, each followed by a batch norm and a ReLU, and a
    shortcut's add that reads a map written three ops before."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Sequential(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.second = nn.Sequential(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.first(x)
        return self.second(y) + y


def _op_coldness(analysis: costlens.Analysis, device: Profile) -> list[float]:
    return op_coldness(analysis, device, device.coldness(working_set_bytes(analysis)))


def _coldness_by_class(last_level: int | None) -> dict[KernelClass, set[float]]:
    analysis = costlens.analyze(Residual().eval(), torch.randn(1, 8, 16, 16))
    device = made_up_profile(cache_bytes=64, last_level_cache_bytes=last_level)
    by_class: dict[KernelClass, set[float]] = {}
    for node, op, coldness in zip(analysis.graph.nodes, analysis.ops,
                                  _op_coldness(analysis, device)):
        by_class.setdefault(kernel_class(node, op.category), set()).add(coldness)
    return by_class


def test_an_op_on_one_map_is_as_cold_as_its_kernel_and_the_rest_as_the_network() -> None:
    by_class = _coldness_by_class(LAST_LEVEL)
    assert by_class[KernelClass.NORMALIZATION] == {0.0}  # its kernel ran 8 KB ago
    assert by_class[KernelClass.CONV_1X1] == {1.0}  # its weights: the network misses the cache
    assert by_class[KernelClass.ELEMENTWISE] == {0.0, 1.0}  # the ReLUs warm; the add of two maps
    assert _coldness_by_class(None)[KernelClass.NORMALIZATION] == {1.0}


class Squeezed(nn.Module):
    """A conv whose weights miss a tiny cache, then the mean of the map it just wrote (a
    squeeze-excitation's squeeze)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean((2, 3))


def test_a_reduction_of_the_map_just_written_is_as_cold_as_its_kernel() -> None:
    analysis = costlens.analyze(Squeezed().eval(), torch.randn(1, 8, 16, 16))
    mean = next(node.index for node in analysis.graph.nodes if node.packet == "aten.mean")
    for last_level, expected in ((LAST_LEVEL, 0.0), (None, 1.0)):
        device = made_up_profile(cache_bytes=64, last_level_cache_bytes=last_level)
        assert _op_coldness(analysis, device)[mean] == expected


class Gated(nn.Module):
    """A stack of convs whose weights and maps miss a small cache, then a gate: its product
    reads the stack's output, written two ops before, and the sigmoid's, written just now."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(*(layer for _ in range(6) for layer in (
            nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())))
        self.gate = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return y * torch.sigmoid(self.gate(y))


def test_an_op_on_several_maps_is_as_cold_as_its_kernel_while_they_are_in_cache() -> None:
    analysis = costlens.analyze(Gated().eval(), torch.randn(1, 8, 16, 16))
    product = next(node.index for node in analysis.graph.nodes if node.packet == "aten.mul")
    between = 2 * 8 * 16 * 16 * 4 + (8 * 8 + 8) * 4  # the gate conv's and sigmoid's traffic
    for cache, expected in ((between, 0.0), (between - 1, 1.0)):
        device = made_up_profile(cache_bytes=cache, last_level_cache_bytes=LAST_LEVEL)
        assert device.coldness(working_set_bytes(analysis)) == 1
        assert _op_coldness(analysis, device)[product] == expected


def test_a_kernel_that_runs_once_a_forward_is_reused_a_forward_later() -> None:
    analysis = costlens.analyze(nn.Sequential(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8)).eval(),
                                torch.randn(1, 8, 16, 16))
    forward = working_set_bytes(analysis)
    norm = len(analysis.ops) - 1
    reuse = forward - 8 * 16 * 16 * 4 - 2 * 8 * 4 - 4 * 8 * 4  # all but the norm's own traffic
    for last_level in (reuse * 8, reuse * 8 // 3):
        device = made_up_profile(cache_bytes=1, last_level_cache_bytes=last_level)
        assert _op_coldness(analysis, device)[norm] == pytest.approx(
            kernel_coldness(reuse, last_level))


def test_a_warm_kernel_makes_the_estimate_faster() -> None:
    analysis = costlens.analyze(Residual().eval(), torch.randn(1, 8, 16, 16))
    warm = dict(made_up_profile().rates)
    warm[KernelClass.NORMALIZATION] = ClassRate(1e10, 1e10, 1e-7)
    device = made_up_profile(cache_bytes=64, warm_rates=warm)
    with_cache = made_up_profile(cache_bytes=64, warm_rates=warm, last_level_cache_bytes=LAST_LEVEL)
    assert estimate(analysis, with_cache).seconds < estimate(analysis, device).seconds


class Repeated(nn.Module):
    """Two convs of one shape back to back, then `width` channels of element-wise ops on
    their output, each freeing the map before it."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.first, self.second = nn.Conv2d(8, 8, 1), nn.Conv2d(8, width, 1)
        self.chain = nn.Sequential(*(nn.GELU() for _ in range(16)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.chain(self.second(self.first(x)))


def test_a_convs_kernel_state_is_as_cold_as_the_memory_the_forward_holds_at_its_peak() -> None:
    device = made_up_profile(cache_bytes=64, last_level_cache_bytes=4 << 20)
    narrow = costlens.analyze(Repeated(8).eval(), torch.randn(1, 8, 16, 16))
    convs = [(node, op) for node, op in zip(narrow.graph.nodes, narrow.ops)
             if node.packet == "aten.convolution"]
    assert len(convs) == 2
    assert all(splits_cold_excess(node, kernel_class(node, op.category)) for node, op in convs)
    # 16 maps of 8 KB written, two live at a time: the forward holds far less than the cache
    assert kernel_state_coldness(narrow, device) == 0.0
    wide = costlens.analyze(Repeated(2048).eval(), torch.randn(1, 8, 16, 16))
    peak = wide.totals.peak_bytes  # a few 2 MB maps live at once, of 17 written
    assert working_set_bytes(wide) > 4 * peak
    between = kernel_coldness(peak, 4 << 20)
    assert 0 < between < 1
    assert kernel_state_coldness(wide, device) == between
    assert kernel_state_coldness(narrow, made_up_profile(cache_bytes=64)) is None  # no cache


def test_only_a_conv_or_matrix_product_with_weights_on_one_map_splits_its_excess() -> None:
    analysis = costlens.analyze(Residual().eval(), torch.randn(1, 8, 16, 16))
    splits = {node.packet: splits_cold_excess(node, kernel_class(node, op.category))
              for node, op in zip(analysis.graph.nodes, analysis.ops)}
    assert splits["aten.convolution"]
    assert not splits["aten.add"]  # no weights, two maps
    assert not splits["aten.relu"]


def test_only_the_kernel_states_share_of_the_cold_excess_warms() -> None:
    # half the excess moves the weights (as cold as the network), half is the kernel's state
    assert split_coldness(1.0, 0.0, excess_s=2e-6, weights_s=1e-6) == 0.5
    assert split_coldness(1.0, 0.0, excess_s=2e-6, weights_s=5e-6) == 1.0  # all weights
    assert split_coldness(0.6, 0.2, excess_s=0.0, weights_s=0.0) == 0.6  # no excess to split
    assert split_coldness(0.3, 1.0, excess_s=1e-6, weights_s=0.0) == 0.3  # never colder

    # a conv alone: nothing else between two of its runs, so its kernel's state stays warm
    analysis = costlens.analyze(nn.Conv2d(8, 8, 1).eval(), torch.randn(1, 8, 16, 16))
    conv = next(node.index for node in analysis.graph.nodes
                if node.packet == "aten.convolution")
    warm = {name: ClassRate(1e10, 1e10, 1e-7) for name in made_up_profile().rates}
    device = made_up_profile(cache_bytes=64, warm_rates=warm)
    known = dataclasses.replace(device, last_level_cache_bytes=512 << 10)
    assert estimate(analysis, device).ops[conv].coldness == 1.0
    op = analysis.ops[conv]
    cold, warm = (op_seconds(known, KernelClass.CONV_1X1, op.flops, op.mac_bytes,
                             op.parallelism, coldness)[0] for coldness in (1.0, 0.0))
    weights_s = (8 * 8 + 8) * 4 / known.bandwidth_bytes_per_s  # its weight and bias
    assert weights_s < cold - warm
    assert estimate(analysis, known).ops[conv].coldness == pytest.approx(
        weights_s / (cold - warm))
    assert estimate(analysis, known).seconds < estimate(analysis, device).seconds


def test_the_cpu_reads_its_last_level_cache_from_sysfs() -> None:
    cpu = CPU()
    last_level = cpu.last_level_cache_bytes()
    if last_level is None:
        pytest.skip("no cache sizes in sysfs here")
    assert last_level >= cpu.cache_bytes() > 0
