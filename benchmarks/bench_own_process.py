"""The best-case estimate of every example network against the network timed in a process of its
own, as a user times a model: a check of bench_latency.py's measurement, which times all the
networks in one process, interleaved with calibration's workloads.

    python benchmarks/bench_own_process.py [--threads 1] [--repeat 50]

First `costlens calibrate --threads N` in a fresh process; then each network in a fresh process
of its own (measure/plain_run.py's forwards with freed memory kept, as the best case is
measured: REPEAT back-to-back forwards after its untimed warm-up, their lower quartile:
timing.best_of); then a second calibration. The machine's speed drifts over minutes, so the
estimate is taken on both profiles and their mean error is printed. Measures only;
bench_latency.py holds the targets.
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
from costlens.latency import estimate
from costlens.measure.stats import relative_errors
from costlens.measure.timing import best_of
from costlens.tracing.load import load, model_inputs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_calibration import calibrated_in_fresh_process  # noqa: E402
from bench_latency import NETWORKS, WITHIN_LIMIT  # noqa: E402

#: plain_run's forwards in a process that keeps freed memory.
_BEST_CASE_RUN = ("import sys\n"
                  "from costlens.measure.timing import keep_freed_memory\n"
                  "from costlens.measure.plain_run import main\n"
                  "keep_freed_memory()\n"
                  "sys.exit(main(sys.argv[1:]))\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=50)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        before = calibrated_in_fresh_process(Path(folder) / "before.json", options.threads)
        measured = {}
        for name, target in NETWORKS.items():
            measured[name] = _measured(str(EXAMPLES / target), options.threads, options.repeat)
            print(f"{name}: done", file=sys.stderr)
        after = calibrated_in_fresh_process(Path(folder) / "after.json", options.threads)
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


def _measured(target: str, threads: int, repeat: int) -> float:
    done = subprocess.run([sys.executable, "-c", _BEST_CASE_RUN, target, "--threads",
                           str(threads), "--repeat", str(repeat)],
                          capture_output=True, text=True, check=True, cwd="/")
    return best_of(json.loads(done.stdout.strip().splitlines()[-1])["runs"])


if __name__ == "__main__":
    main()
