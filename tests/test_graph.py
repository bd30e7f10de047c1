"""The op graph as plain data: element counts, JSON round trip, networkx view."""
from __future__ import annotations

import torch
from test_trace import Net

import costlens
from costlens.graph import OpGraph, TensorMeta


def test_footprint_counts_broadcast_dimensions_once() -> None:
    dense = TensorMeta((2, 3, 4), (12, 4, 1), "float32", 4)
    expanded = TensorMeta((2, 3, 4), (0, 1, 0), "float32", 4)
    assert (dense.numel, dense.footprint) == (24, 24)
    assert (expanded.numel, expanded.footprint) == (24, 3)
    assert TensorMeta((0, 5), (5, 1), "float32", 4).footprint == 0


def test_json_round_trip_is_lossless() -> None:
    graph = costlens.trace_model(Net(), torch.randn(1, 3, 8, 8))
    again = OpGraph.from_json(graph.to_json())
    assert again == graph
    assert costlens.analyze_graph(again).to_json() == costlens.analyze_graph(graph).to_json()


def test_call_chain_walks_outward() -> None:
    graph = costlens.trace_model(Net(), torch.randn(1, 3, 8, 8))
    conv = next(n for n in graph if graph.module_of(n) == "stage.1.conv")
    chain = [c.module for c in graph.call_chain(conv.call)]
    assert chain == ["stage.1.conv", "stage.1", "stage", ""]
