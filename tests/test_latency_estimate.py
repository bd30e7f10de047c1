"""The latency estimate: the roofline per op, fixed costs, utilization, overlap, fusion, and
how per-op times add up to layers and the total."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from helpers import made_up_profile
from torch import nn

import costlens
from costlens.latency.classes import KernelClass, kernel_class
from costlens.latency.estimate import estimate
from costlens.latency.roofline import Bound, op_seconds, size_correction

COMPUTE, MEMORY, OVERHEAD, FUSED = Bound.COMPUTE, Bound.MEMORY, Bound.OVERHEAD, Bound.FUSED


def test_roofline_takes_the_slower_of_compute_and_memory_plus_the_fixed_cost() -> None:
    device = made_up_profile()
    assert op_seconds(device, KernelClass.CONV_DENSE, 10_000, 100, 10) == pytest.approx(
        (1e-6 + 10e-6, COMPUTE))
    # 1000 bytes in cache at 1 GB/s, 4000 beyond it at 0.5 GB/s
    assert op_seconds(device, KernelClass.ELEMENTWISE, 10, 5000, 10) == pytest.approx(
        (1e-6 + 1e-6 + 8e-6, MEMORY))
    assert op_seconds(device, KernelClass.ELEMENTWISE, 1, 1, 1) == pytest.approx(
        (1e-6 + 1e-9, OVERHEAD))
    assert op_seconds(device, KernelClass.VIEW, 0, 0, 0) == (0.5e-6, OVERHEAD)
    assert op_seconds(device, KernelClass.UNSUPPORTED, 0, 0, 0) == (1e-6, OVERHEAD)


def test_too_little_parallelism_leaves_the_device_partly_idle() -> None:
    device = made_up_profile(saturation=100.0)
    full = op_seconds(device, KernelClass.MATMUL, 10_000, 0, 100)[0] - 1e-6
    quarter = op_seconds(device, KernelClass.MATMUL, 10_000, 0, 25)[0] - 1e-6
    assert quarter == pytest.approx(4 * full)


def test_an_overlapping_device_hides_the_fixed_cost_behind_the_kernel() -> None:
    device = made_up_profile(overlap=True)
    assert op_seconds(device, KernelClass.CONV_DENSE, 10_000, 0, 10)[0] == pytest.approx(10e-6)
    assert op_seconds(device, KernelClass.CONV_DENSE, 10, 0, 10) == pytest.approx((1e-6, OVERHEAD))


class ConvBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))
        return torch.relu(self.conv2(y) + x)


def test_times_add_up_to_layers_and_the_total() -> None:
    analysis = costlens.analyze(nn.Sequential(ConvBlock(), ConvBlock()), torch.randn(1, 8, 8, 8))
    latency = estimate(analysis, made_up_profile())
    calls = len(analysis.graph.calls)
    assert latency.seconds == pytest.approx(sum(op.seconds for op in latency.ops)
                                            + calls * 2e-6)
    assert latency.module_call_seconds == pytest.approx(calls * 2e-6)
    assert latency.layers[""].seconds == pytest.approx(latency.seconds)
    children = [latency.layers[name] for name in ("0", "1")]
    root_call = 2e-6
    assert sum(layer.seconds for layer in children) + root_call == pytest.approx(latency.seconds)
    assert sum(layer.share for layer in children) == pytest.approx(1 - root_call / latency.seconds)


def test_fusion_folds_batch_norm_and_fuses_activations_into_their_producer() -> None:
    analysis = costlens.analyze(ConvBlock(), torch.randn(1, 8, 8, 8))
    device = made_up_profile()
    plain, fused = estimate(analysis, device), estimate(analysis, device, fuse=True)
    ops = {op.op.split(".")[1]: time for op, time in zip(analysis.ops, fused.ops)}
    assert [t.bound for op, t in zip(analysis.ops, fused.ops)
            if op.op.startswith(("aten.native_batch_norm", "aten.relu"))] == [FUSED] * 3
    convs = [i for i, op in enumerate(analysis.ops) if op.category == "conv"]
    adds = [i for i, op in enumerate(analysis.ops) if op.op.startswith("aten.add")]
    batch_norm = next(t for op, t in zip(analysis.ops, fused.ops) if "batch_norm" in op.op)
    assert batch_norm.fused_into == convs[0]
    relus = [t for op, t in zip(analysis.ops, fused.ops) if op.op.startswith("aten.relu")]
    assert [relu.fused_into for relu in relus] == [convs[0], adds[0]]
    assert ops["add"].bound != FUSED
    assert fused.module_call_seconds == 0
    assert fused.seconds < plain.seconds


def test_an_output_read_twice_is_not_fused() -> None:
    class TwoReaders(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return torch.relu(y) + y

    analysis = costlens.analyze(TwoReaders(), torch.randn(1, 4, 4, 4))
    fused = estimate(analysis, made_up_profile(), fuse=True)
    assert FUSED not in {time.bound for time in fused.ops}


def test_coldness_follows_the_working_set() -> None:
    device = made_up_profile(cache_bytes=1 << 20)
    assert device.coldness(1 << 19) == 0 and device.coldness(1 << 20) == 0
    assert device.coldness(1 << 21) == pytest.approx(0.5)
    assert device.coldness(1 << 22) == 1 and device.coldness(1 << 30) == 1


def test_cold_and_warm_rates_blend_by_coldness() -> None:
    warm = {name: dataclasses.replace(rate, flops_per_s=4e9)
            for name, rate in made_up_profile().rates.items()}
    device = made_up_profile(warm_rates=warm, cache_bytes=10**9)
    cold = op_seconds(device, KernelClass.CONV_DENSE, 10_000, 0, 10, coldness=1.0)[0]
    hot = op_seconds(device, KernelClass.CONV_DENSE, 10_000, 0, 10, coldness=0.0)[0]
    assert cold == pytest.approx(11e-6) and hot == pytest.approx(1e-6 + 2.5e-6)
    assert op_seconds(device, KernelClass.CONV_DENSE, 10_000, 0, 10,
                      coldness=0.5)[0] == pytest.approx(
        (cold + hot) / 2)


def test_a_calibration_sample_corrects_ops_of_its_size() -> None:
    from costlens.latency.profile import Sample
    device = made_up_profile()
    # + its module call
    roofline = op_seconds(device, KernelClass.CONV_1X1, 10_000, 100, 10)[0] + 2e-6
    slow = Sample(KernelClass.CONV_1X1, "slow shape", 10_000, 100, 10, 2 * roofline)  # cold
    corrected = dataclasses.replace(device, samples=(slow,))
    # 100 parts the sample's ratio of 2, 1 part no correction
    assert size_correction(corrected, KernelClass.CONV_1X1, 10_000, 100) == pytest.approx(
        2 ** (100 / 101))
    far = size_correction(corrected, KernelClass.CONV_1X1, 10_000_000, 100_000)
    assert 1 < far < 1.5  # pulled towards no correction away from the sample
    # no samples of that class
    assert size_correction(corrected, KernelClass.CONV_DENSE, 10_000, 100) == 1


def test_shape_features_describe_a_conv_by_its_channels_per_group_kernel_and_stride() -> None:
    from costlens.latency.classes import conv_features, shape_features
    grouped = costlens.analyze(nn.Conv2d(64, 128, 3, groups=4, bias=False),
                               torch.randn(1, 64, 8, 8))
    transposed = costlens.analyze(nn.ConvTranspose2d(64, 128, 3, groups=4, bias=False),
                                  torch.randn(1, 64, 8, 8))
    for analysis in (grouped, transposed):
        node, op = analysis.graph.nodes[0], analysis.ops[0]
        positions = 6 * 6 if analysis is grouped else 10 * 10
        assert shape_features(node, KernelClass.CONV_GROUPED, op.flops, op.parallelism) == \
            pytest.approx((math.log10(16), math.log10(32), math.log10(9), math.log10(positions),
                           0.0))
        # what rules pass for a conv they would have instead compares with the same samples
        assert len(conv_features(1, 1, 1, 1)) == len(
            shape_features(node, KernelClass.CONV_GROUPED, 1, 1))
    strided = costlens.analyze(nn.Conv2d(8, 16, 1, 2, bias=False), torch.randn(1, 8, 8, 8))
    node, op = strided.graph.nodes[0], strided.ops[0]
    assert shape_features(node, KernelClass.CONV_1X1, op.flops, op.parallelism)[-1] == \
        pytest.approx(math.log10(4))  # a stride of 2 steps over 4 input positions
    linear = costlens.analyze(nn.Linear(256, 10), torch.randn(4, 256))
    matmul = next(op for op in linear.ops if op.category == "matmul")
    assert shape_features(linear.graph.nodes[matmul.index], KernelClass.MATMUL, matmul.flops,
                          matmul.parallelism) == pytest.approx((math.log10(257),))


def test_the_correction_follows_the_sample_of_the_same_shape() -> None:
    """Two samples of equal FLOPs and bytes, a 3x3 conv with 4 channels per group running 4x
    its roofline and a 1x1 one with 32 on it: each op is corrected by its own kind."""
    from costlens.latency.classes import conv_features
    from costlens.latency.profile import Sample
    device = made_up_profile()
    flops, nbytes = 10**7, 10**6
    roofline = op_seconds(device, KernelClass.CONV_GROUPED, flops, nbytes, 10**6)[0] + 2e-6
    narrow, wide = conv_features(4, 4, 9, 3136), conv_features(32, 32, 1, 3136)
    samples = (Sample(KernelClass.CONV_GROUPED, "3x3 g32", flops, nbytes, 10**6, 4 * roofline,
                      features=narrow),
               Sample(KernelClass.CONV_GROUPED, "1x1 g4", flops, nbytes, 10**6, roofline,
                      features=wide))
    corrected = dataclasses.replace(device, samples=samples)
    assert size_correction(corrected, KernelClass.CONV_GROUPED, flops, nbytes, features=narrow) > 3
    assert size_correction(corrected, KernelClass.CONV_GROUPED, flops, nbytes, features=wide) < 1.5
    # samples of a profile made before shape features are compared by size alone
    old = dataclasses.replace(device, samples=tuple(
        dataclasses.replace(s, features=()) for s in samples))
    assert size_correction(old, KernelClass.CONV_GROUPED, flops, nbytes,
                           features=wide) == pytest.approx(
        size_correction(old, KernelClass.CONV_GROUPED, flops, nbytes, features=narrow))


def test_in_place_and_transcendental_ops_are_told_apart() -> None:
    """A ReLU written over its input has a class of its own (no output buffer to fill), a SiLU
    a feature of its own (one FLOP per element, as a ReLU, but several times its time); a
    matrix product is told apart by its inner dimension alone."""
    from costlens.latency.classes import op_features, shape_features
    from costlens.latency.profile import Sample
    seen = {}
    for layer in (nn.ReLU(), nn.ReLU(inplace=True), nn.SiLU(), nn.SiLU(inplace=True)):
        analysis = costlens.analyze(layer, torch.randn(1, 8, 4, 4))
        node, op = analysis.graph.nodes[0], analysis.ops[0]
        cls = kernel_class(node, op.category)
        seen[node.packet] = cls, shape_features(node, cls, op.flops, op.parallelism)
    inplace, out_of_place = KernelClass.ELEMENTWISE_INPLACE, KernelClass.ELEMENTWISE
    plain, transcendental = (math.log10(2), 0.0), (math.log10(2), 1.0)
    assert seen == {"aten.relu": (out_of_place, plain), "aten.relu_": (inplace, plain),
                    "aten.silu": (out_of_place, transcendental),
                    "aten.silu_": (inplace, transcendental)}
    assert op_features(KernelClass.MATMUL, 512, 2) == pytest.approx((math.log10(257),))

    device = made_up_profile()
    flops = nbytes = 10**6
    roofline = op_seconds(device, out_of_place, flops, nbytes, flops)[0] + 2e-6
    samples = (Sample(out_of_place, "silu", flops, nbytes, flops, 4 * roofline,
                      features=transcendental),
               Sample(out_of_place, "relu", flops, nbytes, flops, roofline, features=plain))
    corrected = dataclasses.replace(device, samples=samples)
    assert size_correction(corrected, out_of_place, flops, nbytes, features=transcendental) > 3
    assert size_correction(corrected, out_of_place, flops, nbytes, features=plain) < 1.5
    # a sample from before the feature is compared on the features it has
    older = dataclasses.replace(device, samples=(dataclasses.replace(
        samples[0], features=transcendental[:1]),))
    assert size_correction(older, out_of_place, flops, nbytes, features=plain) > 2


def test_a_logical_reduction_is_told_apart_from_a_mean_of_as_many_elements() -> None:
    """An `all` over booleans runs another kernel than a float mean: a feature of its own, so
    that a slow `all` sample does not price a squeeze-excitation's mean."""
    from costlens.latency.classes import shape_features
    from costlens.latency.profile import Sample

    class Reductions(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x.mean((2, 3)), (x > 0).all(-1)

    analysis = costlens.analyze(Reductions(), torch.randn(1, 8, 7, 7))
    features = {node.packet: shape_features(node, KernelClass.REDUCTION, op.flops or 0,
                                            op.parallelism or 0)
                for node, op in zip(analysis.graph.nodes, analysis.ops)
                if kernel_class(node, op.category) is KernelClass.REDUCTION}
    assert features["aten.mean"][1:] == (0.0,) and features["aten.all"][1:] == (1.0,)

    device = made_up_profile()
    flops = nbytes = 10**5
    roofline = op_seconds(device, KernelClass.REDUCTION, flops, nbytes, 100)[0] + 2e-6
    samples = (Sample(KernelClass.REDUCTION, "all", flops, nbytes, 100, 7 * roofline,
                      features=(2.0, 1.0)),
               Sample(KernelClass.REDUCTION, "mean", flops, nbytes, 100, roofline,
                      features=(2.0, 0.0)))
    corrected = dataclasses.replace(device, samples=samples)
    assert size_correction(corrected, KernelClass.REDUCTION, flops, nbytes,
                           features=(2.0, 0.0)) < 1.1
    assert size_correction(corrected, KernelClass.REDUCTION, flops, nbytes,
                           features=(2.0, 1.0)) > 5
    # without the feature the two samples are one size and the mean is priced between them
    blind = dataclasses.replace(device, samples=tuple(
        dataclasses.replace(sample, features=sample.features[:1]) for sample in samples))
    assert size_correction(blind, KernelClass.REDUCTION, flops, nbytes, features=(2.0,)) > 2


def test_layer_times_add_up_as_the_rows_do() -> None:
    """Under every module, its children's times and its own-forward row's add up to its time;
    a module with no row of its own (a container) adds only the fixed cost of its calls."""
    from helpers import example
    analysis = costlens.analyze(*example("gpt").gpt())
    device = made_up_profile()
    latency = estimate(analysis, device)
    calls = {layer.name: layer.calls for layer in analysis.layers}
    own_rows = {layer.forward_of for layer in analysis.layers if layer.forward_of is not None}
    checked = 0
    for parent in analysis.layers:
        if parent.forward_of is not None:
            continue
        prefix = f"{parent.name}." if parent.name else ""
        children = [layer.name for layer in analysis.layers
                    if layer.depth == parent.depth + 1 and layer.name.startswith(prefix)]
        if not children:
            continue
        checked += 1
        container = 0.0 if parent.name in own_rows else \
            calls[parent.name] * device.module_call_overhead_s
        assert sum(latency.layers[name].seconds for name in children) + container == \
            pytest.approx(latency.layers[parent.name].seconds, rel=1e-12), parent.name
    assert checked >= 10 and "" in own_rows
    assert latency.layers[""].seconds == pytest.approx(latency.seconds)
