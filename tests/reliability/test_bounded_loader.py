"""Hostile files at the readers behind the CLI (issue 18): deep nesting, a YAML alias bomb, a FIFO,
huge files, a broken catalog entry, a suite file named `...yaml`. All are read through one bounded
loader (scenarios/load.py); each case is one clear line, quickly, never a traceback, a hang or a
memory blow-up."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

import run_sim
import scenarios
from scenarios import catalog, load
from scenarios.suite import load_suite
from tests.reliability.conftest import write

ROOT = Path(__file__).resolve().parents[2]
QUICK = 30.0  # [s] generous: a refusal takes milliseconds, but the CLI cases build the parser (imports, the catalog) on a loaded 2-core machine
SUITE = "description: x\nseeds: [1000000]\nepisodes: 1\nscenarios: [merge]\n"
DEEP_JSON = "[" * 100_000 + "]" * 100_000  # json.loads: RecursionError
DEEP_YAML = "description: " + "[" * 50_000 + "]" * 50_000 + "\n"  # yaml.safe_load: RecursionError
# "Billion laughs": 9 levels of 9 aliases each, 9**9 (387 million) strings once expanded, in 400 bytes.
BOMB = "".join(f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))
BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + BOMB


@pytest.fixture(autouse=True, scope="module")
def warm_imports():
    """Import torch, highway-env and the catalog once, outside the deadlines: on a loaded 2-core
    machine that alone takes longer than any refusal may."""
    import agents.dqn  # noqa: F401
    import perception.weights  # noqa: F401

    run_sim.build_parser()


@contextlib.contextmanager
def deadline(seconds: float = QUICK):
    """Fail (rather than hang the suite) if the block blocks or runs longer than `seconds`."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - start < seconds


@pytest.fixture
def checkpoint(tmp_path):
    """A checkpoint folder with the shipped merge DQN's weights, and config.json as `make` writes it."""
    def make(config) -> list[str]:
        folder = tmp_path / "ckpt"
        folder.mkdir(exist_ok=True)
        shutil.copy(ROOT / "zoo/merge/dqn/model.pt", folder / "model.pt")
        config(folder / "config.json")
        return ["--scenario", "merge", "--agent", "dqn", "--checkpoint", str(folder)]
    return make


def test_a_deeply_nested_config_json_is_one_line(cli, checkpoint):
    args = checkpoint(lambda file: file.write_text(DEEP_JSON))
    with deadline():
        line = cli(*args)
    assert line.endswith("config.json is corrupt: nests lists/objects more than 100 deep, the limit (see --help)")


def test_a_deeply_nested_suite_yaml_is_one_line(cli, tmp_path):
    suite = write(tmp_path / "in", "deep.yaml", SUITE.replace("description: x\n", DEEP_YAML))
    with deadline():
        line = cli("--suite", suite, "--agent", "random")
    assert "suite 'deep'" in line and "is not valid YAML (nests lists/mappings more than 100 deep, the limit)" in line


def test_a_yaml_alias_bomb_is_refused_before_it_expands(cli, tmp_path):
    assert len(BOMB) < 600
    suite = write(tmp_path / "in", "bomb.yaml", BOMB + SUITE.replace("description: x", "description: *i"))
    with deadline():
        line = cli("--suite", suite, "--agent", "random")
    assert "suite 'bomb'" in line and "expands through its YAML aliases to more than 1,000,000 values" in line


def test_a_yaml_alias_bomb_in_a_catalog_file(tmp_path, monkeypatch):
    shutil.copy(catalog.CATALOG_DIR / "merge.yaml", tmp_path / "merge.yaml")
    write(tmp_path, "bomb.yaml", BOMB + "base: merge\ndescription: *i\n")
    monkeypatch.setattr(catalog, "CATALOG_DIR", tmp_path)
    catalog.clear_cache()
    try:
        with deadline(), pytest.raises(scenarios.ScenarioError) as err:
            scenarios.get("bomb")
    finally:
        monkeypatch.undo()
        catalog.clear_cache()
    assert "is not valid YAML (expands through its YAML aliases" in str(err.value) and "\n" not in str(err.value)


def test_a_fifo_in_place_of_config_json_does_not_block(cli, checkpoint):
    args = checkpoint(lambda file: os.mkfifo(file))
    with deadline():
        line = cli(*args)
    assert "config.json is corrupt: is a FIFO (named pipe), not a regular file; only regular files are read" in line


