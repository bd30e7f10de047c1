"""The frozen result of one analysis, and its versioned JSON form (JSON Schema:
costlens/schemas/report.json).

Every reporter, the Python API and (later) the rules read this one object; nothing recomputes
figures from the graph.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..costs import Category
from ..graph import GraphInput, OpGraph, SourceLocation
from .blocks import BlockFigures, OpTable

SCHEMA_VERSION = 3

CONVENTIONS = {
    "peak_bytes": "bytes of the tensors live at once, at the most, while the ops run (weights, "
                  "buffers, inputs and activations by liveness in execution order; views and "
                  "in-place ops share storage)",
    "flops": "multiply-adds: one fused multiply-add = 1, any other arithmetic op = 1 per element",
    "mac": "memory access cost: elements read + written per op, cache assumed to hold all data",
    "mac_bytes": "mac in bytes, each tensor at its dtype's size",
    "intensity": "arithmetic intensity: flops per mac byte",
    "parallelism": "independent work items: output elements of an op; per layer, the mean per "
                   "kernel launched",
}


@dataclass(frozen=True)
class PhaseFigures:
    """A training step's figures of one phase (forward, backward, optimizer)."""

    phase: str
    flops: int
    mac: int
    mac_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"flops": self.flops, "mac": self.mac, "mac_bytes": self.mac_bytes}


def _phases_dict(phases: Sequence[PhaseFigures]) -> dict[str, Any]:
    """`phases` for JSON, in a training step only."""
    return {"phases": {p.phase: p.to_dict() for p in phases}} if phases else {}


def _saved_dict(saved: int | None) -> dict[str, Any]:
    return {} if saved is None else {"saved_bytes": saved}


@dataclass(frozen=True)
class OpRecord:
    """One op of the graph with its cost; `category` and the figures are None when no formula
    covers the op (it is then listed under unsupported_ops)."""

    index: int
    op: str
    module: str
    category: Category | None
    flops: int | None
    mac: int | None
    mac_bytes: int | None
    parallelism: int | None
    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]
    source: SourceLocation | None
    phase: str = "forward"

    @property
    def supported(self) -> bool:
        return self.category is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "op": self.op, "module": self.module,
            "category": None if self.category is None else self.category.value,
            "flops": self.flops, "mac": self.mac, "mac_bytes": self.mac_bytes,
            "intensity": _intensity(self.flops, self.mac_bytes), "parallelism": self.parallelism,
            "inputs": [list(shape) for shape in self.inputs],
            "outputs": [list(shape) for shape in self.outputs],
            "source": None if self.source is None else str(self.source), "phase": self.phase,
        }


@dataclass(frozen=True)
class LayerRecord:
    """A module with the figures of every op that ran inside it, its descendants' included;
    or, where `forward_of` names a module, the ops that module's own forward ran outside its
    children (a residual add, a flatten, a functional call), so that a module's children and
    its own row add up to it. Such a row is named `module.(Type.forward)` (the whole model's
    `(Type.forward)`), one level below its module; `params` holds the parameters the module
    owns directly, `calls` the calls of its forward."""

    name: str
    type: str
    depth: int
    calls: int
    params: int
    flops: int
    mac: int
    mac_bytes: int
    parallelism: int
    block: BlockFigures
    source: SourceLocation | None
    forward_of: str | None = None
    phases: tuple[PhaseFigures, ...] = ()  # a training step's figures per phase
    peak_bytes: int = 0  # the most bytes live while its ops run (memory.py)
    saved_bytes: int | None = None  # a training step's activations it saves for backward

    @property
    def intensity(self) -> float:
        return _intensity(self.flops, self.mac_bytes) or 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "forward_of": self.forward_of, "type": self.type,
            "depth": self.depth, "calls": self.calls,
            "params": self.params, "flops": self.flops, "mac": self.mac,
            "mac_bytes": self.mac_bytes, "intensity": self.intensity,
            "parallelism": self.parallelism, "fragments": self.block.fragments,
            "branches": self.block.branches, "kernels": self.block.kernels,
            "elementwise_mac_share": _rounded(self.block.elementwise_mac_share),
            "movement_mac_share": _rounded(self.block.movement_mac_share),
            "source": None if self.source is None else str(self.source),
            "peak_bytes": self.peak_bytes, **_saved_dict(self.saved_bytes),
            **_phases_dict(self.phases),
        }


@dataclass(frozen=True)
class CategoryTotals:
    category: str
    ops: int
    flops: int
    mac: int
    mac_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"ops": self.ops, "flops": self.flops, "mac": self.mac, "mac_bytes": self.mac_bytes}


