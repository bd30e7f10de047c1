"""How far two calibrations of this machine disagree, each run as a user runs it: `costlens
calibrate` in a fresh process.

    python benchmarks/bench_calibration.py [--processes 3] [--threads 1]

Per kernel class, the times each calibration's fit gives the calibration's own shapes, divided
by the first calibration's (the median over the class's shapes; a class's FLOP and byte rates
can trade places where both fit about equally, so one shape moves more than its class), and the
memory bandwidth and the effective peak beside them. Printed: each class's ratio for every
later process, and the farthest any two processes are apart.

Target: every class, the bandwidth and the peak within 20% between any two processes, and a
calibration in at most 90 s (exit 1 otherwise). The disagreement is the machine's: on the
2-core AMD EPYC (KVM) that builds this project, six processes on an idle machine agreed
within 10% on every class but one, while the copies (cat, channel shuffle, roll) moved by up
to 9% either way from process to process, each process steady within itself. That is why this
is a benchmark and not a test: on a machine shared with other jobs a class now and then moves
past 20% in one process.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

from costlens.latency.classes import PROFILED_CLASSES, KernelClass
from costlens.latency.profile import Profile, load_profile
from costlens.latency.roofline import roofline_seconds

AGREEMENT_LIMIT = 0.2
SECONDS_LIMIT = 90.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    if options.processes < 2:
        parser.error("--processes must be at least 2")
    profiles = _calibrations(options.processes, options.threads)
    figures = {cls.value: lambda p, q, cls=cls: _class_ratio(p, q, cls)
               for cls in PROFILED_CLASSES}
    figures["memory bandwidth"] = lambda p, q: p.bandwidth_bytes_per_s / q.bandwidth_bytes_per_s
    figures["peak"] = lambda p, q: _peak(q) / _peak(p)
    rows, farthest = [], 0.0
    for label, ratio in figures.items():
        later = [ratio(profiles[0], other) for other in profiles[1:]]
        apart = max(abs(ratio(p, q) - 1) for p, q in itertools.permutations(profiles, 2))
        farthest = max(farthest, apart)
        rows.append([label, *(f"{value:.3f}" for value in later), f"{apart:.1%}"])
    headers = ["against process 1", *(f"process {n}" for n in range(2, len(profiles) + 1)),
               "farthest apart"]
    print(f"{len(profiles)} calibrations at {options.threads} thread"
          f"{'s' if options.threads != 1 else ''}, each in a fresh process\n")
    print(tabulate(rows, headers=headers, disable_numparse=True))
    seconds = statistics.median(p.calibration_seconds for p in profiles)
    print(f"\ncalibration time: median {seconds:.1f} s")
    checks = {f"every figure within {AGREEMENT_LIMIT:.0%} between processes":
              farthest <= AGREEMENT_LIMIT,
              f"calibration in at most {SECONDS_LIMIT:.0f} s": seconds <= SECONDS_LIMIT}
    print()
    for label, holds in checks.items():
        print(f"{'ok  ' if holds else 'FAIL'} {label}")
    return 0 if all(checks.values()) else 1


def _calibrations(count: int, threads: int) -> list[Profile]:
    profiles = []
    with tempfile.TemporaryDirectory() as folder:
        for number in range(1, count + 1):
            profiles.append(calibrated_in_fresh_process(Path(folder) / f"cpu-{number}.json",
                                                        threads))
            print(f"calibration {number}: done", file=sys.stderr)
    return profiles


def calibrated_in_fresh_process(path: Path, threads: int) -> Profile:
    """`costlens calibrate` as a user runs it, in a process of its own, written to `path`."""
    subprocess.run([sys.executable, "-m", "costlens", "calibrate", "--threads", str(threads),
                    "-o", str(path)], check=True, capture_output=True)
    return load_profile(str(path))


def _class_ratio(first: Profile, second: Profile, cls: KernelClass) -> float:
    """The median over the class's cold shapes of the second fit's time over the first's."""
    return statistics.median(
        roofline_seconds(second, cls, s.flops, s.mac_bytes, s.parallelism)[0]
        / roofline_seconds(first, cls, s.flops, s.mac_bytes, s.parallelism)[0]
        for s in first.samples if s.kernel_class == cls and not s.warm)


def _peak(profile: Profile) -> float:
    """The device's effective peak: the highest throughput the fit gives a large,
    compute-heavy op (a GFLOP moving a MB) of a dense conv, 1x1 conv or matmul. Read off the
    fit rather than from one rate, since a class's FLOP and byte rates can trade places."""
    flops, nbytes = 10**9, 10**6
    return max(flops / (roofline_seconds(profile, cls, flops, nbytes, 10**6)[0]
                        - profile.rate(cls).overhead_s)
               for cls in (KernelClass.CONV_DENSE, KernelClass.CONV_1X1, KernelClass.MATMUL))


if __name__ == "__main__":
    sys.exit(main())
