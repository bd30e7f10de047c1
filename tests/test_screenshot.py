"""docs/make_screenshot.py, which renders the README's picture of the HTML report, works."""
from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

from browser import require_chromium
from helpers import ROOT


def test_the_screenshot_script_renders_a_picture(tmp_path: Path) -> None:
    require_chromium()
    spec = importlib.util.spec_from_file_location("make_screenshot",
                                                  ROOT / "docs" / "make_screenshot.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    picture = tmp_path / "report.png"
    script.render(picture, full=False)
    header = picture.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (script.WIDTH, script.HEIGHT)
