"""A small GPT-style decoder-only transformer language model.

Source: Radford et al., "Language Models are Unsupervised Multitask Learners"
(GPT-2, OpenAI 2019): learned token and position embeddings, pre-LayerNorm
blocks of causal self-attention and a 4x GELU MLP, a final LayerNorm and a
linear LM head. Sizes are parameters, so one file covers toy to mid-size models.

Analyze with e.g. ``costlens report examples/gpt.py:gpt(layers=12, dim=768, heads=12)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    """Multi-head self-attention over (B, tokens, C); with ``causal``, each token sees only
    earlier tokens.

    One fused ``qkv`` projection instead of three keeps it to one matmul, as
    GPT-2 does; the attention itself is ``scaled_dot_product_attention`` so
    the analyzer sees the fused op that real deployments run.
    """

    def __init__(self, dim: int, heads: int, causal: bool = False) -> None:
        super().__init__()
        self.heads, self.causal = heads, causal
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qkv = self.qkv(x).unflatten(-1, (3, self.heads, -1))
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.proj(out.transpose(1, 2).flatten(2))


class CausalSelfAttention(SelfAttention):
    """GPT's attention: each token sees only earlier tokens."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__(dim, heads, causal=True)


class Block(nn.Module):
    """Pre-LayerNorm residual block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Token + position embeddings, ``layers`` blocks, final LayerNorm, LM head."""

    def __init__(self, layers: int, dim: int, heads: int, vocab: int, max_seq: int) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, dim)
        self.pos_emb = nn.Embedding(max_seq, dim)
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(layers)))
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.tok_emb(tokens) + self.pos_emb(positions)
        return self.head(self.ln_f(self.blocks(x)))


def gpt(
    layers: int = 4,
    dim: int = 256,
    heads: int = 4,
    vocab: int = 8192,
    seq: int = 128,
    batch: int = 1,
) -> tuple[nn.Module, torch.Tensor]:
    """A GPT with ``layers`` blocks of width ``dim``, run on ``batch`` x ``seq`` token ids.

    The position table has exactly ``seq`` rows, so the model is sized for
    the context it is analyzed at. ``dim`` must be divisible by ``heads``.
    """
    model = GPT(layers, dim, heads, vocab, seq)
    return model.eval(), torch.randint(vocab, (batch, seq))
