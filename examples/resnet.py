"""ResNet-50 and ResNeXt-50 (32x4d), laid out exactly like torchvision's ``resnet.py``.

Sources: He, Zhang, Ren and Sun, "Deep Residual Learning for Image
Recognition", CVPR 2016 (arXiv:1512.03385), Table 1; Xie, Girshick, Dollar,
Tu and He, "Aggregated Residual Transformations for Deep Neural Networks",
CVPR 2017 (arXiv:1611.05431). As in torchvision ("ResNet v1.5") the stride of
a downsampling bottleneck sits on its 3x3 conv, not its first 1x1. Module
names match torchvision (``conv1``, ``bn1``, ``layer1``..``layer4``, ``fc``).

ResNet-50 at 224x224: 4.089G conv + FC multiply-adds (fvcore), 25,557,032
parameters. ResNeXt-50 32x4d: 4.230G, 25,028,904 parameters.

Analyze with e.g. ``costlens report examples/resnet.py:resnet50``.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import conv_bn, image_batch

LAYER_CHANNELS = (64, 128, 256, 512)
RESNET50_BLOCKS = (3, 4, 6, 3)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (grouped for ResNeXt), 1x1 expand by 4, plus shortcut.

    ``downsample`` projects the shortcut when the stride or width changes, so
    the add always sees matching shapes.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        groups: int = 1,
        width_per_group: int = 64,
    ) -> None:
        super().__init__()
        width = planes * width_per_group // 64 * groups
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            conv_bn(in_channels, out_channels, 1, stride, activation=None)
            if stride != 1 or in_channels != out_channels
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max pool), four bottleneck stages, pool, FC."""

    def __init__(
        self,
        blocks: tuple[int, int, int, int],
        num_classes: int = 1000,
        groups: int = 1,
        width_per_group: int = 64,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 64
        for index, (planes, count) in enumerate(zip(LAYER_CHANNELS, blocks), 1):
            layer = []
            for block in range(count):
                stride = 2 if block == 0 and index > 1 else 1
                layer.append(Bottleneck(in_channels, planes, stride, groups, width_per_group))
                in_channels = planes * Bottleneck.expansion
            setattr(self, f"layer{index}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet50(
    num_classes: int = 1000, batch: int = 1, image_size: int = 224
) -> tuple[nn.Module, torch.Tensor]:
    """ResNet-50 (torchvision's v1.5 layout)."""
    model = ResNet(RESNET50_BLOCKS, num_classes)
    return model.eval(), image_batch(batch, image_size)


def resnext50_32x4d(
    num_classes: int = 1000, batch: int = 1, image_size: int = 224
) -> tuple[nn.Module, torch.Tensor]:
    """ResNeXt-50 32x4d: ResNet-50 with 32-group 3x3 convs, 4 channels per group at 64 planes."""
    model = ResNet(RESNET50_BLOCKS, num_classes, groups=32, width_per_group=4)
    return model.eval(), image_batch(batch, image_size)


def resnext_block(
    groups: int = 32, width_per_group: int = 4, batch: int = 1, size: int = 56
) -> tuple[nn.Module, torch.Tensor]:
    """One ResNeXt bottleneck of ResNeXt-50's first stage, 256 -> 256 channels.

    Its inner width is ``groups * width_per_group`` (128 by default); the
    group count is the knob the ShuffleNet V2 guideline G2 is about.
    """
    model = Bottleneck(256, 64, groups=groups, width_per_group=width_per_group)
    return model.eval(), torch.randn(batch, 256, size, size)
