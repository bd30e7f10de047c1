"""Cost formulas for the user's own ops: a `torch.library` custom op, or any op costlens has no
formula for.

A formula is a function of an `OpShapes` (the op's input and output shapes and dtypes and its
non-tensor arguments, never a tensor) that returns what only its author knows: the FLOPs, and
the MAC when the op reads or writes other than each input once and each output once. It returns
a `Cost`, a `(flops, mac)` tuple or the FLOPs alone. What follows from the shapes is worked out
as for the built-in formulas: MAC bytes at each tensor's dtype, the parallelism (the elements of
the first output), and the default MAC (every input read once, every output written once).

Formulas come from three places, all checked the same way (an op that already has a formula,
built-in or the user's, is an error unless `replace=True`):

- `register_formula(op, function)` (or `@register_formula(op)`), for the process;
- `using_formulas({op: function})`, a context (`analyze(..., formulas=...)` uses it), for the
  calls made inside it only;
- the `costlens.formulas` entry-point group, for a library that ships formulas for its own
  ops: each entry point loads to a mapping `{op: function}`, or to a function that registers
  them (or returns such a mapping). They are loaded once, the first time a formula is looked
  up or registered.

Op names are written as torch.library writes them, `"mylib::fused_gelu"` (every overload) or
`"mylib::fused_gelu.default"` (one overload); costlens's own spelling (`"mylib.fused_gelu"`),
`torch.ops.mylib.fused_gelu`, its overloads and the object `torch.library.custom_op` returns
are taken too. An op costed only through torch's tags (most element-wise ops and reductions,
costed generically) has no formula of its own: one registered for it takes over without
`replace=True`.
"""
from __future__ import annotations

import contextlib
import math
import numbers
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping

from ..errors import CostlensError, first_line
from ..graph import OpNode
from . import registry
from .category import Category
from .registry import OpCost, measured

ENTRY_POINT_GROUP = "costlens.formulas"


@dataclass(frozen=True)
class OpShapes:
    """What a formula sees of one call of an op: shapes, dtypes and non-tensor arguments.

    op: the op and overload, `mylib.fused_gelu.default`.
    inputs: the shape of each tensor argument, in the order of the op's schema (a tensor list
    argument gives one per tensor); `input_names` their names in the schema (`x`, `weight`,
    `tensors[0]`), `input_dtypes` their dtypes (`float32`, `bfloat16`).
    outputs, output_dtypes: the same for the tensors the op returns.
    attrs: every other argument by its name in the schema, defaults filled in (a dtype or
    device as a string).
    """

    op: str
    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]
    input_names: tuple[str, ...] = ()
    input_dtypes: tuple[str, ...] = ()
    output_dtypes: tuple[str, ...] = ()
    attrs: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def input(self, name: str) -> tuple[int, ...]:
        """The shape of the tensor argument called `name` in the op's schema."""
        for argument, shape in zip(self.input_names, self.inputs):
            if argument == name:
                return shape
        raise KeyError(f"{self.op} has no tensor argument {name!r}; it has "
                       f"{', '.join(self.input_names) or 'none'}")

    @classmethod
    def of(cls, node: OpNode) -> OpShapes:
        return cls(op=node.op, inputs=tuple(item.tensor.shape for item in node.inputs),
                   outputs=tuple(tensor.shape for tensor in node.outputs),
                   input_names=tuple(item.arg for item in node.inputs),
                   input_dtypes=tuple(item.tensor.dtype for item in node.inputs),
                   output_dtypes=tuple(tensor.dtype for tensor in node.outputs),
                   attrs=MappingProxyType(dict(node.attrs)))


@dataclass(frozen=True)
class Cost:
    """What a formula returns.

    flops: multiply-adds (one per fused multiply-add, one per other arithmetic op per element).
    mac: elements read plus written; None: every input read once and every output written once.
    category: the kind of work (a `costlens.costs.Category` or its value: "elementwise",
    "matmul", "conv", "attention", "normalization", "reduction", "pooling", "movement"); it
    decides the paper's groups (fragments, the element-wise share) and the latency estimate's
    kernel class. The default, "elementwise", is memory-bound work in the G4 share.
    mac_bytes: None: the MAC at the mean element size of the tensors the op reads and writes
    (exact when they share one dtype, or when `mac` is None).
    parallelism: None: the elements of the first output.
    """

    flops: float
    mac: float | None = None
    category: Category | str = Category.ELEMENTWISE
    mac_bytes: float | None = None
    parallelism: float | None = None


UserFormula = Callable[[OpShapes], Cost | tuple[float, float] | float]


