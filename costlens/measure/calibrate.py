"""`costlens calibrate`: measure a device and fit the parameters of a platform profile.

Calibration runs one network of its own, round after round: every calibration layer (nn
layers, or small modules for bare tensor operations, over a range of shapes of common CNN and
transformer layers) in two regimes, the tiny layers that give the fixed costs per op, and a
streaming copy, each call timed where it stands (timing.interleaved), in a new order every
round that keeps layers of about one size together, as a network's ops are. A layer runs cold
as a large network runs it, once, its weights and code last used a round of other layers ago;
and warm as a small network runs it, straight after a few calls of itself. Both find their
input just written, as the op before a layer leaves it. A figure is the lower quartile of the
rounds (timing.best_of).

Each sample's FLOPs, MAC bytes and parallelism come from costlens's own trace of the layer, so
the estimate reads the figures the fit was made on. Per class a grid search finds the FLOP
rate and byte rate that minimise the squared log error of the predicted layer times: relative
error is what matters for times that span four decades.
"""
from __future__ import annotations

import dataclasses
import datetime
import itertools
import math
import mmap
import random
import statistics
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..api import analyze
from ..latency.allocator import ALIGNMENT_SLACK, MMAP_THRESHOLD, PAGE
from ..latency.classes import (
    PROFILED_CLASSES,
    KernelClass,
    kernel_class,
    shape_features,
)
from ..latency.profile import ClassRate, Profile, Sample
from .device import CPU, Device
from .timing import ROUNDS, Work, best_of, interleaved, threads

WARM_UP_CALLS = 3  # untimed calls before a warm timing


