"""The bundled examples against independent references: the paper's MAC formula and G1 bound,
fvcore's per-module counts, torchvision's published figures, and a hand count for Llama."""
from __future__ import annotations

import math
import warnings

import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from helpers import EXAMPLES, analyzable, example, example_factories
from torch import nn

import costlens
from costlens.costs import Category

paper = example("paper_benchmarks")

# what fvcore and the published figures count: convolutions (depthwise too) and products
CONV_AND_MATMUL = (Category.CONV, Category.DEPTHWISE, Category.MATMUL)


def _pointwise_convs(analysis: costlens.Analysis) -> list:
    return [op for op in analysis.ops if op.category == "conv"]


def _paper_mac(h: int, w: int, c1: int, c2: int, groups: int) -> int:
    return h * w * (c1 + c2) + c1 * c2 // groups


@pytest.mark.parametrize("platform", ["gpu", "cpu"])
@pytest.mark.parametrize("row", paper.TABLE1_ROWS, ids=lambda row: row.ratio)
def test_table1_mac_is_the_papers_formula_and_above_the_g1_bound(row, platform) -> None:
    kwargs = paper.table1_kwargs(row, platform)
    model, x = paper.g1_network(**kwargs)
    convs = _pointwise_convs(costlens.analyze(model, x))
    assert len(convs) == 20
    h = w = 56
    for op in convs:
        (_, c1, _, _), (_, c2, _, _) = op.inputs[0], op.outputs[0]
        flops = h * w * c1 * c2
        assert op.flops == flops
        assert op.mac == _paper_mac(h, w, c1, c2, 1)
        bound = 2 * math.sqrt(h * w * flops) + flops / (h * w)
        if c1 == c2:
            assert op.mac == pytest.approx(bound, rel=1e-12)
        else:
            assert op.mac > bound


@pytest.mark.parametrize("platform", ["gpu", "cpu"])
@pytest.mark.parametrize("row", paper.TABLE2_ROWS, ids=lambda row: f"g{row.groups}")
def test_table2_group_conv_mac_is_the_papers_formula(row, platform) -> None:
    kwargs = paper.table2_kwargs(row, platform)
    model, x = paper.g2_network(**kwargs)
    convs = _pointwise_convs(costlens.analyze(model, x))
    c, g = kwargs["c"], kwargs["groups"]
    assert len(convs) == 10
    for op in convs:
        assert op.flops == 56 * 56 * c * c // g
        assert op.mac == _paper_mac(56, 56, c, c, g)


def _conv_and_fc(analysis: costlens.Analysis) -> int:
    return sum(op.flops for op in analysis.ops if op.category in CONV_AND_MATMUL)


@pytest.mark.parametrize("width, flops, params", [
    (0.5, 40.5e6, 1_366_792), (1.0, 144.9e6, 2_278_604),
    (1.5, 295.8e6, 3_503_624), (2.0, 583.3e6, 7_393_996),
])
def test_shufflenet_v2_matches_published_counts(width, flops, params) -> None:
    analysis = costlens.analyze(*example("shufflenet_v2").shufflenet_v2(width=width))
    assert _conv_and_fc(analysis) == pytest.approx(flops, rel=0.005)
    assert analysis.totals.params == params


def test_mobilenet_v2_and_resnet50_match_published_counts() -> None:
    mobilenet = costlens.analyze(*example("mobilenet_v2").mobilenet_v2())
    assert _conv_and_fc(mobilenet) == pytest.approx(300.8e6, rel=0.005)
    assert mobilenet.totals.params == 3_504_872
    resnet = costlens.analyze(*example("resnet").resnet50())
    assert _conv_and_fc(resnet) == pytest.approx(4.089e9, rel=0.005)
    assert resnet.totals.params == 25_557_032


#: fvcore's by_operator() names for convolutions and every matrix product.
FVCORE_DENSE = ("conv", "linear", "addmm", "mm", "matmul", "bmm", "einsum")


