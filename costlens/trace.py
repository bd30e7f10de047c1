"""The torch boundary: run a model once and record every aten op it dispatches as an OpGraph.

The run happens on the meta device: tensors carry shapes and dtypes but no storage, so no weight
is allocated and no arithmetic is done, and a 70B-parameter model traces like a small one. Ops
are seen below autograd through a TorchDispatchMode, so Python control flow, keyword and dict
inputs and any user code run as they normally would. Where the meta device cannot answer (an op
with no meta kernel, or a value the model branches on) the whole forward is run again on real
tensors, and the graph says so in `notes`.

The model is left exactly as it was: parameters and buffers are swapped for stand-ins only for
the call, module attributes and training flags are restored, hooks removed, the global RNG state
kept.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import sysconfig
import traceback
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Callable, Iterator

import torch
import torch._decomp
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten_with_path, tree_map, keystr
from torch.utils.weak import WeakIdKeyDictionary

from .errors import CostlensError, first_line
from .graph import (GraphInput, ModuleCall, ModuleInfo, OpGraph, OpInput, OpNode, SourceLocation,
                    TensorMeta)

KnownOp = Callable[[str, tuple[str, ...]], bool]

# Largest model (parameter and buffer bytes) that is materialized with random weights when a model
# on the meta device must be run on real tensors.
REAL_FALLBACK_LIMIT_BYTES = 4 << 30

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


@dataclass
class _Failure:
    """The op that raised, kept to name it in the error message."""

    op: str
    module: str
    shapes: list[tuple[int, ...]]


def trace(model: nn.Module, args: Any = (), kwargs: dict[str, Any] | None = None, *,
          is_known: KnownOp | None = None, train: bool = False) -> OpGraph:
    """Run `model(*args, **kwargs)` once and return every aten op it ran.

    `is_known(op, tags)` says whether an op will be costed; an unknown op is decomposed into
    simpler aten ops where torch has a decomposition. `train` traces in training mode (batch
    statistics, dropout); the default is inference, as the model will be served.
    """
    if not isinstance(model, nn.Module):
        raise CostlensError(f"expected a torch.nn.Module, got {type(model).__name__}")
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    kwargs = dict(kwargs or {})
    names = {id(module): name for name, module in model.named_modules()}
    with _model_preserved(model):
        model.train(train)
        try:
            return _trace_once(model, names, args, kwargs, is_known, train, real=False)
        except NeedsRealTensors as need:
            reason = f"{need.op} needs tensor values, which the meta device does not have"
            meta_error: BaseException = need
        except Exception as error:  # noqa: BLE001 - any meta-only failure earns a real retry
            reason = f"the meta device could not run it ({first_line(error)})"
            meta_error = error
        limit_error = _real_run_refusal(model)
        if limit_error:
            if isinstance(meta_error, NeedsRealTensors):
                raise CostlensError(f"{reason}, and {limit_error}") from None
            raise _model_error(meta_error, names, getattr(meta_error, "_costlens_failure", None))
        graph = _trace_once(model, names, args, kwargs, is_known, train, real=True)
        note = f"traced on real {graph.device} tensors: {reason}"
        return OpGraph(graph.model_type, graph.inputs, graph.modules, graph.calls, graph.nodes,
                       graph.device, graph.training, (note,))


def _trace_once(model: nn.Module, names: dict[int, str], args: tuple[Any, ...],
                kwargs: dict[str, Any], is_known: KnownOp | None, train: bool, *,
                real: bool) -> OpGraph:
    calls = _ModuleCalls(names)
    recorder = _Recorder(calls, is_known, on_meta=not real)
    device = _real_device(model) if real else torch.device("meta")
    state = _real_state(model, device) if real else _meta_state(model)
    generator = torch.Generator().manual_seed(0)
    run_args, run_kwargs = tree_map(
        lambda value: _tensor_for_run(value, device, generator) if isinstance(value, Tensor)
        else value, (args, kwargs))
    buffers = {name for name, _ in model.named_buffers(remove_duplicate=False)}
    for name, tensor in state.items():
        kind = "buffer" if name in buffers else "param"
        recorder.origins.setdefault(tensor, f"{kind}:{name}")
    graph_inputs = []
    for path, value in tree_flatten_with_path((run_args, run_kwargs))[0]:
        if isinstance(value, Tensor):
            name = _input_name(path)
            recorder.origins[value] = f"input:{name}"
            graph_inputs.append(GraphInput(name, _meta_of(value)))
    hooks = calls.install(model)
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            if real:
                stack.enter_context(torch.random.fork_rng(devices=[]))
            else:
                stack.enter_context(torch.device("meta"))
            stack.enter_context(_FusedFunctions(recorder))
            stack.enter_context(recorder)
            torch.func.functional_call(model, state, run_args, run_kwargs, tie_weights=True,
                                       strict=False)
    except NeedsRealTensors:
        raise
    except Exception as error:
        if real:
            raise _model_error(error, names, recorder.failure) from None
        error._costlens_failure = recorder.failure  # type: ignore[attr-defined]
        raise
    finally:
        for handle in hooks:
            handle.remove()
    return OpGraph(
        model_type=type(model).__name__, inputs=tuple(graph_inputs),
        modules=_module_infos(model), calls=tuple(calls.calls), nodes=tuple(recorder.nodes),
        device=device.type, training=train,
    )


class _ModuleCalls:
    """Module nesting, from forward pre/post hooks: which module call each op runs in."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self.calls: list[ModuleCall] = []
        self.stack: list[int] = []

    def install(self, model: nn.Module) -> list[Any]:
        handles = []
        for module in model.modules():
            handles.append(module.register_forward_pre_hook(self._enter, prepend=True))
            handles.append(module.register_forward_hook(self._leave, always_call=True))
        return handles

    def _enter(self, module: nn.Module, _args: Any) -> None:
        index = len(self.calls)
        parent = self.stack[-1] if self.stack else None
        self.calls.append(ModuleCall(index, self.names[id(module)], parent, _user_location()))
        self.stack.append(index)

    def _leave(self, _module: nn.Module, _args: Any, _output: Any) -> None:
        self.stack.pop()

    @property
    def current(self) -> int | None:
        return self.stack[-1] if self.stack else None

    def module_path(self) -> str:
        return self.calls[self.stack[-1]].module if self.stack else ""


