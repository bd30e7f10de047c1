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
70b 68,976,648,192.

Two phases of serving, as Meta's reference code runs them: prefill runs the
prompt's ``seq`` tokens and writes their keys and values into a ``KVCache``;
decode runs one new token at position ``context``, writes its key and value
after the ``context`` cached ones and attends over all ``context + 1``. The
cache is an argument of the forward, so the report's header names it.
``hand_count_flops`` and ``hand_count_decode_flops`` give the expected
multiply-adds.

Analyze with e.g. ``costlens report 'examples/llama.py:llama(size="70b", seq=4096)'``
or ``costlens report 'examples/llama.py:llama(size="70b", phase="decode", context=4096)'``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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

    def forward(self, x: torch.Tensor, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The tables of positions ``start`` to ``start + seq - 1``."""
        seq = x.shape[1]
        if start == 0:
            positions = torch.arange(seq, device=x.device, dtype=self.inv_freq.dtype)
        else:
            positions = torch.arange(start, start + seq, device=x.device, dtype=self.inv_freq.dtype)
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
    Given a cache, the new keys and values are written into it at
    ``start_pos`` and attention reads every cached position up to them.
    """

    def __init__(self, config: LlamaConfig, layer: int = 0) -> None:
        super().__init__()
        self.layer = layer  # its index, which picks its keys and values in a cache
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

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None = None, start_pos: int = 0) -> torch.Tensor:
        q = _apply_rotary(self._split_heads(self.wq(x), self.heads), cos, sin)
        k = _apply_rotary(self._split_heads(self.wk(x), self.kv_heads), cos, sin)
        v = self._split_heads(self.wv(x), self.kv_heads)
        if cache is not None:
            k, v = cache.update(self.layer, start_pos, k, v)
        seq = x.shape[1]
        mask = None
        if seq > 1 and start_pos > 0:  # a later chunk of a prompt: causal, offset by start_pos
            mask = torch.ones(seq, start_pos + seq, dtype=torch.bool, device=x.device)
            mask = mask.tril(start_pos)
        out = F.scaled_dot_product_attention(
            q, self._repeat_kv(k), self._repeat_kv(v), attn_mask=mask,
            is_causal=seq > 1 and start_pos == 0,
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

    def __init__(self, config: LlamaConfig, layer: int = 0) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(config.dim, config.norm_eps)
        self.attention = Attention(config, layer)
        self.ffn_norm = RMSNorm(config.dim, config.norm_eps)
        self.feed_forward = FeedForward(config.dim, config.ffn_dim)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None = None, start_pos: int = 0) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin, cache, start_pos)
        return x + self.feed_forward(self.ffn_norm(x))


