"""VGG-11 (configuration A), laid out like torchvision's ``vgg.py``.

Source: Simonyan and Zisserman, "Very Deep Convolutional Networks for
Large-Scale Image Recognition", ICLR 2015 (arXiv:1409.1556), Table 1, column A:
eight 3x3 convs (with bias, ReLU, no BatchNorm) in five stages separated by 2x2
max pools, then three fully connected layers (4096, 4096, 1000). The first FC
layer alone holds 103M of the weights: a network whose cost is memory traffic
more than arithmetic at batch 1. Module names match torchvision (``features``,
``avgpool``, ``classifier``).

VGG-11 at 224x224: 132,863,336 parameters; 7.61G multiply-adds in its
convolutions and FC layers.

Analyze with e.g. ``costlens report examples/vgg.py:vgg11``.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import image_batch

# output channels of each 3x3 conv, "M" for a 2x2 max pool (Table 1, column A)
VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG(nn.Module):
    """``features`` (convs and pools), a 7x7 adaptive average pool, ``classifier``."""

    def __init__(self, layout: tuple[int | str, ...], num_classes: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for item in layout:
            if item == "M":
                layers.append(nn.MaxPool2d(2, stride=2))
            else:
                layers += [nn.Conv2d(in_channels, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                in_channels = int(item)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(in_channels * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def vgg11(num_classes: int = 1000, dropout: float = 0.5, batch: int = 1,
          image_size: int = 224) -> tuple[nn.Module, torch.Tensor]:
    """VGG-11 without BatchNorm."""
    model = VGG(VGG11, num_classes, dropout)
    return model.eval(), image_batch(batch, image_size)
