"""A Llama-style decoder, from a 2-layer toy up to Llama-2-70B.

Sources: Touvron et al., "LLaMA: Open and Efficient Foundation Language
Models" (arXiv:2302.13971) and "Llama 2: Open Foundation and Fine-Tuned Chat
Models" (arXiv:2307.09288): pre-RMSNorm blocks, rotary position embeddings,
grouped-query attention (70B), SwiGLU MLP, no biases, untied LM head. Module
names follow Meta's reference code (``tok_embeddings``, ``layers``,
``attention.wq``.., ``feed_forward.w1``.., ``norm``, ``output``).

Every size is built on the meta device by default: parameters have shapes but
no storage, so the 70B config costs no memory and static analysis still sees
every op. Parameters: 7b 6,738,415,616; 13b 13,015,864,320;
70b 68,976,648,192. ``hand_count_flops`` gives the expected multiply-adds.

Analyze with e.g. ``costlens report examples/llama.py:llama(size="70b", seq=4096)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class LlamaConfig:
    """Shape of a Llama model; ``kv_heads < heads`` means grouped-query attention."""

    dim: int
    layers: int
    heads: int
    kv_heads: int
    ffn_dim: int
    vocab: int
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads


CONFIGS: dict[str, LlamaConfig] = {
    "tiny": LlamaConfig(dim=256, layers=2, heads=4, kv_heads=2, ffn_dim=688, vocab=1024),
    "7b": LlamaConfig(dim=4096, layers=32, heads=32, kv_heads=32, ffn_dim=11008, vocab=32000),
    "13b": LlamaConfig(dim=5120, layers=40, heads=40, kv_heads=40, ffn_dim=13824, vocab=32000),
    "70b": LlamaConfig(dim=8192, layers=80, heads=64, kv_heads=8, ffn_dim=28672, vocab=32000),
}


class RMSNorm(nn.Module):
    """LayerNorm without mean subtraction or bias: cheaper, and what Llama uses."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class RotaryEmbedding(nn.Module):
    """Cos/sin tables of the rotary position embedding, shared by all layers.

    ``inv_freq`` is a non-persistent buffer: it is derived from the config,
    so checkpoints need not store it.
    """

    def __init__(self, head_dim: int, theta: float) -> None:
        super().__init__()
        inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2).float() / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(x.shape[1], device=x.device, dtype=self.inv_freq.dtype)
        freqs = torch.outer(positions, self.inv_freq)
        angles = torch.cat((freqs, freqs), dim=-1)
        return angles.cos(), angles.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def _apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos + _rotate_half(x) * sin


class Attention(nn.Module):
    """Causal grouped-query attention with rotary embeddings on q and k.

    Each of the ``kv_heads`` key/value heads serves ``heads // kv_heads``
    query heads, shrinking ``wk``/``wv`` and the KV cache; k and v are
    repeated up to the query heads so a standard attention kernel applies.
    """

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.kv_heads = config.kv_heads
        self.head_dim = config.head_dim
        self.wq = nn.Linear(config.dim, config.heads * config.head_dim, bias=False)
        self.wk = nn.Linear(config.dim, config.kv_heads * config.head_dim, bias=False)
        self.wv = nn.Linear(config.dim, config.kv_heads * config.head_dim, bias=False)
        self.wo = nn.Linear(config.heads * config.head_dim, config.dim, bias=False)

    def _split_heads(self, x: torch.Tensor, heads: int) -> torch.Tensor:
        return x.unflatten(-1, (heads, self.head_dim)).transpose(1, 2)

    def _repeat_kv(self, x: torch.Tensor) -> torch.Tensor:
        repeats = self.heads // self.kv_heads
        if repeats == 1:
            return x
        x = x[:, :, None].expand(-1, -1, repeats, -1, -1)
        return x.reshape(x.size(0), self.heads, x.size(3), self.head_dim)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        q = _apply_rotary(self._split_heads(self.wq(x), self.heads), cos, sin)
        k = _apply_rotary(self._split_heads(self.wk(x), self.kv_heads), cos, sin)
        v = self._split_heads(self.wv(x), self.kv_heads)
        out = F.scaled_dot_product_attention(
            q, self._repeat_kv(k), self._repeat_kv(v), is_causal=True
        )
        return self.wo(out.transpose(1, 2).flatten(2))


class FeedForward(nn.Module):
    """SwiGLU MLP: a SiLU-gated hidden layer, ``w2(silu(w1(x)) * w3(x))``."""

    def __init__(self, dim: int, ffn_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, ffn_dim, bias=False)
        self.w2 = nn.Linear(ffn_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, ffn_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    """Pre-RMSNorm residual block: attention, then feed-forward."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(config.dim, config.norm_eps)
        self.attention = Attention(config)
        self.ffn_norm = RMSNorm(config.dim, config.norm_eps)
        self.feed_forward = FeedForward(config.dim, config.ffn_dim)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin)
        return x + self.feed_forward(self.ffn_norm(x))


class Llama(nn.Module):
    """Token embedding, ``config.layers`` blocks, final RMSNorm, untied LM head."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(config.vocab, config.dim)
        self.rope = RotaryEmbedding(config.head_dim, config.rope_theta)
        self.layers = nn.ModuleList(TransformerBlock(config) for _ in range(config.layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.output = nn.Linear(config.dim, config.vocab, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tok_embeddings(tokens)
        cos, sin = self.rope(x)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.output(self.norm(x))


def llama(
    size: str = "7b", seq: int = 4096, batch: int = 1, device: str = "meta"
) -> tuple[nn.Module, torch.Tensor]:
    """A Llama of ``size`` (a key of ``CONFIGS``) on ``batch`` x ``seq`` token ids.

    ``device="cpu"`` materializes real weights and so is only practical for
    "tiny"; it is for actually running the model, not for analyzing it.
    """
    if size not in CONFIGS:
        raise ValueError(f"size must be one of {sorted(CONFIGS)}, got {size!r}")
    config = CONFIGS[size]
    with torch.device(device):
        model = Llama(config)
        tokens = torch.zeros(batch, seq, dtype=torch.long)
    return model.eval(), tokens


def hand_count_flops(config: LlamaConfig, seq: int, batch: int = 1) -> int:
    """Multiply-adds of one forward pass, counted by hand, to check the analyzer against.

    - Linear layers: in x out per token, for wq/wk/wv/wo and w1/w2/w3 of every
      layer and for the LM head. The embedding is a gather: 0.
    - Attention: QK^T and AV each cost seq x seq x head_dim per head, so
      2 x layers x batch x heads x seq x seq x head_dim; counted as the full
      square, since kernels compute it whole and apply the causal mask after.
    - RMSNorm, RoPE, SiLU, softmax and the residual adds are element-wise: 0.
    """
    q_dim = config.heads * config.head_dim
    kv_dim = config.kv_heads * config.head_dim
    per_layer = config.dim * (2 * q_dim + 2 * kv_dim) + 3 * config.dim * config.ffn_dim
    linear = batch * seq * (config.layers * per_layer + config.dim * config.vocab)
    attention = 2 * config.layers * batch * config.heads * seq * seq * config.head_dim
    return linear + attention
