"""docs/architecture.md names modules and the functions in them ("sim/env.py wrap_engine_env"):
each must still exist, so that a rename or a move cannot leave the newcomer's map pointing nowhere."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# a repository path to a .py file, optionally followed by a name defined in it
REFERENCE = re.compile(r"\b((?:[a-z_]+/)*[a-z_]+\.py)(?: +([A-Za-z_]\w*))?")


def references(text: str) -> list[tuple[str, str | None]]:
    return [(path, name) for path, name in REFERENCE.findall(text)]


def test_the_reference_scan_finds_paths_and_names():
    found = references("`sim/env.py wrap_engine_env` and run_sim.py (no --train), agents/dqn.py.")
    assert found == [("sim/env.py", "wrap_engine_env"), ("run_sim.py", ""), ("agents/dqn.py", "")]


def test_every_module_and_name_the_architecture_doc_cites_exists():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for path, name in references(text):
        file = ROOT / path
        if not file.is_file():
            missing.append(path)
        elif name and name[0].isupper() or name and "_" in name:  # a class or a function, not a plain word
            if not re.search(rf"^\s*(?:def|class) {name}\b|^{name} = ", file.read_text(encoding="utf-8"), re.M):
                missing.append(f"{path} {name}")
    assert len(references(text)) > 40
    assert missing == []
