"""RegNetY-400MF, laid out like torchvision's ``regnet.py``.

Source: Radosavovic, Kosaraju, Girshick, He and Dollar, "Designing Network Design
Spaces", CVPR 2020 (arXiv:2003.13678), Section 3 and Appendix C: the RegNetY
variant is the X block (1x1, grouped 3x3 with group width g, 1x1, bottleneck
ratio 1) with squeeze-excitation (Hu et al., arXiv:1709.01507) after the grouped
conv. RegNetY-400MF: depths (1, 3, 6, 6), widths (48, 104, 208, 440), group width
8. As in torchvision the SE squeezes to a quarter of the block's *input* width,
with ReLU and a sigmoid gate; the stem is a 3x3 stride-2 conv to 32 channels.
Module names match torchvision (``stem``, ``trunk_output``, ``f.a``/``f.b``/
``f.se``/``f.c``, ``proj``, ``fc``).

RegNetY-400MF at 224x224: 4,344,144 parameters; 0.40G multiply-adds in its
convolutions and the FC layer.

Analyze with e.g. ``costlens report examples/regnet.py:regnet_y_400mf``.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import SqueezeExcitation, conv_bn, image_batch

DEPTHS = (1, 3, 6, 6)
WIDTHS = (48, 104, 208, 440)
GROUP_WIDTH = 8
SE_RATIO = 0.25
STEM_WIDTH = 32


class BottleneckTransform(nn.Sequential):
    """1x1 (``a``), grouped 3x3 (``b``, carrying the stride), SE, linear 1x1 (``c``)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.a = conv_bn(in_channels, out_channels, 1)
        self.b = conv_bn(out_channels, out_channels, 3, stride,
                         groups=out_channels // GROUP_WIDTH)
        self.se = SqueezeExcitation(out_channels, int(round(SE_RATIO * in_channels)))
        self.c = conv_bn(out_channels, out_channels, 1, activation=None)


class ResBottleneckBlock(nn.Module):
    """relu(proj(x) + f(x)); ``proj`` (1x1 conv + BN) only where the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.proj = (conv_bn(in_channels, out_channels, 1, stride, activation=None)
                     if stride != 1 or in_channels != out_channels else None)
        self.f = BottleneckTransform(in_channels, out_channels, stride)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))


class RegNet(nn.Module):
    """Stem, four stages (each starting with a stride-2 block), pool, ``fc``."""

    def __init__(self, depths: tuple[int, ...], widths: tuple[int, ...],
                 num_classes: int) -> None:
        super().__init__()
        self.stem = conv_bn(3, STEM_WIDTH, 3, stride=2)
        stages: list[nn.Module] = []
        in_channels = STEM_WIDTH
        for depth, width in zip(depths, widths):
            stages.append(nn.Sequential(*(
                ResBottleneckBlock(in_channels if i == 0 else width, width, 2 if i == 0 else 1)
                for i in range(depth))))
            in_channels = width
        self.trunk_output = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.trunk_output(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


def regnet_y_400mf(num_classes: int = 1000, batch: int = 1,
                   image_size: int = 224) -> tuple[nn.Module, torch.Tensor]:
    """RegNetY-400MF."""
    model = RegNet(DEPTHS, WIDTHS, num_classes)
    return model.eval(), image_batch(batch, image_size)
