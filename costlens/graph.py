"""The op graph: the plain-data boundary between tracing and everything after it.

Only `trace` touches torch; costs, analysis, rules and reporters read these frozen records, so they
are fast to test without a model and the graph round-trips through JSON unchanged.
"""
from __future__ import annotations

import functools
import json
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import networkx as nx

GRAPH_FORMAT = 1

AttrValue = Any  # None, bool, int, float, str or a tuple of those


@dataclass(frozen=True)
class TensorMeta:
    """Shape, layout and element type of one tensor; never its values."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: str
    itemsize: int

    @cached_property
    def numel(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count

    @cached_property
    def footprint(self) -> int:
        """Distinct elements in memory: a broadcast (stride-0) dimension is read once."""
        count = 1
        for size, step in zip(self.shape, self.stride):
            if size == 0:
                return 0
            if step != 0:
                count *= size
        return count

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "stride": list(self.stride), "dtype": self.dtype,
                "itemsize": self.itemsize}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorMeta:
        return cls(tuple(data["shape"]), tuple(data["stride"]), data["dtype"], data["itemsize"])


@dataclass(frozen=True)
class SourceLocation:
    """A line of the user's code: where a module was called or an op was issued."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SourceLocation | None:
        return None if data is None else cls(data["file"], data["line"])


@dataclass(frozen=True)
class OpInput:
    """One tensor argument of an op and where its data came from.

    `producer` is the index of the op that last wrote the tensor; `origin` names a tensor that no
    op produced: `param:<name>`, `buffer:<name>` or `input:<path>`. Both are None for constants
    built outside the traced call.
    """

    arg: str
    tensor: TensorMeta
    producer: int | None = None
    origin: str | None = None

    @property
    def held(self) -> bool:
        """Whether it is a tensor the model keeps between calls: a parameter or a buffer."""
        return self.origin is not None and self.origin.startswith(("param:", "buffer:"))

    def to_dict(self) -> dict[str, Any]:
        return {"arg": self.arg, "tensor": self.tensor.to_dict(), "producer": self.producer,
                "origin": self.origin}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpInput:
        return cls(data["arg"], TensorMeta.from_dict(data["tensor"]), data["producer"],
                   data["origin"])


#: The optimizers a training step can end with (`OpGraph.step`); tracing/step.py runs them.
OPTIMIZERS = ("sgd", "adam", "adamw")


class Phase(str, Enum):
    """Which part of a training step ran an op; a forward-only trace has only FORWARD."""

    FORWARD = "forward"
    BACKWARD = "backward"
    OPTIMIZER = "optimizer"


