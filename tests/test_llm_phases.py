"""An LLM's two phases of serving, on the meta device: prefill (the prompt, filling a KV cache)
and one decode step against a cache of `context` positions; the report header's account of
inputs that are not tensors; and the README's recipe for a Hugging Face-style model with a
cache the user builds, run against a stand-in for transformers."""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass

import hf_standin
import pytest
import torch
from helpers import ROOT, analyzable, example
from torch import nn

import costlens
from costlens.cli import main
from costlens.graph import OpGraph
from costlens.latency import estimate, load_profile
from costlens.report.table import title_line

llama = example("llama")
TINY = llama.CONFIGS["tiny"]
SCALE_AND_SOFTMAX = 1 + 5  # per score, besides the products (costlens/costs/attention.py)


def _decode(context: int, size: str = "tiny", batch: int = 1) -> costlens.Analysis:
    return costlens.analyze(*analyzable(llama.llama(size=size, phase="decode", context=context,
                                                    batch=batch)))


def _weight_bytes(config, itemsize: int = 4) -> int:
    """Every parameter's bytes, from the config alone."""
    q_dim, kv_dim = config.heads * config.head_dim, config.kv_heads * config.head_dim
    per_layer = config.dim * (2 * q_dim + 2 * kv_dim) + 3 * config.dim * config.ffn_dim \
        + 2 * config.dim  # wq, wk, wv, wo; w1, w2, w3; two RMSNorm weights
    params = 2 * config.vocab * config.dim + config.layers * per_layer + config.dim
    return params * itemsize


def _kv_cache_bytes(config, positions: int, batch: int = 1, itemsize: int = 4) -> int:
    """Keys and values of every layer at `positions` positions."""
    return 2 * config.layers * batch * config.kv_heads * positions * config.head_dim * itemsize


def test_decode_is_memory_bound_and_moves_at_least_the_weights_and_the_cache() -> None:
    context = 256
    analysis = _decode(context)
    latency = estimate(analysis, load_profile("epyc-cpu-1t"))
    assert latency.layers[""].bound.value == "memory"
    assert analysis.graph.device == "meta" and analysis.graph.notes == ()
    assert analysis.totals.params * 4 == _weight_bytes(TINY)
    needed = _weight_bytes(TINY) + _kv_cache_bytes(TINY, context + 1)
    assert analysis.totals.mac_bytes >= needed
    # every cached key and value is read: the attention reads the whole cache
    attention = [op for op in analysis.ops if op.category == "attention"]
    assert len(attention) == TINY.layers
    for op in attention:
        _query, key, value = op.inputs[:3]
        assert key[-2] == value[-2] == context + 1


@pytest.mark.parametrize("context, batch", [(256, 1), (100, 3)])
def test_decode_flops_match_the_hand_count(context: int, batch: int) -> None:
    analysis = _decode(context, batch=batch)
    scores = TINY.layers * batch * TINY.heads * (context + 1)
    products = 2 * scores * TINY.head_dim
    weights_times_token = llama.hand_count_decode_flops(TINY, context, batch) - products
    matmul = sum(op.flops for op in analysis.ops if op.category == "matmul")
    attention = sum(op.flops for op in analysis.ops if op.category == "attention")
    assert matmul == weights_times_token
    assert attention == products + scores * SCALE_AND_SOFTMAX  # one query: no mask


def test_prefill_fills_the_cache_and_costs_what_the_plain_forward_does_besides() -> None:
    seq = 64
    model, args, kwargs = llama.llama(size="tiny", seq=seq)
    filled = costlens.analyze(model, costlens.Inputs(args, kwargs))
    plain = costlens.analyze(*analyzable(llama.llama(size="tiny", seq=seq, cache=False)))
    assert plain.graph.input_values == () and costlens.analyze(model, args).to_json() \
        == plain.to_json()
    assert filled.totals.flops == plain.totals.flops == sum(
        op.flops for op in plain.ops)  # the cache writes are copies: no FLOPs
    assert llama.hand_count_flops(TINY, seq) == sum(
        op.flops for op in filled.ops if op.category in ("matmul", "attention")) \
        - TINY.layers * TINY.heads * seq * seq * (SCALE_AND_SOFTMAX + 1)
    writes = [op for op in filled.ops if op.op == "aten.copy_.default"]
    assert len(writes) == 2 * TINY.layers
    assert all(op.outputs[0][2] == seq for op in writes)
    # the writes are all the cache adds: each reads the new keys (or values) and writes them
    assert sum(op.mac_bytes for op in writes) == 2 * _kv_cache_bytes(TINY, seq)
    assert filled.totals.mac_bytes - plain.totals.mac_bytes == 2 * _kv_cache_bytes(TINY, seq)


