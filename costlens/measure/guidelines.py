"""`costlens guidelines`: the paper's four validation experiments (Tables 1-4) on this device.

Each table holds FLOPs about constant and varies one design choice; the paper's verdict is
that its first row runs fastest and a named row slowest. Here every row is measured (all rows
of all tables timed in the same interleaved rounds) and estimated from the profile, and for
each guideline the best-to-worst speed ratio is set beside the paper's: a ratio near 1 means
the guideline costs nothing on this device at these widths.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..api import analyze
from ..latency.estimate import estimate
from ..latency.profile import Profile
from . import paper_networks as paper
from .device import Device
from .timing import ROUNDS, Work, interleaved


@dataclass(frozen=True)
class Row:
    guideline: str
    label: str
    paper_speed: float
    measured_speed: float
    estimated_speed: float


@dataclass(frozen=True)
class Verdict:
    """Best row over worst row, by the paper's figures, here measured and here estimated."""

    guideline: str
    best: str
    worst: str
    paper_ratio: float
    measured_ratio: float
    estimated_ratio: float

    @property
    def holds(self) -> bool:
        """The paper's best row is measurably faster here (by 5% or more)."""
        return self.measured_ratio >= 1.05

    @property
    def prediction_error(self) -> float:
        return self.estimated_ratio / self.measured_ratio - 1


GUIDELINES = {
    "G1": "equal channel widths minimize MAC (Table 1)",
    "G2": "excessive group convolution increases MAC (Table 2)",
    "G3": "network fragmentation reduces parallelism (Table 3)",
    "G4": "element-wise operations are non-negligible (Table 4)",
}


def experiments(platform: str, column: int = 0, batch: int = 1
                ) -> list[tuple[str, str, float, Callable[[], tuple[torch.nn.Module, Any]]]]:
    """(guideline, row label, paper speed, model factory) for every row of Tables 1-4 at the
    paper's widths for `platform` (its column of Tables 1-4: Device.paper_platform) and width
    `column`."""
    rows: list[tuple[str, str, float, Callable[[], tuple[torch.nn.Module, Any]]]] = []
    for row in paper.TABLE1_ROWS:
        kwargs = paper.table1_kwargs(row, platform, column)
        rows.append(("G1", f"c1:c2 = {row.ratio} {tuple(kwargs.values())}",
                     paper.paper_speed(row, platform, column),
                     lambda kwargs=kwargs: paper.g1_network(**kwargs, batch=batch)))
    for row2 in paper.TABLE2_ROWS:
        kwargs = paper.table2_kwargs(row2, platform, column)
        rows.append(("G2", f"g = {row2.groups}, c = {kwargs['c']}",
                     paper.paper_speed(row2, platform, column),
                     lambda kwargs=kwargs: paper.g2_network(**kwargs, batch=batch)))
    for row3 in paper.TABLE3_ROWS:
        kwargs = paper.table3_kwargs(row3, platform, column)
        rows.append(("G3", f"{row3.label}, c = {kwargs['c']}",
                     paper.paper_speed(row3, platform, column),
                     lambda kwargs=kwargs: paper.g3_network(**kwargs, batch=batch)))
    for row4 in paper.TABLE4_ROWS:
        kwargs = paper.table4_kwargs(row4, platform, column)
        label = (f"ReLU {'yes' if row4.relu else 'no'}, shortcut "
                 f"{'yes' if row4.shortcut else 'no'}, c = {kwargs['c']}")
        rows.append(("G4", label, paper.paper_speed(row4, platform, column),
                     lambda kwargs=kwargs: paper.g4_network(**kwargs, batch=batch)))
    return rows


def run_guidelines(profile: Profile, device: Device, column: int = 0, batch: int = 1,
                   rounds: int = ROUNDS) -> tuple[list[Row], list[Verdict]]:
    """Measure and estimate every row (under the caller's thread count and no_grad). A row's
    time is its best forward over the rounds (timing.best_of), each straight after an untimed
    one (its steady state), with freed memory kept, as calibration times its layers: the best
    case, so the estimate is the best case too (the typical one would add page faults and a
    spread that this measurement does not pay)."""
    plan = experiments(device.paper_platform, column, batch)
    works = {}
    estimated = {}
    for _, label, _, factory in plan:
        model, x = factory()
        model = model.eval()
        estimated[label] = estimate(analyze(model, x), profile, typical=False).seconds
        model, x = model.to(device.torch_device), x.to(device.torch_device)
        forward = functools.partial(model, x)
        works[label] = Work(forward, forward)
    measured = interleaved(works, device, rounds=rounds)
    rows = [Row(guideline, label, paper_speed, batch / measured[label],
                batch / estimated[label]) for guideline, label, paper_speed, _ in plan]
    return rows, [_verdict(g, [r for r in rows if r.guideline == g]) for g in GUIDELINES]


def _verdict(guideline: str, rows: list[Row]) -> Verdict:
    best = max(rows, key=lambda row: row.paper_speed)
    worst = min(rows, key=lambda row: row.paper_speed)
    return Verdict(guideline, best.label, worst.label, best.paper_speed / worst.paper_speed,
                   best.measured_speed / worst.measured_speed,
                   best.estimated_speed / worst.estimated_speed)
