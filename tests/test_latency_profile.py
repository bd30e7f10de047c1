"""Platform profiles: the file format, the built-in profiles, and that their figures make
physical sense for the devices they describe."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import CEILINGS

from costlens.errors import CostlensError
from costlens.latency.classes import PROFILED_CLASSES, KernelClass
from costlens.latency.profile import FORMAT, Profile, builtin_profiles, load_profile
from costlens.latency.roofline import op_seconds

SCHEMA = json.loads((Path(__file__).parent.parent / "costlens" / "schemas" /
                     "platform.json").read_text())


def test_builtin_profiles_load_and_round_trip() -> None:
    names = builtin_profiles()
    assert {"epyc-cpu-1t", "h200-cuda"} <= set(names)
    for name, path in names.items():
        profile = load_profile(name)
        assert profile.name == name
        assert Profile.from_dict(json.loads(profile.to_json())) == profile
        assert json.loads(path.read_text())["format"] == FORMAT
        # a class added since a profile was calibrated is priced by the class before it
        assert {cls for cls in PROFILED_CLASSES if cls.older is None} <= set(profile.rates)
        assert all(profile.priced_as(cls) in profile.rates for cls in PROFILED_CLASSES)
        assert profile.samples, "the samples a profile was fitted on travel with it"
        assert profile.method, "how it was calibrated is said in the profile"


@pytest.mark.parametrize("name", sorted(builtin_profiles()))
def test_builtin_profiles_follow_the_schema_one_sample_per_line(name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    text = builtin_profiles()[name].read_text()
    document = json.loads(text)
    jsonschema.validate(document, SCHEMA)
    # one line per rate and per sample, a few more for the scalars and brackets
    assert len(text.splitlines()) < 2 * len(PROFILED_CLASSES) + len(document["samples"]) + 40


@pytest.mark.parametrize("name", sorted(builtin_profiles()))
def test_builtin_profiles_are_physically_sensible(name: str) -> None:
    profile = load_profile(name)
    flop_ceiling, byte_ceiling = CEILINGS[profile.device]
    flop_ceiling *= profile.threads if profile.device == "cpu" else 1
    assert 0 < profile.bandwidth_bytes_per_s < byte_ceiling
    for cls, rate in profile.rates.items():
        assert rate.flops_per_s is None or 0 < rate.flops_per_s < flop_ceiling, cls
        assert rate.bytes_per_s is None or 0 < rate.bytes_per_s < 20 * byte_ceiling, cls
        assert 0 <= rate.overhead_s < 1e-3, cls
    assert 0 < profile.module_call_overhead_s < 1e-4
    assert 1 <= profile.in_network_factor < 5


def test_a_profile_file_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(load_profile("epyc-cpu-1t").to_json())
    assert load_profile(str(path)).name == "epyc-cpu-1t"


@pytest.mark.parametrize("content, message", [
    (None, "no platform profile"),
    ("{", "is not JSON"),
    ('{"format": "other"}', "not a costlens platform profile"),
    ("[1, 2]", "not a costlens platform profile"),
    ('{"format": "costlens-platform/1", "rates": {}}',
     "is costlens-platform/1, an older format .* recalibrate with `costlens calibrate`"),
    ('{"format": "costlens-platform/2", "rates": {}}', "malformed"),
])
def test_bad_profiles_are_one_line_errors(tmp_path: Path, content: str | None,
                                          message: str) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CostlensError, match=message) as error:
        load_profile(str(path))
    assert "\n" not in str(error.value)


def test_a_profile_without_the_in_place_class_prices_it_as_the_out_of_place_one() -> None:
    profile = load_profile("epyc-cpu-1t")
    assert KernelClass.ELEMENTWISE_INPLACE not in profile.rates
    assert profile.priced_as(KernelClass.ELEMENTWISE_INPLACE) is KernelClass.ELEMENTWISE
    assert op_seconds(profile, KernelClass.ELEMENTWISE_INPLACE, 10_000, 80_000, 10_000,
                      features=(0.3, 0.0)) == op_seconds(
        profile, KernelClass.ELEMENTWISE, 10_000, 80_000, 10_000, features=(0.3, 0.0))