def test_a_decode_step_needs_its_cache() -> None:
    with pytest.raises(ValueError, match="cache=False is for prefill"):
        llama.llama(size="tiny", phase="decode", cache=False)
    with pytest.raises(ValueError, match="phase must be one of prefill, decode"):
        llama.llama(size="tiny", phase="train")


def test_a_later_chunk_of_a_prompt_attends_causally_over_the_cache() -> None:
    config = TINY
    with torch.device("meta"):
        model = llama.Llama(config).eval()
        cache = llama.KVCache.empty(config, 1, 48)
    tokens = torch.zeros(1, 16, dtype=torch.long, device="meta")
    analysis = costlens.analyze(model, costlens.Inputs((tokens,), {"cache": cache,
                                                                   "start_pos": 32}))
    attention = [op for op in analysis.ops if op.category == "attention"]
    assert attention[0].inputs[0][-2] == 16 and attention[0].inputs[1][-2] == 48
    assert len(attention[0].inputs) == 4  # the offset causal mask


def test_decode_runs_for_real_as_it_is_analyzed() -> None:
    """The tiny model on real tensors: decoding a token after a prefill gives the logits of the
    plain forward over the whole sequence (the cache is right), and the real trace of the
    decode step costs what the meta trace does."""
    torch.manual_seed(0)
    model, (tokens,), prefill = llama.llama(size="tiny", seq=8, device="cpu")
    sequence = torch.randint(TINY.vocab, (1, 9))
    cache = llama.KVCache.empty(TINY, 1, 9)
    with torch.no_grad():
        model(sequence[:, :8], cache=cache)
        step = model(sequence[:, 8:], cache=cache, start_pos=8)
        whole = model(sequence)
    torch.testing.assert_close(step[:, 0], whole[:, 8], rtol=1e-4, atol=1e-4)
    inputs = costlens.Inputs((sequence[:, 8:],), {"cache": cache, "start_pos": 8})
    on_meta = costlens.analyze(model, inputs)
    for_real = costlens.analyze(model, inputs, real=True)
    assert on_meta.graph.device == "meta" and for_real.graph.device == "cpu"
    assert on_meta.totals.flops == for_real.totals.flops
    assert on_meta.totals.mac_bytes == for_real.totals.mac_bytes


