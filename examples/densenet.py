"""DenseNet-121, laid out like torchvision's ``densenet.py``.

Source: Huang, Liu, van der Maaten and Weinberger, "Densely Connected
Convolutional Networks", CVPR 2017 (arXiv:1608.06993), Table 1 (DenseNet-BC,
growth rate k = 32, blocks of 6, 12, 24 and 16 layers, compression 0.5). Every
layer of a dense block sees the concatenation (``torch.cat``) of all the feature
maps before it in the block and adds k channels through a bottleneck
BN-ReLU-1x1 conv (4k)-BN-ReLU-3x3 conv (k); transitions are BN-ReLU-1x1 conv
(halving the channels) and a 2x2 average pool. The repeated concatenation is the
memory-access cost the ShuffleNet V2 paper's guideline G1 is about. Module names
match torchvision (``features``, ``denseblock1``, ``transition1``, ``norm5``,
``classifier``).

DenseNet-121 at 224x224: 7,978,856 parameters; 2.83G multiply-adds in its
convolutions and the FC layer.

Analyze with e.g. ``costlens report examples/densenet.py:densenet121``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import image_batch

GROWTH = 32
BLOCKS = (6, 12, 24, 16)
STEM_CHANNELS = 64
BOTTLENECK = 4


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv to k, on all earlier maps concatenated."""

    def __init__(self, in_channels: int, growth: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, BOTTLENECK * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(BOTTLENECK * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(BOTTLENECK * growth, growth, 3, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(features, 1)
        x = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.ModuleDict):
    """``layers`` dense layers; the output is every map of the block concatenated."""

    def __init__(self, layers: int, in_channels: int, growth: int) -> None:
        super().__init__()
        for index in range(layers):
            self.add_module(f"denselayer{index + 1}",
                            DenseLayer(in_channels + index * growth, growth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN, ReLU, 1x1 conv (halving the channels), 2x2 average pool."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pool = nn.AvgPool2d(2, stride=2)


class DenseNet(nn.Module):
    """``features`` (7x7/2 conv stem and 3x3/2 max pool, dense blocks and transitions,
    final BN), ReLU, pool, ``classifier``."""

    def __init__(self, growth: int, blocks: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, STEM_CHANNELS, 7, stride=2, padding=3,
                                                     bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(STEM_CHANNELS))
        self.features.add_module("relu0", nn.ReLU(inplace=True))
        self.features.add_module("pool0", nn.MaxPool2d(3, stride=2, padding=1))
        channels = STEM_CHANNELS
        for index, layers in enumerate(blocks):
            self.features.add_module(f"denseblock{index + 1}",
                                     DenseBlock(layers, channels, growth))
            channels += layers * growth
            if index < len(blocks) - 1:
                self.features.add_module(f"transition{index + 1}",
                                         Transition(channels, channels // 2))
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.features(x))
        x = F.adaptive_avg_pool2d(x, (1, 1))
        return self.classifier(torch.flatten(x, 1))


def densenet121(num_classes: int = 1000, batch: int = 1,
                image_size: int = 224) -> tuple[nn.Module, torch.Tensor]:
    """DenseNet-121 (DenseNet-BC, k = 32)."""
    model = DenseNet(GROWTH, BLOCKS, num_classes)
    return model.eval(), image_batch(batch, image_size)
