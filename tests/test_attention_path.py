"""The CPU attention kernel the estimate assumes is the one torch runs: the fused kernel, or
the math path op by op (latency/attention_path.py), checked with torch's profiler."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import profile

from costlens import analyze
from costlens.latency import estimate, load_profile
from costlens.latency.attention_path import math_path


class Attention(nn.Module):
    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def _heads(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, 49, 32)


LAYOUTS = {
    "4-D, no mask": (_heads(1, 3), None),
    "4-D, 2-D mask": (_heads(1, 3), torch.randn(49, 49)),
    "4-D, 3-D mask": (_heads(1, 3), torch.randn(3, 49, 49)),
    "4-D, 4-D mask": (_heads(1, 3), torch.randn(1, 3, 49, 49)),
    "5-D windows": (_heads(1, 4, 3), None),
    "5-D windows, mask": (_heads(1, 4, 3), torch.randn(4, 3, 49, 49)),
    "3-D": (_heads(3), None),
}


def _attention_node(*inputs: torch.Tensor):
    (node,) = [node for node in analyze(Attention(), inputs).graph.nodes
               if node.packet == "aten.scaled_dot_product_attention"]
    return node


def _torch_runs_math(q: torch.Tensor, mask: torch.Tensor | None) -> bool:
    with torch.no_grad(), profile() as run:
        F.scaled_dot_product_attention(q, q, q, attn_mask=mask)
    names = {event.name for event in run.events()}
    assert any("flash" in name or "math" in name for name in names)
    return not any("flash" in name for name in names)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_path_is_the_one_torch_takes(layout: str) -> None:
    q, mask = LAYOUTS[layout]
    node = _attention_node(q, q, q) if mask is None else _attention_node(q, q, q, mask)
    assert (math_path(node) is not None) == _torch_runs_math(q, mask)


def test_the_math_path_costs_more_than_the_fused_kernel_on_the_same_scores() -> None:
    platform = load_profile("epyc-cpu-1t")
    windows = _heads(1, 16, 3)
    fused = windows.flatten(1, 2)  # the same 48 heads as 4-D: the fused kernel takes them
    slow = estimate(analyze(Attention(), (windows,) * 3), platform).seconds
    fast = estimate(analyze(Attention(), (fused,) * 3), platform).seconds
    assert slow > 1.3 * fast  # each pass over the scores moves them again
    parts = math_path(_attention_node(windows, windows, windows))
    scores = 16 * 3 * 49 * 49
    assert sum(part.flops for part in parts if part.kernel_class == "matmul") == scores * 64
    # the safe softmax's `all` reduces booleans, a kernel of its own (classes.logical_reduction)
    assert [part.logical for part in parts if part.kernel_class == "reduction"] == [False, True]
