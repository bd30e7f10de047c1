"""Wall-clock timing of real work on a CPU or a CUDA device.

Timings on a shared machine are noisy in one direction (something else ran), so every figure
is a median over repeats, each repeat long enough for the timer's resolution not to matter.
"""
from __future__ import annotations

import contextlib
import random
import statistics
import time
from typing import Callable, Iterator, Mapping

import torch

from ..errors import CostlensError


def check_device(device: str) -> torch.device:
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise CostlensError("--device cuda: PyTorch sees no CUDA device on this machine")
        return torch.device("cuda")
    raise CostlensError(f"unknown device {device!r}: expected cpu or cuda")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()


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


def synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def _calls_for(work: Callable[[], object], sync: Callable[[], None], min_seconds: float) -> int:
    """How many calls of `work` take about `min_seconds` (at least one)."""
    start = time.perf_counter()
    work()
    sync()
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, round(min_seconds / once))


def interleaved_medians(works: dict[str, Callable[[], object]], device: torch.device,
                        rounds: int = 7, min_seconds: float | Mapping[str, float] = 0.05
                        ) -> dict[str, float]:
    """Median time of each of several workloads, timed in turn round after round, so that a
    slow spell of a shared machine hits them all rather than one. The order changes every round
    (seeded, so runs repeat), so that no workload always follows the same one. `min_seconds`
    (one for all, or per workload) is how long each timing of a workload lasts at least."""
    sync = synchronizer(device)
    calls: dict[str, int] = {}
    for name, work in works.items():
        work()
        sync()
        least = min_seconds if isinstance(min_seconds, (int, float)) else min_seconds[name]
        calls[name] = _calls_for(work, sync, least)
    samples: dict[str, list[float]] = {name: [] for name in works}
    shuffler = random.Random(0)
    names = list(works)
    for _ in range(rounds):
        for name in shuffler.sample(names, len(names)):
            work = works[name]
            start = time.perf_counter()
            for _ in range(calls[name]):
                work()
            sync()
            samples[name].append((time.perf_counter() - start) / calls[name])
    return {name: statistics.median(values) for name, values in samples.items()}