class ExplicitAttention(nn.Module):
    """Attention written out as products (fvcore counts those, not a fused attention op; not
    einsum either, which fvcore counts by numpy's optimizer, 2 FLOPs off here)."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        scores = torch.softmax(q @ k.transpose(-2, -1) / 8, dim=-1)
        return torch.bmm(scores, v)


def _fvcore(model: nn.Module, inputs) -> FlopCountAnalysis:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = FlopCountAnalysis(model, inputs if isinstance(inputs, tuple) else (inputs,))
        reference.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        reference.by_operator()  # run the trace while warnings are off
    return reference


#: Why an example is not compared with fvcore, by file stem.
NOT_FVCORE = {"mixtral": "fvcore's JIT trace runs the MoE on real tensors, where the router "
                         "splits the tokens unevenly over the experts, so its per-expert Linear "
                         "FLOPs follow the random weights; costlens sizes balanced routing on "
                         "the meta device. tests/test_moe.py checks it against a hand count and "
                         "a real trace instead."}


def _networks() -> list:
    """Every example network (their factories with default arguments, Llama tiny without its
    KV cache, which fvcore's JIT trace cannot take) and an attention written with explicit
    products."""
    found = []
    for module, factory in example_factories():
        kwargs = {"size": "tiny"} if factory == "llama" else {}
        function = getattr(example(module), factory)
        marks = [pytest.mark.skip(reason=NOT_FVCORE[module])] if module in NOT_FVCORE else []
        found.append(pytest.param(f"{module}:{factory}",
                                  lambda f=function, k=kwargs: f(**k)[:2],
                                  id=f"{module}:{factory}", marks=marks))
    found.append(pytest.param("explicit attention",
                              lambda: (ExplicitAttention(), torch.randn(2, 16, 64)),
                              id="explicit attention"))
    return found


@pytest.mark.parametrize("name, build", _networks())
def test_conv_linear_and_matmul_flops_equal_fvcore(name: str, build) -> None:
    """fvcore (a JIT trace, counted independently) as the oracle: the FLOPs of every
    convolution and matrix product in total, and of every Conv2d and Linear module."""
    model, inputs = build()
    analysis = costlens.analyze(model, inputs)
    reference = _fvcore(model, inputs)
    dense = sum(op.flops for op in analysis.ops if op.category in CONV_AND_MATMUL)
    assert dense > 0
    assert dense == sum(flops for op, flops in reference.by_operator().items()
                        if op in FVCORE_DENSE)
    by_module = reference.by_module()
    modules = [(path, module) for path, module in model.named_modules()
               if isinstance(module, (nn.Conv2d, nn.Linear))]
    assert modules
    for path, _ in modules:
        assert analysis.layer(path).flops == by_module[path], path


@pytest.mark.parametrize("module, factory", example_factories())
def test_every_example_is_fully_costed(module, factory) -> None:
    kwargs = {"size": "tiny"} if factory == "llama" else {}
    model, inputs = analyzable(getattr(example(module), factory)(**kwargs))
    analysis = costlens.analyze(model, inputs)
    assert analysis.unsupported_ops == ()
    assert analysis.graph.device == "meta"
    assert analysis.totals.flops > 0


def test_every_example_file_has_a_factory() -> None:
    stems = {stem for stem, _ in example_factories()}
    assert stems == {path.stem for path in EXAMPLES.glob("*.py")} - {"blocks", "__init__"}


@pytest.mark.parametrize("size, seq, batch", [("tiny", 256, 2), ("7b", 128, 1)])
def test_llama_flops_match_the_hand_count(size: str, seq: int, batch: int) -> None:
    llama = example("llama")
    config = llama.CONFIGS[size]
    analysis = costlens.analyze(*analyzable(llama.llama(size=size, seq=seq, batch=batch)))
    head_dim = config.dim // config.heads
    attention_products = 2 * config.layers * batch * config.heads * seq * seq * head_dim
    weights_times_tokens = llama.hand_count_flops(config, seq, batch) - attention_products
    matmul = sum(op.flops for op in analysis.ops if op.category == "matmul")
    attention = sum(op.flops for op in analysis.ops if op.category == "attention")
    scores = config.layers * batch * config.heads * seq * seq
    assert matmul == weights_times_tokens
    assert attention == attention_products + scores * (1 + 5 + 1)  # scale, softmax, causal mask
