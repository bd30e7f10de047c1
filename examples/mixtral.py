"""A Mixtral-style sparse mixture-of-experts decoder, and its MoE block alone.

Source: Jiang et al., "Mixtral of Experts" (arXiv:2401.04088): a Llama-style decoder (see
llama.py: pre-RMSNorm, rotary embeddings, grouped-query attention) whose feed-forward layer is
a sparse mixture of 8 SwiGLU experts; a router picks the top 2 for each token and mixes their
outputs by its renormalized softmax weights. ``SparseMoeBlock`` is written as the reference
implementation (Hugging Face's ``MixtralSparseMoeBlock``) does it: router linear, softmax,
``torch.topk``, renormalize, ``F.one_hot(...).permute(2, 1, 0)`` as the expert mask, then per
expert ``torch.where`` on its slice of the mask, a gather of its tokens, the expert, the
routing weights, and ``index_add_`` back into the output. Module names follow it too
(``block_sparse_moe``, ``gate``, ``experts.{i}.w1/w2/w3``).

How many tokens each expert gets depends on the router's values, which a trace on the meta
device does not have; costlens sizes ``torch.where`` on the one-hot mask for balanced routing
(each expert gets top_k / experts of the tokens) and says so in a note, so the experts together
cost exactly top_k / experts of running every expert on every token. ``hand_count_expert_flops``
gives that figure.

Analyze with e.g. ``costlens report examples/mixtral.py:moe_block`` or
``costlens report 'examples/mixtral.py:mixtral(size="8x7b", seq=4096)'``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .llama import Attention, FeedForward, LlamaConfig, RMSNorm, RotaryEmbedding


@dataclass(frozen=True)
class MixtralConfig(LlamaConfig):
    """A Llama shape whose feed-forward layers are ``experts`` SwiGLU experts of width
    ``ffn_dim``, ``top_k`` of them run per token."""

    experts: int = 8
    top_k: int = 2


CONFIGS: dict[str, MixtralConfig] = {
    "tiny": MixtralConfig(dim=256, layers=2, heads=4, kv_heads=2, ffn_dim=512, vocab=1024),
    "8x7b": MixtralConfig(dim=4096, layers=32, heads=32, kv_heads=8, ffn_dim=14336,
                          vocab=32000, rope_theta=1e6),
}


class Expert(FeedForward):
    """One SwiGLU expert, ``w2(silu(w1(x)) * w3(x))`` (Mixtral's BlockSparseTop2MLP): Llama's
    feed-forward under the name the reference gives it."""


class SparseMoeBlock(nn.Module):
    """Each token through the ``top_k`` of ``experts`` experts its router ranks highest, their
    outputs mixed by the renormalized routing weights. Returns the output and the router's
    logits (for the load-balancing loss in training), as the reference does."""

    def __init__(self, dim: int, ffn_dim: int, experts: int = 8, top_k: int = 2) -> None:
        super().__init__()
        self.num_experts = experts
        self.top_k = top_k
        self.gate = nn.Linear(dim, experts, bias=False)
        self.experts = nn.ModuleList(Expert(dim, ffn_dim) for _ in range(experts))

    def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, seq, dim = hidden_states.shape
        hidden_states = hidden_states.view(-1, dim)
        router_logits = self.gate(hidden_states)
        routing_weights = F.softmax(router_logits, dim=1, dtype=torch.float)
        routing_weights, selected_experts = torch.topk(routing_weights, self.top_k, dim=-1)
        routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
        routing_weights = routing_weights.to(hidden_states.dtype)
        final_hidden_states = torch.zeros((batch * seq, dim), dtype=hidden_states.dtype,
                                          device=hidden_states.device)
        # experts x top_k x tokens: which expert each token's k-th choice went to
        expert_mask = F.one_hot(selected_experts, num_classes=self.num_experts).permute(2, 1, 0)
        for expert_idx in range(self.num_experts):
            expert_layer = self.experts[expert_idx]
            idx, top_x = torch.where(expert_mask[expert_idx])
            current_state = hidden_states[None, top_x].reshape(-1, dim)
            current_hidden_states = expert_layer(current_state) * routing_weights[top_x, idx, None]
            final_hidden_states.index_add_(0, top_x, current_hidden_states.to(hidden_states.dtype))
        return final_hidden_states.reshape(batch, seq, dim), router_logits


class MixtralLayer(nn.Module):
    """Pre-RMSNorm residual block: attention, then the sparse MoE block."""

    def __init__(self, config: MixtralConfig, layer: int = 0) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(config.dim, config.norm_eps)
        self.attention = Attention(config, layer)
        self.ffn_norm = RMSNorm(config.dim, config.norm_eps)
        self.block_sparse_moe = SparseMoeBlock(config.dim, config.ffn_dim, config.experts,
                                               config.top_k)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin)
        moe, _ = self.block_sparse_moe(self.ffn_norm(x))
        return x + moe


class Mixtral(nn.Module):
    """Token embedding, ``config.layers`` MoE decoder layers, final RMSNorm, LM head."""

    def __init__(self, config: MixtralConfig) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(config.vocab, config.dim)
        self.rope = RotaryEmbedding(config.head_dim, config.rope_theta)
        self.layers = nn.ModuleList(MixtralLayer(config, layer) for layer in range(config.layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.output = nn.Linear(config.dim, config.vocab, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tok_embeddings(tokens)
        cos, sin = self.rope(x)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.output(self.norm(x))


def moe_block(
    dim: int = 4096, ffn_dim: int = 14336, experts: int = 8, top_k: int = 2, tokens: int = 512,
    batch: int = 1, device: str = "meta",
) -> tuple[nn.Module, torch.Tensor]:
    """One MoE block of Mixtral 8x7B's shape (``dim`` 4096, experts 14336 wide, top-2 of 8)
    on ``batch`` x ``tokens`` hidden states. ``device="cpu"`` makes real random weights and
    inputs, to run it; only practical at small ``dim`` and ``ffn_dim``."""
    with torch.device(device):
        block = SparseMoeBlock(dim, ffn_dim, experts, top_k)
        hidden = torch.randn(batch, tokens, dim)
    return block.eval(), hidden


def mixtral(
    size: str = "tiny", seq: int = 64, batch: int = 1, device: str = "meta"
) -> tuple[nn.Module, torch.Tensor]:
    """A Mixtral of ``size`` (a key of ``CONFIGS``) on ``batch`` x ``seq`` token ids, built on
    the meta device (``device="cpu"`` for real random weights, practical for "tiny" only)."""
    if size not in CONFIGS:
        raise ValueError(f"size must be one of {sorted(CONFIGS)}, got {size!r}")
    with torch.device(device):
        model = Mixtral(CONFIGS[size])
        tokens = torch.zeros(batch, seq, dtype=torch.long)
    return model.eval(), tokens


def hand_count_expert_flops(dim: int, ffn_dim: int, experts: int, top_k: int,
                            tokens: int) -> tuple[int, int]:
    """Multiply-adds of the experts' matrix products in one MoE block: (every expert on every
    token, as a dense layer would run them; the routed share, top_k / experts of it, what each
    token really runs). An expert costs 3 x dim x ffn_dim per token (w1, w3, w2); the router,
    the gathers, the element-wise ops and the weighted sum are left out."""
    dense = experts * tokens * 3 * dim * ffn_dim
    return dense, dense * top_k // experts
