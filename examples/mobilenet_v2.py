"""MobileNet v2, laid out exactly like torchvision's ``mobilenetv2.py``.

Source: Sandler, Howard, Zhu, Zhmoginov and Chen, "MobileNetV2: Inverted
Residuals and Linear Bottlenecks", CVPR 2018 (arXiv:1801.04381), Table 2.
The ShuffleNet V2 paper cites its inverted bottleneck as breaking G1 and its
depthwise convs and ReLUs on thick feature maps as breaking G4.
Module names match torchvision (``features``, ``conv``, ``classifier``).

Width 1.0 at 224x224: 300.8M conv + FC multiply-adds (fvcore), 3,504,872
parameters.

Analyze with e.g. ``costlens report examples/mobilenet_v2.py:mobilenet_v2``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import conv_bn, image_batch, make_divisible

# (expansion t, output channels c, repeats n, first stride s), Table 2 of the paper.
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise 3x3, linear project (1x1), plus identity if shapes match.

    The projection has no activation: the paper argues ReLU on the narrow
    bottleneck destroys information.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = int(round(in_channels * expansion))
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn(in_channels, hidden, 1, activation=nn.ReLU6))
        layers += [
            conv_bn(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
            *conv_bn(hidden, out_channels, 1, activation=None),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """``features`` (stem, inverted residuals, 1x1 to 1280), pool, ``classifier``."""

    def __init__(self, width: float, num_classes: int, dropout: float) -> None:
        super().__init__()
        in_channels = make_divisible(STEM_CHANNELS * width)
        last_channels = make_divisible(LAST_CHANNELS * max(1.0, width))
        features: list[nn.Module] = [conv_bn(3, in_channels, 3, stride=2, activation=nn.ReLU6)]
        for expansion, channels, repeats, stride in INVERTED_RESIDUAL_SETTING:
            out_channels = make_divisible(channels * width)
            for index in range(repeats):
                unit_stride = stride if index == 0 else 1
                features.append(InvertedResidual(in_channels, out_channels, unit_stride, expansion))
                in_channels = out_channels
        features.append(conv_bn(in_channels, last_channels, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(last_channels, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v2(
    width: float = 1.0,
    num_classes: int = 1000,
    dropout: float = 0.2,
    batch: int = 1,
    image_size: int = 224,
) -> tuple[nn.Module, torch.Tensor]:
    """MobileNet v2; ``width`` is the paper's width multiplier (channels rounded to 8)."""
    model = MobileNetV2(width, num_classes, dropout)
    return model.eval(), image_batch(batch, image_size)
