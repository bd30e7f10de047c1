"""What the tracer listens with: a dispatch mode that records every aten op, a function mode that
keeps fused functions whole, and forward hooks that say which module call an op ran in.

Only trace.py uses this; it is split off so that the orchestration (meta run, real fallback,
restoring the model) reads apart from the per-op bookkeeping.
"""
from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

import torch
import torch._decomp
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..graph import ModuleCall, OpInput, OpNode, Phase, SourceLocation, TensorMeta
from .data_sizes import DataDependentSizes
from .fast_meta import FAST_META
from .fused_backward import with_fused_backward
from .locations import code_lines

V = TypeVar("V")

KnownOp = Callable[[str, tuple[str, ...]], bool]

_aten = torch.ops.aten

# Queries of tensor metadata: no kernel runs, nothing to count.
_METADATA_OPS = frozenset({
    _aten.sym_size.default, _aten.sym_size.int, _aten.sym_stride.default, _aten.sym_stride.int,
    _aten.sym_numel.default, _aten.sym_storage_offset.default, _aten.size.default,
    _aten.size.int, _aten.stride.default, _aten.stride.int, _aten.numel.default,
    _aten.dim.default, _aten.storage_offset.default, _aten.is_contiguous.default,
    _aten.is_contiguous.memory_format, _aten.is_strides_like_format.default,
    _aten.is_non_overlapping_and_dense.default, torch.ops.prim.device.default,
    torch.ops.prim.layout.default,
})

# Composite functions that real devices run as one fused kernel but the meta device decomposes
# into their math (for attention: the full score matrix), by their name in torch.nn.functional.
# They are recorded whole, under the aten op of the same signature, so their cost is the fused
# kernel's.
_FUSED_FUNCTIONS: dict[str, Any] = {"scaled_dot_product_attention":
                                    _aten.scaled_dot_product_attention.default}
if hasattr(F, "rms_norm") and hasattr(_aten, "rms_norm"):
    _FUSED_FUNCTIONS["rms_norm"] = _aten.rms_norm.default
_FUSED_BY_FUNCTION = {getattr(F, name): op for name, op in _FUSED_FUNCTIONS.items()}

# Ops that only run on real values: meeting one on the meta device means rerunning for real.
_VALUE_OPS = frozenset({"aten._local_scalar_dense.default", "aten.item.default",
                        "aten.is_nonzero.default", "aten.equal.default"})


class NeedsRealTensors(BaseException):
    """Raised inside the model when the meta device cannot go on.

    A BaseException, so that a model's own `except Exception` cannot swallow it and carry on
    with a wrong graph.
    """

    def __init__(self, op: str) -> None:
        super().__init__(op)
        self.op = op


@dataclass(frozen=True)
class OpFailure:
    """The op that raised, kept to name it in the error message."""

    op: str
    module: str
    shapes: tuple[tuple[int, ...], ...]


