"""Calibration: every micro-benchmark measures one op of its class, the workloads run their
layers as they say, the fit recovers known rates and fixed costs, and a calibration of this
machine fits rates a machine can have."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch
from helpers import CEILINGS, made_up_profile
from torch import nn

from costlens.api import analyze
from costlens.latency.classes import PROFILED_CLASSES, KernelClass, kernel_class
from costlens.latency.profile import Profile, Sample, load_profile
from costlens.latency.roofline import op_seconds
from costlens.measure.calibrate import (
    BANDWIDTH,
    FRESH_PAGES,
    MODULE_CALL,
    SEQUENCE,
    STREAM,
    STREAM_REPEATS,
    TOUCHED_PAGES,
    WARM_UP_CALLS,
    Plan,
    _prepare,
    _tiny,
    _tiny_stream,
    _workloads,
    cases,
    fit_rates,
    tiny_layers,
)
from costlens.measure.device import CPU


def test_every_case_runs_exactly_one_op_of_its_class_and_every_class_has_cases() -> None:
    seen = set()
    labels = [case.label for case in cases()]
    assert len(set(labels)) == len(labels), "labels name the timed workloads: no two alike"
    for case in cases():
        analysis = analyze(case.layer(), case.inputs())
        classes = [kernel_class(node, op.category)
                   for node, op in zip(analysis.graph.nodes, analysis.ops)]
        assert classes.count(case.kernel_class) == 1, case.label
        seen.add(case.kernel_class)
    assert seen == set(PROFILED_CLASSES)


def test_the_fit_recovers_the_rates_that_made_the_samples() -> None:
    """Within 10%: among fits about as good, the fit prefers the fastest byte rate."""
    truth = made_up_profile(rates={**made_up_profile().rates})
    true_rates = dataclasses.replace(truth.rates[KernelClass.CONV_1X1], flops_per_s=40e9,
                                     bytes_per_s=8e9)
    truth = dataclasses.replace(truth, rates={**truth.rates, KernelClass.CONV_1X1: true_rates},
                                cache_bytes=10**9)
    samples = []
    for flops, nbytes in [(10**6, 10**5), (10**7, 10**5), (10**8, 10**6), (10**6, 10**6),
                          (10**5, 10**6), (10**9, 10**7)]:
        seconds = op_seconds(truth, KernelClass.CONV_1X1, flops, nbytes, 10**6)[0]
        samples.append(Sample(KernelClass.CONV_1X1, "", flops, nbytes, 10**6, seconds))
    flop_rate, byte_rate = fit_rates(truth, samples, fixed_s=1e-6)
    assert flop_rate == pytest.approx(40e9, rel=0.1)
    assert byte_rate == pytest.approx(8e9, rel=0.1)


def test_a_rate_that_never_binds_is_left_unset() -> None:
    device = made_up_profile(cache_bytes=10**9)
    samples = [Sample(KernelClass.CONV_1X1, "", flops, 1000, 10**6, 1e-6 + flops / 40e9)
               for flops in (10**5, 10**6, 10**7, 10**8)]
    flop_rate, byte_rate = fit_rates(device, samples, fixed_s=1e-6)
    assert flop_rate == pytest.approx(40e9, rel=0.1)
    assert byte_rate is None


def test_a_memory_class_gets_a_byte_rate_only() -> None:
    device = made_up_profile(cache_bytes=10**9)
    samples = [Sample(KernelClass.ELEMENTWISE, "", nbytes // 8, nbytes, nbytes // 4,
                      1e-6 + nbytes / 20e9) for nbytes in (10**4, 10**5, 10**6, 10**7)]
    flop_rate, byte_rate = fit_rates(device, samples, fixed_s=1e-6)
    assert flop_rate is None
    assert byte_rate == pytest.approx(20e9, rel=0.1)


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    """`costlens calibrate` in a fresh process, as a user runs it. How far two such runs
    disagree is the machine's noise, measured by benchmarks/bench_calibration.py."""
    path = tmp_path_factory.mktemp("calibration") / "cpu.json"
    subprocess.run([sys.executable, "-m", "costlens", "calibrate", "--threads", "1",
                    "-o", str(path)], check=True, capture_output=True)
    return load_profile(str(path))