class _Recorder(TorchDispatchMode):
    """Records each aten op with its arguments, output metadata and data edges."""

    def __init__(self, calls: _ModuleCalls, is_known: KnownOp | None, *, on_meta: bool) -> None:
        super().__init__()
        self.calls = calls
        self.is_known = is_known
        self.on_meta = on_meta
        self.nodes: list[OpNode] = []
        self.producers: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.origins: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.quiet = False
        self.failure: _Failure | None = None

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if self.quiet or func in _METADATA_OPS or not isinstance(func, torch._ops.OpOverload):
            return func(*args, **kwargs)
        if _is_composite(func):  # reached us undecomposed (from a decomposition): split it
            with self:
                return func.decompose(*args, **kwargs)
        name = _op_name(func)
        tags = _op_tags(func)
        if self.is_known is not None and not func.is_view and not self.is_known(name, tags):
            result = self._decomposed(func, args, kwargs)
            if result is not NotImplemented:
                return result
        out = self._run(func, name, tags, args, kwargs)
        self.record(name, func._schema, tags, func.is_view, args, kwargs, out)
        return out

    def _decomposed(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run an op with no cost formula as the simpler ops torch decomposes it into, each
        recorded on its own; NotImplemented when torch knows no decomposition."""
        decomposition = torch._decomp.decomposition_table.get(func)
        if decomposition is None:
            return NotImplemented
        with self:
            return decomposition(*args, **kwargs)

    def _run(self, func: Any, name: str, tags: tuple[str, ...], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
        if self.on_meta and name in _VALUE_OPS:
            raise NeedsRealTensors(name)
        try:
            return func(*args, **kwargs)
        except Exception as error:
            if self.on_meta and (isinstance(error, NotImplementedError)
                                 or "data_dependent_output" in tags
                                 or "dynamic_output_shape" in tags):
                raise NeedsRealTensors(name) from error
            shapes = [tuple(t.shape) for t in _tensors((args, kwargs))]
            self.failure = _Failure(name, self.calls.module_path(), shapes)
            raise

    def run_fused(self, func: Callable[..., Any], op: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a fused function without recording its parts, then record it as one op."""
        if self.quiet:
            return func(*args, **kwargs)
        self.quiet = True
        try:
            out = func(*args, **kwargs)
        finally:
            self.quiet = False
        self.record(_op_name(op), op._schema, _op_tags(op), False, args, kwargs, out)
        return out

    def record(self, name: str, schema: Any, tags: tuple[str, ...], view: bool,
               args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        call = self.calls.current
        if call is None:
            return
        inputs: list[OpInput] = []
        attrs: list[tuple[str, Any]] = []
        for argument, value in _bind(schema, args, kwargs):
            if isinstance(value, Tensor):
                inputs.append(self._input(argument, value))
            elif isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
                inputs.extend(self._input(f"{argument}[{i}]", v)
                              for i, v in enumerate(value) if isinstance(v, Tensor))
            else:
                attrs.append((argument, _attr(value)))
        outputs = _tensors(out)
        index = len(self.nodes)
        self.nodes.append(OpNode(
            index=index, op=name, inputs=tuple(inputs), outputs=tuple(map(_meta_of, outputs)),
            attrs=tuple(attrs), tags=tags, call=call, view=view, source=_user_location(),
        ))
        for tensor in outputs:
            self.producers[tensor] = index

    def _input(self, arg: str, tensor: Tensor) -> OpInput:
        producer = self.producers.get(tensor)
        origin = None if producer is not None else self.origins.get(tensor)
        return OpInput(arg, _meta_of(tensor), producer, origin)


class _FusedFunctions(TorchFunctionMode):
    """Records calls of the `_FUSED_FUNCTIONS` as single ops.

    A function mode sees the calls user code makes. It does not see calls made inside torch's
    own Python functions (nn.MultiheadAttention's `F.multi_head_attention_forward` calls
    `scaled_dot_product_attention`), because torch turns a mode off while its handler runs; those
    look the function up by name in torch.nn.functional, so for the trace the name is bound to
    a recording wrapper too. A recorder already inside a fused call runs nested calls as is.
    """

    def __init__(self, recorder: _Recorder) -> None:
        super().__init__()
        self.recorder = recorder
        self.originals: dict[str, Callable[..., Any]] = {}

    def __enter__(self) -> _FusedFunctions:
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


@contextlib.contextmanager
def _model_preserved(model: nn.Module) -> Iterator[None]:
    """Restore every module attribute (training flags, caches a forward assigns) afterwards."""
    saved = [(module, dict(module.__dict__)) for module in model.modules()]
    try:
        yield
    finally:
        for module, attributes in saved:
            current = module.__dict__
            for key in [key for key in current if key not in attributes]:
                del current[key]
            for key, value in attributes.items():
                if current.get(key, _MISSING) is not value:
                    current[key] = value


_MISSING = object()


def _meta_state(model: nn.Module) -> dict[str, Tensor]:
    """Stand-ins on the meta device for every parameter and buffer; tied tensors stay tied."""
    stand_ins: dict[int, Tensor] = {}
    state = {}
    for name, tensor in _named_tensors(model):
        if id(tensor) not in stand_ins:
            stand_ins[id(tensor)] = torch.empty_strided(
                tensor.shape, tensor.stride(), dtype=tensor.dtype, device="meta")
        state[name] = stand_ins[id(tensor)]
    return state


def _real_state(model: nn.Module, device: torch.device) -> dict[str, Tensor]:
    """Real tensors: the model's own parameters (only read under no_grad), copies of buffers
    (a training-mode forward updates them), random weights for a model on the meta device."""
    generator = torch.Generator().manual_seed(0)
    copies: dict[int, Tensor] = {}
    buffers = {id(b) for b in model.buffers()}
    state = {}
    for name, tensor in _named_tensors(model):
        if id(tensor) not in copies:
            if tensor.is_meta:
                copies[id(tensor)] = _random_like(tensor, device, generator)
            elif id(tensor) in buffers:
                copies[id(tensor)] = tensor.detach().clone()
            else:
                copies[id(tensor)] = tensor
        state[name] = copies[id(tensor)]
    return state


def _named_tensors(model: nn.Module) -> Iterator[tuple[str, Tensor]]:
    yield from model.named_parameters(remove_duplicate=False)
    yield from model.named_buffers(remove_duplicate=False)


def _real_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        if not tensor.is_meta:
            return tensor.device
    return torch.device("cpu")


def _real_run_refusal(model: nn.Module) -> str | None:
    """Why the model cannot be run for real, or None when it can."""
    meta_bytes = sum(t.numel() * t.element_size() for _, t in _named_tensors(model) if t.is_meta)
    if meta_bytes > REAL_FALLBACK_LIMIT_BYTES:
        return (f"the model is on the meta device with {meta_bytes / 2**30:.1f} GiB of weights, "
                f"more than the {REAL_FALLBACK_LIMIT_BYTES >> 30} GiB costlens materializes to "
                "run it for real")
    return None


def _tensor_for_run(tensor: Tensor, device: torch.device, generator: torch.Generator) -> Tensor:
    if device.type == "meta":
        return torch.empty_strided(tensor.shape, tensor.stride(), dtype=tensor.dtype, device="meta")
    if tensor.is_meta:
        return _random_like(tensor, device, generator)
    return tensor


def _random_like(tensor: Tensor, device: torch.device, generator: torch.Generator) -> Tensor:
    """Values for a tensor that has only a shape: normal floats, zero integers (valid indices)."""
    if tensor.dtype.is_floating_point or tensor.dtype.is_complex:
        values = torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype)
    else:
        values = torch.zeros(tensor.shape, dtype=tensor.dtype)
    return values.to(device)


def _module_infos(model: nn.Module) -> tuple[ModuleInfo, ...]:
    seen: set[int] = set()
    infos = []
    for path, module in model.named_modules():
        own = 0
        for param in module._parameters.values():
            if param is not None and id(param) not in seen:
                seen.add(id(param))
                own += param.numel()
        infos.append(ModuleInfo(path, type(module).__name__, own))
    return tuple(infos)


def _bind(schema: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Each schema argument with its value, defaults filled in, positional and keyword alike."""
    for position, argument in enumerate(schema.arguments):
        if position < len(args):
            yield argument.name, args[position]
        elif argument.name in kwargs:
            yield argument.name, kwargs[argument.name]
        elif argument.has_default_value():
            yield argument.name, argument.default_value


def _attr(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_attr(item) for item in value)
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return _attr(value.node.hint) if value.node.has_hint() else str(value)
    if isinstance(value, torch.dtype):
        return _dtype_name(value)
    return str(value)


def _tensors(tree: Any) -> list[Tensor]:
    leaves, _ = torch.utils._pytree.tree_flatten(tree)
    return [leaf for leaf in leaves if isinstance(leaf, Tensor)]


def _meta_of(tensor: Tensor) -> TensorMeta:
    shape = tuple(int(size) for size in tensor.shape)
    try:
        stride = tuple(int(step) for step in tensor.stride())
    except RuntimeError:  # sparse and other layouts without strides: describe them as dense
        stride = _contiguous_strides(shape)
    return TensorMeta(shape, stride, _dtype_name(tensor.dtype), tensor.dtype.itemsize)


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@functools.lru_cache(maxsize=None)
def _op_name(func: Any) -> str:
    """`aten.convolution.default`: namespace, op and overload, as torch prints it."""
    return str(func)


@functools.lru_cache(maxsize=None)
def _is_composite(func: Any) -> bool:
    """An op whose kernel is written in other aten ops (`aten.to`, `aten.linear`); what it costs
    is what those ops cost."""
    return torch._C._dispatch_has_kernel_for_dispatch_key(
        func.name(), torch._C.DispatchKey.CompositeImplicitAutograd)


@functools.lru_cache(maxsize=None)
def _op_tags(func: Any) -> tuple[str, ...]:
    return tuple(sorted(tag.name for tag in func.tags))


def _input_name(path: Any) -> str:
    """`args[0]`, `kwargs['mask']`, from a pytree path into (args, kwargs)."""
    head, *rest = path
    root = "args" if getattr(head, "idx", 1) == 0 else "kwargs"
    return root + keystr(tuple(rest))


_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_COSTLENS_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_STDLIB_DIRS = tuple({os.path.realpath(sysconfig.get_paths()[key]) + os.sep
                      for key in ("stdlib", "platstdlib")})


@functools.lru_cache(maxsize=None)
def _frame_kind(filename: str) -> str:
    """`library` (costlens, torch, the standard library) or `user`."""
    if filename.startswith((_COSTLENS_DIR, _TORCH_DIR, "<")):
        return "library"
    if os.path.realpath(filename).startswith(_STDLIB_DIRS):
        return "library"
    return "user"


@functools.lru_cache(maxsize=None)
def _display_path(filename: str) -> str:
    path = os.path.abspath(filename)
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def _user_location() -> SourceLocation | None:
    """The innermost line of user code on the stack, looking through costlens's modes and
    torch's internals; None when the stack reaches the traced call itself (the model's root)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code is not _trace_once.__code__:
        if _frame_kind(frame.f_code.co_filename) == "user":
            return SourceLocation(_display_path(frame.f_code.co_filename), frame.f_lineno)
        frame = frame.f_back
    return None


def _model_error(error: BaseException, names: dict[int, str],
                 failure: _Failure | None) -> CostlensError:
    """A one-line account of a failing forward: which module, which op, which shapes."""
    if failure is not None:
        where = f"in {failure.module or 'the model'!s} at {failure.op}"
        shapes = ", ".join("x".join(map(str, shape)) or "scalar" for shape in failure.shapes)
        where += f" with inputs {shapes}" if shapes else ""
    else:
        module = _failing_module(error.__traceback__, names)
        where = f"in {module}" if module else "in the model"
    message = CostlensError(f"the model's forward failed {where}: "
                            f"{type(error).__name__}: {first_line(error)}")
    message.__cause__ = error
    return message


def _failing_module(tb: TracebackType | None, names: dict[int, str]) -> str | None:
    """The innermost module whose forward is on the failing traceback."""
    found = None
    for frame, _ in traceback.walk_tb(tb):
        owner = frame.f_locals.get("self")
        if isinstance(owner, nn.Module) and id(owner) in names:
            found = names[id(owner)] or type(owner).__name__
    return found
