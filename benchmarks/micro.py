"""The start every micro-benchmark script shares, so their timings are taken alike: a
``--threads N`` option (default 1), freed memory kept (no page faults in a timing) and a fixed
seed (the same random tensors on every run)."""
from __future__ import annotations

import argparse

import torch

from costlens.measure.timing import keep_freed_memory


def start(doc: str) -> int:
    """Parse the command line of the script documented by `doc`; the thread count it asks for."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, metavar="N")
    options = parser.parse_args()
    keep_freed_memory()
    torch.manual_seed(0)
    return options.threads
