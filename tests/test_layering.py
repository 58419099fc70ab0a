"""The layers go one way (docs/architecture.md, "Layers"): scenarios < sim < perception < agents
< scoring < benchmarks < run_sim.py, each importing only those before it but for the declared
exceptions (UPWARD: sim -> perception inside functions, perception.collect -> agents, the zoo tool
-> scoring); scenarios imports neither torch nor pygame (nor highway-env's drawing); nothing imports
run_sim.py. Checked in the source (an ast scan of every module at any depth, lazy imports included)
and by importing the packages in a fresh interpreter and reading sys.modules (which also sees
imports the scan cannot: scenarios imports highway-env's env classes by name with __import__)."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("agents", "scoring", "sim", "perception", "scenarios", "benchmarks")
# Lowest first: a package may import the ones before it. run_sim.py is a file, not a package.
LAYERS = ("scenarios", "sim", "perception", "agents", "scoring", "benchmarks", "run_sim")
# The imports that go up a layer, each declared in docs/architecture.md: (file, package it imports).
UPWARD = {
    ("sim/env.py", "perception"),  # make_env(obs="features"): the encoder, imported inside the function
    ("sim/vector.py", "perception"),  # make_vec_env(obs="features"): the same, batched across workers
    ("sim/viewer.py", "perception"),  # encoder_perception: the viewer's perception overlay
    ("perception/collect.py", "agents"),  # data collection drives with the rule-based baselines
    ("agents/zoo.py", "scoring"),  # the zoo tool is an application on top: it scores the zoo
    ("agents/zoo_report.py", "scoring"),
    ("agents/zoo_queue.py", "scoring"),  # its training queue runs on the suites' Ray backend
}
# What scenarios must not pull in: torch (and stable-baselines3, which imports it), pygame, and
# highway-env's drawing modules. It may import highway-env's env classes to validate a config.
HEAVY = ("torch", "stable_baselines3", "pygame", "highway_env.envs.common.graphics", "highway_env.road.graphics",
         "highway_env.vehicle.graphics")


def library_files():
    files = [p for package in LIBRARY for p in sorted((ROOT / package).rglob("*.py"))]
    assert len(files) > 40, "the library packages were not found"
    return files


def imported_modules(path: Path, top_level: bool = False) -> set[str]:
    """Every module an import statement in `path` names, at any depth (lazy imports included), or
    with top_level only those run when the module is imported (not inside a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    nodes, names = list(tree.body) if top_level else list(ast.walk(tree)), set()
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif top_level and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            nodes += ast.iter_child_nodes(node)  # if/try/with/class bodies run at import time
    return names


def under(name: str, prefixes) -> bool:
    """Whether module `name` is one of `prefixes` or inside one of them (torch.nn is under torch)."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def package_files(package: str, root: Path = ROOT) -> list[Path]:
    files = sorted((root / package).rglob("*.py")) if (root / package).is_dir() else [root / f"{package}.py"]
    assert files and files[0].exists(), f"{package} not found under {root}"
    return files


def offenders(package: str, forbidden, root: Path = ROOT, top_level: bool = False) -> list[str]:
    """'file: module' for each import in `package` (every module at any depth) of a module under `forbidden`."""
    return [f"{p.relative_to(root).as_posix()}: {name}" for p in package_files(package, root)
            for name in sorted(imported_modules(p, top_level)) if under(name, forbidden)]


def upward_imports(package: str, root: Path = ROOT) -> list[str]:
    """Imports in `package` of a layer above it that UPWARD does not declare."""
    above = LAYERS[LAYERS.index(package) + 1:]
    return [hit for hit in offenders(package, above, root)
            if (hit.split(": ")[0], hit.split(": ")[1].split(".")[0]) not in UPWARD]


def test_the_import_scan_sees_lazy_imports(tmp_path):
    """The check below can fail: a function-level import of run_sim is found."""
    file = tmp_path / "m.py"
    file.write_text("def f():\n    import run_sim\n    from run_sim import main\n")
    assert imported_modules(file) == {"run_sim"}


def test_each_layering_check_can_fail(tmp_path):
    """The checks below on a made-up tree that breaks each rule: every break is found, at any depth."""
    files = {
        "scenarios/deep/er/m.py": "def f():\n    import torch.nn\n    from highway_env.road.graphics import x\n",
        "scenarios/n.py": "try:\n    from sim.env import make_env\nexcept ImportError:\n    pass\n",
        "sim/env.py": "from perception.features import x\n",  # a declared exception, but at import time
        "sim/other.py": "def f():\n    import perception\n",  # lazy, but not declared
        "perception/collect.py": "import agents\n",  # declared
        "agents/dqn.py": "class A:\n    import scoring.api\n",  # a class body runs at import time
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert offenders("scenarios", HEAVY, tmp_path) == ["scenarios/deep/er/m.py: highway_env.road.graphics",
                                                       "scenarios/deep/er/m.py: torch.nn"]
    assert upward_imports("scenarios", tmp_path) == ["scenarios/n.py: sim.env"]
    assert upward_imports("sim", tmp_path) == ["sim/other.py: perception"]
    assert offenders("sim", ["perception"], tmp_path, top_level=True) == ["sim/env.py: perception.features"]
    assert upward_imports("perception", tmp_path) == []
    assert offenders("agents", ["scoring"], tmp_path, top_level=True) == ["agents/dqn.py: scoring.api"]
    assert upward_imports("agents", tmp_path) == ["agents/dqn.py: scoring.api"]


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


@pytest.mark.parametrize("package", LAYERS[:-1])
def test_each_package_imports_only_the_layers_below_it_but_for_the_declared_exceptions(package):
    assert upward_imports(package) == []


def test_scenarios_imports_neither_torch_nor_pygame_nor_highway_env_drawing():
    assert offenders("scenarios", HEAVY) == []


def test_sim_imports_perception_only_inside_functions():
    """sim is usable without the encoder: perception is imported when features or the overlay are asked for."""
    assert offenders("sim", ["perception"], top_level=True) == []


def test_importing_the_layers_loads_nothing_above_them():
    """In one fresh interpreter, each step adds to the last: what is loaded after each, of what it must not load."""
    probe = {
        "import scenarios, scenarios.suite; scenarios.names()":
            ["torch", "stable_baselines3", "pygame", "highway_env", "cv2", "sim", "perception", "agents", "scoring"],
        # validating a scenario imports highway-env, whose package __init__ imports its drawing (and
        # pygame's module, not its display): a cost of highway-env, not of scenarios (ast test above)
        "scenarios.get('merge')": ["torch", "stable_baselines3", "sim", "perception", "agents", "scoring"],
        "import sim": ["perception", "agents", "scoring", "run_sim", "benchmarks"],
        "import agents": ["scoring", "run_sim", "benchmarks"],
        "import scoring": ["run_sim", "benchmarks"],
        "pass  # the probe sees what is loaded: torch came with sim (stable-baselines3)": ["torch"],
    }
    script = "import json, sys\nloaded = {}\n" + "".join(
        f"{step}\nloaded[{step!r}] = sorted({{m.split('.')[0] for m in sys.modules}} & {set(names)!r})\n"
        for step, names in probe.items()) + "print(json.dumps(loaded))\n"
    env = os.environ | {"PYTHONPATH": str(ROOT), "SDL_VIDEODRIVER": "offscreen"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    control = list(probe)[-1]
    assert loaded.pop(control) == ["torch"]
    assert {step: modules for step, modules in loaded.items() if modules} == {}
