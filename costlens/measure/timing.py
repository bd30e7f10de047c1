"""Wall-clock timing of real work on a device.

Timings on a shared machine are noisy, so a figure is the lower quartile of many interleaved
rounds (see best_of; or, where a typical run is asked for, their median).

Before anything is timed, the C library's allocator is told to keep freed memory (see
keep_freed_memory): otherwise a model's time includes page faults whose number depends on what
the process ran before, not on the model.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import math
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence, TypeVar

import torch

from ..errors import CostlensError
from . import ROUNDS
from .device import Device

T = TypeVar("T")

BEST_QUANTILE = 0.25  # where in its sorted timings a best-case figure lies (see best_of)


def best_of(timings: Sequence[float]) -> float:
    """The best case of repeated timings: their lower quartile (a run that a quarter of them
    beat), not the fastest. Other tenants mostly slow a run down, but a virtual machine's core
    also runs faster in rare bursts: on a 2-core Intel Xeon (KVM) a 128x128 matrix product took
    26 us in about one window of ten and 30-33 us in the rest, and a ShuffleNet v2 forward 16 ms
    against 20-22 ms. The fastest of 25 rounds is then a lottery of whether a burst met that
    workload: calibration's hundreds of layers mostly drew one and the networks timed beside
    them mostly did not, and its estimate came out 11-14% low at the median of 18 networks
    (3-4% low with the lower quartile on both sides, from the same rounds). Where nothing is
    faster than steady the lower quartile lies a little above the fastest, for calibration and
    measurement alike."""
    ordered = sorted(timings)
    return ordered[int(BEST_QUANTILE * (len(ordered) - 1))]


@contextlib.contextmanager
def threads(count: int | None) -> Iterator[int]:
    """Run with `count` intra-op threads (None: as set), restoring the setting afterwards."""
    before = torch.get_num_threads()
    if count is not None:
        if count < 1:
            raise CostlensError(f"--threads must be 1 or more, not {count}")
        torch.set_num_threads(count)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


#: mallopt parameters (glibc's malloc.h) and the largest mmap threshold glibc accepts.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 << 20
_TRIM_THRESHOLD = (1 << 31) - 1


@functools.cache
def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory in the process rather than hand it back to the
    operating system; False where the C library is not glibc (nothing changed).

    By default glibc returns the top of its heap once more than a threshold of it is free, and
    serves large blocks with fresh mappings, so a forward that frees and then reallocates
    megabytes of activations faults every page back in: on a virtual machine 1-4 us per 4 KB
    page, a third of MobileNet v2's time at batch 1, and how many faults a forward takes
    depends on what the process allocated before. With both thresholds set, allocations up to
    32 MB come from memory the process keeps, as jemalloc and tcmalloc (the allocators PyTorch
    recommends for CPU inference) do by default. The setting is process-wide and stays.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
                and mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX))


@dataclass(frozen=True)
class Work:
    """Something to time. `run` makes `calls` calls of what is measured; `prepare`, run untimed
    just before each timing, sets the scene: a warm-up call, or the write of an input that the
    op before it in a network would just have made. `kind` names the kernel it runs, if it
    matters where that kernel ran last (see _apart)."""

    run: Callable[[], object]
    prepare: Callable[[], object] | None = None
    calls: int = 1
    kind: str | None = None


def interleaved(works: Mapping[str, Work], device: Device, rounds: int = ROUNDS,
                statistic: Callable[[list[float]], T] = best_of,  # type: ignore[assignment]
                sizes: Mapping[str, float] | None = None) -> dict[str, T]:
    """Each work's time per call: `statistic` (default best_of) over `rounds` timings,
    one per round, the works taken in a new order every round (seeded, so runs repeat).

    Interleaving makes the works neighbours, as the ops of a network are: each finds the caches
    (and, on a shared machine, the clock) as the others left them. And it spreads a slow spell
    over all of them rather than one. The lower quartile of many rounds is the steady figure
    (best_of): a median moves by tens of percent with a neighbour's load. With `sizes` (bytes
    a work moves), see _order; no two works of one `kind` run back to back where another can
    go between (see _apart).
    """
    keep_freed_memory()
    sync = device.synchronize
    for work in works.values():  # once each first: lazy initialisation is not timed
        if work.prepare is not None:
            work.prepare()
        work.run()
    sync()
    samples: dict[str, list[float]] = {name: [] for name in works}
    shuffler = random.Random(0)
    clock = time.perf_counter
    kinds = {name: work.kind for name, work in works.items()}
    previous = None  # the work the round starts after
    for number in range(rounds):
        order = _apart(_order(list(works), sizes, shuffler, descending=bool(number % 2)),
                       kinds, previous)
        previous = order[-1]
        for name in order:
            work = works[name]
            if work.prepare is not None:
                work.prepare()
            sync()
            start = clock()
            work.run()
            sync()
            samples[name].append((clock() - start) / work.calls)
    return {name: statistic(values) for name, values in samples.items()}


SIZE_SPREAD = 0.5  # decades a work's place in the order strays from its size


def _order(names: list[str], sizes: Mapping[str, float] | None, shuffler: random.Random,
           descending: bool) -> list[str]:
    """One round's order. Without sizes, a shuffle. With them, by size give or take half a
    decade, rounds alternately up and down: each work's neighbours are works of about its size
    (a different few each round), as an op's are in a network, where a small op follows and
    precedes small ops. Right after a streaming copy of 128 MB, a ReLU that takes 23 us took
    150 us on this project's build machine, and three more calls to get back near 30 us (the
    caches and the core's clock take that long), which no op of a small network ever sees.
    Works without a size go anywhere."""
    if sizes is None:
        return shuffler.sample(names, len(names))
    logs = [math.log10(max(sizes[name], 1.0)) for name in names if name in sizes]
    low, high = (min(logs), max(logs)) if logs else (0.0, 1.0)
    keys = {name: math.log10(max(sizes[name], 1.0)) + shuffler.uniform(-SIZE_SPREAD, SIZE_SPREAD)
            if name in sizes else shuffler.uniform(low, high) for name in names}
    return sorted(names, key=keys.__getitem__, reverse=descending)


APART_LOOKAHEAD = 8  # how far down the order _apart looks for a work of another kind


def _apart(order: list[str], kinds: Mapping[str, str | None],
           previous: str | None = None) -> list[str]:
    """`order` with no two works of one kind back to back (the first one included, after
    `previous`) where a work of another kind lies within APART_LOOKAHEAD places to go between.
    A layer timed cold straight after a call of its own kernel (its warm twin, or the same op
    on another shape) finds that kernel's code and the buffers it just freed in cache, and ran
    two to three times faster here (a GELU on 64x256 in 22 us against 44-58 us in every other
    round); no op of a network follows itself, and the best of the rounds would be that
    one."""
    pending, placed = list(order), []
    while pending:
        last = kinds.get(placed[-1] if placed else previous)
        window = pending[:APART_LOOKAHEAD]
        allowed = [index for index, name in enumerate(window)
                   if kinds.get(name) is None or kinds.get(name) != last] or [0]
        # the kind most frequent in reach first, so that none is left to run in a row
        reach = Counter(kinds.get(name) for name in window if kinds.get(name) is not None)
        pick = max(allowed, key=lambda index: (reach[kinds.get(window[index])], -index))
        placed.append(pending.pop(pick))
    return placed
