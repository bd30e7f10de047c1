"""Calibration: every micro-benchmark measures one op of its class, the fit recovers known
rates, and two calibrations of this machine agree (within 20%) on what they predict."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import CEILINGS, made_up_profile

from costlens.api import analyze
from costlens.platforms.calibrate import calibrate, cases, fit_rates
from costlens.platforms.classes import kernel_class
from costlens.platforms.estimate import op_seconds, roofline_seconds
from costlens.platforms.profile import KERNEL_CLASSES, Profile, Sample


def test_every_case_runs_exactly_one_op_of_its_class_and_every_class_has_cases() -> None:
    seen = set()
    for case in cases():
        analysis = analyze(case.layer(), case.inputs())
        classes = [kernel_class(node, op.category)
                   for node, op in zip(analysis.graph.nodes, analysis.ops)]
        assert classes.count(case.kernel_class) == 1, case.label
        seen.add(case.kernel_class)
    assert seen == set(KERNEL_CLASSES)


def test_the_fit_recovers_the_rates_that_made_the_samples() -> None:
    truth = made_up_profile(rates={**made_up_profile().rates})
    true_rates = dataclasses.replace(truth.rates["conv_1x1"], flops_per_s=40e9, bytes_per_s=8e9)
    truth = dataclasses.replace(truth, rates={**truth.rates, "conv_1x1": true_rates},
                                cache_bytes=10**9)
    samples = []
    for flops, nbytes in [(10**6, 10**5), (10**7, 10**5), (10**8, 10**6), (10**6, 10**6),
                          (10**5, 10**6), (10**9, 10**7)]:
        seconds = op_seconds(truth, "conv_1x1", flops, nbytes, 10**6)[0]
        samples.append(Sample("conv_1x1", "", flops, nbytes, 10**6, seconds))
    flop_rate, byte_rate = fit_rates(truth, samples, fixed_s=1e-6)
    assert flop_rate == pytest.approx(40e9, rel=0.05)
    assert byte_rate == pytest.approx(8e9, rel=0.05)


def test_a_rate_that_never_binds_is_left_unset() -> None:
    device = made_up_profile(cache_bytes=10**9)
    samples = [Sample("elementwise", "", 0, nbytes, nbytes, 1e-6 + nbytes / 20e9)
               for nbytes in (10**4, 10**5, 10**6, 10**7)]
    flop_rate, byte_rate = fit_rates(device, samples, fixed_s=1e-6)
    assert flop_rate is None
    assert byte_rate == pytest.approx(20e9, rel=0.05)


#: Ops of each kind at sizes the example networks use: (class, FLOPs, MAC bytes, parallelism).
REFERENCE_OPS = [
    ("conv_dense", 115_605_504, 1_070_080, 200_704),  # 3x3 128->128 on 28x28
    ("conv_1x1", 12_845_056, 1_089_536, 200_704),     # 1x1 64->64 on 56x56
    ("conv_depthwise", 409_248, 366_000, 45_472),     # 3x3 depthwise 58 on 28x28
    ("matmul", 16_777_216, 1_572_864, 32_768),        # 128 tokens x 512 -> 512
    ("elementwise", 200_704, 1_605_632, 200_704),      # ReLU on 64x56x56
    ("normalization", 401_408, 1_606_144, 200_704),   # batch norm on 64x56x56
]


@pytest.fixture(scope="module")
def two_calibrations() -> tuple:
    return calibrate("cpu", 1), calibrate("cpu", 1)


def test_calibration_is_physically_sensible(two_calibrations: tuple) -> None:
    flop_ceiling, byte_ceiling = CEILINGS["cpu"]
    for fitted in two_calibrations:
        assert fitted.threads == 1 and fitted.device == "cpu"
        assert 0 < fitted.bandwidth_bytes_per_s < byte_ceiling
        assert 0 < peak(fitted) < flop_ceiling
        for cls, rate in fitted.rates.items():
            assert rate.flops_per_s is None or 0 < rate.flops_per_s < flop_ceiling, cls
            assert 0 <= rate.overhead_s < 1e-3, cls
        assert fitted.calibration_seconds < 90
    assert torch.get_num_threads() >= 1  # the thread setting was restored


def peak(profile: Profile) -> float:
    """The device's effective peak: the highest throughput the fit gives a large,
    compute-heavy op (a GFLOP moving a MB) of a dense conv, 1x1 conv or matmul. Read off the
    fit rather than from one rate, since a class's FLOP and byte rates can trade places."""
    flops, nbytes = 10**9, 10**6
    return max(flops / (roofline_seconds(profile, cls, flops, nbytes, 10**6)[0]
                        - profile.rate(cls).overhead_s)
               for cls in ("conv_dense", "conv_1x1", "matmul"))


def test_two_calibrations_agree_within_20_percent(two_calibrations: tuple) -> None:
    """Bandwidth, peak and the roofline times of typical ops: the fitted parameters. Single
    class rates may trade against each other (a class's FLOP rate against its byte rate) where
    both fit the samples about equally, so the times they give together must hold still. (The
    size correction on top reads single samples, noise included, and is not a fitted figure.)
    """
    first, second = two_calibrations
    assert second.bandwidth_bytes_per_s == pytest.approx(first.bandwidth_bytes_per_s, rel=0.2)
    assert peak(second) == pytest.approx(peak(first), rel=0.2)
    for cls, flops, nbytes, parallelism in REFERENCE_OPS:
        assert roofline_seconds(second, cls, flops, nbytes, parallelism)[0] == pytest.approx(
            roofline_seconds(first, cls, flops, nbytes, parallelism)[0], rel=0.2), cls
