"""The documentation that is generated stays generated: docs/rules.md is what the rule
docstrings say, and the links between the README and docs/ resolve."""
from __future__ import annotations

import importlib.util
import re

from helpers import ROOT


def _generator():
    spec = importlib.util.spec_from_file_location("make_rules_reference",
                                                  ROOT / "docs" / "make_rules_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_rules_reference_is_current() -> None:
    generator = _generator()
    assert generator.REFERENCE.read_text(encoding="utf-8") == generator.render(), \
        "run: python docs/make_rules_reference.py"


def test_every_rule_is_in_the_reference_with_its_headings() -> None:
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    for code in ("B1", "B2", "B3", "G1", "G2", "G3", "G4"):
        section = text.split(f"\n## {code} ", 1)[1].split("\n## ", 1)[0]
        for heading in ("What it does", "Why is this bad", "Example", "Use instead", "Options"):
            assert f"\n### {heading}\n" in section, (code, heading)


def test_relative_links_in_the_docs_resolve() -> None:
    checked = 0
    for document in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", document.read_text()):
            assert (document.parent / target).exists(), (document.name, target)
            checked += 1
    assert checked >= 8  # the README links to docs/ and the schemas, docs/ to each other