@dataclass(frozen=True)
class Totals:
    flops: int
    mac: int
    mac_bytes: int
    params: int
    kernels: int
    parallelism: int
    by_category: tuple[CategoryTotals, ...]
    phases: tuple[PhaseFigures, ...] = ()  # a training step's figures per phase
    peak_bytes: int = 0  # the most bytes live at once (memory.py)
    saved_bytes: int | None = None  # a training step's activations saved for backward

    @property
    def intensity(self) -> float:
        return _intensity(self.flops, self.mac_bytes) or 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "flops": self.flops, "mac": self.mac, "mac_bytes": self.mac_bytes,
            "params": self.params, "kernels": self.kernels, "intensity": self.intensity,
            "parallelism": self.parallelism,
            "by_category": {c.category: c.to_dict() for c in self.by_category},
            "peak_bytes": self.peak_bytes, **_saved_dict(self.saved_bytes),
            **_phases_dict(self.phases),
        }


@dataclass(frozen=True)
class UnsupportedOp:
    """An op with no cost formula: how often it ran and where. Its cost is missing from every
    total, which is why it is listed rather than counted as zero."""

    op: str
    calls: int
    modules: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "calls": self.calls, "modules": list(self.modules)}


@dataclass(frozen=True)
class Analysis:
    """What one forward pass of a model costs, per op, per layer and in total.

    `members` holds, per layer (by name), the indices of the ops its figures count, and
    `members_per_call` the same per call of the layer's module (an own-forward row: per call, the
    ops it ran itself), so that rules and the latency estimate count exactly what the rows do.
    """

    graph: OpGraph
    totals: Totals
    layers: tuple[LayerRecord, ...]
    ops: tuple[OpRecord, ...]
    unsupported_ops: tuple[UnsupportedOp, ...]
    uncalled_modules: tuple[str, ...]
    members: Mapping[str, tuple[int, ...]] = field(default_factory=dict, repr=False)
    members_per_call: Mapping[str, tuple[tuple[int, ...], ...]] = field(default_factory=dict,
                                                                        repr=False)
    sources: tuple[tuple[int, ...], ...] = field(default=(), repr=False)
    #: each storage the ops allocate: (bytes, allocating op, last op), memory.Memory's
    allocations: tuple[tuple[int, int, int], ...] = field(default=(), repr=False)

    def block_of(self, per_call: Sequence[Sequence[int]]) -> BlockFigures:
        """Block figures of any ops, grouped by call: a block's own ops, say, without those
        of the blocks inside it."""
        return self._op_table.figures(per_call)

    @functools.cached_property
    def _op_table(self) -> OpTable:
        return OpTable([op.category for op in self.ops], [op.mac for op in self.ops],
                       self.sources, [op.phase == "forward" for op in self.ops])

    def ops_in(self, layer: str) -> list[OpRecord]:
        """The ops a layer's figures count."""
        return [self.ops[index] for index in self.members.get(layer, ())]

    def ops_per_call(self, layer: str) -> list[list[OpRecord]]:
        """The layer's ops per call of its module (a container never called: one group of
        everything in it)."""
        return [[self.ops[index] for index in call] for call in
                self.members_per_call.get(layer, ())]

    @property
    def model_type(self) -> str:
        return self.graph.model_type

    @property
    def inputs(self) -> tuple[GraphInput, ...]:
        return self.graph.inputs

    def layer(self, name: str) -> LayerRecord:
        for record in self.layers:
            if record.name == name:
                return record
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "conventions": CONVENTIONS,
            "model": {"type": self.model_type,
                      "inputs": [{"name": i.name, "shape": list(i.tensor.shape),
                                  "dtype": i.tensor.dtype} for i in self.inputs]},
            "trace": {"device": self.graph.device, "training": self.graph.training,
                      "step": self.graph.step, "notes": list(self.graph.notes)},
            "totals": self.totals.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
            "ops": [op.to_dict() for op in self.ops],
            "unsupported_ops": [op.to_dict() for op in self.unsupported_ops],
            "uncalled_modules": list(self.uncalled_modules),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent) + "\n"


def _intensity(flops: int | None, mac_bytes: int | None) -> float | None:
    if flops is None or mac_bytes is None:
        return None
    return _rounded(flops / mac_bytes) if mac_bytes else 0.0


def _rounded(value: float) -> float:
    """Six significant digits: stable across platforms, plenty for a ratio."""
    return float(f"{value:.6g}")
