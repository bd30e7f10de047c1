"""Building blocks shared by the example CNNs.

Kept in one place so the example networks differ only in how they arrange these
pieces, which is exactly what the cost comparisons are about. The example files
import it relatively (``from .blocks import conv_bn``), so they work as file
targets (``examples/resnet.py:resnet50``: the costlens loader imports a file in a
package as part of it) and, installed, as module targets
(``costlens.examples.resnet:resnet50``).
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 1,
    stride: int = 1,
    groups: int = 1,
    activation: type[nn.Module] | None = nn.ReLU,
) -> nn.Sequential:
    """Conv (no bias) + BatchNorm (+ activation) with "same" padding.

    The conv has no bias because the BatchNorm right after it would cancel it.
    ``activation=None`` gives the linear conv+BN used before residual adds and
    after depthwise convs.
    """
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
    ]
    if activation is not None:
        layers.append(activation(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """Squeeze-excitation (Hu et al., arXiv:1709.01507), named as torchvision's: global average
    pool, 1x1 conv down (``fc1``), ``activation``, 1x1 conv up (``fc2``), sigmoid, channel scale.
    """

    def __init__(self, channels: int, squeeze: int,
                 activation: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = activation()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return x * self.scale_activation(scale)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave channels across ``groups`` so the next group conv mixes them.

    Written as view/transpose/contiguous/view, like the reference
    implementations, so the analyzer sees the data movement (a transpose and a
    copy) that the ShuffleNet papers count as a cost. The shape is read with
    ``size()`` rather than unpacked, which keeps the function fx-traceable.
    """
    shuffled = x.view(x.size(0), groups, -1, x.size(2), x.size(3)).transpose(1, 2)
    return shuffled.contiguous().view(x.shape)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a scaled channel count to a multiple of ``divisor``.

    Hardware kernels prefer channel counts that are multiples of 8; rounding
    may not drop more than 10% below ``value`` (MobileNet's rule).
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def image_batch(batch: int, image_size: int) -> torch.Tensor:
    """Random RGB images: the analyzer needs only shapes, not real pixels."""
    return torch.randn(batch, 3, image_size, image_size)


class Permute(nn.Module):
    """``torch.permute`` as a module, so it can sit in an ``nn.Sequential``."""

    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims)


class PreNormBlock(nn.Module):
    """Pre-LayerNorm residual transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)),
    the MLP ``mlp_ratio`` times as wide with GELU."""

    def __init__(self, dim: int, attn: nn.Module, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = attn
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(),
                                 nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))
