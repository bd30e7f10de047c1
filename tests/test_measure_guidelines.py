"""`costlens guidelines` sets its estimate beside a best-case measurement, so the estimate must
be the best case too, whatever the profile holds."""
from __future__ import annotations

import pytest

from costlens import analyze
from costlens.latency import estimate, load_profile
from costlens.measure import guidelines
from costlens.measure.device import device_for

MEASURED_SECONDS = 0.001


def test_rows_are_estimated_in_the_case_they_are_measured_in(
        monkeypatch: pytest.MonkeyPatch) -> None:
    profile = load_profile("xeon-cpu-1t")
    assert profile.has_typical  # else both cases are one and the test proves nothing
    monkeypatch.setattr(guidelines, "interleaved",
                        lambda works, device, rounds: dict.fromkeys(works, MEASURED_SECONDS))
    rows, _ = guidelines.run_guidelines(profile, device_for("cpu"))
    factories = {label: factory for _, label, _, factory in guidelines.experiments("cpu")}
    assert {row.label for row in rows} == set(factories)
    for row in rows:
        model, x = factories[row.label]()
        analysis = analyze(model.eval(), x)
        best = estimate(analysis, profile, typical=False).seconds
        typical = estimate(analysis, profile).seconds
        assert row.measured_speed == pytest.approx(1 / MEASURED_SECONDS)
        assert row.estimated_speed == pytest.approx(1 / best)
        assert typical != pytest.approx(best)
