"""The one exception type users see: a problem with what they asked for, not a bug in costlens.

The command line prints it as one line and exits 2; anything else escaping is a bug and keeps its
traceback under `--debug`.
"""
from __future__ import annotations


class CostlensError(Exception):
    """A bad target, input, option or model; the message says what, where and what to do."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message: enough to say what failed in one line."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