class ModuleCalls:
    """Module nesting, from forward pre/post hooks: which module call each op runs in."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = dict(names)  # less the TorchScript modules, which are not followed
        self.calls: list[ModuleCall] = []
        self.stack: list[int] = []
        self.leaves: set[int] = set()  # torch's own modules with no children, by id
        # per open call: its (user, model) lines if a torch leaf module's (see op_lines)
        self.sources: list[tuple[SourceLocation | None, SourceLocation | None] | None] = []

    def install(self, model: nn.Module, handles: list[Any]) -> None:
        """Hook the calls of the model's modules; `handles` collects what to remove, even if a
        registration fails. Two global hooks, which every module call runs before its own
        hooks, cost a thousandth of a pair on each module. TorchScript modules are not
        followed: their ops count toward the enclosing module."""
        for module in model.modules():
            if isinstance(module, torch.jit.ScriptModule):
                self.names.pop(id(module), None)
            elif type(module).__module__.startswith("torch.") and not module._modules:
                self.leaves.add(id(module))
        handles.append(register_module_forward_pre_hook(self._enter))
        handles.append(register_module_forward_hook(self._leave, always_call=True))

    def _enter(self, module: nn.Module, _args: Any) -> None:
        if id(module) not in self.names:  # a module that is not the model's
            return
        index = len(self.calls)
        parent = self.stack[-1] if self.stack else None
        lines = code_lines()
        self.calls.append(ModuleCall(index, self.names[id(module)], parent, *lines))
        self.stack.append(index)
        self.sources.append(lines if id(module) in self.leaves else None)

    def _leave(self, module: nn.Module, _args: Any, _output: Any) -> None:
        if id(module) not in self.names:
            return
        self.stack.pop()
        self.sources.pop()

    @property
    def current(self) -> int | None:
        return self.stack[-1] if self.stack else None

    def op_lines(self) -> tuple[SourceLocation | None, SourceLocation | None]:
        """The lines of user code and of the model's code an op comes from (code_lines).
        Inside one of torch's own leaf modules (a Conv2d, a ReLU) every frame between the op
        and the module call is torch's, so they are the lines that called the module, found
        once for the call rather than for each op by walking the stack."""
        lines = self.sources[-1] if self.sources else None
        return lines if lines is not None else code_lines()

    def module_path(self) -> str:
        return self.calls[self.stack[-1]].module if self.stack else ""


class Recorder(TorchDispatchMode):
    """Records each aten op with its arguments, output metadata and data edges.

    Data edges follow tensors: an input's producer is the op that last wrote it, directly or, for
    an in-place write through a view, into the same base tensor. An op with no cost formula that
    torch can decompose is recorded once, with the ops of its decomposition as its `parts`.
    """

    def __init__(self, calls: ModuleCalls, is_known: KnownOp | None, *, on_meta: bool) -> None:
        super().__init__()
        self.calls = calls
        self.is_known = is_known
        self.on_meta = on_meta
        self.nodes: list[OpNode] = []
        # per tensor: the op that made it and its description, the last op that wrote into
        # its storage, and where a tensor no op made comes from (an input, a parameter)
        self.producers = TensorMap[tuple[int, TensorMeta]]()
        self.base_writers = TensorMap[int]()
        self.origins = TensorMap[str]()
        self.parts: list[list[OpNode]] = []
        self.quiet = False
        self.failure: OpFailure | None = None
        self.sizes = DataDependentSizes()  # on the meta device: nonzero on one-hot masks
        # a training step: which phase runs, and per autograd node (by sequence number) the
        # module call of the forward op that made it, so a backward op is charged to it
        self.phase = Phase.FORWARD
        self.training_step = False
        self.grad_calls: dict[int, int] = {}
        self.param_calls: dict[str, int] = {}

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """torch wraps a mode's __torch_dispatch__ so that torch.compile does not trace into it;
        a trace never runs under torch.compile, and the wrapper cost a tenth of the trace."""
        return False

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if self.quiet or func in _METADATA_OPS or not isinstance(func, torch._ops.OpOverload) \
                or func.namespace == "profiler":
            return func(*args, **kwargs)
        if self.phase is Phase.OPTIMIZER and self.on_meta and not any(
                t.is_meta for t in tensors_in((args, kwargs))):
            return func(*args, **kwargs)  # the optimizer's step counter, a real CPU scalar
        if _is_composite(func):  # reached us undecomposed (from a decomposition): split it
            with self:
                return func.decompose(*args, **kwargs)
        name = _op_name(func)
        tags = _op_tags(func)
        decomposition = None
        if self.is_known is not None and not func.is_view and not self.is_known(name, tags):
            decomposition = torch._decomp.decomposition_table.get(func)
        if decomposition is None:
            out = self._run(func, name, tags, args, kwargs)
            if self.on_meta:
                self.sizes.follow(func, args, out)
            self.record(name, func._schema, tags, func.is_view, args, kwargs, out)
            return out
        self.parts.append([])
        try:
            with self:
                out = decomposition(*args, **kwargs)
        finally:
            parts = self.parts.pop()
        self.record(name, func._schema, tags, False, args, kwargs, out, parts=tuple(parts))
        return out

    def _run(self, func: Any, name: str, tags: tuple[str, ...], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
        if self.on_meta and name in _VALUE_OPS and any(
                t.is_meta for t in tensors_in((args, kwargs))):
            raise NeedsRealTensors(name)
        sized = self.sizes.sized(func, args) if self.on_meta else None
        if sized is not None:
            return sized
        try:
            if self.on_meta and func in FAST_META:
                out = FAST_META[func](args, kwargs)
                if out is not None:
                    return out
            return func(*args, **kwargs)
        except Exception as error:
            if self.on_meta and (isinstance(error, NotImplementedError)
                                 or "data_dependent_output" in tags
                                 or "dynamic_output_shape" in tags
                                 or not name.startswith("aten.")):  # a custom op's meta kernel
                raise NeedsRealTensors(name) from error
            shapes = tuple(tuple(t.shape) for t in tensors_in((args, kwargs)))
            self.failure = OpFailure(name, self.calls.module_path(), shapes)
            raise

    def run_fused(self, func: Callable[..., Any], op: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a fused function without recording its parts, then record it as one op; in a
        training step, its backward is one fused op too (fused_backward.py)."""
        if self.quiet:
            return func(*args, **kwargs)
        if self.training_step and torch.is_grad_enabled() and any(
                t.requires_grad for t in tensors_in((args, kwargs))):
            return with_fused_backward(self, func, op, args, kwargs)
        self.quiet = True
        try:
            made = FAST_META.get(op) if self.on_meta else None
            out = made(args, kwargs) if made is not None else None
            if out is None:
                out = func(*args, **kwargs)
        finally:
            self.quiet = False
        self.record(_op_name(op), op._schema, _op_tags(op), False, args, kwargs, out)
        return out

    def record(self, name: str, schema: Any, tags: tuple[str, ...], view: bool,
               args: tuple[Any, ...], kwargs: dict[str, Any], out: Any,
               parts: tuple[OpNode, ...] = ()) -> None:
        call = self.calls.current if self.phase is Phase.FORWARD else None
        if call is None:
            if not (self.training_step and self.calls.calls):
                return
            call = self._step_call(args, kwargs)
        inputs: list[OpInput] = []
        attrs: list[tuple[str, Any]] = []
        written: list[Tensor] = []
        writes = _written_arguments(name, schema)
        read: list[Tensor] = []  # the tensor of each input, in order
        for argument, value in _bind(name, schema, args, kwargs):
            if isinstance(value, Tensor):
                inputs.append(self._input(argument, value))
                read.append(value)
                if argument in writes:
                    written.append(value)
            elif type(value) in _SEQUENCES and any(isinstance(v, Tensor) for v in value):
                for i, v in enumerate(value):
                    if isinstance(v, Tensor):
                        inputs.append(self._input(f"{argument}[{i}]", v))
                        read.append(v)
            else:
                attrs.append((argument, value if type(value) in _PLAIN else _attr(value)))
        if isinstance(out, Tensor):
            outputs = [out]
        elif type(out) in _SEQUENCES and all(isinstance(t, Tensor) for t in out):
            outputs = list(out)
        else:
            outputs = tensors_in(out)
        described = tuple(map(meta_of, outputs))
        sink = self.parts[-1] if self.parts else self.nodes
        source, site = self.calls.op_lines()
        node = OpNode(index=len(sink), op=name, inputs=tuple(inputs), outputs=described,
                      attrs=tuple(attrs), tags=tags, call=call, view=view,
                      source=source, parts=parts, phase=self.phase, site=site)
        if self.training_step and self.phase is Phase.FORWARD and not self.parts:
            self._remember_grad_calls(read, inputs)
        sink.append(node)
        if self.parts:  # an op inside a decomposition: its tensors stay inside it
            return
        for tensor, meta in zip(outputs, described):
            self.producers[tensor] = (node.index, meta)
        for tensor in written:
            self.base_writers[_base_of(tensor)] = node.index

    def record_tensors(self, name: str, inputs: list[tuple[str, Tensor]],
                       attrs: list[tuple[str, Any]], outputs: list[Tensor]) -> None:
        """Record an op that has no aten schema to bind (a fused kernel's backward)."""
        call = self._step_call((), {})
        source, site = self.calls.op_lines()
        node = OpNode(index=len(self.nodes), op=name,
                      inputs=tuple(self._input(arg, tensor) for arg, tensor in inputs),
                      outputs=tuple(map(meta_of, outputs)), attrs=tuple(attrs), tags=(),
                      call=call, source=source, phase=self.phase, site=site)
        self.nodes.append(node)
        for tensor, meta in zip(outputs, node.outputs):
            self.producers[tensor] = (node.index, meta)

    def _step_call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
        """The module call a training step's op outside any forward is charged to: a backward
        op, that of the forward op its autograd node differentiates (a parameter's gradient
        accumulation: its module's); an optimizer op, that of the module owning the parameter
        (or the state) it updates; the loss, the model's."""
        if self.phase is Phase.BACKWARD:
            node = torch._C._current_autograd_node()
            if node is not None:
                found = self.grad_calls.get(node._sequence_nr())
                if found is not None:
                    return found
                variable = getattr(node, "variable", None)  # AccumulateGrad's parameter
                if isinstance(variable, Tensor):
                    return self._owner_call(variable)
        elif self.phase is Phase.OPTIMIZER:
            for tensor in tensors_in((args, kwargs)):
                owner = self._owner_call(tensor)
                if owner:
                    return owner
        return 0

    def _owner_call(self, tensor: Tensor) -> int:
        """The call of the module a parameter (or its optimizer state, or what is made of
        either) belongs to."""
        origin = self.origins.get(tensor)
        if origin is not None and origin.startswith(("param:", "state:")):
            name = origin.partition(":")[2].partition(":")[0]  # state:<parameter>:<key>
            return self.param_calls.get(name.rpartition(".")[0], 0)
        made = self.producers.get(tensor)
        return self.nodes[made[0]].call if made is not None else 0

    def _remember_grad_calls(self, read: list[Tensor], inputs: list[OpInput]) -> None:
        """Each input's autograd node belongs to the op that produced the input: autograd makes
        a node after the op returns, so it is first seen here, where a later op reads it."""
        for tensor, item in zip(read, inputs):
            function = tensor.grad_fn
            if function is not None and item.producer is not None:
                self.grad_calls.setdefault(function._sequence_nr(),
                                           self.nodes[item.producer].call)

    def describe(self, name: str, tensor: Tensor) -> OpInput:
        """A tensor the traced call leaves behind (an output, a gradient), with where it came
        from, as an op input would be."""
        return self._input(name, tensor)

    def _input(self, arg: str, tensor: Tensor) -> OpInput:
        made = self.producers.get(tensor)
        producer, meta = made if made is not None else (None, None)
        writer = self.base_writers.get(_base_of(tensor))
        if writer is not None and (producer is None or writer > producer):
            producer = writer
        origin = None if producer is not None else self.origins.get(tensor)
        if meta is None or tensor.shape != meta.shape:  # resized in place since it was made
            meta = meta_of(tensor)
        return OpInput(arg, meta, producer, origin)


