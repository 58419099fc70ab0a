"""The layers go one way (docs: DESIGN.md): nothing imports run_sim.py, and sim knows nothing
of agents or scoring. Checked in the source (ast) and by importing every library module."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("agents", "scoring", "sim", "perception", "scenarios", "benchmarks")


def library_files():
    files = [p for package in LIBRARY for p in sorted((ROOT / package).rglob("*.py"))]
    assert len(files) > 40, "the library packages were not found"
    return files


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement in `path` names, at any depth (lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_import_scan_sees_lazy_imports(tmp_path):
    """The check below can fail: a function-level import of run_sim is found."""
    file = tmp_path / "m.py"
    file.write_text("def f():\n    import run_sim\n    from run_sim import main\n")
    assert imported_modules(file) == {"run_sim"}


def test_no_library_module_imports_run_sim():
    offenders = [str(p.relative_to(ROOT)) for p in library_files()
                 if any(name.split(".")[0] == "run_sim" for name in imported_modules(p))]
    assert offenders == []


def test_sim_imports_neither_agents_nor_scoring():
    offenders = [f"{p.relative_to(ROOT)}: {name}" for p in sorted((ROOT / "sim").rglob("*.py"))
                 for name in imported_modules(p) if name.split(".")[0] in ("agents", "scoring")]
    assert offenders == []


def test_importing_every_library_module_leaves_run_sim_unimported():
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in library_files()]
    script = ("import importlib, json, sys\n"
              f"for name in {modules!r}:\n"
              "    importlib.import_module(name)\n"
              "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'run_sim')))\n")
    env = os.environ | {"PYTHONPATH": str(ROOT), "SDL_VIDEODRIVER": "offscreen"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
