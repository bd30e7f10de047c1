"""A small convolution-attention hybrid in the layout of CoAtNet-0, at reduced widths.

Source: Dai, Liu, Le and Tan, "CoAtNet: Marrying Convolution and Attention for
All Data Sizes", NeurIPS 2021 (arXiv:2106.04803), Section 3 and Table 3: a
convolutional stem (S0) and MBConv stages (S1, S2) on the large early maps, then
Transformer stages (S3, S4) on the 14x14 and 7x7 maps flattened to tokens. Kept
simple, and smaller than CoAtNet-0 (which is 64/96/192/384/768 wide with blocks
2/2/3/5/2): widths 32/48/96/192/384, blocks 2/2/2/3/2, the MBConv blocks of
``efficient.py`` (expansion 4, 3x3, squeeze-excitation, SiLU), and each Transformer
stage entered by a 3x3 stride-2 conv + BatchNorm rather than CoAtNet's pooled
shortcut. The Transformer blocks are pre-LayerNorm: multi-head self-attention
(one ``qkv`` Linear, ``scaled_dot_product_attention``, 32 channels a head) and a
4x GELU MLP. No position embedding and no relative bias: the convolutions before
the attention already tell the tokens apart by position. The head is a final
LayerNorm, the mean over tokens and a Linear.

At 224x224: 6,283,008 parameters; 0.87G multiply-adds in its convolutions and
linear layers, and 52.4M in the attention (47.9M of them its two products).

Analyze with e.g. ``costlens report examples/hybrid.py:conv_attention_hybrid``.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import PreNormBlock, conv_bn, image_batch
from .efficient import MBConv
from .gpt import SelfAttention

STEM = 32
CONV_STAGES = ((48, 2), (96, 2))  # (channels, MBConv blocks), each starting at stride 2
TRANSFORMER_STAGES = ((192, 3), (384, 2))  # (channels, Transformer blocks), likewise
HEAD_DIM = 32
MBCONV_EXPANSION = 4
MLP_RATIO = 4


class TransformerBlock(PreNormBlock):
    """Pre-LayerNorm residual block around global self-attention."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, SelfAttention(dim, dim // HEAD_DIM), MLP_RATIO)


class TransformerStage(nn.Module):
    """Stride-2 conv (``downsample``), the map flattened to tokens, ``blocks``, back to a map."""

    def __init__(self, in_channels: int, dim: int, blocks: int) -> None:
        super().__init__()
        self.downsample = conv_bn(in_channels, dim, 3, stride=2, activation=None)
        self.blocks = nn.Sequential(*(TransformerBlock(dim) for _ in range(blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        tokens = self.blocks(x.flatten(2).transpose(1, 2))  # (B, H * W, C)
        return tokens.transpose(1, 2).reshape(x.shape)


class ConvAttentionHybrid(nn.Module):
    """S0 stem (two 3x3 convs), S1-S2 MBConv, S3-S4 Transformer, LayerNorm, mean, ``head``."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        stages: list[nn.Module] = [nn.Sequential(
            conv_bn(3, STEM, 3, stride=2, activation=nn.SiLU),
            conv_bn(STEM, STEM, 3, activation=nn.SiLU))]
        channels = STEM
        for width, blocks in CONV_STAGES:
            stages.append(nn.Sequential(*(
                MBConv(channels if i == 0 else width, width, 2 if i == 0 else 1,
                       MBCONV_EXPANSION, 3)
                for i in range(blocks))))
            channels = width
        for width, blocks in TRANSFORMER_STAGES:
            stages.append(TransformerStage(channels, width, blocks))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(channels)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(x).flatten(2).transpose(1, 2)
        return self.head(self.norm(x).mean(1))


def conv_attention_hybrid(num_classes: int = 1000, batch: int = 1,
                          image_size: int = 224) -> tuple[nn.Module, torch.Tensor]:
    """The CoAtNet-0-like hybrid; ``image_size`` must be a multiple of 32."""
    model = ConvAttentionHybrid(num_classes)
    return model.eval(), image_batch(batch, image_size)