class FusedFunctions(TorchFunctionMode):
    """Records calls of the `_FUSED_FUNCTIONS` as single ops.

    A function mode sees the calls user code makes. It does not see calls made inside torch's
    own Python functions (nn.MultiheadAttention's `F.multi_head_attention_forward` calls
    `scaled_dot_product_attention`), because torch turns a mode off while its handler runs; those
    look the function up by name in torch.nn.functional, so for the trace the name is bound to
    a recording wrapper too. A recorder already inside a fused call runs nested calls as is.
    """

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder
        self.originals: dict[str, Callable[..., Any]] = {}

    def __enter__(self) -> FusedFunctions:
        for name, op in _FUSED_FUNCTIONS.items():
            original = getattr(F, name)
            self.originals[name] = original
            setattr(F, name, functools.partial(self.recorder.run_fused, original, op))
        return super().__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        super().__exit__(*exc_info)
        for name, original in self.originals.items():
            setattr(F, name, original)

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        op = _FUSED_BY_FUNCTION.get(func)
        if op is None or self.recorder.quiet:
            return func(*args, **kwargs)
        return self.recorder.run_fused(func, op, *args, **kwargs)


def tensors_in(tree: Any) -> list[Tensor]:
    leaves, _ = tree_flatten(tree)
    return [leaf for leaf in leaves if isinstance(leaf, Tensor)]