@pytest.mark.timing
def test_calibration_is_physically_sensible(calibration: Profile) -> None:
    flop_ceiling, byte_ceiling = CEILINGS["cpu"]
    assert calibration.threads == 1 and calibration.device == "cpu"
    assert 0 < calibration.bandwidth_bytes_per_s < byte_ceiling
    for cls in PROFILED_CLASSES:
        for rate in (calibration.rate(cls), calibration.warm_rates[cls]):
            assert rate.flops_per_s is None or 0 < rate.flops_per_s < flop_ceiling, cls
            assert rate.bytes_per_s is None or 0 < rate.bytes_per_s, cls
            assert rate.flops_per_s or rate.bytes_per_s, cls
            assert 0 <= rate.overhead_s < 1e-3, cls


class Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x


def test_cold_calls_each_copy_once_and_warm_calls_one_copy_after_warming_it() -> None:
    copies = [Counting() for _ in range(3)]
    x = torch.ones(4)
    cold, warm = _workloads(copies, (x,), CPU())
    assert cold.calls == warm.calls == 3
    cold.prepare()
    cold.run()
    assert [c.calls for c in copies] == [1, 1, 1]
    warm.prepare()
    assert copies[0].calls == 1 + WARM_UP_CALLS
    warm.run()
    assert [c.calls for c in copies] == [1 + WARM_UP_CALLS + 3, 1, 1]
    assert torch.equal(x, torch.ones(4)), "inputs are rewritten, not changed"


def test_the_tiny_stream_calls_distinct_layers_of_every_kind() -> None:
    work, size = _tiny_stream(CPU())
    assert work.calls == STREAM_REPEATS * len(tiny_layers())
    assert 0 < size < 4096
    work.run()


@pytest.fixture(scope="module")
def plan() -> Plan:
    with torch.no_grad():
        return Plan(CPU())


def test_fixed_costs_are_the_warm_ones_scaled_by_the_stream(plan: Plan) -> None:
    """A made-up set of timings: every tiny layer 10 us warm but a module call 4 us, the
    stream 1.5x their mean per call; every case 1 ms."""
    assert set(plan.sizes) == set(plan.works)
    warm = {kind: 4e-6 if kind == MODULE_CALL else 10e-6 for kind in tiny_layers()}
    mean = sum(warm.values()) / len(warm)
    seconds = {name: 1e-3 for name in plan.works}
    seconds.update({_tiny(kind): value for kind, value in warm.items()})
    seconds[STREAM] = 1.5 * mean
    seconds[BANDWIDTH] = plan.bandwidth.bytes / 10e9
    seconds[TOUCHED_PAGES] = 2e-3
    seconds[FRESH_PAGES] = 2e-3 + plan.pages.count * 1.5e-6
    runs = {name: [value] for name, value in seconds.items()}
    runs[SEQUENCE] = [0.1, 0.11, 0.12]  # fastest first
    fitted = plan.fit(runs)
    assert fitted.page_fault_s == pytest.approx(1.5e-6)
    assert fitted.typical_spread == pytest.approx(1.1)
    assert fitted.in_network_factor == pytest.approx(1.5)
    assert fitted.module_call_overhead_s == pytest.approx(6e-6)
    assert fitted.rate(KernelClass.CONV_1X1).overhead_s == pytest.approx(15e-6 - 6e-6)
    assert fitted.rate(KernelClass.CONV_1X1, warm=True).overhead_s == pytest.approx(10e-6 - 6e-6)
    assert fitted.bandwidth_bytes_per_s == pytest.approx(10e9)
    assert all(s.seconds == 1e-3 for s in fitted.samples)
    assert {s.warm for s in fitted.samples} == {False, True}


def test_in_place_cases_keep_their_values_normal_however_often_they_run() -> None:
    """Calibration calls a layer hundreds of times on one input: an in-place op that moved its
    values (SiLU halves small ones each call) would reach subnormal numbers, which run many
    times slower, and time those instead."""
    smallest_normal = torch.finfo(torch.float32).smallest_normal
    in_place = [case for case in cases() if case.kernel_class is KernelClass.ELEMENTWISE_INPLACE]
    assert {case.label.split()[0] for case in in_place} == {"relu_", "relu6_", "add_", "silu_"}
    for case in in_place:
        layer, inputs = case.layer(), case.inputs()
        for _ in range(300):
            layer(*inputs)
        values = inputs[0].abs()
        assert torch.isfinite(values).all(), case.label
        assert not ((values > 0) & (values < smallest_normal)).any(), case.label


def test_each_case_names_its_kernel_so_no_call_of_it_runs_just_before() -> None:
    works = _prepare(next(case for case in cases() if case.label == "relu_ 116@28"), CPU())[1]
    assert {work.kind for work in works.values()} == {"aten.relu_"}
