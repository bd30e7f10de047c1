"""Time work as a user times it: in a plain Python process, the median of repeated runs.

Calibration and bench's per-op timing take the lower quartile of many interleaved runs in a
process that keeps freed memory (timing.keep_freed_memory): the best case, steady and
repeatable. A user's script runs with glibc's default malloc, which hands freed memory back
to the system and faults it in again forward after forward, and quotes a median: the example
networks ran 2-33% slower so on this project's Xeon build machine (one thread). So the
typical case is measured where it happens, in a child process that changes nothing about
the allocator:

    python -m costlens.measure.plain_run TARGET [--input SHAPE ...] [--dtype D]
        [--trust-pickle] --threads N --repeat R

times a model's forward (eval, no_grad) and prints one JSON line, {"runs": the time of each
forward}, after WARM_UP untimed ones. typical_runs() starts such a child.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Callable, Sequence

from ..errors import CostlensError

WARM_UP = 3


def typical_seconds(arguments: Sequence[str], threads: int, repeat: int) -> float:
    """The median time of `repeat` forwards in a plain child process (see typical_runs)."""
    return statistics.median(typical_runs(arguments, threads, repeat))


def typical_runs(arguments: Sequence[str], threads: int, repeat: int) -> list[float]:
    """The times of `repeat` forwards in a plain child process (arguments: the TARGET and its
    input options), in this working directory, so a relative target resolves as here."""
    command = [sys.executable, "-m", __name__, *arguments, "--threads", str(threads),
               "--repeat", str(repeat)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise CostlensError(f"the plain-process run failed: {lines[-1] if lines else done}")
    return [float(seconds) for seconds in json.loads(done.stdout.strip().splitlines()[-1])["runs"]]


def _times(forward: Callable[[], object], repeat: int) -> list[float]:
    """The times of `repeat` forwards after WARM_UP untimed ones (the steady state)."""
    for _ in range(WARM_UP):
        forward()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        forward()
        times.append(time.perf_counter() - start)
    return times


def _forward(options: argparse.Namespace) -> Callable[[], object]:
    from ..tracing.load import load, model_dtype, model_inputs

    loaded = load(options.target, trust_pickle=options.trust_pickle)
    inputs = model_inputs(loaded, options.input, options.dtype)
    model = loaded.model.eval().to(dtype=model_dtype(options.dtype))
    return lambda: model(*inputs.args, **inputs.kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m costlens.measure.plain_run")
    parser.add_argument("target")
    parser.add_argument("--input", action="append", default=[])
    parser.add_argument("--dtype")
    parser.add_argument("--trust-pickle", action="store_true")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--repeat", type=int, required=True)
    options = parser.parse_args(argv)
    import torch
    torch.set_num_threads(options.threads)
    with torch.no_grad():
        runs = _times(_forward(options), options.repeat)
    print(json.dumps({"runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
