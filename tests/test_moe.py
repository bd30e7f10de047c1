"""A Mixtral-style sparse mixture of experts on the meta device: `torch.where` on the one-hot
expert mask is sized for balanced routing, so only the routed experts' cost is counted (top_k /
experts of the dense cost, never all of it and never none), with a note, and with no fallback
to real tensors; a nonzero on any other tensor still needs real values."""
from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from helpers import ROOT, Lambda, example
from torch import nn

import costlens
from costlens.cli import main

mixtral = example("mixtral")


def _expert_ops(analysis: costlens.Analysis) -> list:
    return [op for op in analysis.ops if op.module.startswith("experts.")
            or ".block_sparse_moe.experts." in op.module]


@pytest.mark.parametrize("tokens, batch", [(512, 1), (100, 3), (1, 1), (3, 1)])
def test_the_experts_cost_top_k_of_n_of_every_expert_on_every_token(tokens: int,
                                                                     batch: int) -> None:
    dim, ffn_dim, experts, top_k = 64, 96, 8, 2
    analysis = costlens.analyze(*mixtral.moe_block(dim, ffn_dim, experts, top_k, tokens, batch))
    assert analysis.graph.device == "meta"
    assert analysis.unsupported_ops == ()
    routed = batch * tokens * top_k
    dense, sparse = mixtral.hand_count_expert_flops(dim, ffn_dim, experts, top_k, batch * tokens)
    assert dense == experts * batch * tokens * 3 * dim * ffn_dim  # from the shapes alone
    products = sum(op.flops for op in _expert_ops(analysis) if op.category == "matmul")
    assert products == sparse == dense * top_k // experts
    assert 0 < products < dense
    # the element-wise work of the experts (SiLU, gate product) follows the same rows
    assert sum(op.flops for op in _expert_ops(analysis)) == routed * (3 * dim * ffn_dim
                                                                     + 2 * ffn_dim)
    rows = [op.outputs[0][0] for op in analysis.ops if op.op == "aten.nonzero.default"]
    assert len(rows) == experts and sum(rows) == routed
    assert max(rows) - min(rows) <= 1  # balanced
    (note,) = analysis.graph.notes
    assert note == (f"data-dependent sizes: {experts} nonzero calls on a one-hot routing mask "
                    f"({batch * tokens}x{top_k} indices, {experts} classes) sized for balanced "
                    f"routing: each class (expert) gets 1/{experts} of the {routed:,} routed "
                    "indices; the real split depends on the router's values")


def test_the_mixtral_shaped_block_at_its_real_size() -> None:
    analysis = costlens.analyze(*mixtral.moe_block())  # 4096 wide, experts of 14336, 512 tokens
    dense, sparse = mixtral.hand_count_expert_flops(4096, 14336, 8, 2, 512)
    assert sum(op.flops for op in _expert_ops(analysis) if op.category == "matmul") == sparse
    assert sparse == dense // 4
    assert analysis.graph.device == "meta" and len(analysis.graph.notes) == 1


def test_the_meta_trace_runs_the_ops_a_real_trace_runs() -> None:
    """The same block on real random tensors routes unevenly, so only the ops are compared:
    the same kinds and counts, but for one_hot, which torch runs differently on the meta
    device (a comparison against arange) and on the CPU (a check of the index range, then a
    scatter of ones)."""
    block, hidden = mixtral.moe_block(dim=64, ffn_dim=96, tokens=32, device="cpu")
    on_meta = costlens.analyze(block, hidden)
    for_real = costlens.analyze(block, hidden, real=True)
    assert on_meta.graph.device == "meta" and for_real.graph.device == "cpu"
    one_hot_on_meta = Counter({"aten.arange.default": 1, "aten.eq.Tensor": 1,
                               "aten._to_copy.default": 1})
    one_hot_on_cpu = Counter({"aten.aminmax.default": 1, "aten._local_scalar_dense.default": 2,
                              "aten.zeros.default": 1, "aten.scatter_.value": 1})
    meta_ops = Counter(op.op for op in on_meta.ops)
    real_ops = Counter(op.op for op in for_real.ops)
    assert meta_ops - one_hot_on_meta == real_ops - one_hot_on_cpu
    assert meta_ops["aten.nonzero.default"] == real_ops["aten.nonzero.default"] == 8
    # every token goes to top_k experts either way: the same rows in total, split otherwise
    rows = {name: [op.outputs[0][0] for op in analysis.ops if op.op == "aten.nonzero.default"]
            for name, analysis in (("meta", on_meta), ("real", for_real))}
    assert sum(rows["meta"]) == sum(rows["real"]) == 64
    assert set(rows["meta"]) == {8}


def test_a_mixtral_model_reports_with_the_note(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["report", "examples/mixtral.py:mixtral", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Mixtral on args[0] 1x64 int64 (eval mode, traced on meta)\n")
    assert ("Note: data-dependent sizes: 16 nonzero calls on 2 one-hot routing masks (64x2 "
            "indices, 8 classes each) sized for balanced routing") in out
    assert "traced on real" not in out


def _where_rows(function, *inputs: torch.Tensor) -> tuple[list[int], costlens.Analysis]:
    analysis = costlens.analyze(Lambda(function), tuple(inputs))
    return [op.outputs[0][0] for op in analysis.ops if op.op == "aten.nonzero.default"], \
        analysis


def test_the_density_follows_casts_views_and_mask_comparisons() -> None:
    indices = torch.zeros(10, 3, dtype=torch.long)

    def masks(idx: torch.Tensor) -> tuple:
        one_hot = F.one_hot(idx, num_classes=5)  # 10 x 3 x 5, one in five true
        return (torch.nonzero(one_hot), torch.argwhere(one_hot.bool().transpose(0, 2)),
                torch.where(one_hot.flatten(0, 1)[::2] != 0), torch.nonzero(one_hot[:, 1] > 0))
    rows, analysis = _where_rows(masks, indices)
    assert rows == [30, 30, 15, 10]
    assert analysis.graph.device == "meta"


def test_an_equality_with_arange_written_out_is_a_one_hot() -> None:
    def routed(idx: torch.Tensor) -> torch.Tensor:
        classes = torch.arange(4)
        return torch.where(idx[:, None] == classes)[0]
    rows, analysis = _where_rows(routed, torch.zeros(12, dtype=torch.long))
    assert rows == [12] and analysis.graph.device == "meta"


@pytest.mark.parametrize("function", [
    lambda x: torch.nonzero(x > 0),  # a value mask: its density depends on the values
    lambda x: torch.nonzero(F.one_hot(x.long(), 4).sum(-1)),  # a sum is not a one-hot
    lambda x: torch.nonzero(x.long()[:, None] == torch.arange(4) + 1),  # not arange itself
], ids=["values", "sum", "shifted arange"])
def test_a_nonzero_of_unknown_density_still_needs_real_values(function) -> None:
    analysis = costlens.analyze(Lambda(function), torch.zeros(6))
    assert analysis.graph.device == "cpu"
    assert "aten.nonzero.default needs tensor values" in analysis.graph.notes[0]


def test_a_permuted_and_selected_mask_gets_its_share() -> None:
    class Router(nn.Module):
        def forward(self, idx: torch.Tensor) -> torch.Tensor:
            return torch.where(F.one_hot(idx, 8).permute(1, 0)[3])[0]

    analysis = costlens.analyze(Router(), torch.zeros(16, dtype=torch.long))
    assert [op.outputs[0][0] for op in analysis.ops if "nonzero" in op.op] == [2]