class TensorMap(Generic[V]):
    """A value per live tensor object. A dict by id(), each entry holding a weak reference
    that proves the tensor is still the one the id named (ids are reused once a tensor dies):
    several times as fast as torch's WeakIdKeyDictionary, which makes a weak reference for
    every lookup, on the trace's hottest path."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Tensor], V]] = {}

    def get(self, tensor: Tensor) -> V | None:
        entry = self._entries.get(id(tensor))
        return entry[1] if entry is not None and entry[0]() is tensor else None

    def __setitem__(self, tensor: Tensor, value: V) -> None:
        self._entries[id(tensor)] = (weakref.ref(tensor), value)

    def setdefault(self, tensor: Tensor, value: V) -> V:
        found = self.get(tensor)
        if found is None:
            self[tensor] = value
            return value
        return found


def meta_of(tensor: Tensor) -> TensorMeta:
    shape = tuple(tensor.shape)
    try:
        stride = tensor.stride()
    except RuntimeError:  # sparse and other layouts without strides: describe them as dense
        stride = _contiguous_strides(shape)
    dtype = tensor.dtype
    return TensorMeta(shape, stride, _dtype_name(dtype), dtype.itemsize)


def _base_of(tensor: Tensor) -> Tensor:
    return tensor._base if tensor._base is not None else tensor


def _bind(op: str, schema: Any, args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Each argument of `op` (its schema given) with its value, defaults filled in, positional
    and keyword alike."""
    for position, (name, has_default, default) in enumerate(_parameters(op, schema)):
        if position < len(args):
            yield name, args[position]
        elif name in kwargs:
            yield name, kwargs[name]
        elif has_default:
            yield name, default


