"""The page faults each op takes in a plain Python process, from the storages the ops allocate.

A process that runs a model as users do, with glibc's default malloc, hands memory back to the
operating system and takes it again forward after forward: every page it takes again costs a
page fault (the kernel maps and zeroes it: 1-2 us on a virtual machine) the first time an op
writes it. How many, and in which ops, depends on the order and sizes of the allocations, so
the typical estimate replays the forward's allocations (analysis/memory.py: each op's output
storage, from the op that allocates it to the last op it lives through; plus, on a CPU, the
weight-sized buffer a convolution's oneDNN kernel reorders its weight into on every call)
through a model of glibc's main arena, forward after forward until the count settles:

- a request that, with posix_memalign's slack for 64-byte alignment, reaches the mmap
  threshold (128 KiB at first) gets pages of its own, all faulted in, and returns them when
  freed; freeing one raises the threshold to its size (up to 32 MiB) and the trim threshold to
  twice that;
- a smaller request takes the smallest free chunk that fits (best fit, as glibc's sorted bins
  give it), else the top of the heap, which grows by the request plus a 128 KiB pad; pages
  above what the heap holds are faulted in when written;
- a freed chunk merges with free neighbours; when the merged chunk is 64 KiB or more and the
  free top of the heap is at the trim threshold or above, all of it but the pad goes back to
  the system, to be faulted in again.

Kernels' other scratch memory and Python's own objects are not seen, nor what the process
did before, which moves the kernel's own count (getrusage) by up to 3x from one process to
the next; benchmarks/bench_page_faults.py sets the two side by side (docs/latency.md).
"""
from __future__ import annotations

import bisect
from typing import Sequence

from ..analysis import Analysis
from ..costs import Category

PAGE = 4096
MMAP_THRESHOLD = 128 * 1024  # glibc's DEFAULT_MMAP_THRESHOLD_MIN
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # on 64-bit systems
TOP_PAD = 128 * 1024  # M_TOP_PAD's default
CONSOLIDATION = 64 * 1024  # FASTBIN_CONSOLIDATION_THRESHOLD: a free this large may trim
HEADER = 16  # a chunk's size field, and glibc's chunk alignment
ALIGNMENT_SLACK = 64 + 32  # what posix_memalign(64, n) asks malloc for beyond n
MOST_FORWARDS = 12
SETTLED = 3  # forwards in a row with one count: the steady state

Allocation = tuple[int, int, int]  # bytes, allocating op, last op


def faulted_pages(analysis: Analysis) -> list[int]:
    """Per op, the pages it faults in during a forward (or step) in the steady state of a
    plain process that runs it again and again."""
    ops = len(analysis.graph.nodes)
    stream = sorted((*analysis.allocations, *_weight_reorders(analysis)),
                    key=lambda allocation: allocation[1])
    if not stream:
        return [0] * ops
    heap = _Heap()
    counts: list[list[int]] = []
    for _ in range(MOST_FORWARDS):
        counts.append(_forward(heap, stream, ops))
        if len(counts) >= SETTLED and all(c == counts[-1] for c in counts[-SETTLED:]):
            break
    return counts[-1]


def _weight_reorders(analysis: Analysis) -> list[Allocation]:
    """The buffer a CPU convolution kernel reorders its weight into, for the call only."""
    found = []
    for op, node in zip(analysis.ops, analysis.graph.nodes):
        if op.category in (Category.CONV, Category.DEPTHWISE):
            weight = node.arg("weight")
            if weight is not None:
                found.append((weight.numel * weight.itemsize, node.index, node.index))
    return found


def _forward(heap: _Heap, stream: Sequence[Allocation], ops: int) -> list[int]:
    """Replay one run on `heap`: the pages each op faulted in. Everything it allocated is
    freed by the end (the caller drops the output)."""
    frees: list[list[int]] = [[] for _ in range(ops + 1)]
    made: list[list[int]] = [[] for _ in range(ops)]
    for number, (_, first, last) in enumerate(stream):
        made[first].append(number)
        frees[min(last + 1, ops)].append(number)
    chunks: dict[int, tuple[bool, int, int]] = {}
    heap.faults = [0] * ops
    for op in range(ops):
        for number in frees[op]:
            heap.free(*chunks.pop(number))
        for number in made[op]:
            chunks[number] = heap.malloc(stream[number][0], op)
    for number in frees[ops]:
        heap.free(*chunks.pop(number))
    return heap.faults


class _Heap:
    """glibc's main arena as far as page faults go: free chunks by address, the top of the
    heap, the break, what is mapped in, and the two dynamic thresholds."""

    def __init__(self) -> None:
        self.free_starts: list[int] = []  # free chunks below the top, by address
        self.free_size: dict[int, int] = {}
        self.top = 0  # where the free top chunk starts
        self.brk = 0  # the end of the heap
        self.resident = 0  # pages below this address are mapped in
        self.mmap_threshold = MMAP_THRESHOLD
        self.trim_threshold = MMAP_THRESHOLD
        self.faults: list[int] = []  # per op of the run being replayed (set by _forward)

    def malloc(self, request: int, op: int) -> tuple[bool, int, int]:
        size = -(-(request + HEADER) // HEADER) * HEADER
        if size + ALIGNMENT_SLACK >= self.mmap_threshold:
            self.faults[op] += -(-request // PAGE)
            return True, 0, -(-(size + ALIGNMENT_SLACK) // PAGE) * PAGE
        address = self._best_fit(size)
        if address is None:
            if self.brk - self.top < size:
                self.brk += -(-(size - (self.brk - self.top) + TOP_PAD) // PAGE) * PAGE
            address = self.top
            self.top += size
        end = address + size
        if end > self.resident:
            self.faults[op] += -(-end // PAGE) - max(address, self.resident) // PAGE
            self.resident = -(-end // PAGE) * PAGE
        return False, address, size

    def free(self, mmapped: bool, address: int, size: int) -> None:
        if mmapped:
            if self.mmap_threshold < size <= MMAP_THRESHOLD_MAX:
                self.mmap_threshold = size
                self.trim_threshold = 2 * size
            return
        end = address + size
        position = bisect.bisect_left(self.free_starts, address)
        if position < len(self.free_starts) and self.free_starts[position] == end:
            size += self.free_size.pop(end)  # the free chunk after it
            del self.free_starts[position]
        if position:
            before = self.free_starts[position - 1]
            if before + self.free_size[before] == address:  # the free chunk before it
                address, size = before, size + self.free_size.pop(before)
                del self.free_starts[position - 1]
        if address + size == self.top:
            self.top = address
            if size >= CONSOLIDATION and self.brk - self.top >= self.trim_threshold:
                extra = (self.brk - self.top - TOP_PAD - 1) // PAGE * PAGE
                if extra > 0:
                    self.brk -= extra
                    self.resident = min(self.resident, self.brk)
            return
        bisect.insort(self.free_starts, address)
        self.free_size[address] = size

    def _best_fit(self, size: int) -> int | None:
        best = None
        for address in self.free_starts:
            have = self.free_size[address]
            if have >= size and (best is None or have < self.free_size[best]):
                best = address
                if have == size:
                    break
        if best is None:
            return None
        have = self.free_size.pop(best)
        self.free_starts.remove(best)
        if have > size:
            bisect.insort(self.free_starts, best + size)
            self.free_size[best + size] = have - size
        return best
