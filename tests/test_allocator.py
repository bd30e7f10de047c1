"""The page faults a plain process takes per forward (latency/allocator.py): glibc's rules on
hand-made allocation streams, and the count against what the kernel reports for real
forwards."""
from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
from helpers import EXAMPLES

from costlens import analyze
from costlens.latency.allocator import PAGE, faulted_pages
from costlens.tracing.load import load, model_inputs

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


@pytest.mark.parametrize("target", ["efficient.py:efficientnet_b0", "convnext.py:convnext_t",
                                    "hybrid.py:conv_attention_hybrid"])
def test_the_count_is_the_kernels_for_real_forwards(target: str) -> None:
    """Within a factor of 2.5 of getrusage's count in a plain process run as bench runs one.
    The count moves with what the process did before: EfficientNet-B0 took 2,320, 2,614 and
    4,640 faults per forward in three processes (docs/latency.md)."""
    loaded = load(f"{EXAMPLES}/{target}")
    simulated = sum(faulted_pages(analyze(loaded.model, model_inputs(loaded, [], None))))
    measured = _measured_faults(f"{EXAMPLES}/{target}")
    assert measured / 2.5 <= simulated <= measured * 2.5


_COUNT = """
import json, resource, statistics, sys, torch
from costlens.tracing.load import load, model_inputs
torch.set_num_threads(1)
loaded = load(sys.argv[1])
model, inputs = loaded.model.eval(), model_inputs(loaded, [], None)
counts = []
with torch.no_grad():
    for run in range(8):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        model(*inputs.args, **inputs.kwargs)
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(statistics.median(counts[3:])))
"""


def _measured_faults(target: str) -> float:
    done = subprocess.run([sys.executable, "-c", _COUNT, target], capture_output=True,
                          text=True, check=True, cwd="/")
    return json.loads(done.stdout)
