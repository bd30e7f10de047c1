"""Where in the user's code something happened: the line that called a module or issued an op
(the innermost stack frame that belongs neither to costlens nor to torch nor to the standard
library), and the line that constructed a module (`self.conv1 = nn.Conv2d(...)`)."""
from __future__ import annotations

import functools
import inspect
import os
import re
import sys
import sysconfig
from types import FrameType

import torch
from torch import nn

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
            return SourceLocation(display_path(frame.f_code.co_filename), frame.f_lineno)
        frame = frame.f_back
    return None


@functools.lru_cache(maxsize=None)
def _is_user_file(filename: str) -> bool:
    if filename.startswith(_LIBRARY_DIRS) or filename.startswith("<"):
        return False
    return not os.path.realpath(filename).startswith(_STDLIB_DIRS)


@functools.lru_cache(maxsize=None)
def display_path(filename: str) -> str:
    """Relative to the working directory when below it, so reports do not depend on where the
    checkout lives; absolute otherwise."""
    path = os.path.abspath(filename)
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def construction_site(model: nn.Module, path: str) -> SourceLocation | None:
    """Where user code assigned the module at `path`: the nearest ancestor whose class is the
    user's, and in its class (or a base class) the line `self.<attribute> = ...` that holds the
    module or the torch container it sits in. None when no such line is written out (a module
    added with setattr in a loop, a model built of torch containers only)."""
    if not path:
        return None
    parts = path.split(".")
    for depth in range(len(parts) - 1, -1, -1):
        owner = model.get_submodule(".".join(parts[:depth]))
        attribute = parts[depth]
        if not attribute.isidentifier():
            continue
        for cls in type(owner).__mro__:
            if cls is nn.Module or not issubclass(cls, nn.Module):
                break
            location = _assignment(cls, attribute)
            if location is not None:
                return location
    return None


@functools.lru_cache(maxsize=None)
def _assignment(cls: type, attribute: str) -> SourceLocation | None:
    try:
        filename = inspect.getsourcefile(cls)
        if filename is None or not _is_user_file(filename):
            return None
        lines, start = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return None
    pattern = re.compile(rf"\bself\.{re.escape(attribute)}\s*(:[^=]+)?=(?!=)")
    for offset, line in enumerate(lines):
        if pattern.search(line):
            return SourceLocation(display_path(filename), start + offset)
    return None
