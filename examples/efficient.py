"""EfficientNet-B0, laid out like torchvision's ``efficientnet.py``.

Source: Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional
Neural Networks", ICML 2019 (arXiv:1905.11946), Table 1; its MBConv block is
MnasNet's (Tan et al., CVPR 2019, arXiv:1807.11626): a 1x1 expansion, a kxk
depthwise conv, squeeze-excitation and a linear 1x1 projection, with SiLU (swish)
activations and an identity shortcut where the shape is kept. As in torchvision
the SE squeezes to a quarter of the block's *input* channels. Module names match
torchvision (``features``, ``block``, ``classifier``); stochastic depth, an
identity at inference, is left out.

EfficientNet-B0 at 224x224: 5,288,548 parameters; 0.39G multiply-adds in its
convolutions and the FC layer.

Analyze with e.g. ``costlens report examples/efficient.py:efficientnet_b0``.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import SqueezeExcitation, conv_bn, image_batch

# (expansion, output channels, repeats, first stride, kernel), Table 1 of the paper.
MBCONV_SETTING = (
    (1, 16, 1, 1, 3),
    (6, 24, 2, 2, 3),
    (6, 40, 2, 2, 5),
    (6, 80, 3, 2, 3),
    (6, 112, 3, 1, 5),
    (6, 192, 4, 2, 5),
    (6, 320, 1, 1, 3),
)
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


class MBConv(nn.Module):
    """Expand (1x1, skipped at expansion 1), depthwise kxk, SE, linear 1x1, plus identity."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int,
                 kernel: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn(in_channels, hidden, 1, activation=nn.SiLU))
        layers += [
            conv_bn(hidden, hidden, kernel, stride, groups=hidden, activation=nn.SiLU),
            SqueezeExcitation(hidden, max(1, in_channels // 4), activation=nn.SiLU),
            conv_bn(hidden, out_channels, 1, activation=None),
        ]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.block(x)
        return self.block(x)


class EfficientNet(nn.Module):
    """``features`` (stem, seven MBConv stages, 1x1 head conv), pool, ``classifier``."""

    def __init__(self, num_classes: int, dropout: float) -> None:
        super().__init__()
        features: list[nn.Module] = [conv_bn(3, STEM_CHANNELS, 3, stride=2, activation=nn.SiLU)]
        in_channels = STEM_CHANNELS
        for expansion, channels, repeats, stride, kernel in MBCONV_SETTING:
            features.append(nn.Sequential(*(
                MBConv(in_channels if i == 0 else channels, channels, stride if i == 0 else 1,
                       expansion, kernel)
                for i in range(repeats))))
            in_channels = channels
        features.append(conv_bn(in_channels, LAST_CHANNELS, 1, activation=nn.SiLU))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout),
                                        nn.Linear(LAST_CHANNELS, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def efficientnet_b0(num_classes: int = 1000, dropout: float = 0.2, batch: int = 1,
                    image_size: int = 224) -> tuple[nn.Module, torch.Tensor]:
    """EfficientNet-B0 (width and depth multipliers 1.0)."""
    model = EfficientNet(num_classes, dropout)
    return model.eval(), image_batch(batch, image_size)
