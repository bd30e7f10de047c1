"""The sides of a diff and the rows of a comparison, from what the command line names: JSON
reports read here, TARGETs analyzed here or in worker processes, a TARGET at a git revision
analyzed in a worker from the revision's files."""
from __future__ import annotations

import dataclasses
from typing import Sequence

from ..errors import CostlensError
from .revision import checked_out
from .sources import (
    Request,
    Side,
    analyze_target,
    check_estimate,
    check_versions,
    is_report,
    labelled,
    read_report,
)
from .workers import Outcome, analyze_all, outcome, report_or_error, worker_pool


def diff_sides(base: str, new: str, request: Request, debug: bool = False) -> tuple[Side, Side]:
    """BASE and NEW, each a TARGET or a JSON report. Two TARGETs: BASE is analyzed in a worker
    process while NEW is analyzed here, so that two versions of one model's code (`old/net.py`
    beside `net.py`, importing a `blocks.py` each) never share a process."""
    reports = [read_report(text) for text in (base, new) if is_report(text)]
    check_versions(reports)
    if request.profile is not None:
        for side in reports:
            check_estimate(side, request.profile, request.fuse)
    read = {side.label: side for side in reports}
    if base in read or new in read:
        return (read.get(base) or _analyzed_here(dataclasses.replace(request, target=base)),
                read.get(new) or _analyzed_here(dataclasses.replace(request, target=new)))
    with worker_pool(1) as pool:
        future = pool.submit(report_or_error, dataclasses.replace(request, target=base), debug)
        now = _analyzed_here(dataclasses.replace(request, target=new))
        return _side(base, outcome(future)), now


def revision_sides(target: str, revision: str, request: Request,
                   debug: bool = False) -> tuple[Side, Side]:
    """TARGET at REV (analyzed in a worker from the revision's files) and TARGET as the code
    stands (analyzed here, meanwhile)."""
    with checked_out(revision) as tree:
        with worker_pool(1) as pool:
            future = pool.submit(report_or_error,
                                 dataclasses.replace(request, target=target, tree=tree), debug)
            now = _analyzed_here(dataclasses.replace(request, target=target),
                                 f"{target} (working tree)")
            return _side(f"{target} at {tree.label}", outcome(future)), now


def compare_sides(texts: Sequence[str], request: Request, jobs: int,
                  debug: bool = False) -> list[Side | str]:
    """Each target's side, or its failure in one line, in the order given; the TARGETs on up
    to `jobs` worker processes."""
    requests = [dataclasses.replace(request, target=text) for text in texts
                if not is_report(text)]
    outcomes = iter(analyze_all(requests, jobs, debug))
    found: list[Side | str] = []
    for text in texts:
        if is_report(text):
            found.append(_checked_report(text, request))
            continue
        result = next(outcomes)
        found.append(Side(text, result) if isinstance(result, dict) else labelled(text, result))
    return found


def _checked_report(text: str, request: Request) -> Side | str:
    try:
        side = read_report(text)
        check_versions([side])
        if request.profile is not None:
            check_estimate(side, request.profile, request.fuse)
    except CostlensError as error:
        return labelled(text, str(error))
    return side


def _analyzed_here(request: Request, label: str | None = None) -> Side:
    label = label or request.target
    try:
        return Side(label, analyze_target(request))
    except CostlensError as error:
        raise CostlensError(labelled(label, str(error))) from error


def _side(label: str, result: Outcome) -> Side:
    if isinstance(result, str):
        raise CostlensError(labelled(label, result))
    return Side(label, result)
