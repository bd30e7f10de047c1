"""The page faults per forward the typical case assumes (latency/allocator.py) beside what the
kernel counts in plain processes, for every example network at batch 1.

    python benchmarks/bench_page_faults.py [--processes 3] [--threads 1]

Each network runs in PROCESSES fresh plain Python processes (glibc's default allocator, as
measure/plain_run.py runs a typical case): WARM_UP untimed forwards, then the median of
COUNTED forwards' minor page faults (getrusage). The count moves with what a process did
before, so the lowest and highest of the processes are printed beside the simulated count.
Measures only; no target.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from tabulate import tabulate

from costlens import analyze
from costlens.latency.allocator import faulted_pages
from costlens.tracing.load import load, model_inputs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_latency import NETWORKS  # noqa: E402

WARM_UP, COUNTED = 3, 5

_COUNT = f"""
import json, resource, statistics, sys, torch
from costlens.tracing.load import load, model_inputs
torch.set_num_threads(int(sys.argv[2]))
loaded = load(sys.argv[1])
model, inputs = loaded.model.eval(), model_inputs(loaded, [], None)
counts = []
with torch.no_grad():
    for run in range({WARM_UP + COUNTED}):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        model(*inputs.args, **inputs.kwargs)
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(statistics.median(counts[{WARM_UP}:])))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    rows = []
    for name, target in NETWORKS.items():
        path = str(EXAMPLES / target)
        loaded = load(path)
        simulated = sum(faulted_pages(analyze(loaded.model, model_inputs(loaded, [], None))))
        counts = [_measured(path, options.threads) for _ in range(options.processes)]
        rows.append([name, f"{simulated:,}", f"{min(counts):,.0f}", f"{max(counts):,.0f}"])
        print(f"{name}: done", file=sys.stderr)
    print(tabulate(rows, headers=["network (batch 1)", "simulated", "measured, lowest",
                                  "measured, highest"], disable_numparse=True,
                   colalign=("left", "right", "right", "right")))


def _measured(target: str, threads: int) -> float:
    done = subprocess.run([sys.executable, "-c", _COUNT, target, str(threads)],
                          capture_output=True, text=True, check=True, cwd="/")
    return json.loads(done.stdout)


if __name__ == "__main__":
    main()
