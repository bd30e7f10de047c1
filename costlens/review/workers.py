"""Analysis of TARGETs in worker processes.

Each worker is a fresh interpreter (the "spawn" start method, whatever the platform's default),
so that it inherits no half-imported state, and the revision's side of a diff has one of its
own: two versions of one model's code never meet in one process's sys.modules. A worker may
analyze several of `compare`'s targets in turn, as one process does them all with `--jobs 1`.
A worker returns the report dict, or the failure as one line, so that one target's failure
is its own.
"""
from __future__ import annotations

import multiprocessing
import os
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Sequence

from ..errors import CostlensError, first_line
from .sources import Request, analyze_target

Outcome = dict[str, Any] | str  # a report dict, or what went wrong


def report_or_error(request: Request, debug: bool = False) -> Outcome:
    """The target's report dict, or its failure in one line: a CostlensError's message, any
    other exception as an internal error. Never raises, so a worker always answers; with
    `debug` the traceback goes to stderr first."""
    try:
        return analyze_target(request)
    except Exception as error:  # noqa: BLE001 - one target's failure, reported as a line
        if debug:
            traceback.print_exc()
        if isinstance(error, CostlensError):
            return str(error)
        return f"internal error: {type(error).__name__}: {first_line(error)}"


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """`workers` fresh interpreters that share the cores: each runs torch on its share of them
    rather than on all (a factory that initializes real weights runs torch kernels)."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_use_threads, initargs=(threads,))


def _use_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def outcome(future: Future[Outcome]) -> Outcome:
    """A worker's answer; a worker that died (killed, out of memory) as an internal error."""
    try:
        return future.result()
    except BrokenProcessPool as error:
        return f"internal error: the worker process died ({first_line(error)})"


def analyze_all(requests: Sequence[Request], jobs: int, debug: bool = False) -> list[Outcome]:
    """Every request's outcome, in the order given, on up to `jobs` worker processes. Where
    that would be one worker, the targets are analyzed here instead: a worker would only add
    its start (an interpreter and torch's import, about 2 s)."""
    workers = min(jobs, len(requests))
    if workers <= 1:
        return [report_or_error(request, debug) for request in requests]
    with worker_pool(workers) as pool:
        futures = [pool.submit(report_or_error, request, debug) for request in requests]
        return [outcome(future) for future in futures]
