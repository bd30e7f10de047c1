"""Peak memory from the static trace: the bytes live at once by liveness in execution order,
checked by hand on small models and against the CPU allocator (torch.profiler's memory events)
on real runs of the example networks, forward and training step."""
from __future__ import annotations

import bisect
import importlib.util
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import example, example_factories
from torch import nn
from torch.profiler import ProfilerActivity, profile

import costlens

F32 = 4


def test_views_share_storage_and_in_place_ops_allocate_nothing() -> None:
    """conv (allocates 2x8x6x6), relu_ in place, flatten a view, linear (allocates 2x4):
    at the linear, the conv's output (read through the view) and the linear's are live."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True), nn.Flatten(),
                          nn.Linear(8 * 6 * 6, 4))
    analysis = costlens.analyze(model, torch.randn(2, 3, 8, 8))
    held = F32 * (sum(p.numel() for p in model.parameters()) + 2 * 3 * 8 * 8)
    conv, linear = F32 * 2 * 8 * 6 * 6, F32 * 2 * 4
    assert analysis.totals.peak_bytes == held + conv + linear
    assert analysis.layer("1").peak_bytes == held + conv  # relu_: nothing new
    assert analysis.layer("0").peak_bytes == held + conv


def test_a_statement_holds_what_it_reads_until_it_is_done() -> None:
    """`out = self.b(self.a(out))`: the old `out` lives through both calls, as in Python."""

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = torch.relu(x)
            out = self.b(self.a(out))
            return out

    analysis = costlens.analyze(Twice(), torch.randn(1, 8, 16, 16))
    held = F32 * (2 * (8 * 8 + 8) + 8 * 16 * 16)
    map_bytes = F32 * 8 * 16 * 16
    assert analysis.layer("b").peak_bytes == held + 3 * map_bytes  # relu's, a's, b's outputs


def test_a_training_step_counts_what_it_saves_for_the_backward() -> None:
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
    analysis = costlens.analyze(model, torch.randn(16, 32), train_step=True)
    # saved: relu's output, which its backward (threshold_backward) and the second linear's
    # weight gradient read, and the scalar loss the backward starts from; not the first
    # linear's output, which relu's backward does not need
    assert analysis.totals.saved_bytes == F32 * (16 * 64 + 1)
    assert analysis.totals.peak_bytes > costlens.analyze(model, torch.randn(16, 32)) \
        .totals.peak_bytes
    report = analysis.to_dict()
    assert report["totals"]["saved_bytes"] == analysis.totals.saved_bytes
    assert "saved_bytes" not in costlens.analyze(model, torch.randn(16, 32)).to_dict()["totals"]


def _networks() -> list[tuple[str, str]]:
    """Every example network whose weights a test can afford to run for real (1 GB)."""
    found = []
    for stem, factory in example_factories():
        model = getattr(example(stem), factory)(**_arguments(factory))[0]
        if sum(p.numel() * p.element_size() for p in model.parameters()) < 1 << 30:
            found.append((stem, factory))
    return found


def _arguments(factory: str) -> dict[str, Any]:
    return {"size": "tiny"} if factory == "llama" else {}


NETWORKS = _networks()
STEPS = [("resnet", "resnet50"), ("mobilenet_v2", "mobilenet_v2"), ("gpt", "gpt"),
         ("llama", "llama"), ("shufflenet_v2", "shufflenet_v2"), ("inception", "inception_net")]


def _real_peak(model: nn.Module, inputs: tuple[torch.Tensor, ...], train_step: bool) -> int:
    """The weights, buffers and inputs, plus the most bytes the CPU allocator held between two
    top-level ops of a real run: the tensors live there, not a kernel's scratch space."""
    if any(p.is_meta for p in model.parameters()):
        model = model.to_empty(device="cpu")
    real = tuple(torch.randn(t.shape) if t.dtype.is_floating_point
                 else torch.randint(0, 10, t.shape) for t in inputs)
    tensors = {id(t): t for t in [*model.parameters(), *model.buffers(), *real]}.values()
    held = sum(t.numel() * t.element_size() for t in tensors)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        if train_step:
            model.train()
            output = model(*real)
            outputs = output if isinstance(output, tuple) else (output,)
            sum(t.sum() for t in outputs if t.dtype.is_floating_point).backward()
        else:
            model.eval()
            with torch.no_grad():
                model(*real)
    events = profiler.profiler.kineto_results.events()
    memory = sorted((e for e in events if e.name() == "[memory]"), key=lambda e: e.start_ns())
    times, allocated, running = [], [], 0
    for event in memory:
        running += event.nbytes()
        times.append(event.start_ns())
        allocated.append(running)
    ops = sorted((e for e in events if e.name().startswith("aten::")),
                 key=lambda e: (e.start_ns(), -e.end_ns()))
    peak, end = 0, -1
    for op in ops:
        if op.start_ns() < end:  # inside an op already seen: its scratch may be live
            continue
        end = op.end_ns()
        before = bisect.bisect_right(times, end) - 1
        if before >= 0:
            peak = max(peak, allocated[before])
    return held + peak


@pytest.mark.parametrize("stem, factory", NETWORKS, ids=[f"{s}:{f}" for s, f in NETWORKS])
def test_the_forward_peak_is_within_10_percent_of_a_real_run(stem: str, factory: str) -> None:
    model, inputs = getattr(example(stem), factory)(**_arguments(factory))[:2]
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    estimated = costlens.analyze(model, inputs).totals.peak_bytes
    assert estimated == pytest.approx(_real_peak(model, inputs, False), rel=0.10)


@pytest.mark.parametrize("stem, factory", STEPS, ids=[f"{s}:{f}" for s, f in STEPS])
def test_the_training_step_peak_is_within_10_percent_of_a_real_run(stem: str,
                                                                   factory: str) -> None:
    model, inputs = getattr(example(stem), factory)(**_arguments(factory))[:2]
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    estimated = costlens.analyze(model, inputs, train_step=True).totals.peak_bytes
    assert estimated == pytest.approx(_real_peak(model, inputs, True), rel=0.10)


def test_statements_hold_in_an_installed_model_too(tmp_path: Path) -> None:
    """A model from site-packages (torchvision's, a library's) is not the user's code, so
    findings do not point into it, but its statements still hold what they read."""
    folder = tmp_path / "site-packages"
    folder.mkdir()
    (folder / "installed_twice.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Twice(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.a, self.b = nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1)\n\n"
        "    def forward(self, x):\n"
        "        out = torch.relu(x)\n"
        "        out = self.b(self.a(out))\n"
        "        return out\n")
    spec = importlib.util.spec_from_file_location("installed_twice",
                                                  folder / "installed_twice.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    analysis = costlens.analyze(module.Twice(), torch.randn(1, 8, 16, 16))
    held = F32 * (2 * (8 * 8 + 8) + 8 * 16 * 16)
    assert analysis.layer("b").peak_bytes == held + 3 * F32 * 8 * 16 * 16
    assert all(node.source is None for node in analysis.graph.nodes)  # not the user's lines
