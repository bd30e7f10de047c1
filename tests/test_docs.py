"""The documentation that is generated stays generated: docs/rules.md is what the rule
docstrings say, and the links between the README and docs/ resolve."""
from __future__ import annotations

import importlib.util
import json
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


def test_the_readme_names_the_report_keys_the_schema_defines() -> None:
    """The JSON paragraph names every top-level key, and model's and trace's keys as the
    schema spells them."""
    schema = json.loads((ROOT / "costlens" / "schemas" / "report.json").read_text())
    readme = " ".join((ROOT / "README.md").read_text().split())
    paragraph = readme.split("### JSON", 1)[1].split(" ## ", 1)[0]
    for key in schema["properties"]:
        assert f"`{key}`" in paragraph, key
    each_input = ", ".join(f"`{key}`" for key in
                           schema["properties"]["model"]["properties"]["inputs"]["items"]
                           ["properties"])
    model = ", ".join(f"`{key}`: each {each_input}" if key == "inputs" else f"`{key}`"
                      for key in schema["properties"]["model"]["properties"])
    assert f"`model` ({model})" in paragraph
    trace = ", ".join(f"`{key}`" for key in schema["properties"]["trace"]["properties"])
    assert f"`trace` ({trace})" in paragraph


def test_g1_states_that_output_layers_are_exempt_in_its_summary_and_documentation() -> None:
    from costlens.linting.rulebook import all_rules
    g1 = all_rules()["G1"]
    assert "output heads aside" in g1.summary()
    assert "Layers that only make the model's output" in g1.documentation()
    assert f"| {g1.summary()}" in " ".join((ROOT / "README.md").read_text().split())