@dataclass(frozen=True)
class OpNode:
    """One aten operator call, in execution order (so `index` order is a topological order).
    In a training step, a backward op's `call` is the module call whose forward op it
    differentiates, and an optimizer op's the first call of the module owning the parameter."""

    index: int
    op: str
    inputs: tuple[OpInput, ...]
    outputs: tuple[TensorMeta, ...]
    attrs: tuple[tuple[str, AttrValue], ...]
    tags: tuple[str, ...]
    call: int
    view: bool = False
    source: SourceLocation | None = None
    parts: tuple[OpNode, ...] = ()  # for an op costed through torch's decomposition of it
    phase: Phase = Phase.FORWARD
    site: SourceLocation | None = None  # the line of the model's code, installed or not

    @property
    def packet(self) -> str:
        """The op without its overload: `aten.add.Tensor` -> `aten.add`."""
        return self.op.rsplit(".", 1)[0]

    def attr(self, name: str, default: AttrValue = None) -> AttrValue:
        for key, value in self.attrs:
            if key == name:
                return value
        return default

    def arg(self, name: str) -> TensorMeta | None:
        item = self.input(name)
        return None if item is None else item.tensor

    def input(self, name: str) -> OpInput | None:
        """The tensor argument `name`, with where its data came from."""
        return next((item for item in self.inputs if item.arg == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "op": self.op, "inputs": [i.to_dict() for i in self.inputs],
            "outputs": [o.to_dict() for o in self.outputs],
            "attrs": [[key, _attr_to_json(value)] for key, value in self.attrs],
            "tags": list(self.tags), "call": self.call, "view": self.view,
            "source": None if self.source is None else self.source.to_dict(),
            "parts": [part.to_dict() for part in self.parts], "phase": self.phase.value,
            "site": None if self.site is None else self.site.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpNode:
        return cls(
            index=data["index"], op=data["op"],
            inputs=tuple(OpInput.from_dict(i) for i in data["inputs"]),
            outputs=tuple(TensorMeta.from_dict(o) for o in data["outputs"]),
            attrs=tuple((key, _attr_from_json(value)) for key, value in data["attrs"]),
            tags=tuple(data["tags"]), call=data["call"], view=data["view"],
            source=SourceLocation.from_dict(data["source"]),
            parts=tuple(OpNode.from_dict(part) for part in data["parts"]),
            phase=Phase(data.get("phase", Phase.FORWARD.value)),
            site=SourceLocation.from_dict(data.get("site")),
        )


@dataclass(frozen=True)
class ModuleInfo:
    """A module of the model's hierarchy. `params` counts only parameters it owns directly and
    that no earlier module owns, so summing over modules counts a shared weight once. `source`
    is where user code constructed it (`self.conv1 = ...`), when that can be found."""

    path: str
    type: str
    params: int
    source: SourceLocation | None = None
    type_module: str = ""  # where the class is defined: `torch.nn.modules.conv`, `resnet`

    @property
    def library_type(self) -> bool:
        """A class of torch's own (Conv2d, Sequential) rather than the user's."""
        return self.type_module == "torch" or self.type_module.startswith("torch.")

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "type": self.type, "params": self.params,
                "source": None if self.source is None else self.source.to_dict(),
                "type_module": self.type_module}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModuleInfo:
        return cls(data["path"], data["type"], data["params"],
                   SourceLocation.from_dict(data["source"]), data["type_module"])


@dataclass(frozen=True)
class ModuleCall:
    """One call of a module's forward; a module called twice has two calls. `source` is the
    line of user code that called it, `site` that of the model's code (an installed model's
    too)."""

    index: int
    module: str
    parent: int | None
    source: SourceLocation | None = None
    site: SourceLocation | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "module": self.module, "parent": self.parent,
                "source": None if self.source is None else self.source.to_dict(),
                "site": None if self.site is None else self.site.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModuleCall:
        return cls(data["index"], data["module"], data["parent"],
                   SourceLocation.from_dict(data["source"]),
                   SourceLocation.from_dict(data.get("site")))


@dataclass(frozen=True)
class GraphInput:
    """A tensor the model was called with; `name` is its path in (args, kwargs)."""

    name: str
    tensor: TensorMeta

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.tensor.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GraphInput:
        return cls(data["name"], TensorMeta.from_dict(data))


@dataclass(frozen=True)
class InputValue:
    """An input the model was called with that is not a tensor: a plain value (`4096`, `True`,
    `'mean'`), kept as `value`, or an object (a KV cache), described by its `type` and the
    tensors found inside it. `name` is its path in (args, kwargs); `after` is how many tensor
    inputs come before it, so the two kinds can be listed in the order of the call."""

    name: str
    type: str
    value: str | None = None
    tensors: tuple[TensorMeta, ...] = ()
    after: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "value": self.value,
                "tensors": [t.to_dict() for t in self.tensors], "after": self.after}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputValue:
        return cls(data["name"], data["type"], data["value"],
                   tuple(TensorMeta.from_dict(t) for t in data["tensors"]), data["after"])


