"""The --format names of `diff` and `compare` and the function that writes each."""
from __future__ import annotations

from typing import Callable

from . import compare_html, compare_render, diff_html, diff_render
from .compare import Comparison
from .diff import Diff

DIFF_RENDERERS: dict[str, Callable[[Diff, int], str]] = {
    "table": diff_render.render_table, "markdown": diff_render.render_markdown,
    "json": diff_render.render_json, "html": diff_html.render_html}
COMPARE_RENDERERS: dict[str, Callable[[Comparison], str]] = {
    "table": compare_render.render_table, "markdown": compare_render.render_markdown,
    "json": compare_render.render_json, "csv": compare_render.render_csv,
    "html": compare_html.render_html}
DIFF_FORMATS = tuple(DIFF_RENDERERS)
COMPARE_FORMATS = tuple(COMPARE_RENDERERS)