@dataclass(frozen=True)
class Case:
    """One shape of one kernel class: a layer factory and the input it runs on."""

    kernel_class: KernelClass
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
    """The calibration set: shapes of common CNN and transformer layers at batch 1 (ResNet,
    MobileNet, ShuffleNet, Inception, GPT and Llama blocks) and of the paper's experiments."""
    out: list[Case] = []

    def conv(cls: str, cin: int, cout: int, size: int, kernel: int, stride: int = 1,
             groups: int = 1) -> None:
        out.append(Case(cls, f"{cin}->{cout} {kernel}x{kernel}/{stride} g{groups} @{size}",
                        lambda: nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups,
                                          bias=False),
                        _maps(cin, size)))

    for cin, cout, size, stride in [(3, 24, 224, 2), (3, 64, 224, 2), (3, 32, 224, 2),
                                    (16, 16, 112, 1), (32, 32, 112, 1), (16, 16, 56, 1),
                                    (32, 32, 56, 1), (64, 64, 56, 1), (64, 192, 56, 1),
                                    (128, 128, 56, 1), (32, 32, 28, 1), (64, 64, 28, 1),
                                    (96, 128, 28, 1), (128, 128, 28, 1), (256, 256, 28, 1),
                                    (64, 64, 14, 1), (128, 128, 14, 1), (160, 320, 14, 1),
                                    (256, 256, 14, 1), (512, 512, 14, 1), (128, 128, 7, 1),
                                    (256, 256, 7, 1), (512, 512, 7, 1), (128, 128, 56, 2),
                                    (256, 256, 28, 2), (512, 512, 14, 2)]:
        conv(KernelClass.CONV_DENSE, cin, cout, size, 3, stride)
    conv(KernelClass.CONV_DENSE, 3, 64, 224, 7, 2)
    conv(KernelClass.CONV_DENSE, 32, 64, 28, 5)
    conv(KernelClass.CONV_DENSE, 16, 32, 14, 5)
    for cin, cout, size in [(32, 32, 14), (96, 96, 14), (192, 48, 7), (384, 384, 7)]:
        conv(KernelClass.CONV_DENSE, cin, cout, size, 3)  # native at any thread count
    for cin, cout, size in [(96, 24, 28), (192, 48, 14), (256, 64, 28)]:
        conv(KernelClass.CONV_DENSE, cin, cout, size, 3)  # a few outputs from many inputs
    for cin, cout, size in [(9, 108, 56), (108, 9, 56), (32, 32, 56), (22, 44, 56),
                            (16, 16, 56), (24, 24, 56), (58, 58, 28), (64, 256, 56),
                            (256, 64, 56), (128, 128, 28), (116, 116, 14), (256, 256, 14),
                            (232, 232, 7), (512, 2048, 7), (2048, 512, 7), (32, 192, 28),
                            (960, 160, 7), (13, 78, 56), (128, 128, 56), (16, 96, 112),
                            (32, 16, 112), (64, 64, 56), (256, 128, 56), (192, 32, 28),
                            (256, 512, 28), (512, 256, 28), (512, 128, 28), (96, 576, 14),
                            (512, 1024, 14), (1024, 512, 14), (1024, 256, 14),
                            (1024, 2048, 7), (320, 1280, 7), (464, 1024, 7),
                            # inputs small enough to run natively at any thread count
                            # (latency/dispatch.py): late stages of mobile networks
                            (16, 64, 28), (24, 96, 28), (48, 192, 14), (40, 240, 14),
                            (96, 96, 14), (80, 320, 14), (64, 64, 14), (128, 512, 7),
                            (160, 640, 7), (256, 1024, 7), (384, 96, 7), (192, 48, 7),
                            (400, 400, 7)]:
        conv(KernelClass.CONV_1X1, cin, cout, size, 1)
    for cin, cout, size in [(32, 64, 112), (64, 128, 56), (128, 256, 28), (256, 512, 14),
                            (256, 512, 56), (512, 1024, 28)]:
        conv(KernelClass.CONV_1X1, cin, cout, size, 1, 2)  # a shortcut that halves the map
    for channels, size, stride in [(24, 56, 2), (58, 28, 1), (116, 14, 1), (232, 7, 1),
                                   (32, 112, 1), (96, 112, 2), (144, 56, 1), (192, 28, 1),
                                   (384, 14, 1), (960, 7, 1), (48, 28, 1), (144, 28, 2)]:
        conv(KernelClass.CONV_DEPTHWISE, channels, channels, size, 3, stride, groups=channels)
    for cin, cout, size, kernel, groups in [(128, 128, 56, 3, 32), (256, 256, 28, 3, 32),
                                            (512, 512, 14, 3, 32), (1024, 1024, 7, 3, 32),
                                            (240, 60, 28, 1, 3), (60, 240, 28, 1, 3),
                                            (180, 180, 56, 1, 2), (256, 256, 56, 1, 4),
                                            (360, 360, 56, 1, 8), (90, 90, 56, 1, 2),
                                            (360, 360, 28, 1, 8), (64, 64, 56, 1, 4),
                                            (128, 128, 56, 1, 4), (192, 192, 56, 1, 8),
                                            (96, 96, 28, 1, 4), (480, 120, 14, 1, 3),
                                            (120, 480, 14, 1, 3), (64, 64, 56, 3, 4),
                                            (128, 128, 28, 3, 8)]:
        conv(KernelClass.CONV_GROUPED, cin, cout, size, kernel, groups=groups)
    for tokens, cin, cout in [(1, 1024, 1000), (1, 2048, 1000), (1, 464, 1000), (16, 256, 256),
                              (64, 256, 1024), (128, 512, 512), (256, 1024, 256),
                              (128, 256, 768), (256, 128, 128), (4, 512, 512), (1, 1280, 1000),
                              (128, 256, 256), (128, 1024, 256), (256, 256, 688),
                              (256, 688, 256), (256, 256, 1024), (128, 256, 8192),
                              (128, 768, 3072), (32, 512, 2048), (256, 256, 256),
                              (512, 512, 512), (64, 768, 768)]:
        out.append(Case(KernelClass.MATMUL, f"{tokens}x{cin}->{cout}", lambda cin=cin, cout=cout:
                        nn.Linear(cin, cout), _tokens(tokens, cin)))
    for tokens, cin, cout in [(16, 512, 512), (128, 256, 256), (256, 512, 512), (64, 768, 768),
                              (512, 256, 1024), (128, 1024, 512),  # bias-free, as in Llama
                              (1, 4096, 4096), (1, 4096, 11008)]:  # and its decode at 7B
        out.append(Case(KernelClass.MATMUL, f"{tokens}x{cin}->{cout} no bias",
                        lambda cin=cin, cout=cout: nn.Linear(cin, cout, bias=False),
                        _tokens(tokens, cin)))
    for heads, length, dim in [(4, 64, 32), (4, 256, 32), (8, 128, 64), (8, 512, 64),
                               (2, 32, 16), (4, 128, 64)]:
        out.append(Case(KernelClass.ATTENTION, f"{heads}h L{length} d{dim}",
                        lambda: _Call(F.scaled_dot_product_attention),
                        lambda heads=heads, length=length, dim=dim: tuple(
                            torch.randn(1, heads, length, dim) for _ in range(3))))
    for channels, size, kernel, stride in [(24, 112, 3, 2), (64, 112, 3, 2), (16, 56, 3, 2),
                                           (64, 56, 2, 2), (128, 28, 2, 2), (192, 28, 3, 1),
                                           (32, 14, 3, 1), (192, 56, 3, 2), (256, 28, 3, 1),
                                           (480, 28, 3, 2), (512, 14, 3, 1), (832, 7, 3, 1)]:
        out.append(Case(KernelClass.POOL_MAX, f"{channels}@{size} {kernel}x{kernel}/{stride}",
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
        out.append(Case(KernelClass.POOL_AVG, f"average {channels}@{size} {kind}", layer,
                        _maps(channels, size)))
    for channels, size in [(8, 8), (24, 28), (24, 112), (64, 56), (116, 28), (256, 56),
                           (1024, 7), (32, 112)]:
        out.append(Case(KernelClass.ELEMENTWISE, f"relu {channels}@{size}", nn.ReLU,
                        _maps(channels, size)))
    for channels, size in [(16, 14), (64, 28), (256, 56), (128, 56)]:
        out.append(Case(KernelClass.ELEMENTWISE, f"add {channels}@{size}",
                        lambda: _Call(torch.add), _pairs(channels, size)))
    for tokens, dim in [(64, 256), (256, 1024)]:
        out.append(Case(KernelClass.ELEMENTWISE, f"gelu {tokens}x{dim}", nn.GELU,
                        _tokens(tokens, dim)))
    out.append(Case(KernelClass.ELEMENTWISE, "relu6 96@112", nn.ReLU6, _maps(96, 112)))
    _in_place(out)
    for channels, size in [(24, 112), (64, 56), (128, 28), (256, 14), (512, 7), (1024, 7),
                           (16, 14), (2048, 7)]:
        out.append(Case(KernelClass.NORMALIZATION, f"batch norm {channels}@{size}",
                        lambda channels=channels: nn.BatchNorm2d(channels).eval(),
                        _maps(channels, size)))
    for tokens, dim in [(64, 256), (256, 512), (128, 1024), (1, 768)]:
        out.append(Case(KernelClass.NORMALIZATION, f"layer norm {tokens}x{dim}",
                        lambda dim=dim: nn.LayerNorm(dim), _tokens(tokens, dim)))
    for channels, size in [(1024, 7), (2048, 7), (256, 56), (64, 14)]:
        # a global average pool runs as a mean over the map
        out.append(Case(KernelClass.REDUCTION, f"global average pool {channels}@{size}",
                        lambda: nn.AdaptiveAvgPool2d(1), _maps(channels, size)))
    for shape in [(4, 256, 256), (8, 128, 128), (1, 1000), (1, 64, 64)]:
        out.append(Case(KernelClass.REDUCTION, f"softmax {'x'.join(map(str, shape))}",
                        lambda: nn.Softmax(-1), _tokens(*shape)))
    for channels, size in [(58, 28), (116, 14), (24, 56), (232, 7), (128, 56), (48, 28),
                           (96, 14), (176, 14), (352, 7), (32, 112), (256, 28)]:
        out.append(Case(KernelClass.MOVEMENT, f"cat 2x{channels}@{size}",
                        lambda: _Call(lambda x, y: torch.cat((x, y), 1)), _pairs(channels, size)))
        out.append(Case(KernelClass.MOVEMENT, f"shuffle {2 * channels}@{size}",
                        lambda: _Call(_shuffle),
                        _maps(2 * channels, size)))
    _later_families(out, conv)
    return out


def _later_families(out: list[Case], conv: Callable[..., None]) -> None:
    """Kernel shapes of the families after MobileNet v2: 5x5 and 7x7 depthwise convs
    (EfficientNet, ConvNeXt), grouped convs with 8 channels a group (RegNet), linear layers on
    the thousands of tokens of a vision transformer's first stages, window attention's
    batched products of 49 tokens, its softmax over short rows and the flags and where of the
    math path's safe softmax, the cyclic shift and window
    partition (Swin), channels-last layer norm and GELU, SiLU, a squeeze-excitation gate and a
    dense block's concatenation of many maps."""
    for channels, size, kernel, stride in [(144, 56, 5, 2), (240, 28, 5, 1), (672, 14, 5, 1),
                                           (1152, 7, 5, 1), (96, 56, 7, 1), (192, 28, 7, 1),
                                           (384, 14, 7, 1), (768, 7, 7, 1)]:
        conv(KernelClass.CONV_DEPTHWISE, channels, channels, size, kernel, stride,
             groups=channels)
    for channels, size, stride in [(48, 56, 1), (104, 28, 1), (208, 14, 1), (440, 7, 1),
                                   (104, 56, 2), (208, 28, 2)]:
        conv(KernelClass.CONV_GROUPED, channels, channels, size, 3, stride, groups=channels // 8)
    conv(KernelClass.CONV_DENSE, 3, 64, 224, 3, 1)
    for tokens, cin, cout in [(3136, 96, 288), (3136, 96, 384), (3136, 384, 96),
                              (784, 192, 768), (784, 768, 192), (196, 384, 1536),
                              (196, 1536, 384), (49, 768, 3072)]:
        out.append(Case(KernelClass.MATMUL, f"{tokens}x{cin}->{cout}", lambda cin=cin, cout=cout:
                        nn.Linear(cin, cout), _tokens(tokens, cin)))
    for windows, heads in [(64, 3), (16, 6), (4, 12)]:
        shape = (1, windows, heads, 49, 32)
        out.append(Case(KernelClass.MATMUL, f"window scores {windows}x{heads}h",
                        lambda: _Call(lambda q, k: torch.matmul(q, k.transpose(-2, -1))),
                        lambda shape=shape: (torch.randn(*shape), torch.randn(*shape))))
        out.append(Case(KernelClass.MATMUL, f"window values {windows}x{heads}h",
                        lambda: _Call(torch.matmul),
                        lambda shape=shape: (torch.randn(*shape[:-1], 49),
                                             torch.randn(*shape))))
        out.append(Case(KernelClass.REDUCTION, f"window softmax {windows}x{heads}h",
                        lambda: nn.Softmax(-1), _tokens(windows * heads, 49, 49)))
        # the rest of the math path's safe softmax (latency/attention_path.py)
        scores = (windows * heads, 49, 49)
        out.append(Case(KernelClass.ELEMENTWISE, f"window isneginf {windows}x{heads}h",
                        lambda: _Call(torch.isneginf), _tokens(*scores)))
        out.append(Case(KernelClass.REDUCTION, f"window all {windows}x{heads}h",
                        lambda: _Call(lambda flags: flags.all(-1, keepdim=True)),
                        lambda scores=scores: (torch.randn(*scores) > 3,)))
        out.append(Case(KernelClass.ELEMENTWISE, f"window where {windows}x{heads}h",
                        lambda: _Call(lambda flags, x: torch.where(flags, 0.0, x)),
                        lambda scores=scores: (torch.randn(*scores) > 3, torch.randn(*scores))))
    for tokens, dim in [(3136, 96), (784, 192), (196, 384)]:
        out.append(Case(KernelClass.NORMALIZATION, f"layer norm {tokens}x{dim}",
                        lambda dim=dim: nn.LayerNorm(dim), _tokens(tokens, dim)))
        out.append(Case(KernelClass.ELEMENTWISE, f"gelu {tokens}x{4 * dim}", nn.GELU,
                        _tokens(tokens, 4 * dim)))
    side = {96: 56, 192: 28, 384: 14}
    for dim, size in side.items():
        out.append(Case(KernelClass.MOVEMENT, f"roll {size}x{size}x{dim}",
                        lambda: _Call(lambda x: torch.roll(x, (-3, -3), (1, 2))),
                        _tokens(1, size, size, dim)))
        out.append(Case(KernelClass.MOVEMENT, f"window partition {size}x{size}x{dim}",
                        lambda size=size, dim=dim: _Call(lambda x: x.view(
                            1, size // 7, 7, size // 7, 7, dim).permute(0, 1, 3, 2, 4, 5).reshape(
                            1, -1, 49, dim)), _tokens(1, size, size, dim)))
    for channels, size in [(96, 112), (144, 56), (240, 28), (672, 14)]:
        out.append(Case(KernelClass.ELEMENTWISE, f"silu {channels}@{size}", nn.SiLU,
                        _maps(channels, size)))
        out.append(Case(KernelClass.ELEMENTWISE, f"gate {channels}@{size}",
                        lambda: _Call(torch.mul),
                        lambda channels=channels, size=size: (torch.randn(1, channels, size, size),
                                                              torch.randn(1, channels, 1, 1))))
    for pieces, channels, size in [(6, 32, 56), (12, 32, 28), (24, 32, 14), (16, 32, 7)]:
        out.append(Case(KernelClass.MOVEMENT, f"cat {pieces}x{channels}@{size}",
                        lambda: _Call(lambda *maps: torch.cat(maps, 1)),
                        lambda pieces=pieces, channels=channels, size=size: tuple(
                            torch.randn(1, channels, size, size) for _ in range(pieces))))


def _in_place(out: list[Case]) -> None:
    """Element-wise ops that write over their input, as the activations of most CNNs and a
    residual `x += y` run. Each keeps its input's values where calls repeat it: ReLU and ReLU6
    are idempotent, a sum grows slowly, and SiLU runs on zeros, its fixed point (repeated on
    other values it would halve them towards the subnormals; its time does not depend on the
    values, within 3% here)."""
    for channels, size in [(24, 112), (32, 112), (64, 56), (256, 56), (116, 28), (192, 28),
                           (1024, 7)]:
        out.append(Case(KernelClass.ELEMENTWISE_INPLACE, f"relu_ {channels}@{size}",
                        lambda: nn.ReLU(inplace=True), _maps(channels, size)))
    for channels, size in [(96, 112), (144, 56), (576, 14)]:
        out.append(Case(KernelClass.ELEMENTWISE_INPLACE, f"relu6_ {channels}@{size}",
                        lambda: nn.ReLU6(inplace=True), _maps(channels, size)))
    for channels, size in [(64, 28), (256, 56)]:
        out.append(Case(KernelClass.ELEMENTWISE_INPLACE, f"add_ {channels}@{size}",
                        lambda: _Call(torch.Tensor.add_), _pairs(channels, size)))
    for channels, size in [(96, 112), (240, 28), (672, 14)]:
        out.append(Case(KernelClass.ELEMENTWISE_INPLACE, f"silu_ {channels}@{size}",
                        lambda: nn.SiLU(inplace=True),
                        lambda channels=channels, size=size: (
                            torch.zeros(1, channels, size, size),)))


def tiny_layers() -> dict[KernelClass | str, tuple[nn.Module, tuple[torch.Tensor, ...]]]:
    """One layer of each kernel class on inputs too small to take any time, plus a bare module
    call and a view: what each costs is its fixed cost per op."""
    maps = torch.randn(1, 8, 4, 4)
    rows = torch.randn(4, 16)
    heads = torch.randn(1, 2, 4, 8)
    return {
        KernelClass.CONV_DENSE: (nn.Conv2d(8, 8, 3, 1, 1, bias=False), (maps,)),
        KernelClass.CONV_1X1: (nn.Conv2d(8, 8, 1, bias=False), (maps,)),
        KernelClass.CONV_GROUPED: (nn.Conv2d(8, 8, 3, 1, 1, groups=2, bias=False), (maps,)),
        KernelClass.CONV_DEPTHWISE: (nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False), (maps,)),
        KernelClass.MATMUL: (nn.Linear(16, 16), (rows,)),
        KernelClass.ATTENTION: (_Call(F.scaled_dot_product_attention), (heads, heads, heads)),
        KernelClass.POOL_MAX: (nn.MaxPool2d(3, 1, 1), (maps,)),
        KernelClass.POOL_AVG: (nn.AvgPool2d(2), (maps,)),
        KernelClass.ELEMENTWISE: (nn.ReLU(), (maps,)),
        KernelClass.ELEMENTWISE_INPLACE: (nn.ReLU(inplace=True), (maps,)),
        KernelClass.NORMALIZATION: (nn.BatchNorm2d(8).eval(), (maps,)),
        KernelClass.REDUCTION: (nn.Softmax(-1), (rows,)),
        KernelClass.MOVEMENT: (_Call(lambda x: torch.cat((x, x), 1)), (maps,)),
        KernelClass.VIEW: (_Call(lambda x: x.view(-1)), (maps,)),
        MODULE_CALL: (nn.Identity(), (maps,)),
    }


MODULE_CALL = "module call"
METHOD = ("one calibration network, every layer timed where it stands, cold and warm; each "
          "figure the lower quartile of the rounds; samples with shape features; the typical "
          "case from a page fault's cost and a layer sequence's median over its lower quartile")
COLD, WARM, TINY, STREAM = "cold", "warm", "tiny", "tiny stream"
STREAM_REPEATS = 4
BANDWIDTH = "memory bandwidth"
SEQUENCE, FRESH_PAGES, TOUCHED_PAGES = "layer sequence", "fresh pages", "touched pages"
SUBNORMAL, NORMAL = "subnormal", "normal"  # the two runs of each _Subnormals workload
KEPT_OUTPUTS = 2  # outputs alive at once in the layer sequence: the op after, and a shortcut
NEAR_BEST = 0.001  # mean squared log error: a fit about 3% worse per sample is "as good"


def calibrate(device: Device, thread_count: int | None = None, name: str | None = None,
              rounds: int = ROUNDS, progress: Callable[[str], None] | None = None) -> Profile:
    """Measure this machine and fit a profile."""
    started = time.perf_counter()
    with threads(thread_count), torch.no_grad():
        plan = Plan(device, progress)
        if progress:
            progress(f"timing {len(plan.works)} workloads, {rounds} rounds")
        runs = interleaved(plan.works, device, rounds=rounds, sizes=plan.sizes,
                           statistic=sorted)
        profile = plan.fit(runs, name)
    return dataclasses.replace(profile,
                               calibration_seconds=round(time.perf_counter() - started, 1))


class Plan:
    """The calibration workloads of one device, and the fit of their timings.

    Built and timed under the thread count and no_grad the profile is for. Timing is left to
    the caller so that other workloads can be timed in the same rounds: on a shared machine
    whose speed drifts by tens of percent over seconds, only workloads timed side by side see
    the same machine (benchmarks/bench_latency.py times the networks it checks that way).

    Workloads, each timed once per round (timing.interleaved): every case cold and warm (see
    _workloads), every tiny layer warm and all of them in a stream (see _tiny_stream: their
    times give the fixed costs per op), a streaming copy (the memory bandwidth) and, on a CPU,
    what the typical case needs: the batch-1 layers as one sequence, and a fill of fresh pages
    beside one of pages already touched.
    """

    def __init__(self, device: Device, progress: Callable[[str], None] | None = None) -> None:
        self.device = device
        self.cache_bytes = device.cache_bytes()
        self.last_level_cache_bytes = device.last_level_cache_bytes()
        torch.manual_seed(0)
        batch_1 = cases()
        self.cases = batch_1 + [_batched(case, batch) for batch in device.calibration_batches
                                for case in batch_1]
        self.works: dict[str, Work] = {}
        self.sizes: dict[str, float] = {}  # bytes each work moves, for timing.interleaved
        self.samples: list[Sample] = []
        for number, case in enumerate(self.cases):
            if progress:
                progress(f"[{number + 1}/{len(self.cases)}] {case.kernel_class}: {case.label}")
            sample, works = _prepare(case, device)
            self.samples.append(sample)
            for regime, work in works.items():
                self.works[f"{regime} {case.label}"] = work
                self.sizes[f"{regime} {case.label}"] = sample.mac_bytes
        for kind, (layer, inputs) in tiny_layers().items():
            self.works[_tiny(kind)] = _workloads([layer] * device.calls_per_timing, inputs,
                                                 device)[1]
            self.sizes[_tiny(kind)] = _bytes(inputs)
        self.works[STREAM], self.sizes[STREAM] = _tiny_stream(device)
        if device.name == CPU.name:  # what the typical case needs (see fit)
            self.works[SEQUENCE] = Work(_layer_sequence(self.cases[:len(batch_1)]))
            self.sizes[SEQUENCE] = sum(sample.mac_bytes for sample in self.samples[:len(batch_1)])
            self.pages = _Pages([_output_bytes(case) for case in batch_1])
            self.works[FRESH_PAGES] = Work(self.pages.fresh)
            self.works[TOUCHED_PAGES] = Work(self.pages.touched)
            self.sizes[FRESH_PAGES] = self.sizes[TOUCHED_PAGES] = self.pages.bytes
            self.subnormals = _Subnormals()
            for name, (work, size) in self.subnormals.works().items():
                self.works[name], self.sizes[name] = work, size
        self.bandwidth = _Bandwidth(device)
        self.works[BANDWIDTH] = Work(self.bandwidth)
        self.sizes[BANDWIDTH] = self.bandwidth.bytes

    def fit(self, runs: dict[str, list[float]], name: str | None = None) -> Profile:
        """The profile the workloads' timings give: per workload, its time in each round,
        fastest first (timing.interleaved with statistic=sorted). Rates and fixed costs come
        from their best case (timing.best_of). On a CPU, the typical case: the page fault's
        cost from FRESH_PAGES over TOUCHED_PAGES, and the spread from the layer sequence, a run
        of a network's length and kind (its median over its best case)."""
        seconds = {work: best_of(timings) for work, timings in runs.items()}
        page_fault_s = spread = subnormal_mac_s = subnormal_exp_s = None
        if SEQUENCE in runs:
            page_fault_s = (max(seconds[FRESH_PAGES] - seconds[TOUCHED_PAGES], 0.0)
                            / self.pages.count)
            spread = round(statistics.median(runs[SEQUENCE]) / seconds[SEQUENCE], 4)
            subnormal_mac_s, subnormal_exp_s = self.subnormals.costs(seconds)
        warm = {kind: seconds[_tiny(kind)] for kind in tiny_layers()}
        in_network = seconds[STREAM] / statistics.fmean(warm.values())
        fixed = {WARM: warm, COLD: {kind: in_network * value for kind, value in warm.items()}}
        module_call = fixed[COLD][MODULE_CALL]
        samples = [dataclasses.replace(sample, warm=regime == WARM,
                                       seconds=seconds[f"{regime} {case.label}"])
                   for regime in (COLD, WARM)
                   for case, sample in zip(self.cases, self.samples)]
        used = torch.get_num_threads()
        base = Profile(
            name=name or f"{self.device.name}-{used}t", device=self.device.name,
            device_name=self.device.description(), threads=used,
            torch_version=torch.__version__, created=datetime.date.today().isoformat(),
            calibration_seconds=0.0, method=METHOD,
            op_overhead_s=max(fixed[COLD][KernelClass.ELEMENTWISE] - module_call, 0.0),
            view_overhead_s=max(fixed[COLD][KernelClass.VIEW] - module_call, 0.0),
            module_call_overhead_s=module_call,
            bandwidth_bytes_per_s=self.bandwidth.bytes / seconds[BANDWIDTH],
            cache_bytes=self.cache_bytes, last_level_cache_bytes=self.last_level_cache_bytes,
            saturation=self.device.lanes(used), overlap=self.device.overlap,
            rates={}, warm_rates={}, samples=tuple(samples),
            in_network_factor=round(in_network, 3), page_fault_s=page_fault_s,
            typical_spread=spread, subnormal_mac_s=subnormal_mac_s,
            subnormal_exp_s=subnormal_exp_s)
        rates: dict[str, dict[str, ClassRate]] = {COLD: {}, WARM: {}}
        for regime, cls in itertools.product(rates, PROFILED_CLASSES):
            flop_rate, byte_rate = fit_rates(
                base, [s for s in samples if s.kernel_class == cls and s.warm == (regime == WARM)],
                fixed[regime][cls])
            rates[regime][cls] = ClassRate(flops_per_s=flop_rate, bytes_per_s=byte_rate,
                                           overhead_s=max(fixed[regime][cls] - module_call, 0.0))
        return dataclasses.replace(base, rates=rates[COLD], warm_rates=rates[WARM])


def _layer_sequence(cases: Sequence[Case]) -> Callable[[], None]:
    """The batch-1 layers as one run of a network's length and kind: one after another, each
    input rewritten just before its layer (as the op before a layer leaves it) and each output
    kept until two layers later (the op after it, and a shortcut)."""
    built = [(case.layer(), case.inputs()) for case in cases]

    def run() -> None:
        kept: deque[object] = deque(maxlen=KEPT_OUTPUTS)
        for layer, inputs in built:
            for tensor in inputs:
                _rewrite(tensor)
            kept.append(layer(*inputs))
    return run


class _Pages:
    """Fresh memory as a plain process gets it for a layer's output, and the same writes to
    memory already touched: their difference over the pages is one page fault's cost, with
    the mapping and unmapping that come with it.

    glibc serves a request from the mmap threshold (128 KiB at first) up with a mapping of its
    own and unmaps it when freed, so a forward faults its activations in again; a layer's
    output at batch 1 takes 128 KiB to a few MiB. Each distinct output size of the batch-1
    calibration layers that reaches the threshold is mapped, written by a PyTorch kernel at
    the profile's thread count, and unmapped. On this project's build machine these blocks cost
    1.2 us a page at one thread and 1.35 us at two, mapping and unmapping included, where one
    64 MiB block, whose fill splits its faults between the threads, cost 1.2 us and 0.8 us: in
    networks run at two threads a fault cost 1.3-1.6 us."""

    def __init__(self, output_bytes: Sequence[int]) -> None:
        self.blocks = sorted({size for size in output_bytes
                              if size + ALIGNMENT_SLACK >= MMAP_THRESHOLD})
        self.bytes = sum(self.blocks)
        self.count = sum(-(-size // PAGE) for size in self.blocks)
        self.kept = torch.zeros(max(self.blocks), dtype=torch.uint8)

    def fresh(self) -> None:
        for size in self.blocks:
            with mmap.mmap(-1, size) as mapping:
                block = torch.frombuffer(mapping, dtype=torch.uint8)
                block.fill_(1)
                del block  # the mapping closes only once nothing views it

    def touched(self) -> None:
        for size in self.blocks:
            self.kept[:size].fill_(1)


def _output_bytes(case: Case) -> int:
    """The bytes of a case's output, the storage a network's forward allocates for it."""
    output = case.layer()(*case.inputs())
    return output.nbytes if isinstance(output, torch.Tensor) else 0


class _Subnormals:
    """What subnormal numbers cost a CPU (latency/subnormals.py), on the shape of a window
    attention (16 windows of 6 heads, 49 tokens, 32 channels a head) with a third of its
    softmax weights subnormal: the product of the weights with the values, against the same
    product with those weights zero; and the softmax whose mask puts them there (-100),
    against the same softmax with a mask of -1e4, which makes them zero. On this project's
    build machine each of the two costs scaled with the count of subnormal numbers within a
    few percent over shares of 10-60% and shapes from 48 to 192 heads of 49 tokens to 8 of
    256, so one figure per operation serves."""

    HEADS, TOKENS, CHANNELS, SHARE = 96, 49, 32, 1 / 3
    PRODUCT, SOFTMAX = "product", "softmax"

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(0)
        shape = (self.HEADS, self.TOKENS, self.TOKENS)
        self.masked = torch.rand(shape, generator=generator) < self.SHARE
        self.count = int(self.masked.sum())
        weights = torch.softmax(torch.randn(shape, generator=generator), -1)
        self.values = torch.randn(self.HEADS, self.TOKENS, self.CHANNELS, generator=generator)
        # scores of a trained attention's spread: the masked ones, shifted by -100, stay
        # above e^-103.3 after the softmax subtracts the row's largest
        scores = 0.5 * torch.randn(shape, generator=generator)
        tiny = torch.finfo(torch.float32).smallest_normal
        self.weights = {SUBNORMAL: weights.masked_fill(self.masked, tiny / 1e5),
                        NORMAL: weights.masked_fill(self.masked, 0.0)}
        self.scores = {SUBNORMAL: scores.masked_fill(self.masked, -100.0),
                       NORMAL: scores.masked_fill(self.masked, -1e4)}

    def works(self) -> dict[str, tuple[Work, int]]:
        """The four workloads and the bytes each moves."""
        size = 2 * self.weights[NORMAL].numel() * 4
        return {
            **{f"{kind} {self.PRODUCT}": (Work(lambda w=w: torch.bmm(w, self.values)), size)
               for kind, w in self.weights.items()},
            **{f"{kind} {self.SOFTMAX}": (Work(lambda s=s: torch.softmax(s, -1)), size)
               for kind, s in self.scores.items()}}

    def costs(self, seconds: dict[str, float]) -> tuple[float, float]:
        """(seconds per multiply-add on a subnormal weight, per subnormal softmax weight)."""
        def extra(what: str) -> float:
            return max(seconds[f"{SUBNORMAL} {what}"] - seconds[f"{NORMAL} {what}"], 0.0)
        return (extra(self.PRODUCT) / (self.count * self.CHANNELS),
                extra(self.SOFTMAX) / self.count)


def _rewrite(tensor: torch.Tensor) -> None:
    """Write every element of `tensor` with its own value, as the op before would leave it."""
    tensor.mul_(True if tensor.dtype == torch.bool else 1.0)


def _tiny(kind: KernelClass | str) -> str:
    """The workload name of a tiny layer."""
    return f"{TINY} {kind.value if isinstance(kind, KernelClass) else kind}"


def _batched(case: Case, batch: int) -> Case:
    """The case on `batch` times its input: maps and heads gain a batch, token rows multiply."""
    def inputs() -> tuple[torch.Tensor, ...]:
        return tuple(t.repeat(batch, *[1] * (t.dim() - 1)) for t in case.inputs())
    return Case(case.kernel_class, f"{case.label} x{batch}", case.layer, inputs)


class _Bandwidth:
    """A streaming copy between buffers far beyond the cache: its best time gives the memory
    bandwidth, what the device can do (other tenants of a shared machine mostly take from it)."""

    def __init__(self, device: Device) -> None:
        elements = device.bandwidth_elements
        self.source = torch.ones(elements, device=device.torch_device)
        self.target = torch.empty_like(self.source)
        self.bytes = 2 * elements * self.source.element_size()

    def __call__(self) -> None:
        self.target.copy_(self.source)


def _bytes(tensors: Sequence[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _tiny_stream(device: Device) -> tuple[Work, int]:
    """The tiny layers as a network runs small layers: STREAM_REPEATS distinct copies of each
    kind, each called once, in a shuffled order; and the bytes it moves. Called one by one,
    again and again, a layer finds its code and data in the caches; in the stream, as in a
    network, the layers before it have displaced them. The stream's time per call over the
    mean warm time of its kinds is the factor by which a network's fixed costs exceed the
    warm ones (one factor for all: far steadier than a difference of timings per kind)."""
    calls = [(layer.to(device.torch_device), tuple(t.to(device.torch_device) for t in inputs))
             for _ in range(STREAM_REPEATS) for layer, inputs in tiny_layers().values()]
    random.Random(0).shuffle(calls)

    def stream() -> None:
        for layer, inputs in calls:
            layer(*inputs)
    return Work(stream, calls=len(calls)), max(_bytes(inputs) for _, inputs in calls)


def _workloads(copies: Sequence[nn.Module], inputs: tuple[torch.Tensor, ...],
               device: Device, kind: str | None = None) -> tuple[Work, Work]:
    """The COLD and WARM workloads of copies of a layer (Device.calls_per_timing of them) on
    `inputs`. Cold: each copy called once, as a network calls its layers, their weights last
    used a round of every other workload ago; warm: the first copy called again straight after
    WARM_UP_CALLS untimed calls, its weights and code in cache and the core's clock settled on
    it, as in a small network that runs a few kernels again and again. Before each timing the
    inputs are rewritten, as the op before a layer leaves its input in cache. `kind`, the
    layer's op, keeps other calls of it from running just before (timing._apart)."""
    calls = len(copies)
    placed = tuple(t.to(device.torch_device) for t in inputs)
    copies = [layer.to(device.torch_device) for layer in copies]

    def write_inputs() -> None:
        for tensor in placed:
            _rewrite(tensor)

    def cold() -> None:
        for layer in copies:
            layer(*placed)

    def warm_up() -> None:
        write_inputs()
        for _ in range(WARM_UP_CALLS):
            copies[0](*placed)

    def warm() -> None:
        for _ in range(calls):
            copies[0](*placed)
    return Work(cold, write_inputs, calls, kind), Work(warm, warm_up, calls, kind)


def _prepare(case: Case, device: Device) -> tuple[Sample, dict[str, Work]]:
    """A case's figures from costlens's trace, and its COLD and WARM workloads."""
    inputs = case.inputs()
    layer = case.layer()
    analysis = analyze(layer, inputs)
    classes = [kernel_class(node, op.category)
               for node, op in zip(analysis.graph.nodes, analysis.ops)]
    main = [op for op, cls in zip(analysis.ops, classes) if cls == case.kernel_class]
    if len(main) != 1:
        raise RuntimeError(f"calibration case {case.label} runs {len(main)} "
                           f"{case.kernel_class} ops, not one")
    op = main[0]
    node = analysis.graph.nodes[op.index]
    sample = Sample(case.kernel_class, case.label, op.flops or 0, op.mac_bytes or 0,
                    op.parallelism or 0, 0.0, features=shape_features(
                        node, case.kernel_class, op.flops or 0, op.parallelism or 0,
                        torch.get_num_threads() if device.name == CPU.name else None))
    copies = [layer] + [case.layer() for _ in range(device.calls_per_timing - 1)]
    cold, warm = _workloads(copies, inputs, device, node.packet)
    return sample, {COLD: cold, WARM: warm}


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
    memory_class = samples[0].kernel_class.memory_bound
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