def test_the_header_names_the_cache_and_the_position(capsys) -> None:
    target = "examples/llama.py:llama(size='tiny', phase='decode', context=100)"
    assert main(["report", target, "--depth", "0"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header == ("Llama on args[0] 1x1 int64, kwargs['cache'] KVCache(4 tensors of "
                      "1x2x101x64 float32, 207KB), kwargs['start_pos'] 100 (eval mode, traced "
                      "on meta)")


def test_dtype_bfloat16_casts_the_cache_with_the_weights(capsys) -> None:
    target = "examples/llama.py:llama(size='tiny', phase='decode', context=256)"
    reports = {}
    for dtype in ("float32", "bfloat16"):
        assert main(["report", target, "--format", "json", "--dtype", dtype]) == 0
        reports[dtype] = json.loads(capsys.readouterr().out)
    full, half = (reports[d]["totals"]["mac_bytes"] for d in ("float32", "bfloat16"))
    assert abs(2 * half - full) / full < 1e-3  # all but the int64 token id halves
    assert reports["float32"]["totals"]["flops"] == reports["bfloat16"]["totals"]["flops"]
    assert main(["report", target, "--dtype", "bfloat16", "--depth", "0"]) == 0
    assert "KVCache(4 tensors of 1x2x257x64 bfloat16, 263KB)" in capsys.readouterr().out


# -- non-tensor inputs in the header ------------------------------------------------------


class Holder:
    """A cache-like object torch's pytree does not know: tensors in a list attribute."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        self.tensors = list(tensors)
        self.length = 4


class Appending(nn.Module):
    """Reads an object input and appends to it, as a growing cache does."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, holder: Holder, scale: float = 1.0, mode: str = "a",
                flag: bool = False, missing: torch.Tensor | None = None) -> torch.Tensor:
        out = self.proj(x) * scale + holder.tensors[0]
        holder.tensors.append(out)
        return out


def test_the_header_lists_every_input_in_the_order_of_the_call() -> None:
    holder = Holder(torch.zeros(4), torch.zeros(2, 3, dtype=torch.float16))
    inputs = costlens.Inputs((torch.randn(2, 4), holder),
                             {"scale": 2.0, "mode": "b", "flag": True, "missing": None})
    analysis = costlens.analyze(Appending(), inputs)
    assert title_line(analysis) == (
        "Appending on args[0] 2x4 float32, args[1] Holder(2 tensors: 1 of 4 float32, 1 of 2x3 "
        "float16, 28B), kwargs['scale'] 2.0, kwargs['mode'] 'b', kwargs['flag'] True (eval "
        "mode, traced on meta)")
    assert [i.name for i in analysis.inputs] == ["args[0]"]
    value = analysis.graph.input_values[0]
    assert (value.name, value.type, value.after) == ("args[1]", "Holder", 1)
    assert OpGraph.from_json(analysis.graph.to_json()) == analysis.graph
    # the tensors inside are inputs the ops read, named by their path
    origins = {item.origin for node in analysis.graph for item in node.inputs}
    assert "input:args[1].tensors[0]" in origins


def test_an_object_input_is_left_as_it_was_and_analyzed_the_same_twice() -> None:
    holder = Holder(torch.zeros(4))
    inputs = costlens.Inputs((torch.randn(2, 4), holder))
    first = costlens.analyze(Appending(), inputs)
    assert len(holder.tensors) == 1 and holder.tensors[0].device.type == "cpu"
    assert costlens.analyze(Appending(), inputs).to_json() == first.to_json()
    real = costlens.analyze(Appending(), inputs, real=True)
    assert len(holder.tensors) == 1 and real.totals.flops == first.totals.flops


def test_an_object_with_no_tensors_is_named_by_its_type() -> None:
    @dataclass
    class Settings:
        scale: float = 2.0

    class Scaled(nn.Module):
        def forward(self, x: torch.Tensor, settings: Settings) -> torch.Tensor:
            return x * settings.scale

    analysis = costlens.analyze(Scaled(), costlens.Inputs((torch.randn(3),), {"settings":
                                                                               Settings()}))
    assert "kwargs['settings'] Settings (eval" in title_line(analysis)


# -- the README's Hugging Face-style recipe -----------------------------------------------


def _recipe() -> str:
    readme = (ROOT / "README.md").read_text()
    return re.search(r"```python\n(# hf_decode\.py.*?)```", readme, re.S).group(1)


@pytest.fixture
def transformers_standin(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "transformers", hf_standin)
    return hf_standin


def test_the_readme_recipe_analyzes_a_hf_style_decode_step(transformers_standin, tmp_path,
                                                           monkeypatch, capsys) -> None:
    (tmp_path / "hf_decode.py").write_text(_recipe())
    monkeypatch.chdir(tmp_path)
    context, layers = 64, 2
    target = f"hf_decode.py:decode(context={context}, layers={layers})"
    assert main(["report", target, "--platform", "epyc-cpu-1t", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trace"]["device"] == "meta" and report["trace"]["notes"] == []
    assert report["model"]["inputs"] == [{"name": "kwargs['input_ids']", "shape": [1, 1],
                                          "dtype": "int64"}]
    config = llama.LlamaConfig(dim=8192, layers=layers, heads=64, kv_heads=8, ffn_dim=28672,
                               vocab=32000)
    scores = layers * config.heads * (context + 1)
    products = 2 * scores * config.head_dim
    flops = {category: sum(op["flops"] for op in report["ops"] if op["category"] == category)
             for category in ("matmul", "attention")}
    rotary = config.head_dim // 2  # HF's rotary table: frequencies @ positions, a matmul
    assert flops["matmul"] == llama.hand_count_decode_flops(config, context) - products + rotary
    assert flops["attention"] == products + scores * SCALE_AND_SOFTMAX
    assert report["layers"][0]["bound"] == "memory"
    assert main(["report", target, "--depth", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "LlamaForCausalLM on kwargs['input_ids'] 1x1 int64, kwargs['past_key_values'] "
        "DynamicCache(4 tensors of 1x8x64x128 bfloat16, 524KB), kwargs['use_cache'] True "
        "(eval mode, traced on meta)")


def test_the_recipe_leaves_the_users_cache_as_it_built_it(transformers_standin) -> None:
    namespace: dict = {}
    exec(compile(_recipe(), "hf_decode.py", "exec"), namespace)
    model, args, kwargs = namespace["decode"](context=16, layers=2)
    cache = kwargs["past_key_values"]
    costlens.analyze(model, costlens.Inputs(args, kwargs))
    assert cache.get_seq_length() == 16 and len(cache.key_cache) == 2
