"""A mask of -100 makes a CPU's attention run on subnormal numbers (latency/subnormals.py): the
trace records the share of a buffer's entries in the band, the estimate follows the mask back
to it and prices the subnormal weights, and calibration measures the price."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from costlens import analyze
from costlens.graph import OpGraph
from costlens.latency import estimate, load_profile
from costlens.latency.attention_path import math_path
from costlens.latency.subnormals import SubnormalMask, subnormal_mask
from costlens.measure.calibrate import _Subnormals
from costlens.report.platform import render_profile

WINDOWS, HEADS, TOKENS, CHANNELS = 4, 3, 49, 32


class WindowAttention(nn.Module):
    """Swin's shape: windows as a fifth dimension (the math path), a learned bias plus a
    fixed mask buffer whose first `masked` columns hold `fill`."""

    def __init__(self, fill: float, masked: int = 7) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(HEADS, TOKENS, TOKENS))
        mask = torch.zeros(WINDOWS, 1, TOKENS, TOKENS)
        mask[..., :masked] = fill
        self.register_buffer("mask", mask)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, q, q, attn_mask=self.bias + self.mask)


def _windows() -> torch.Tensor:
    return torch.randn(1, WINDOWS, HEADS, TOKENS, CHANNELS)


def _attention(graph: OpGraph):
    (node,) = [node for node in graph.nodes
               if node.packet == "aten.scaled_dot_product_attention"]
    return node


@pytest.mark.parametrize("fill, share", [(-100.0, 7 / 49), (-90.0, 7 / 49),
                                         (float("-inf"), 0.0), (-1e4, 0.0), (-50.0, 0.0)])
def test_the_trace_records_the_share_of_a_buffer_whose_exponential_is_subnormal(
        fill: float, share: float) -> None:
    graph = analyze(WindowAttention(fill), (_windows(),)).graph
    assert {name: share for name, share, _ in graph.subnormal_exp}.get("mask", 0.0) == \
        pytest.approx(share)
    mask = subnormal_mask(graph, _attention(graph).input("attn_mask"))
    assert mask.share == pytest.approx(share)
    if share:  # the masked columns of every window: the subnormal entries lie evenly
        assert mask.slices == pytest.approx((1 / 16,) * 16, abs=0.01)
        assert mask.imbalance(threads=2) == pytest.approx(1.0, abs=0.02)
    assert OpGraph.from_json(graph.to_json()).subnormal_exp == graph.subnormal_exp


def test_the_estimate_prices_each_subnormal_weight_in_the_softmax_and_the_product() -> None:
    graph = analyze(WindowAttention(-100.0), (_windows(),)).graph
    parts = math_path(_attention(graph), 7 / 49)
    subnormal = WINDOWS * HEADS * TOKENS * 7  # the masked pairs, in every head
    assert sum(part.subnormal_exps for part in parts) == subnormal
    assert sum(part.subnormal_macs for part in parts) == subnormal * CHANNELS
    platform = load_profile("xeon-cpu-1t")
    priced = dataclasses.replace(platform, subnormal_mac_s=2e-9, subnormal_exp_s=2e-8)
    unpriced = dataclasses.replace(platform, subnormal_mac_s=None, subnormal_exp_s=None)
    analysis = analyze(WindowAttention(-100.0), (_windows(),))
    extra = (estimate(analysis, priced, typical=False).seconds
             - estimate(analysis, unpriced, typical=False).seconds)
    assert extra == pytest.approx(subnormal * (CHANNELS * 2e-9 + 2e-8))
    zeros = analyze(WindowAttention(float("-inf")), (_windows(),))
    assert estimate(zeros, priced, typical=False).seconds == pytest.approx(
        estimate(zeros, unpriced, typical=False).seconds)


class BorderWindows(WindowAttention):
    """As Swin's shifted windows: only the last window is masked, so the thread that takes the
    second half of the windows meets every subnormal weight."""

    def __init__(self) -> None:
        super().__init__(0.0)
        self.mask[-1, ..., :7] = -100.0


def test_threads_that_share_the_subnormal_weights_unevenly_take_the_longest_share() -> None:
    graph = analyze(BorderWindows(), (_windows(),)).graph
    mask = subnormal_mask(graph, _attention(graph).input("attn_mask"))
    assert mask.share == pytest.approx(7 / 49 / WINDOWS)
    assert sum(mask.slices[:12]) < 0.01 and sum(mask.slices) == pytest.approx(1.0)
    assert mask.imbalance(threads=1) == 1.0
    assert mask.imbalance(threads=2) == pytest.approx(2.0)  # all on one of two threads
    assert mask.imbalance(threads=2, copies=2) == pytest.approx(1.0)  # one map each
    assert SubnormalMask(0.1, (0.5, 0.5)).imbalance(threads=4) == pytest.approx(2.0)

    analysis = analyze(BorderWindows(), (_windows(),))
    one = dataclasses.replace(load_profile("xeon-cpu-1t"), subnormal_mac_s=2e-9,
                              subnormal_exp_s=2e-8)
    extra = {}
    for threads in (1, 2):
        priced = dataclasses.replace(one, threads=threads)
        unpriced = dataclasses.replace(priced, subnormal_mac_s=None, subnormal_exp_s=None)
        extra[threads] = (estimate(analysis, priced, typical=False).seconds
                          - estimate(analysis, unpriced, typical=False).seconds)
    assert extra[2] == pytest.approx(2 * extra[1])


def test_calibration_prices_subnormals_from_its_paired_runs() -> None:
    subnormals = _Subnormals()
    works = subnormals.works()
    assert set(works) == {"subnormal product", "normal product", "subnormal softmax",
                          "normal softmax"}
    weights = subnormals.weights["subnormal"]
    band = (weights > 0) & (weights < torch.finfo(torch.float32).smallest_normal)
    assert int(band.sum()) == subnormals.count
    scores = torch.softmax(subnormals.scores["subnormal"], -1)
    assert int(((scores > 0) & (scores < torch.finfo(torch.float32).smallest_normal)).sum()) \
        >= 0.9 * subnormals.count
    assert int((torch.softmax(subnormals.scores["normal"], -1) == 0).sum()) == subnormals.count
    seconds = {"subnormal product": 3e-3, "normal product": 1e-3,
               "subnormal softmax": 2e-3, "normal softmax": 2.5e-3}
    mac_s, exp_s = subnormals.costs(seconds)
    assert mac_s == pytest.approx(2e-3 / (subnormals.count * subnormals.CHANNELS))
    assert exp_s == 0.0  # never negative: noise cannot make subnormals cheaper


def test_calibrate_prints_the_prices_it_measured() -> None:
    platform = dataclasses.replace(load_profile("xeon-cpu-1t"), subnormal_mac_s=2.4e-9,
                                   subnormal_exp_s=2.1e-8)
    assert ("Subnormal numbers: 2.40 ns more per multiply-add on one, 21.0 ns per softmax "
            "weight that comes out one.") in render_profile(platform, "p.json")
    unpriced = dataclasses.replace(platform, subnormal_mac_s=None)
    assert "Subnormal" not in render_profile(unpriced, "p.json")