class _Adapted:
    """A user's formula as the registry calls it: OpNode in, a checked OpCost out."""

    def __init__(self, key: str, function: UserFormula, origin: str) -> None:
        self.key = key
        self.function = function
        self.origin = origin

    def __call__(self, node: OpNode) -> OpCost:
        try:
            result = self.function(OpShapes.of(node))
        except Exception as error:  # noqa: BLE001 - the user's code: say whose and where
            raise CostlensError(f"the cost formula for {node.op} ({self.origin}) raised "
                                f"{type(error).__name__}: {first_line(error)}") from error
        return self._checked(node, result)

    def _checked(self, node: OpNode, result: Any) -> OpCost:
        if isinstance(result, Cost):
            cost = result
        elif isinstance(result, tuple) and len(result) == 2:
            cost = Cost(*result)
        elif _is_number(result):
            cost = Cost(result)
        else:
            raise self._error(node, f"returned {_shown(result)}: expected a costlens.Cost, a "
                                    "(flops, mac) tuple or a number of FLOPs")
        flops = self._count(node, "flops", cost.flops)
        category = self._category(node, cost.category)
        default = measured(node, flops, category)
        if cost.mac is None:
            mac, mac_bytes = default.mac, default.mac_bytes
        else:
            mac = self._count(node, "mac", cost.mac)
            mac_bytes = _bytes(node, mac, default)
        if cost.mac_bytes is not None:
            mac_bytes = self._count(node, "mac_bytes", cost.mac_bytes)
        elif mac_bytes is None:
            raise self._error(node, f"gave a MAC of {mac} for an op with no tensor to take an "
                                    "element size from: give mac_bytes too")
        parallelism = default.parallelism if cost.parallelism is None \
            else self._count(node, "parallelism", cost.parallelism)
        return OpCost(flops, mac, mac_bytes, parallelism, category)

    def _count(self, node: OpNode, what: str, value: Any) -> int:
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise self._error(node, f"returned {what} = {_shown(value)}: expected a number "
                                    "of zero or more")
        return int(round(value))

    def _category(self, node: OpNode, value: Any) -> Category:
        try:
            return Category(value)
        except (ValueError, TypeError):
            known = ", ".join(repr(category.value) for category in Category)
            raise self._error(node, f"returned category {value!r}: expected one of "
                                    f"{known}") from None

    def _error(self, node: OpNode, what: str) -> CostlensError:
        return CostlensError(f"the cost formula for {node.op} ({self.origin}) {what}")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    text = repr(value)
    return (text[:60] + "...") if len(text) > 63 else text


def _bytes(node: OpNode, mac: int, default: OpCost) -> int | None:
    """`mac` elements at the mean element size of what the op reads and writes."""
    if default.mac:
        return round(mac * default.mac_bytes / default.mac)
    if not mac:
        return 0
    tensors = [*(item.tensor for item in node.inputs), *node.outputs]
    return mac * tensors[0].itemsize if tensors else None  # only empty tensors: their dtype


def op_key(op: Any) -> str:
    """The registry's key for an op named as torch.library names it: `mylib::fused_gelu` ->
    `mylib.fused_gelu`, `mylib::fused_gelu.default` -> `mylib.fused_gelu.default`."""
    name = op
    if not isinstance(op, str):
        qualname = getattr(op, "_qualname", None)  # what torch.library.custom_op returns
        if isinstance(qualname, str):
            name = qualname
        elif type(op).__name__ in ("OpOverload", "OpOverloadPacket"):  # torch.ops.mylib.op
            name = str(op)
        else:
            raise CostlensError(f"a formula is registered for an op named by a string, "
                                f"'namespace::op', not {type(op).__name__} {op!r}")
    key = name.strip().removeprefix("torch.ops.").replace("::", ".", 1)
    parts = key.split(".")
    if "::" in key or not 2 <= len(parts) <= 3 or not all(part.isidentifier() for part in parts):
        raise CostlensError(f"{name!r} is not an op name: write it as torch.library does, "
                            "'namespace::op' (every overload) or 'namespace::op.overload'")
    return key


def register_formula(op: Any, function: UserFormula | None = None, *,
                     replace: bool = False) -> Any:
    """Cost `op` with `function(shapes: OpShapes) -> Cost | (flops, mac) | flops` from now on.

    Used as a decorator without `function`: `@register_formula("mylib::fused_gelu")`, which
    returns the function unchanged. An op that already has a formula (built-in, registered, or
    from an entry point) is an error unless `replace=True`.
    """
    if function is None:
        def decorate(function: UserFormula) -> UserFormula:
            register_formula(op, function, replace=replace)
            return function
        return decorate
    load_formulas()
    key = op_key(op)
    adapted = _adapt(key, function, _name_of(function))
    _check_free({key: adapted}, replace)
    _drop_covered(registry.USER_FORMULAS, key)
    registry.USER_FORMULAS[key] = adapted
    return function


def unregister_formula(op: Any) -> None:
    """Remove the formula registered for `op` (under the name it was registered with); a
    built-in formula it replaced is used again."""
    load_formulas()
    key = op_key(op)
    if key not in registry.USER_FORMULAS:
        raise CostlensError(f"no formula is registered for {key}; registered: "
                            f"{', '.join(sorted(registry.USER_FORMULAS)) or 'none'}")
    del registry.USER_FORMULAS[key]


