"""The torch boundary: run a model once and record every aten op it dispatches as an OpGraph.

The run happens on the meta device: tensors carry shapes and dtypes but no storage, so no weight
is allocated and no arithmetic is done, and a 70B-parameter model traces like a small one. Ops
are seen below autograd (recorder.py), so Python control flow, keyword and dict inputs and any
user code run as they normally would. Where the meta device cannot answer (an op with no meta
kernel, a value the model branches on, a data-dependent shape, a tensor the forward makes on
another device) the forward is run again on real copies of the weights and inputs, and the
graph says so in `notes`. Any other error is the model's own and is reported as such.

The model is left exactly as it was: parameters and buffers are swapped for stand-ins only for
the call, module attributes, containers and training flags are restored after every attempt,
hooks removed, the global RNG state kept.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import traceback
from types import TracebackType
from typing import Any, Iterator

import torch
from torch import Tensor, nn
from torch.utils._pytree import keystr, tree_flatten_with_path, tree_map

from ..errors import CostlensError, first_line
from ..graph import GraphInput, ModuleInfo, OpGraph
from .input_values import input_value, is_object, object_for_run
from .locations import boundary, construction_site
from .recorder import (
    FusedFunctions,
    KnownOp,
    ModuleCalls,
    NeedsRealTensors,
    OpFailure,
    Recorder,
    meta_of,
)
from .step import TrainStep, run_step

# Most parameter and buffer bytes costlens copies (or materializes, for a model on the meta
# device) to run a model on real tensors.
REAL_FALLBACK_LIMIT_BYTES = 4 << 30
SUBNORMAL_SCAN_LIMIT = 1 << 24  # entries of a buffer read for subnormal_exp
SUBNORMAL_SLICES = 16  # runs of a buffer's elements whose subnormal entries are counted apart


class _ForwardFailed(Exception):
    """The model's forward raised; `failure` names the op when an op raised."""

    def __init__(self, error: Exception, failure: OpFailure | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.failure = failure

    @property
    def meta_only(self) -> bool:
        """Whether the failure may be the meta device's rather than the model's: an op with no
        meta kernel, or meta tensors meeting real ones made inside the forward."""
        return isinstance(self.error, NotImplementedError) or "meta" in str(self.error).lower()

    def as_error(self, model: nn.Module, names: dict[int, str], called_with: str) -> CostlensError:
        """A one-line account: which module (and the input it takes), which op, which shapes,
        the model's message, and the inputs the model was called with, as the user gave them
        (an op may see them reshaped: a conv adds a batch dimension to a 3-D input)."""
        if self.failure is not None:
            module = self.failure.module
            where = f"in {module or 'the model'}{_takes(model, module)} at {self.failure.op}"
            shapes = ", ".join("x".join(map(str, shape)) or "scalar"
                               for shape in self.failure.shapes)
            where += f" with inputs {shapes}" if shapes else ""
        else:
            module = _failing_module(self.error.__traceback__, names)
            where = f"in {module}" if module else "in the model"
        message = CostlensError(f"the model's forward failed {where}: "
                                f"{type(self.error).__name__}: {first_line(self.error)} "
                                f"(the model was called with {called_with})")
        message.__cause__ = self.error
        return message


def _takes(model: nn.Module, path: str) -> str:
    """What a failing layer of a common kind takes, from its own attributes: `, a Conv2d
    taking Nx3xHxW`; empty for a layer of another kind or none."""
    layer = dict(model.named_modules()).get(path)
    dims = {nn.Conv1d: "L", nn.Conv2d: "HxW", nn.Conv3d: "DxHxW", nn.BatchNorm1d: "L",
            nn.BatchNorm2d: "HxW", nn.BatchNorm3d: "DxHxW"}
    if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        takes = f"Nx{layer.in_channels}x{dims[type(layer)]}"
    elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        takes = f"Nx{layer.num_features}x{dims[type(layer)]}"
    elif isinstance(layer, nn.Linear):
        takes = f"...x{layer.in_features}"
    elif isinstance(layer, nn.LayerNorm):
        takes = "...x" + "x".join(map(str, layer.normalized_shape))
    elif isinstance(layer, nn.Embedding):
        takes = f"integer indices below {layer.num_embeddings}"
    else:
        return ""
    kind = type(layer).__name__
    return f" ({'an' if kind[0] in 'AEIOU' else 'a'} {kind} taking {takes})"


def _called_with(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The model's tensor inputs as `args[0] 1x3x32 float32`."""
    tensors = [f"{_input_name(path)} {'x'.join(map(str, value.shape)) or 'scalar'} "
               f"{str(value.dtype).removeprefix('torch.')}"
               for path, value in tree_flatten_with_path((args, kwargs), is_leaf=is_object)[0]
               if isinstance(value, Tensor)]
    return ", ".join(tensors) or "no tensor inputs"


def trace(model: nn.Module, args: Any = (), kwargs: dict[str, Any] | None = None, *,
          is_known: KnownOp | None = None, train: bool = False, real: bool = False,
          dtype: torch.dtype | None = None, step: TrainStep | None = None) -> OpGraph:
    """Run `model(*args, **kwargs)` once and return every aten op it ran; with `step`, a whole
    training step (in training mode): the forward, the loss, its backward and the optimizer's
    update (step.py), each op marked with its phase.

    `is_known(op, tags)` says whether an op will be costed; an unknown op that torch can
    decompose is recorded with its decomposition as parts. `train` traces in training mode
    (batch statistics, dropout); the default is inference, as the model will be served. `real`
    skips the meta device and runs on real copies of the weights and inputs. `dtype` runs the
    model as `model.to(dtype)` would: its floating parameters and buffers in that dtype (the
    stand-ins or copies only; the model itself keeps its own).
    """
    if not isinstance(model, nn.Module):
        raise CostlensError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if dtype is not None and not (dtype.is_floating_point or dtype.is_complex):
        raise CostlensError("a model is cast to a floating or complex dtype, not "
                            f"{str(dtype).removeprefix('torch.')}")
    _check_initialized(model)
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    kwargs = dict(kwargs or {})
    names = {id(module): name for name, module in model.named_modules()}
    train = train or step is not None
    reason = "asked for"
    try:
        if not real:
            return _attempt(model, names, args, kwargs, is_known, train, dtype, step,
                            real=False)
    except NeedsRealTensors as need:
        reason = f"{need.op} needs tensor values, which the meta device does not have"
    except _ForwardFailed as failed:
        if not failed.meta_only:
            raise failed.as_error(model, names, _called_with(args, kwargs)) from None
        reason = f"the meta device could not run it ({first_line(failed.error)})"
    refusal = _real_run_refusal(model)
    if refusal:
        raise CostlensError(f"{reason}, and {refusal}")
    try:
        graph = _attempt(model, names, args, kwargs, is_known, train, dtype, step, real=True)
    except _ForwardFailed as failed:
        raise failed.as_error(model, names, _called_with(args, kwargs)) from None
    note = f"traced on real {graph.device} tensors: {reason}"
    return dataclasses.replace(graph, notes=(note,))


@boundary
def _attempt(model: nn.Module, names: dict[int, str], args: tuple[Any, ...],
             kwargs: dict[str, Any], is_known: KnownOp | None, train: bool,
             dtype: torch.dtype | None, step: TrainStep | None, *, real: bool) -> OpGraph:
    """One traced forward (or training step), on meta stand-ins or on real copies; the model
    is restored after."""
    calls = ModuleCalls(names)
    recorder = Recorder(calls, is_known, on_meta=not real)
    recorder.training_step = step is not None
    device = _real_device(model) if real else torch.device("meta")
    generator = torch.Generator().manual_seed(0)
    state = _real_state(model, device, generator, dtype) if real else _meta_state(model, dtype)
    if step is not None:
        _require_grad(model, state)
    run_args, run_kwargs = tree_map(
        lambda value: _tensor_for_run(value, device, generator) if isinstance(value, Tensor)
        else object_for_run(value, lambda tensor: _tensor_for_run(tensor, device, generator)),
        (args, kwargs))
    buffers = {name for name, _ in model.named_buffers(remove_duplicate=False)}
    for name, tensor in state.items():
        recorder.origins.setdefault(tensor, f"{'buffer' if name in buffers else 'param'}:{name}")
    graph_inputs, values = [], []
    for path, value in tree_flatten_with_path((run_args, run_kwargs), is_leaf=is_object)[0]:
        name = _input_name(path)
        if isinstance(value, Tensor):
            recorder.origins[value] = f"input:{name}"
            graph_inputs.append(GraphInput(name, meta_of(value)))
        elif (described := input_value(name, value, len(graph_inputs), recorder.origins)):
            values.append(described)
    hooks: list[Any] = []
    try:
        with _model_restored(model), contextlib.ExitStack() as stack:
            calls.install(model, hooks)
            model.train(train)
            stack.enter_context(torch.no_grad() if step is None else torch.enable_grad())
            stack.enter_context(_rng_kept(device))
            if not real:
                stack.enter_context(torch.device("meta"))
            stack.enter_context(FusedFunctions(recorder))
            stack.enter_context(recorder)
            output = torch.func.functional_call(model, state, run_args, run_kwargs,
                                                tie_weights=True, strict=False)
            held = [recorder.describe("output" + keystr(path), tensor) for path, tensor
                    in tree_flatten_with_path(output)[0] if isinstance(tensor, Tensor)]
            if step is not None:
                recorder.param_calls = {call.module: call.index for call in reversed(calls.calls)}
                trained = list({id(t): (name, t) for name, t in state.items()}.values())
                run_step(step, recorder, output, trained)
                held += [recorder.describe(f"grad:{name}", t.grad) for name, t in trained
                         if t.grad is not None]
    except (NeedsRealTensors, CostlensError):
        raise
    except Exception as error:
        raise _ForwardFailed(error, recorder.failure) from error
    finally:
        for handle in hooks:
            handle.remove()
    return OpGraph(
        model_type=type(model).__name__, inputs=tuple(graph_inputs),
        modules=_module_infos(model), calls=tuple(calls.calls), nodes=tuple(recorder.nodes),
        device=device.type, training=train, step=None if step is None else step.name,
        notes=recorder.sizes.notes(), input_values=tuple(values), held=tuple(held),
        subnormal_exp=subnormal_exp(model),
    )


def subnormal_exp(model: nn.Module) -> tuple[tuple[str, float, tuple[float, ...]], ...]:
    """OpGraph.subnormal_exp: per floating buffer of the model (on a real device, of at most
    SUBNORMAL_SCAN_LIMIT entries) that has any, the share of its entries whose exponential is
    subnormal in its dtype (between the logarithms of the smallest subnormal and the smallest
    normal number; float32: -103.3 and -87.3), and how those entries fall into
    SUBNORMAL_SLICES equal runs of its elements in order. A mask of -100 added to
    attention scores leaves softmax weights there; a mask of -inf or -1e4 leaves exact zeros,
    which cost nothing extra. Where they lie decides how evenly threads share them."""
    found = []
    # every name a shared buffer goes by, as the graph's origins name it (see _attempt)
    for name, tensor in model.named_buffers(remove_duplicate=False):
        if (not tensor.is_floating_point() or tensor.is_meta
                or tensor.numel() > SUBNORMAL_SCAN_LIMIT or not tensor.numel()):
            continue
        limits = torch.finfo(tensor.dtype)
        low, high = math.log(limits.smallest_normal * limits.eps), math.log(limits.smallest_normal)
        with torch.no_grad():
            inside = ((tensor > low) & (tensor < high)).reshape(-1)
            count = int(inside.sum().item())
            if count:
                runs = torch.tensor_split(inside, min(SUBNORMAL_SLICES, inside.numel()))
                found.append((name, count / tensor.numel(),
                              tuple(round(int(run.sum().item()) / count, 6) for run in runs)))
    return tuple(sorted(found))


def _require_grad(model: nn.Module, state: dict[str, Tensor]) -> None:
    """The stand-ins of the parameters a training step trains (floating ones the model trains:
    a frozen one gets no gradient) require gradients; buffers and inputs do not, so autograd
    computes no gradient for the first layer's input, as in training."""
    for name, parameter in model.named_parameters(remove_duplicate=False):
        tensor = state[name]
        if parameter.requires_grad and (tensor.dtype.is_floating_point or tensor.dtype.is_complex):
            tensor.requires_grad_(True)


@contextlib.contextmanager
def _model_restored(model: nn.Module) -> Iterator[None]:
    """Put back every module attribute afterwards: values a forward assigns (training flags,
    caches), and the contents of dicts, lists and sets it changes in place (a buffer it
    registers, a cache list it appends to), each container object kept. A container is
    rewritten only where it changed: a module holds a dozen hook dicts, mostly empty, and
    rewriting them all took longer than tracing a small network's convolutions."""
    saved = []
    filled: list[tuple[dict | list | set, dict | list | set]] = []
    empty: list[dict | list | set] = []
    for module in model.modules():
        attributes = module.__dict__.copy()
        saved.append((module, attributes))
        for value in attributes.values():
            if isinstance(value, (dict, list, set)):
                if value:
                    filled.append((value, value.copy()))  # keeps an OrderedDict's type
                else:
                    empty.append(value)
    try:
        yield
    finally:
        for module, attributes in saved:
            current = module.__dict__
            if len(current) != len(attributes) or any(
                    current.get(key, _MISSING) is not value for key, value in attributes.items()):
                for key in [key for key in current if key not in attributes]:
                    del current[key]
                for key, value in attributes.items():
                    if current.get(key, _MISSING) is not value:
                        current[key] = value
        for container in empty:
            if container:
                container.clear()
        for container, copy in filled:
            if _changed(container, copy):
                container.clear()
                if isinstance(container, list):
                    container.extend(copy)
                else:
                    container.update(copy)


_MISSING = object()


def _changed(container: dict | list | set, copy: dict | list | set) -> bool:
    """Whether the container holds other objects than its copy (by identity: values may be
    tensors, whose == compares elements)."""
    if len(container) != len(copy):
        return True
    if isinstance(container, dict):
        return any(container.get(key, _MISSING) is not value for key, value in copy.items())
    if isinstance(container, list):
        return any(now is not before for now, before in zip(container, copy))
    return container != copy


def _rng_kept(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The global RNG state of the CPU (and of the model's accelerator) as it was: a forward
    that draws random numbers (dropout, noise made on the CPU) must not move it. An accelerator
    is a device whose torch module keeps an RNG of its own (torch.cuda, torch.xpu, torch.mps);
    torch.cpu keeps none (its RNG is the one fork_rng always forks) and the meta device has no
    module, so any kind of device is handled without naming it."""
    backend = getattr(torch, device.type, None)
    if not hasattr(backend, "get_rng_state"):
        return torch.random.fork_rng(devices=[])
    index = device.index if device.index is not None else backend.current_device()
    return torch.random.fork_rng(devices=[index], device_type=device.type)


def _check_initialized(model: nn.Module) -> None:
    for name, tensor in _named_tensors(model):
        if isinstance(tensor, nn.parameter.UninitializedTensorMixin):
            raise CostlensError(f"{name} is an uninitialized lazy parameter: run one forward on "
                                "real inputs first, so its shape is known")


def _meta_state(model: nn.Module, dtype: torch.dtype | None) -> dict[str, Tensor]:
    """Stand-ins on the meta device for every parameter and buffer, in `dtype` where
    model.to(dtype) would cast them; tied tensors stay tied."""
    stand_ins: dict[int, Tensor] = {}
    state = {}
    for name, tensor in _named_tensors(model):
        if id(tensor) not in stand_ins:
            stand_ins[id(tensor)] = torch.empty_strided(
                tensor.shape, tensor.stride(), dtype=_cast_dtype(tensor, dtype), device="meta")
        state[name] = stand_ins[id(tensor)]
    return state


def _real_state(model: nn.Module, device: torch.device, generator: torch.Generator,
                dtype: torch.dtype | None) -> dict[str, Tensor]:
    """Copies of every parameter and buffer (a forward may write to them: a training-mode batch
    norm, an embedding's max_norm), random values for those on the meta device; tied tensors
    stay tied."""
    copies: dict[int, Tensor] = {}
    state = {}
    for name, tensor in _named_tensors(model):
        if id(tensor) not in copies:
            copy = _random_like(tensor, device, generator) if tensor.is_meta \
                else tensor.detach().clone()
            copies[id(tensor)] = copy.to(_cast_dtype(tensor, dtype))
        state[name] = copies[id(tensor)]
    return state


def _cast_dtype(tensor: Tensor, dtype: torch.dtype | None) -> torch.dtype:
    """The dtype model.to(dtype) gives a tensor: floating and complex tensors take `dtype`;
    integer buffers (indices, counters) keep theirs."""
    if dtype is None or not (tensor.dtype.is_floating_point or tensor.dtype.is_complex):
        return tensor.dtype
    return dtype


def _named_tensors(model: nn.Module) -> Iterator[tuple[str, Tensor]]:
    yield from model.named_parameters(remove_duplicate=False)
    yield from model.named_buffers(remove_duplicate=False)


def _real_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        if not tensor.is_meta:
            return tensor.device
    return torch.device("cpu")


def _real_run_refusal(model: nn.Module) -> str | None:
    """Why the model cannot be run on real tensors, or None when it can."""
    unique = {id(t): t for _, t in _named_tensors(model)}.values()
    size = sum(t.numel() * t.element_size() for t in unique)
    if size > REAL_FALLBACK_LIMIT_BYTES:
        return (f"running it for real needs a copy of its {size / 2**30:.1f} GiB of weights, "
                f"more than the {REAL_FALLBACK_LIMIT_BYTES >> 30} GiB costlens allows itself")
    return None


def _tensor_for_run(tensor: Tensor, device: torch.device, generator: torch.Generator) -> Tensor:
    """A meta stand-in, or a real copy (the forward may write to its inputs)."""
    if device.type == "meta":
        return torch.empty_strided(tensor.shape, tensor.stride(), dtype=tensor.dtype, device="meta")
    if tensor.is_meta:
        return _random_like(tensor, device, generator)
    return tensor.detach().clone()


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
    modules = dict(model.named_modules())
    for path, module in modules.items():
        own = 0
        for param in module._parameters.values():
            if param is not None and id(param) not in seen:
                seen.add(id(param))
                own += param.numel()
        infos.append(ModuleInfo(path, type(module).__name__, own,
                                construction_site(modules, path), type(module).__module__))
    return tuple(infos)


def _input_name(path: Any) -> str:
    """`args[0]`, `kwargs['mask']`, from a pytree path into (args, kwargs)."""
    head, *rest = path
    root = "args" if getattr(head, "idx", 1) == 0 else "kwargs"
    return root + keystr(tuple(rest))


def _failing_module(tb: TracebackType | None, names: dict[int, str]) -> str | None:
    """The innermost module whose forward is on the failing traceback."""
    found = None
    for frame, _ in traceback.walk_tb(tb):
        owner = frame.f_locals.get("self")
        if isinstance(owner, nn.Module) and id(owner) in names:
            found = names[id(owner)] or type(owner).__name__
    return found