class Llama(nn.Module):
    """Token embedding, ``config.layers`` blocks, final RMSNorm, untied LM head.

    ``model(tokens)`` runs a whole sequence without a cache;
    ``model(tokens, cache=cache, start_pos=p)`` runs tokens at positions ``p``
    onwards, writing their keys and values into ``cache`` and attending over
    everything cached before them.
    """

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(config.vocab, config.dim)
        self.rope = RotaryEmbedding(config.head_dim, config.rope_theta)
        self.layers = nn.ModuleList(TransformerBlock(config, layer)
                                    for layer in range(config.layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.output = nn.Linear(config.dim, config.vocab, bias=False)

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None,
                start_pos: int = 0) -> torch.Tensor:
        x = self.tok_embeddings(tokens)
        cos, sin = self.rope(x, start_pos)
        for layer in self.layers:
            x = layer(x, cos, sin, cache, start_pos)
        return self.output(self.norm(x))


@dataclass
class KVCache:
    """Keys and values of every layer: ``keys[i]`` and ``values[i]`` are
    batch x kv_heads x capacity x head_dim, filled from position 0.

    Registered as a dataclass with torch's pytree (``torch.export.register_dataclass``), so
    whatever maps a model's inputs reaches its tensors: ``costlens report --dtype bfloat16``
    casts them with the weights, and a rerun on real tensors gets real copies of them.
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @classmethod
    def empty(cls, config: LlamaConfig, batch: int, capacity: int,
              dtype: torch.dtype | None = None) -> KVCache:
        """Room for ``capacity`` positions of every layer, on the current default device."""
        shape = (batch, config.kv_heads, capacity, config.head_dim)
        return cls([torch.zeros(shape, dtype=dtype) for _ in range(config.layers)],
                   [torch.zeros(shape, dtype=dtype) for _ in range(config.layers)])

    def update(self, layer: int, start: int, k: torch.Tensor,
               v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write ``k`` and ``v`` (batch x kv_heads x seq x head_dim) at positions ``start``
        onwards; return every position of the layer up to and including them."""
        end = start + k.shape[2]
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


torch.export.register_dataclass(KVCache)


PHASES = ("prefill", "decode")


def llama(
    size: str = "7b", seq: int = 4096, batch: int = 1, device: str = "meta",
    phase: str = "prefill", context: int = 4096, cache: bool = True,
) -> tuple[nn.Module, tuple[torch.Tensor], dict[str, Any]]:
    """A Llama of ``size`` (a key of ``CONFIGS``) in one phase of serving, as
    ``(model, args, kwargs)``.

    - ``phase="prefill"``: the prompt, ``batch`` x ``seq`` token ids, whose keys
      and values fill a cache of ``seq`` positions: ``model(tokens, cache=cache)``.
    - ``phase="decode"``: one new token per sequence at position ``context``,
      after ``context`` cached positions (a cache of ``context + 1``):
      ``model(tokens, cache=cache, start_pos=context)``. ``seq`` is not used.

    The weights and the cache are float32, as the model is built; ``costlens report
    --dtype bfloat16`` analyzes both in bfloat16 (Llama 2 ships in 16-bit floats),
    halving their bytes. ``cache=False`` gives the prefill without a cache,
    ``model(tokens)``: the plain forward, as scoring or training runs it.
    ``device="cpu"`` materializes real weights and so is only practical for
    "tiny"; it is for actually running the model, not for analyzing it.
    """
    if size not in CONFIGS:
        raise ValueError(f"size must be one of {sorted(CONFIGS)}, got {size!r}")
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    if phase == "decode" and not cache:
        raise ValueError("a decode step reads its KV cache: cache=False is for prefill")
    config = CONFIGS[size]
    with torch.device(device):
        model = Llama(config)
        if phase == "prefill":
            tokens = torch.zeros(batch, seq, dtype=torch.long)
            kwargs = {"cache": KVCache.empty(config, batch, seq)} if cache else {}
            return model.eval(), (tokens,), kwargs
        tokens = torch.zeros(batch, 1, dtype=torch.long)
        cache = KVCache.empty(config, batch, context + 1)
    return model.eval(), (tokens,), {"cache": cache, "start_pos": context}


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


def hand_count_decode_flops(config: LlamaConfig, context: int, batch: int = 1) -> int:
    """Multiply-adds of one decode step at position ``context``, counted by hand.

    - Linear layers: in x out for the one new token of each sequence, as in
      ``hand_count_flops`` with ``seq=1``.
    - Attention: one query against ``context + 1`` keys (the cached ones and its
      own): QK^T and AV each cost ``(context + 1) x head_dim`` per head, so
      2 x layers x batch x heads x (context + 1) x head_dim.
    - Element-wise work (RMSNorm, RoPE, SiLU, softmax, residuals) and the cache
      writes: 0.
    """
    q_dim = config.heads * config.head_dim
    kv_dim = config.kv_heads * config.head_dim
    per_layer = config.dim * (2 * q_dim + 2 * kv_dim) + 3 * config.dim * config.ffn_dim
    linear = batch * (config.layers * per_layer + config.dim * config.vocab)
    attention = 2 * config.layers * batch * config.heads * (context + 1) * config.head_dim
    return linear + attention