@contextlib.contextmanager
def using_formulas(formulas: Mapping[Any, UserFormula] | None, *,
                   replace: bool = False) -> Iterator[None]:
    """Cost ops with `formulas` ({op: function}) inside the block only (in this thread or
    task); other threads and later calls do not see them."""
    load_formulas()
    if formulas is not None and not isinstance(formulas, Mapping):
        raise CostlensError("formulas are given as a mapping {op name: function}, not "
                            f"{type(formulas).__name__}")
    if not formulas:
        yield
        return
    adapted: dict[str, _Adapted] = {}
    for op, function in formulas.items():
        key = op_key(op)
        if key in adapted:
            raise CostlensError(f"two formulas for {key} in one mapping")
        adapted[key] = _adapt(key, function, _name_of(function))
    _check_free(adapted, replace)
    layer = dict(registry.SCOPED_FORMULAS.get())
    for key in adapted:
        _drop_covered(layer, key)
    token = registry.SCOPED_FORMULAS.set({**layer, **adapted})
    try:
        yield
    finally:
        registry.SCOPED_FORMULAS.reset(token)


def _adapt(key: str, function: Any, origin: str) -> _Adapted:
    if not callable(function):
        raise CostlensError(f"the formula for {key} is not a function but "
                            f"{type(function).__name__} {_shown(function)}")
    return _Adapted(key, function, origin)


def _check_free(new: Mapping[str, _Adapted], replace: bool, how: str = "") -> None:
    """Raise if an op of `new` already has a formula, unless replacing; `how` says how to
    replace it (by default: pass replace=True)."""
    if replace:
        return
    for key, adapted in new.items():
        for name, existing in registry.registered(key):
            what = f" ({existing.origin})" if isinstance(existing, _Adapted) \
                else " (built into costlens)"
            under = "" if name == key else f" under {name}"
            raise CostlensError(f"{key} already has a cost formula{under}{what}; "
                                f"{how or 'pass replace=True to replace it'} with "
                                f"{adapted.origin}")


def _drop_covered(layer: dict[str, Any], key: str) -> None:
    """Remove from one user layer what a formula for `key` replaces: the same key, and for an
    op, its overloads' (an overload's own formula would otherwise still win)."""
    for name in [name for name in layer
                 if name == key or (key.count(".") == 1 and name.startswith(key + "."))]:
        del layer[name]


def _name_of(function: Any) -> str:
    """`package.module.function`; a lambda with its file and line."""
    name = getattr(function, "__qualname__", None) or type(function).__name__
    module = getattr(function, "__module__", None)
    named = f"{module}.{name}" if module else name
    code = getattr(function, "__code__", None)
    if "<lambda>" in name and code is not None:
        named += f" at {code.co_filename}:{code.co_firstlineno}"
    return named


# --- entry points ---


def load_formulas() -> None:
    """Load the formulas of the `costlens.formulas` entry points, unless loaded already: the
    first lookup or registration does so too; a trace does it first, so that a broken entry
    point is reported as such rather than as a failure of the model's forward."""
    registry.run_loaders()


_LOADED: set[tuple[str, str, str]] = set()


def _load_entry_points() -> None:
    """Register the formulas of every `costlens.formulas` entry point not loaded yet; one that
    fails leaves nothing behind and raises, naming its distribution."""
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        identity = (entry.name, entry.value, _distribution(entry))
        if identity in _LOADED:
            continue
        source = (f"entry point {entry.name!r} ({entry.value}) of distribution "
                  f"{_distribution(entry)}")
        saved = dict(registry.USER_FORMULAS)
        try:
            _load_one(entry, source)
        except BaseException as error:
            registry.USER_FORMULAS.clear()
            registry.USER_FORMULAS.update(saved)
            if isinstance(error, Exception):
                message = error if isinstance(error, CostlensError) \
                    else f"{type(error).__name__}: {first_line(error)}"
                raise CostlensError(f"cannot load the cost formulas of {source} "
                                    f"(group {ENTRY_POINT_GROUP}): {message}") from error
            raise
        _LOADED.add(identity)


def _load_one(entry: EntryPoint, source: str) -> None:
    loaded = entry.load()
    if not isinstance(loaded, Mapping):
        if not callable(loaded):
            raise CostlensError(f"it is {type(loaded).__name__}, neither a mapping of op names "
                                "to formulas nor a function that registers them")
        loaded = loaded()
        if loaded is None:
            return
        if not isinstance(loaded, Mapping):
            raise CostlensError(f"its function returned {type(loaded).__name__}, neither "
                                "None nor a mapping of op names to formulas")
    adapted = {}
    for op, function in loaded.items():
        key = op_key(op)
        adapted[key] = _adapt(key, function, f"{_name_of(function)}, from {source}")
    _check_free(adapted, replace=False,
                how="an entry point's mapping cannot replace it; a function that calls "
                    "costlens.register_formula(..., replace=True) can replace it")
    registry.USER_FORMULAS.update(adapted)


def _distribution(entry: EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    if dist is None:
        return "(unknown)"
    return f"{dist.name} {dist.version}"


registry.add_loader(_load_entry_points)
