"""Where in the user's code something happened: the innermost stack frame that belongs neither
to costlens nor to torch nor to the standard library."""
from __future__ import annotations

import functools
import os
import sys
import sysconfig
from types import FrameType

import torch

from .graph import SourceLocation

_LIBRARY_DIRS = (os.path.dirname(os.path.abspath(__file__)) + os.sep,
                 os.path.dirname(torch.__file__) + os.sep)
_STDLIB_DIRS = tuple({os.path.realpath(sysconfig.get_paths()[key]) + os.sep
                      for key in ("stdlib", "platstdlib")})

# Frames of these functions mark where tracing began: nothing above them is the model's.
_BOUNDARIES: set[object] = set()


def boundary(function):  # type: ignore[no-untyped-def]
    """Mark `function` as the place tracing enters the model; returns it unchanged."""
    _BOUNDARIES.add(function.__code__)
    return function


def user_location() -> SourceLocation | None:
    """The innermost line of user code on the stack, or None when the stack reaches a boundary
    first (the call of the model itself has no user line)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code not in _BOUNDARIES:
        if _is_user_file(frame.f_code.co_filename):
            return SourceLocation(_display_path(frame.f_code.co_filename), frame.f_lineno)
        frame = frame.f_back
    return None


@functools.lru_cache(maxsize=None)
def _is_user_file(filename: str) -> bool:
    if filename.startswith(_LIBRARY_DIRS) or filename.startswith("<"):
        return False
    return not os.path.realpath(filename).startswith(_STDLIB_DIRS)


@functools.lru_cache(maxsize=None)
def _display_path(filename: str) -> str:
    """Relative to the working directory when below it, so reports do not depend on where the
    checkout lives; absolute otherwise."""
    path = os.path.abspath(filename)
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative
