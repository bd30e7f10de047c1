"""Inputs that are not tensors: what the graph keeps of them, and the copy of an object holding
tensors that a traced run is given.

A model may be called with more than tensors: a KV cache object holding each layer's keys and
values, a position, a flag (`use_cache=True`). The graph keeps each as an `InputValue`: a plain
value (a number, a string, a dtype) as it is, any other object by its type and the tensors
found inside it, however they nest (attributes, dataclass fields, lists, dicts). An object is
one input even where torch's pytree would open it (a cache class registered for
`torch.export`), rather than the many tensors it holds; those tensors are still named as the
inputs they are, for the ops that read them.

A run is given a copy of such an object with its tensors replaced by the run's (meta
stand-ins, or real copies when the model is rerun on real tensors), so a forward that appends
to a cache it was given leaves the caller's cache as it was, and a second analysis of the same
inputs sees what the first saw.
"""
from __future__ import annotations

import copy
import enum
import types
from typing import Any, Callable, Iterator

import torch
from torch import Tensor

from ..errors import CostlensError, first_line
from ..graph import InputValue
from .recorder import TensorMap, meta_of

_PLAIN = (bool, int, float, complex, str, bytes, torch.dtype, torch.device, torch.memory_format,
          torch.layout, enum.Enum)
_CONTAINERS = (tuple, list, dict)
_OPAQUE = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
           type)
_DEPTH = 8  # nesting followed into an object
_VISITS = 100_000  # objects visited in it at most


def is_object(value: Any) -> bool:
    """A leaf of the inputs, for listing them: anything but a tensor, tuple, list or dict."""
    return not isinstance(value, (Tensor, *_CONTAINERS))


def input_value(name: str, value: Any, after: int, origins: TensorMap[str]) -> InputValue | None:
    """What the graph keeps of a non-tensor input (None for None: nothing was passed); the
    tensors inside an object are named, as `origins`, by their path in it."""
    if value is None:
        return None
    kind = type(value).__name__
    if isinstance(value, _PLAIN):
        text = repr(value) if isinstance(value, (str, bytes)) else str(value)
        return InputValue(name, kind, value=text, after=after)
    found = list(_tensors_inside(value))
    for path, tensor in found:
        origins.setdefault(tensor, f"input:{name}{path}")
    return InputValue(name, kind, tensors=tuple(meta_of(tensor) for _, tensor in found),
                      after=after)


def object_for_run(value: Any, tensor_for_run: Callable[[Tensor], Tensor]) -> Any:
    """A copy of an object input whose tensors are those `tensor_for_run` makes, the rest of it
    copied as deepcopy copies it (the value itself if it holds no tensor): the run must not
    change the caller's object, nor meet its real tensors on the meta device."""
    if value is None or isinstance(value, _PLAIN):
        return value
    found = list(_tensors_inside(value))
    if not found:
        return value
    memo = {id(tensor): tensor_for_run(tensor) for _, tensor in found}
    try:
        return copy.deepcopy(value, memo)
    except Exception as error:
        raise CostlensError(f"an input of type {type(value).__name__} holds tensors but cannot "
                            f"be copied for the trace ({type(error).__name__}: "
                            f"{first_line(error)}); give its tensors as inputs instead") from error


def _tensors_inside(value: Any) -> Iterator[tuple[str, Tensor]]:
    """(path, tensor) of every distinct tensor reachable from `value` through attributes,
    sequences and dicts: `.keys[0]`, `['k']`."""
    seen: set[int] = set()
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    visits = 0
    while stack and visits < _VISITS:
        path, item, depth = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        visits += 1
        if isinstance(item, Tensor):
            yield path, item
            continue
        if depth >= _DEPTH or item is None or isinstance(item, (*_PLAIN, *_OPAQUE)):
            continue
        if isinstance(item, dict):
            children = [(f"{path}[{key!r}]", child) for key, child in item.items()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            children = [(f"{path}[{index}]", child) for index, child in enumerate(item)]
        else:
            children = [(f"{path}.{key}", child) for key, child in _attributes(item)]
        stack.extend((child_path, child, depth + 1) for child_path, child in reversed(children))


def _attributes(item: Any) -> list[tuple[str, Any]]:
    """An object's attributes: its __dict__ and its __slots__."""
    found = list(getattr(item, "__dict__", {}).items())
    for cls in type(item).__mro__:
        slots = getattr(cls, "__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__") and hasattr(item, slot):
                found.append((slot, getattr(item, slot)))
    return found
