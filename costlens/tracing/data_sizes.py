"""Data-dependent sizes the meta device can still answer: the rows `nonzero` finds in a one-hot
mask.

`nonzero` (and `torch.where(mask)`, `argwhere`) returns one row per true element, a count that
shapes alone do not give, so a model that calls it is otherwise rerun on real tensors. For one
kind of mask the count follows from the shapes: a one-hot. On the meta device
`F.one_hot(indices, n)` runs as `indices.unsqueeze(-1) == arange(n)`, and an equality of a
tensor against `arange(n)` broadcast along a dimension of size n is true once along that
dimension for every index in range (one_hot requires them all in range): 1/n of its elements
are true, its density. Mixture-of-experts layers route tokens with such a mask (Mixtral's
reference code: `F.one_hot(selected_experts, n).permute(2, 1, 0)`, then
`torch.where(expert_mask[e])` for each expert e).

The density is followed through the ops that keep it: dtype copies and clones, views (permute,
transpose, select, slice, unsqueeze, reshape, expand, unbind), gathers (`index`) and the
comparisons that keep a 0/1 mask as it is (`!= 0`, `> 0`, `== 1`, `>= 1`). A part of the mask
(one expert's slice) holds 1/n of its elements' worth of true ones under balanced routing, each
class getting the same share of the indices; the real split depends on the router's values,
which the meta device does not have. A `nonzero` of a tensor of known density returns that many
rows. The parts of one mask share its true elements out by cumulative rounding, so the calls on
them together find exactly as many as the mask holds: with 8 experts, top-2 routing and one
token, two experts get a row and six get none, and the experts together cost exactly 2/8 of
running every expert on every token. The trace says so in a note. A `nonzero` of any other
tensor still needs real values.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Generic, TypeVar

import torch
from torch import Tensor

V = TypeVar("V")

_aten = torch.ops.aten


def _overloads(*names: str) -> frozenset[Any]:
    """The aten overloads of these `packet.overload` names that this torch has."""
    found = set()
    for name in names:
        packet, _, overload = name.partition(".")
        op = getattr(getattr(_aten, packet, None), overload or "default", None)
        if op is not None:
            found.add(op)
    return frozenset(found)


_NONZERO = _aten.nonzero.default
_EQ = _aten.eq.Tensor
_ARANGES = _overloads("arange.default", "arange.start", "arange.start_step")
# Ops whose outputs hold the same values as (a part of) their first argument.
_KEEPERS = _overloads(
    "_to_copy", "clone", "alias", "detach", "lift_fresh", "view", "_unsafe_view",
    "_reshape_alias", "reshape", "permute", "transpose.int", "t", "unsqueeze", "squeeze",
    "squeeze.dim", "squeeze.dims", "select.int", "slice.Tensor", "expand", "unbind.int",
    "split.Tensor", "split_with_sizes", "index.Tensor", "index_select", "movedim.int",
    "unflatten.int", "flatten.using_ints")
# Comparisons with a number that map a 0/1 mask onto itself: (op, the number).
_MASK_PRESERVING = {op: number for name, number in (("ne.Scalar", 0), ("gt.Scalar", 0),
                                                    ("eq.Scalar", 1), ("ge.Scalar", 1))
                    for op in _overloads(name)}


class _ByTensor(Generic[V]):
    """A value per live tensor: a dict by id, each entry with a weak reference proving the id
    still names that tensor."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Tensor], V]] = {}

    def __bool__(self) -> bool:
        return bool(self._entries)

    def get(self, tensor: Any) -> V | None:
        entry = self._entries.get(id(tensor))
        return entry[1] if entry is not None and entry[0]() is tensor else None

    def set(self, tensor: Tensor, value: V) -> None:
        self._entries[id(tensor)] = (weakref.ref(tensor), value)


@dataclass
class _OneHot:
    """One mask of `classes` classes over index positions of shape `indices`, and how much of
    it the nonzero calls on its parts have counted."""

    classes: int
    indices: tuple[int, ...]
    counted: Fraction = Fraction(0)  # true elements the parts counted so far are expected to hold
    calls: int = 0

    def rows(self, elements: int) -> int:
        """The true elements of a part of `elements` elements: its share, 1/classes of them,
        rounded so that the parts' counts add up to the rounded sum of their shares."""
        before = self.counted
        self.counted += Fraction(elements, self.classes)
        self.calls += 1
        return _rounded(self.counted) - _rounded(before)


