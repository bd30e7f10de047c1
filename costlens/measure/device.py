"""The kinds of device costlens measures on, one class each.

Everything in which measuring on one kind differs from another (how to wait for its work, how
to mark its timeline, what fills it, what calibration runs on it) is a member of its class, so the
measuring code has no branch on a device's kind and a new kind is one new class in DEVICES.

torch is imported inside the methods that need it: the command line takes its `--device`
choices from DEVICES, and `costlens --help` should not wait for torch to import.
"""
from __future__ import annotations

import platform
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..errors import CostlensError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


class Timeline(ABC):
    """Marks set on a device's timeline during a run: `seconds` gives the device's time
    between two of them once the run is over and the device synchronized."""

    @abstractmethod
    def mark(self) -> int:
        """Set a mark now; its number, for `seconds`."""

    @abstractmethod
    def seconds(self, start: int, end: int) -> float:
        """The time between marks `start` and `end`."""


class OpClock:
    """Times the ops of one forward on a device's timeline, in call order: each op runs through
    `call`, and `seconds` gives their times once the forward is over and the device
    synchronized. Where a call only launches the op (`gaps`: a device whose fixed costs overlap
    the kernels before them), an op's time is the gap since the mark after the op before, so the
    device's timeline is split among the ops, its idle waits included; else it is its call's."""

    def __init__(self, timeline: Timeline, gaps: bool) -> None:
        self.timeline = timeline
        self.gaps = gaps
        self.spans: list[tuple[int, int]] = []
        self.last = timeline.mark()  # the clock's start

    def call(self, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run one op, timing it."""
        start = self.last if self.gaps else self.timeline.mark()
        out = func(*args, **kwargs)
        self.last = self.timeline.mark()
        self.spans.append((start, self.last))
        return out

    def seconds(self) -> list[float]:
        """The time of each op, in call order."""
        return [self.timeline.seconds(start, end) for start, end in self.spans]


class Device(ABC):
    """One device to measure on, as `--device` names it."""

    #: the `--device` value, and the device a profile made on it records
    name: ClassVar[str]
    #: the paper's column of widths and speeds for this kind: "cpu" (its ARM core) or "gpu"
    paper_platform: ClassVar[str]
    #: calls of a layer per timing in calibration (see CUDA for why more than one)
    calls_per_timing: ClassVar[int]
    #: batches besides 1 that calibration runs every case at
    calibration_batches: ClassVar[tuple[int, ...]]
    #: whether an op's fixed cost overlaps the kernels before it (asynchronous launches) rather
    #: than adding to them: a profile's `overlap`
    overlap: ClassVar[bool]
    #: float32 elements of calibration's streaming copy: far beyond the device's cache
    bandwidth_elements: ClassVar[int]
    #: where tensors go to run on it
    torch_device: torch.device

    def __init__(self) -> None:
        import torch
        self.torch_device = torch.device(self.name)

    @abstractmethod
    def synchronize(self) -> None:
        """Wait until the work launched so far has finished: a clock read after it has then
        seen that work done."""

    @abstractmethod
    def description(self) -> str:
        """The processor or GPU model, for a profile's device_name."""

    @abstractmethod
    def cache_bytes(self) -> int:
        """The cache an op's data stays in between ops, for the estimate's memory term."""

    def last_level_cache_bytes(self) -> int | None:
        """The cache that keeps a kernel's code between two runs of it (latency/coldness.py);
        None where that is not the question (a GPU runs its kernels' host code on the CPU)."""
        return None

    @abstractmethod
    def lanes(self, threads: int) -> float:
        """Work items that fill the device at `threads` intra-op threads: fewer leave part of
        it idle (a profile's saturation)."""

    def op_clock(self) -> OpClock:
        """A clock for the ops of one forward, started now."""
        return OpClock(self.timeline(), gaps=self.overlap)

    @abstractmethod
    def timeline(self) -> Timeline:
        """An empty timeline for the marks of one run."""


class CPU(Device):
    name = "cpu"
    paper_platform = "cpu"
    #: an op runs on the calling thread, and the time of one call is what it costs
    calls_per_timing = 1
    calibration_batches = ()
    overlap = False
    bandwidth_elements = 1 << 24

    def synchronize(self) -> None:
        """Nothing to wait for: an op on the CPU has finished when its call returns."""

    def description(self) -> str:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as handle:
                for line in handle:
                    if line.startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or platform.machine()

    def cache_bytes(self) -> int:
        """A core's L2 as sysfs gives it: the data of the op before is still there, and little
        else (the L3 is shared with other cores and tenants)."""
        return _cpu_caches().get(2, 1 << 20)  # no sysfs: a common size

    def last_level_cache_bytes(self) -> int | None:
        """The largest cache sysfs lists (an L3), which keeps a kernel's code between two runs
        of it in a network (latency/coldness.py)."""
        caches = _cpu_caches()
        return caches[max(caches)] if caches else None

    def lanes(self, threads: int) -> float:
        """Threads x 16 float lanes (one AVX-512 register)."""
        return float(threads * 16)

    def timeline(self) -> Timeline:
        return _WallMarks()


class CUDA(Device):
    name = "cuda"
    paper_platform = "gpu"
    #: One call between two synchronizations would time a launch and a round trip that a
    #: network's asynchronous launches overlap with the kernels before them, so a timing runs
    #: this many calls back to back and takes their throughput.
    calls_per_timing = 8
    #: at batch 1 a GPU's kernels barely fill it
    calibration_batches = (32,)
    overlap = True
    bandwidth_elements = 1 << 28

    def __init__(self) -> None:
        import torch
        if not torch.cuda.is_available():
            raise CostlensError("--device cuda: PyTorch sees no CUDA device on this machine")
        super().__init__()

    def synchronize(self) -> None:
        import torch
        torch.cuda.synchronize(self.torch_device)

    def description(self) -> str:
        import torch
        return torch.cuda.get_device_name(self.torch_device)

    def cache_bytes(self) -> int:
        """The GPU's L2, which every multiprocessor shares."""
        import torch
        properties = torch.cuda.get_device_properties(self.torch_device)
        return int(getattr(properties, "L2_cache_size", 50 << 20))

    def lanes(self, threads: int) -> float:
        """Multiprocessors x resident threads per multiprocessor; the CPU threads that launch
        the kernels add nothing."""
        import torch
        properties = torch.cuda.get_device_properties(self.torch_device)
        per_processor = getattr(properties, "max_threads_per_multi_processor", 2048)
        return float(properties.multi_processor_count * per_processor)

    def timeline(self) -> Timeline:
        return _EventMarks()


class _WallMarks(Timeline):
    """Wall-clock readings: on the CPU the work between two marks is done between them."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def mark(self) -> int:
        self.times.append(time.perf_counter())
        return len(self.times) - 1

    def seconds(self, start: int, end: int) -> float:
        return self.times[end] - self.times[start]


class _EventMarks(Timeline):
    """CUDA events: a call only launches a kernel, so the marks go on the GPU's timeline."""

    def __init__(self) -> None:
        import torch
        self.event = torch.cuda.Event
        self.events: list[torch.cuda.Event] = []

    def mark(self) -> int:
        event = self.event(enable_timing=True)
        event.record()
        self.events.append(event)
        return len(self.events) - 1

    def seconds(self, start: int, end: int) -> float:
        return self.events[start].elapsed_time(self.events[end]) / 1e3


#: every kind of device, by its `--device` name
DEVICES: dict[str, type[Device]] = {kind.name: kind for kind in (CPU, CUDA)}


def device_for(name: str) -> Device:
    """The device `--device name` asks for; a CostlensError where there is none such here."""
    if name not in DEVICES:
        raise CostlensError(f"unknown device {name!r}: expected {' or '.join(DEVICES)}")
    return DEVICES[name]()


def _cpu_caches() -> dict[int, int]:
    """The bytes of cpu0's data or unified cache at each level, as sysfs gives them."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    caches = {}
    for index in range(8):
        base = f"/sys/devices/system/cpu/cpu0/cache/index{index}/"
        try:
            with open(base + "type", encoding="ascii") as type_file:
                if type_file.read().strip() == "Instruction":
                    continue
            with open(base + "level", encoding="ascii") as level_file:
                level = int(level_file.read())
            with open(base + "size", encoding="ascii") as size_file:
                text = size_file.read().strip()
        except (OSError, ValueError):
            continue
        caches[level] = int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
    return caches
