"""The README's tables are generated from their sources (docs/make_readme_tables.py): a README
whose figures differ from the catalog, docs/zoo.md or benchmarks/*.json fails here."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("make_readme_tables", ROOT / "docs" / "make_readme_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readmes_generated_tables_are_their_sources(tables):
    _, changed = tables.regenerate((ROOT / "README.md").read_text(encoding="utf-8"))
    assert changed == [], f"stale README blocks {changed}: run python docs/make_readme_tables.py"


def test_a_figure_edited_by_hand_is_found(tables):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = tables.pattern("standing").search(text)
    tampered = text[:block.start(2)] + block.group(2).replace("| idm | 0.", "| idm | 9.", 1) + text[block.end(2):]
    assert tampered != text
    assert tables.regenerate(tampered)[1] == ["standing"]


def test_every_benchmark_script_is_listed(tables):
    listed = tables.benchmarks_block()
    assert all(f"benchmarks/{p.name}" in listed for p in (ROOT / "benchmarks").glob("*.py"))
