"""Helpers the tests import: the bundled examples (as installed, costlens.examples), one-op
models for formula tests, a made-up platform profile and physical ceilings."""
from __future__ import annotations

import dataclasses
import importlib
import inspect
from pathlib import Path
from typing import Any, Callable

from torch import nn

import costlens
from costlens.analysis import OpRecord
from costlens.latency.classes import PROFILED_CLASSES
from costlens.latency.profile import ClassRate, Profile

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def example(name: str) -> Any:
    """An example module by file stem, as installed."""
    return importlib.import_module(f"costlens.examples.{name}")


def example_factories() -> list[tuple[str, str]]:
    """(module stem, factory) of every example function that builds a network with its
    default arguments."""
    found = []
    for path in sorted(EXAMPLES.glob("*.py")):
        module = example(path.stem)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            home = function.__module__
            if name.startswith("_") or not (home == module.__name__
                                            or home.startswith("costlens.")):  # re-exported
                continue
            signature = inspect.signature(function)
            returns = str(signature.return_annotation)
            if "Module" in returns and all(p.default is not p.empty
                                           for p in signature.parameters.values()):
                found.append((path.stem, name))
    return found


def analyzable(built: tuple) -> tuple[nn.Module, Any]:
    """(model, inputs) for costlens.analyze from what a factory returns: (model, inputs) as it
    is, (model, args, kwargs) with its inputs as costlens.Inputs."""
    if len(built) == 3:
        model, args, kwargs = built
        return model, costlens.Inputs(tuple(args), dict(kwargs))
    return built


class Lambda(nn.Module):
    """Wraps a function so a formula can be tested on the ops one call dispatches."""

    def __init__(self, function: Callable[..., Any]) -> None:
        super().__init__()
        self.function = function

    def forward(self, *args: Any) -> Any:
        return self.function(*args)


def kernels(function: Callable[..., Any] | nn.Module, *inputs: Any) -> list[OpRecord]:
    """The ops (views excluded) one call runs, with their costs."""
    model = function if isinstance(function, nn.Module) else Lambda(function)
    analysis = costlens.analyze(model, tuple(inputs))
    return [op for op in analysis.ops if op.category != "view"]


def only_kernel(function: Callable[..., Any] | nn.Module, *inputs: Any) -> OpRecord:
    found = kernels(function, *inputs)
    assert len(found) == 1, [op.op for op in found]
    return found[0]


def made_up_profile(**changes: object) -> Profile:
    """A made-up device with round numbers: every class 1 GFLOP/s, 1 GB/s in cache, 1 us."""
    rates = {name: ClassRate(1e9, 1e9, 1e-6) for name in PROFILED_CLASSES}
    base = Profile(
        name="made-up", device="cpu", device_name="test", threads=1, torch_version="x",
        created="2026-01-01", calibration_seconds=0.0, method="made up", op_overhead_s=1e-6,
        view_overhead_s=0.5e-6, module_call_overhead_s=2e-6, bandwidth_bytes_per_s=0.5e9,
        cache_bytes=1000, saturation=1.0, overlap=False, rates=rates, warm_rates=rates,
        in_network_factor=1.0)
    return dataclasses.replace(base, **changes)


#: Upper bounds no real measurement can pass, per device: multiply-adds per second (a CPU core:
#: two 16-wide FMA units at 4 GHz; an H100/H200: about 500 T with bf16/TF32 tensor cores) and
#: bytes per second (DDR5 channels / HBM3e).
CEILINGS = {"cpu": (2 * 16 * 4e9, 400e9), "cuda": (600e12, 6e12)}