def test_a_huge_config_json_is_refused_unread(cli, checkpoint):
    def huge(file: Path) -> None:
        with open(file, "wb") as out:
            out.truncate(8 * load.MiB)  # sparse: no disk used
    line = cli(*checkpoint(huge))
    assert "config.json is corrupt: is 8.0 MiB, over the 1.0 MiB limit for this file" in line


def test_a_huge_results_json_is_refused_unread(tmp_path):
    from scoring.results import Results, ResultsError

    with open(tmp_path / "results.json", "wb") as out:
        out.truncate(load.RESULTS_FILE_BYTES + 1)  # sparse: reading it would take a GiB of memory
    with deadline(), pytest.raises(ResultsError) as err:
        Results.load(tmp_path)
    assert "is corrupt (is 1.0 GiB, over the 1.0 GiB limit for this file)" in str(err.value)


def test_results_json_keeps_its_infinity(tmp_path):
    """results.json writes a min_ttc of "never closing in" as Infinity: the loader keeps reading it."""
    from scoring.results import Results

    header = {"suite": "s", "run": "r", "agents": {"idle": "0123456789abcdef"}}
    write(tmp_path, "results.json", json.dumps({"header": header, "episodes": []}))
    assert Results.load(tmp_path).header == header
    record = {"agent": "idle", "agent_name": "idle", "scenario": "merge", "seed": 1000000, "episode": 0,
              "outcome": "success", "driving_score": 1.0, "error": None, "score": {"progress": 1.0},
              "metrics": {"collisions": 0, "distance": 360.0, "min_ttc": float("inf")}}
    write(tmp_path, "results.json", json.dumps({"header": header, "episodes": [record]}))  # writes Infinity
    assert Results.load(tmp_path).sorted_records()[0]["metrics"]["min_ttc"] == float("inf")


@pytest.fixture
def broken_catalog(tmp_path, monkeypatch):
    """A catalog of merge's shipped file and one malformed file, broken.yaml."""
    folder = tmp_path / "catalog"
    folder.mkdir()
    shutil.copy(catalog.CATALOG_DIR / "merge.yaml", folder / "merge.yaml")
    write(folder, "broken.yaml", "description: [unclosed\n")
    monkeypatch.setattr(catalog, "CATALOG_DIR", folder)
    catalog.clear_cache()
    yield folder
    monkeypatch.undo()
    catalog.clear_cache()


def test_a_broken_catalog_file_leaves_help_working(broken_catalog, capsys):
    with pytest.raises(SystemExit) as stop:
        run_sim.main(["--help"])
    out, err = capsys.readouterr()
    assert stop.value.code == 0 and "Traceback" not in err
    listing = out.split("scenarios:\n", 1)[1]
    lines = {line.split()[0]: line for line in listing.splitlines() if line.startswith("  ")}
    assert set(lines) >= {"merge", "broken"} and "cannot be loaded" not in lines["merge"]
    assert lines["broken"].endswith("(cannot be loaded: run --scenario broken for the error)")


def test_a_broken_catalog_file_fails_only_the_commands_that_use_it(broken_catalog, cli):
    line = cli("--scenario", "broken")
    assert "scenario 'broken':" in line and "broken.yaml is not valid YAML (while parsing" in line
    assert "unknown agent 'nosuch'" in cli("--scenario", "merge", "--agent", "nosuch")


@pytest.mark.parametrize("name", ["...yaml", "..yaml", "....yaml"])
def test_a_suite_file_whose_name_is_not_a_folder_name_is_refused(tmp_path, name):
    suite = write(tmp_path / "in", name, SUITE)
    with pytest.raises(scenarios.ScenarioError) as err:
        load_suite(suite)
    stem = Path(name).stem
    assert str(err.value) == f"suite file {suite}: its name becomes the reports folder, and {stem!r} is not a folder name; rename the file"


def test_a_suite_file_named_dotdot_writes_nothing_outside_reports(cli, tmp_path):
    suite = write(tmp_path / "in", "...yaml", SUITE)  # stem '..': reports/../<run>
    line = cli("--suite", suite, "--agent", "random", "--run", "r")
    assert "its name becomes the reports folder, and '..' is not a folder name; rename the file" in line


def test_a_yaml_alias_bomb_in_a_set_value(cli):
    """--set values are read as YAML too: a bomb there would otherwise expand in the error's repr()."""
    with deadline():
        line = cli("--scenario", "merge", "--agent", "dqn", "--train", "--set", "net_arch=" + BOMB)
    assert "--set net_arch: cannot read" in line and "expands through its YAML aliases" in line
