"""An Inception network: GoogLeNet's layout with BatchNorm and factorized 5x5s.

Sources: Szegedy et al., "Going Deeper with Convolutions", CVPR 2015
(arXiv:1409.4842), Table 1, for the stem and the nine blocks' widths; Ioffe and
Szegedy, "Batch Normalization", ICML 2015 (arXiv:1502.03167), for BN after
every conv and the 5x5 branch replaced by two 3x3 convs. The auxiliary
classifiers are left out. Multi-branch blocks are the "fragmented" design the
ShuffleNet V2 paper warns about in guideline G3.

At 224x224: 1.640G conv + FC multiply-adds (fvcore), 7,292,264 parameters.

Analyze with e.g. ``costlens report examples/inception.py:inception_net``.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import conv_bn, image_batch

# Per block: input channels, branch1 1x1, branch2 1x1 -> 3x3,
# branch3 1x1 -> 3x3 -> 3x3, branch4 pool -> 1x1 (GoogLeNet Table 1).
BlockSpec = tuple[int, int, int, int, int, int, int]
STAGE3: tuple[BlockSpec, ...] = (
    (192, 64, 96, 128, 16, 32, 32),
    (256, 128, 128, 192, 32, 96, 64),
)
STAGE4: tuple[BlockSpec, ...] = (
    (480, 192, 96, 208, 16, 48, 64),
    (512, 160, 112, 224, 24, 64, 64),
    (512, 128, 128, 256, 24, 64, 64),
    (512, 112, 144, 288, 32, 64, 64),
    (528, 256, 160, 320, 32, 128, 128),
)
STAGE5: tuple[BlockSpec, ...] = (
    (832, 256, 160, 320, 32, 128, 128),
    (832, 384, 192, 384, 48, 128, 128),
)


class InceptionBlock(nn.Module):
    """Four parallel branches over the same input, concatenated on channels.

    The 1x1 convs in front of the 3x3s and after the pool shrink the channels
    so the wide convs stay cheap; every conv is followed by BN and ReLU.
    """

    def __init__(
        self,
        in_channels: int,
        out1: int,
        reduce3: int,
        out3: int,
        reduce5: int,
        out5: int,
        pool_out: int,
    ) -> None:
        super().__init__()
        self.branch1 = conv_bn(in_channels, out1, 1)
        self.branch2 = nn.Sequential(conv_bn(in_channels, reduce3, 1), conv_bn(reduce3, out3, 3))
        self.branch3 = nn.Sequential(
            conv_bn(in_channels, reduce5, 1), conv_bn(reduce5, out5, 3), conv_bn(out5, out5, 3)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), conv_bn(in_channels, pool_out, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], dim=1)


def _stage(specs: tuple[BlockSpec, ...]) -> nn.Sequential:
    return nn.Sequential(*(InceptionBlock(*spec) for spec in specs))


class InceptionNet(nn.Module):
    """Stem, three stages of Inception blocks split by 3x3/2 max pools, pool, FC."""

    def __init__(self, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            conv_bn(3, 64, 7, stride=2),
            nn.MaxPool2d(3, stride=2, padding=1),
            conv_bn(64, 64, 1),
            conv_bn(64, 192, 3),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.stage3 = _stage(STAGE3)
        self.pool3 = nn.MaxPool2d(3, stride=2, padding=1)
        self.stage4 = _stage(STAGE4)
        self.pool4 = nn.MaxPool2d(3, stride=2, padding=1)
        self.stage5 = _stage(STAGE5)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool3(self.stage3(self.stem(x)))
        x = self.pool4(self.stage4(x))
        x = self.avgpool(self.stage5(x))
        return self.fc(self.dropout(torch.flatten(x, 1)))


def inception_net(
    num_classes: int = 1000, dropout: float = 0.2, batch: int = 1, image_size: int = 224
) -> tuple[nn.Module, torch.Tensor]:
    """The full network: 9 Inception blocks at GoogLeNet's widths."""
    model = InceptionNet(num_classes, dropout)
    return model.eval(), image_batch(batch, image_size)