def _rounded(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


class DataDependentSizes:
    """Follows one-hot masks through a meta-device trace and sizes `nonzero` on them; the
    recorder asks `sized` before it runs an op and tells `follow` what each op returned."""

    def __init__(self) -> None:
        self._aranges = _ByTensor[int]()  # 0, 1, .., n-1 along the one dimension of size n
        self._masks = _ByTensor[_OneHot]()
        self._made: list[_OneHot] = []

    def sized(self, func: Any, args: tuple[Any, ...]) -> Tensor | None:
        """The output of a nonzero on a tensor of known density, or None."""
        if func is not _NONZERO or not self._masks:
            return None
        source = args[0]
        mask = self._masks.get(source)
        if mask is None:
            return None
        rows = mask.rows(source.numel())
        return torch.empty_strided((rows, source.dim()), (1, max(rows, 1)), dtype=torch.int64,
                                   device=source.device)

    def follow(self, func: Any, args: tuple[Any, ...], out: Any) -> None:
        """Note what `out` holds when it is an arange, a one-hot mask or a part of one."""
        if func in _ARANGES:
            self._arange(func, args, out)
        elif func is _EQ:
            self._equality(args, out)
        elif func in _KEEPERS:
            self._kept(args[0], out)
        elif func in _MASK_PRESERVING and len(args) > 1 and args[1] == _MASK_PRESERVING[func]:
            self._kept(args[0], out)

    def notes(self) -> tuple[str, ...]:
        """What the trace assumed, per kind of mask a nonzero was sized on."""
        groups: dict[tuple[int, tuple[int, ...]], list[_OneHot]] = {}
        for mask in self._made:
            if mask.calls:
                groups.setdefault((mask.classes, mask.indices), []).append(mask)
        notes = []
        for (classes, indices), masks in groups.items():
            calls = sum(mask.calls for mask in masks)
            shape = "x".join(map(str, indices)) or "1"
            which = (f"a one-hot routing mask ({shape} indices, {classes} classes)"
                     if len(masks) == 1 else
                     f"{len(masks)} one-hot routing masks ({shape} indices, {classes} classes "
                     "each)")
            notes.append(f"data-dependent sizes: {calls} nonzero call{'s' if calls != 1 else ''}"
                         f" on {which} sized for balanced routing: each class (expert) gets "
                         f"1/{classes} of the {math.prod(indices):,} routed indices; the real "
                         "split depends on the router's values")
        return tuple(notes)

    def _arange(self, func: Any, args: tuple[Any, ...], out: Any) -> None:
        if func is _aten.arange.default:
            start, end, step = 0, args[0], 1
        else:
            start, end, step = (*args[:3], 1)[:3]
        if (isinstance(out, Tensor) and not out.dtype.is_floating_point and start == 0
                and step == 1 and type(end) is int and end >= 2):
            self._aranges.set(out, end)

    def _equality(self, args: tuple[Any, ...], out: Any) -> None:
        """`x == arange(n)`, arange(n) broadcast along a dimension of size n that x has size 1
        in: true once along that dimension for each x in range."""
        first, second = args[:2]
        if not (isinstance(first, Tensor) and isinstance(second, Tensor)
                and isinstance(out, Tensor)):
            return
        for arange, other in ((second, first), (first, second)):
            classes = self._aranges.get(arange)
            if classes is None:
                continue
            rank = out.dim()
            along = _aligned(arange.shape, rank).index(classes)
            if out.shape[along] == classes and _aligned(other.shape, rank)[along] == 1:
                mask = _OneHot(classes, tuple(out.shape[:along]) + tuple(out.shape[along + 1:]))
                self._made.append(mask)
                self._masks.set(out, mask)
                return

    def _kept(self, source: Any, out: Any) -> None:
        outputs = out if isinstance(out, (tuple, list)) else (out,)
        mask = self._masks.get(source) if self._masks else None
        if mask is not None:
            for tensor in outputs:
                if isinstance(tensor, Tensor):
                    self._masks.set(tensor, mask)
            return
        classes = self._aranges.get(source) if self._aranges else None
        if classes is not None and isinstance(out, Tensor) and out.numel() == classes \
                and classes in out.shape:
            self._aranges.set(out, classes)


def _aligned(shape: torch.Size, rank: int) -> tuple[int, ...]:
    """A shape as broadcasting lines it up with `rank` dimensions: ones in front."""
    return (1,) * (rank - len(shape)) + tuple(shape)
