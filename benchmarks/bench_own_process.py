"""The best-case estimate of every example network against the network timed in a process of its
own, as a user times a model: a check of bench_latency.py's measurement, which times all the
networks in one process, interleaved with calibration's workloads.

    python benchmarks/bench_own_process.py [--threads 1] [--seconds 6]

First `costlens calibrate --threads N` in a fresh process; then each network in a fresh process
of its own (freed memory kept, as the best case is measured; WARM_UP untimed forwards, then
back-to-back forwards for SECONDS, at least RUNS, their lower quartile: timing.best_of); then a
second calibration. The machine's speed drifts over minutes, so the estimate is taken on both
profiles and their mean error is printed. Measures only; bench_latency.py holds the targets.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

from costlens import analyze
from costlens.latency import Profile, estimate, load_profile
from costlens.measure.stats import relative_errors
from costlens.tracing.load import load, model_inputs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_latency import NETWORKS, WITHIN_LIMIT  # noqa: E402

WARM_UP, RUNS = 3, 25

_TIME = f"""
import json, sys, time, torch
from costlens.measure.timing import best_of, keep_freed_memory
from costlens.tracing.load import load, model_inputs
keep_freed_memory()
torch.set_num_threads(int(sys.argv[2]))
loaded = load(sys.argv[1])
model, inputs = loaded.model.eval(), model_inputs(loaded, [], None)
times = []
with torch.no_grad():
    for _ in range({WARM_UP}):
        model(*inputs.args, **inputs.kwargs)
    until = time.perf_counter() + float(sys.argv[3])
    while len(times) < {RUNS} or time.perf_counter() < until:
        started = time.perf_counter()
        model(*inputs.args, **inputs.kwargs)
        times.append(time.perf_counter() - started)
print(json.dumps(best_of(times)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=6.0)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        before = _calibration(Path(folder) / "before.json", options.threads)
        measured = {}
        for name, target in NETWORKS.items():
            measured[name] = _measured(str(EXAMPLES / target), options.threads, options.seconds)
            print(f"{name}: done", file=sys.stderr)
        after = _calibration(Path(folder) / "after.json", options.threads)
    rows, errors = [], []
    for name, target in NETWORKS.items():
        loaded = load(str(EXAMPLES / target))
        analysis = analyze(loaded.model.eval(), model_inputs(loaded, [], None))
        estimates = [estimate(analysis, profile, typical=False).seconds
                     for profile in (before, after)]
        error = statistics.fmean(relative_errors(estimates, [measured[name]] * 2))
        errors.append(abs(error))
        rows.append([name, f"{1e3 * measured[name]:.2f}",
                     *(f"{1e3 * seconds:.2f}" for seconds in estimates), f"{error:+.1%}"])
    print(f"{options.threads} thread{'s' if options.threads != 1 else ''}, batch 1, each "
          f"network in a process of its own\n")
    print(tabulate(rows, headers=["network", "measured ms", "estimate ms (calibration before)",
                                  "(after)", "mean error"],
                   disable_numparse=True, colalign=("left", "right", "right", "right", "right")))
    print(f"\nmedian |error| {statistics.median(errors):.1%}, within {WITHIN_LIMIT:.0%}: "
          f"{sum(e <= WITHIN_LIMIT for e in errors) / len(errors):.0%}, "
          f"worst {max(errors):.1%}")


def _calibration(path: Path, threads: int) -> Profile:
    subprocess.run([sys.executable, "-m", "costlens", "calibrate", "--threads", str(threads),
                    "-o", str(path)], check=True, capture_output=True)
    return load_profile(str(path))


def _measured(target: str, threads: int, seconds: float) -> float:
    done = subprocess.run([sys.executable, "-c", _TIME, target, str(threads), str(seconds)],
                          capture_output=True, text=True, check=True, cwd="/")
    return json.loads(done.stdout)


if __name__ == "__main__":
    main()
