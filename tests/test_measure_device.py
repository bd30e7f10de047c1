"""Devices: every registered kind builds or says in one line why not, the CPU measures as the
measuring code expects, and the CUDA kind's logic (run here on stand-ins for torch.cuda, since
this machine may have no GPU) is what calibration and bench rely on."""
from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch

from costlens.errors import CostlensError
from costlens.measure.device import CPU, CUDA, DEVICES, Device, device_for


def test_every_registered_device_builds_or_says_in_one_line_why_not() -> None:
    assert list(DEVICES) == ["cpu", "cuda"]
    for name, kind in DEVICES.items():
        assert kind.name == name and issubclass(kind, Device)
        assert kind.paper_platform in ("cpu", "gpu")
        assert kind.calls_per_timing >= 1 and kind.bandwidth_elements > 0
        assert all(batch > 1 for batch in kind.calibration_batches)
        try:
            device = device_for(name)
        except CostlensError as error:
            assert str(error).startswith(f"--device {name}: ") and "\n" not in str(error)
            continue
        assert type(device) is kind and device.torch_device.type == name


def test_an_unknown_device_names_the_known_ones() -> None:
    with pytest.raises(CostlensError) as raised:
        device_for("tpu")
    assert str(raised.value) == "unknown device 'tpu': expected cpu or cuda"


def test_cuda_without_a_gpu_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CostlensError) as raised:
        device_for("cuda")
    assert str(raised.value) == "--device cuda: PyTorch sees no CUDA device on this machine"


def test_the_registry_is_read_without_importing_torch() -> None:
    """`costlens --help` lists the --device choices from DEVICES, and must stay quick."""
    code = "import sys\nfrom costlens.measure.device import DEVICES\nprint('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code],
                         capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def test_the_cpu_runs_one_call_per_timing_and_adds_its_fixed_costs() -> None:
    cpu = device_for("cpu")
    assert cpu.torch_device == torch.device("cpu") and cpu.paper_platform == "cpu"
    assert cpu.synchronize() is None
    assert cpu.description().strip()
    assert cpu.cache_bytes() >= 1 << 10
    assert cpu.lanes(1) == 16.0 and cpu.lanes(4) == 64.0
    assert (cpu.calls_per_timing, cpu.calibration_batches, cpu.overlap) == (1, (), False)
    assert cpu.bandwidth_elements == 1 << 24


def test_the_cpu_clock_times_each_call_and_passes_its_result_through() -> None:
    clock = CPU().op_clock()
    x = torch.ones(3)
    assert torch.equal(clock.call(torch.add, x, x, alpha=2), torch.full((3,), 3.0))
    assert clock.call(sum, range(10**5)) == sum(range(10**5))
    first, second = clock.seconds()
    assert first > 0 and second > 0


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """torch.cuda as an H200 answers it, and CUDA events stamped with a clock the test moves."""
    gpu = SimpleNamespace(now=0.0, synchronized=[])

    class Event:
        def __init__(self, enable_timing: bool = False) -> None:
            assert enable_timing
            self.stamp: float | None = None

        def record(self) -> None:
            self.stamp = gpu.now

        def elapsed_time(self, end: Event) -> float:
            assert self.stamp is not None and end.stamp is not None
            return (end.stamp - self.stamp) * 1e3  # milliseconds, as CUDA gives them

    properties = SimpleNamespace(multi_processor_count=132, max_threads_per_multi_processor=2048,
                                 L2_cache_size=60 << 20)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: properties)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "NVIDIA H200")
    monkeypatch.setattr(torch.cuda, "synchronize", gpu.synchronized.append)
    monkeypatch.setattr(torch.cuda, "Event", Event)
    return gpu


def test_cuda_overlaps_fixed_costs_and_times_several_calls_at_batch_1_and_32(
        fake_gpu: SimpleNamespace) -> None:
    gpu = device_for("cuda")
    assert isinstance(gpu, CUDA) and gpu.torch_device == torch.device("cuda")
    assert gpu.paper_platform == "gpu" and gpu.overlap
    assert gpu.calls_per_timing == 8 and gpu.calibration_batches == (32,)
    assert gpu.bandwidth_elements == 1 << 28
    assert gpu.description() == "NVIDIA H200"
    assert gpu.cache_bytes() == 60 << 20
    assert gpu.lanes(1) == gpu.lanes(16) == 132 * 2048
    gpu.synchronize()
    assert fake_gpu.synchronized == [gpu.torch_device]


def test_cuda_op_times_are_the_gaps_between_events_after_each_op(
        fake_gpu: SimpleNamespace) -> None:
    """A call only launches; the GPU's timeline, from the clock's start to the event after
    the last op, is split among the ops."""
    clock = device_for("cuda").op_clock()

    def op(seconds: float) -> float:
        fake_gpu.now += seconds
        return seconds
    assert [clock.call(op, s) for s in (0.5, 0.25, 1.0)] == [0.5, 0.25, 1.0]
    assert clock.seconds() == pytest.approx([0.5, 0.25, 1.0])


def test_a_cuda_timeline_gives_the_gpu_time_between_two_marks(fake_gpu: SimpleNamespace
                                                              ) -> None:
    timeline = device_for("cuda").timeline()
    start = timeline.mark()
    fake_gpu.now += 0.5
    inner = timeline.mark()
    fake_gpu.now += 0.25
    end = timeline.mark()
    assert timeline.seconds(start, end) == pytest.approx(0.75)
    assert timeline.seconds(inner, end) == pytest.approx(0.25)


def test_the_cpu_clock_leaves_out_the_time_between_calls() -> None:
    """On the CPU an op's work is done inside its call: a pause between two calls is nobody's."""
    clock = CPU().op_clock()
    clock.call(lambda: None)
    time.sleep(0.05)
    clock.call(lambda: None)
    assert max(clock.seconds()) < 0.05