_PARAMETERS: dict[str, tuple[tuple[str, bool, Any], ...]] = {}


def _parameters(op: str, schema: Any) -> tuple[tuple[str, bool, Any], ...]:
    """(name, has a default, the default) of each argument of `op`, read once per op: reading
    them off the schema object costs more than the rest of recording an op."""
    found = _PARAMETERS.get(op)
    if found is None:
        found = _PARAMETERS[op] = tuple(
            (argument.name, argument.has_default_value(),
             argument.default_value if argument.has_default_value() else None)
            for argument in schema.arguments)
    return found


_SEQUENCES = (list, tuple)
_PLAIN = frozenset({type(None), bool, int, float, str})  # attribute values kept as they are


def _attr(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_attr(item) for item in value)
    if isinstance(value, torch.dtype):
        return _dtype_name(value)
    return str(value)


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


@functools.lru_cache(maxsize=None)
def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@functools.lru_cache(maxsize=None)
def _op_name(func: Any) -> str:
    """`aten.convolution.default`: namespace, op and overload, as torch prints it."""
    return str(func)


@functools.lru_cache(maxsize=None)
def _op_tags(func: Any) -> tuple[str, ...]:
    return tuple(sorted(tag.name for tag in func.tags))


@functools.lru_cache(maxsize=None)
def _is_composite(func: Any) -> bool:
    """An op whose kernel is written in other aten ops (`aten.to`, `aten.linear`); what it costs
    is what those ops cost."""
    return torch._C._dispatch_has_kernel_for_dispatch_key(
        func.name(), torch._C.DispatchKey.CompositeImplicitAutograd)


_WRITTEN_ARGUMENTS: dict[str, frozenset[str]] = {}


def _written_arguments(name: str, schema: Any) -> frozenset[str]:
    """Arguments an op writes in place (`self` of `add_`, `out` of an out= variant), by op."""
    written = _WRITTEN_ARGUMENTS.get(name)
    if written is None:
        written = frozenset(argument.name for argument in schema.arguments
                            if argument.alias_info is not None and argument.alias_info.is_write)
        _WRITTEN_ARGUMENTS[name] = written
    return written
