"""The page faults a plain process takes per forward (latency/allocator.py): glibc's rules on
hand-made allocation streams. How the count compares with what the kernel reports for real
forwards moves from process to process; benchmarks/bench_page_faults.py prints it."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from costlens.latency.allocator import PAGE, faulted_pages

MB = 1 << 20


def _stream(ops: int, *allocations: tuple[int, int, int]) -> list[int]:
    """faulted_pages of a made-up run: `ops` ops allocating only `allocations`."""
    analysis = SimpleNamespace(graph=SimpleNamespace(nodes=[None] * ops), ops=[],
                               allocations=allocations)
    return faulted_pages(analysis)


def test_a_block_freed_and_taken_again_at_once_comes_back_from_the_heap() -> None:
    # the first run maps it and unmaps it, which raises the mmap threshold past it
    assert _stream(2, (MB, 0, 0)) == [0, 0]


def test_blocks_that_outgrow_the_trim_threshold_fault_in_every_run() -> None:
    faults = _stream(3, (MB, 0, 2), (MB, 1, 2), (MB, 2, 2))
    # three megabytes of heap given back but for the 128 KiB pad, and taken again
    assert sum(faults) == pytest.approx((3 * MB - 128 * 1024) / PAGE, abs=4)
    assert faults[0] < faults[1] == faults[2]  # the first reuses the pad's pages


def test_blocks_above_32_mib_are_mapped_for_each_run() -> None:
    assert _stream(1, (40 * MB, 0, 0)) == [40 * MB // PAGE]