@dataclass(frozen=True)
class OpGraph:
    """Everything one forward pass did, as data.

    `device` is where the trace ran: `meta` (shapes only) or a real device when the model needed
    real values; `notes` says why in that case, and what the meta device assumed where it
    answered without values (the sizes of data-dependent outputs). `inputs` are the tensors the
    model was called with, `input_values` its other inputs. `step` is None for a forward pass;
    for a training step, "backward" or the optimizer whose update it ran ("adam"). `held` are the
    tensors alive when the call returns: its outputs (`output`, `output[1]`, ...) and, after a
    training step, the parameters' gradients (`grad:<name>`). `subnormal_exp` names each
    floating buffer some of whose entries have an exponential that is a subnormal number of its
    dtype (an additive attention mask of -100 in float32), with the share of such entries and
    the share of those that lies in each of 16 equal runs of its elements in order: the trace
    keeps no values, and those entries make a softmax and the product after it run on
    subnormals, tens of times slower on x86 cores, on threads that split them in such runs
    (latency/subnormals.py).
    """

    model_type: str
    inputs: tuple[GraphInput, ...]
    modules: tuple[ModuleInfo, ...]
    calls: tuple[ModuleCall, ...]
    nodes: tuple[OpNode, ...]
    device: str = "meta"
    training: bool = False
    notes: tuple[str, ...] = field(default=())
    step: str | None = None
    input_values: tuple[InputValue, ...] = field(default=())
    held: tuple[OpInput, ...] = ()
    subnormal_exp: tuple[tuple[str, float, tuple[float, ...]], ...] = ()

    def __iter__(self) -> Iterator[OpNode]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def module_of(self, node: OpNode) -> str:
        return self.calls[node.call].module

    def call_chain(self, call: int | None) -> Iterator[ModuleCall]:
        """The call and its enclosing calls, innermost first."""
        while call is not None:
            record = self.calls[call]
            yield record
            call = record.parent

    @property
    def params(self) -> int:
        return sum(module.params for module in self.modules)

    def subtree_params(self) -> dict[str, int]:
        """Parameters of each module and its descendants, a shared weight once per subtree."""
        totals = {module.path: 0 for module in self.modules}
        for module in self.modules:
            for ancestor in module_ancestors(module.path):
                totals[ancestor] += module.params
        return totals

    @cached_property
    def consumers(self) -> tuple[tuple[int, ...], ...]:
        """Per op, the ops that read its output, in execution order."""
        readers: list[list[int]] = [[] for _ in self.nodes]
        for node in self.nodes:
            for item in node.inputs:
                if item.producer is not None:
                    readers[item.producer].append(node.index)
        return tuple(tuple(found) for found in readers)

    @cached_property
    def repeated_modules(self) -> frozenset[str]:
        """Paths of the modules whose class, one of the user's (not torch's), the model
        instantiates twice or more: its building blocks, and what a cause repeats across."""
        mine = [module for module in self.modules if module.path and not module.library_type]
        counts = Counter((module.type_module, module.type) for module in mine)
        return frozenset(module.path for module in mine
                         if counts[(module.type_module, module.type)] >= 2)

    @cached_property
    def call_members(self) -> tuple[tuple[int, ...], ...]:
        """Per module call, the ops that ran while it was on the stack (its children's too)."""
        members: list[list[int]] = [[] for _ in self.calls]
        for node in self.nodes:
            for call in self.call_chain(node.call):
                members[call.index].append(node.index)
        return tuple(tuple(found) for found in members)

    def to_networkx(self) -> nx.DiGraph:
        """Ops as nodes (keyed by index, with the OpNode under `node`), data edges between them.
        networkx is imported here only: nothing else in costlens needs it."""
        import networkx as nx

        graph = nx.DiGraph()
        for node in self.nodes:
            graph.add_node(node.index, node=node, op=node.op, module=self.module_of(node))
            for item in node.inputs:
                if item.producer is not None:
                    graph.add_edge(item.producer, node.index, arg=item.arg)
        return graph

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": GRAPH_FORMAT, "model_type": self.model_type,
            "inputs": [i.to_dict() for i in self.inputs],
            "modules": [m.to_dict() for m in self.modules],
            "calls": [c.to_dict() for c in self.calls],
            "nodes": [n.to_dict() for n in self.nodes],
            "device": self.device, "training": self.training, "notes": list(self.notes),
            "step": self.step, "input_values": [v.to_dict() for v in self.input_values],
            "held": [item.to_dict() for item in self.held],
            "subnormal_exp": [[name, share, list(runs)]
                              for name, share, runs in self.subnormal_exp],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpGraph:
        if data.get("format") != GRAPH_FORMAT:
            raise ValueError(f"unsupported op graph format {data.get('format')!r}; "
                             f"expected {GRAPH_FORMAT}")
        return cls(
            model_type=data["model_type"],
            inputs=tuple(GraphInput.from_dict(i) for i in data["inputs"]),
            modules=tuple(ModuleInfo.from_dict(m) for m in data["modules"]),
            calls=tuple(ModuleCall.from_dict(c) for c in data["calls"]),
            nodes=tuple(OpNode.from_dict(n) for n in data["nodes"]),
            device=data["device"], training=data["training"], notes=tuple(data["notes"]),
            step=data.get("step"),
            held=tuple(OpInput.from_dict(item) for item in data.get("held", ())),
            input_values=tuple(InputValue.from_dict(v) for v in data.get("input_values", ())),
            subnormal_exp=tuple((name, share, tuple(runs))
                                for name, share, runs in data.get("subnormal_exp", ())),
        )

    @classmethod
    def from_json(cls, text: str) -> OpGraph:
        return cls.from_dict(json.loads(text))


def module_depth(path: str) -> int:
    """0 for the model itself (`""`), 1 for its children, and so on."""
    return 0 if path == "" else path.count(".") + 1


@functools.lru_cache(maxsize=4096)
def module_ancestors(path: str) -> tuple[str, ...]:
    """The module and every module above it, outermost first: `a.b` -> `("", "a", "a.b")`.
    Asked for every op of a trace: a network has far fewer modules than ops."""
    parts = path.split(".") if path else []
    return tuple(".".join(parts[:depth]) for depth in range(len(parts) + 1))


def _attr_to_json(value: AttrValue) -> Any:
    if isinstance(value, tuple):
        return {"tuple": [_attr_to_json(v) for v in value]}
    if isinstance(value, float) and value != value:
        return {"float": "nan"}
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return {"float": "inf" if value > 0 else "-inf"}
    return value


def _attr_from_json(value: Any) -> AttrValue:
    if isinstance(value, dict) and "tuple" in value:
        return tuple(_attr_from_json(v) for v in value["tuple"])
    if isinstance(value, dict) and "float" in value:
        return float(value["float"])
    return value
