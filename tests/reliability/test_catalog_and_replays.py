"""Catalog files and replays (issue 18): a malformed catalog file is one line naming it for every
command that reads it (the zoo's too) while --help keeps working; highway-env config values whose
default is null are type-checked in the catalog, not found wrong in every worker; a replay of
millions of values is refused in one line, quickly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import run_sim
import scenarios
from agents import zoo, zoo_report
from scenarios import catalog, load
from tests.reliability.conftest import one_episode_suite, write
from tests.reliability.test_bounded_loader import deadline


@pytest.fixture
def catalog_with(tmp_path, monkeypatch):
    """catalog_with(name, text): a copy of the shipped catalog with one file of our own (new or replaced)."""
    folder = Path(shutil.copytree(catalog.CATALOG_DIR, tmp_path / "catalog"))
    monkeypatch.setattr(catalog, "CATALOG_DIR", folder)

    def make(name: str, text: str):
        catalog.clear_cache()
        return write(folder, f"{name}.yaml", text)

    yield make
    monkeypatch.undo()
    catalog.clear_cache()


@pytest.mark.parametrize("text, message", [
    ("base: merge\nconfig: {collision_reward: [1]}\n", "config.collision_reward must be like the highway-env default"),
    ("base: merge\nbudgets: {max_steps: 0}\n", "budgets.max_steps must be a positive integer"),
    ("base: bad\n", "circular 'base' chain bad -> bad"),
    ("description: [unclosed\n", "is not valid YAML"),
])
def test_a_catalog_error_names_its_file(catalog_with, cli, text, message):
    file = catalog_with("bad", text)
    line = cli("--scenario", "bad")
    assert file in line and message in line


def test_help_lists_a_catalog_file_that_does_not_validate(catalog_with, capsys):
    catalog_with("bad", "base: merge\nconfig: {collision_reward: [1]}\n")
    with pytest.raises(SystemExit) as stop:
        run_sim.main(["--help"])
    out, err = capsys.readouterr()
    assert stop.value.code == 0 and "(cannot be loaded: run --scenario bad for the error)" in out and not err


@pytest.mark.parametrize("argv", [
    ["train", "--agent", "dqn", "--scenario", "merge"],  # the recipes name every zoo scenario
    ["score", "--suite", "smoke", "--workers", "1"],
])
def test_a_broken_catalog_file_is_one_line_for_the_zoo_commands(catalog_with, tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    shutil.copy(zoo.MANIFEST_FILE, tmp_path / "manifest.json")  # were it to run, it writes these copies
    monkeypatch.setattr(zoo, "MANIFEST_FILE", tmp_path / "manifest.json")
    monkeypatch.setattr(zoo_report, "DOC_FILE", tmp_path / "zoo.md")
    file = catalog_with("exit", "description: [unclosed\n")  # smoke and the dqn recipes use exit
    with pytest.raises(SystemExit) as stop:
        zoo.main(argv + (["--reports", str(tmp_path / "reports")] if argv[0] == "score" else []))
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert file in err and "is not valid YAML" in err
    assert not (tmp_path / "reports").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("base, config, message", [
    ("highway", {"initial_lane_id": "left"}, "config.initial_lane_id must be a lane index"),
    ("highway", {"initial_lane_id": 1.0}, "config.initial_lane_id must be a lane index"),
    ("highway", {"initial_lane_id": True}, "config.initial_lane_id must be a lane index"),
    ("highway", {"initial_lane_id": -1}, "config.initial_lane_id must be a lane index"),
    ("highway", {"initial_lane_id": 3}, "config.initial_lane_id must be a lane index from 0 to 2 (lanes_count 3)"),
    ("highway", {"initial_lane_id": 3, "lanes_count": 3}, "from 0 to 2 (lanes_count 3)"),
    ("roundabout", {"incoming_vehicle_destination": 3}, "config.incoming_vehicle_destination must be"),
    ("roundabout", {"incoming_vehicle_destination": "north"}, "config.incoming_vehicle_destination must be"),
    ("merge", {"offscreen_rendering": "yes"}, "config.offscreen_rendering must be true, false or null"),
])
def test_config_values_whose_default_is_null_are_checked(base, config, message):
    with pytest.raises(scenarios.ScenarioError) as err:
        catalog.variant(base, "v", {"config": config})
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("base, overrides, message", [
    ("merge", {"config": {"vehicles_count": 2.5}}, "config.vehicles_count must be a whole number (like 3), got 2.5"),
    ("highway", {"config": {"lanes_count": 3.0}}, "config.lanes_count must be a whole number"),
    ("merge", {"config": {"policy_frequency": 1.5}}, "config.policy_frequency must be a whole number"),
    ("merge", {"action": {"type": "DiscreteMetaAction", "target_speeds": "abc"}},
     "action.target_speeds must be a list of 1 to 100 increasing speeds from 0 to 100 [m/s], got 'abc'"),
    ("merge", {"action": {"type": "DiscreteMetaAction", "target_speeds": [30, 20]}}, "action.target_speeds must be"),
    ("merge", {"action": {"type": "DiscreteMetaAction", "lateral": "no"}}, "action.lateral must be true or false"),
    ("racetrack", {"action": {"type": "ContinuousAction", "steering_range": [0.5, -0.5]}},
     "action.steering_range must be [low, high]: two finite numbers, low < high"),
])
def test_integer_config_and_action_values_are_typed(base, overrides, message):
    """Before: accepted, then a TypeError (range(2.5)) or a numpy error in every episode's worker."""
    with pytest.raises(scenarios.ScenarioError) as err:
        catalog.variant(base, "v", overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("base, config", [
    ("highway", {"initial_lane_id": None}), ("highway", {"initial_lane_id": 2}),
    ("highway", {"initial_lane_id": 4, "lanes_count": 5}), ("roundabout", {"incoming_vehicle_destination": 0}),
    ("merge", {"offscreen_rendering": True}),
])
def test_good_values_for_null_defaults_still_pass(base, config):
    scenario = catalog.variant(base, "v", {"config": config})
    assert all(scenario.config[key] == value for key, value in config.items())


def test_a_suite_variant_with_a_lane_that_does_not_exist_never_starts(cli, tmp_path):
    """Before: every episode failed in a worker (KeyError in highway-env's reset), exit 0."""
    suite = write(tmp_path / "in", "lanes.yaml", "description: x\nseeds: [1000000]\nepisodes: 1\n"
                  "scenarios: [{name: lane-9, base: highway, config: {initial_lane_id: 9}}]\n")
    line = cli("--suite", suite, "--agent", "idle", "--workers", "1")
    assert "config.initial_lane_id must be a lane index from 0 to 2 (lanes_count 3) or null, got 9" in line


def test_a_replay_of_millions_of_values_is_refused_in_one_line(cli, tmp_path):
    episode = {"seed": 0, "complete": True, "actions": [1] * 3_000_000, "values": [None] * 3_000_000}
    replay = write(tmp_path / "in", "long.json", json.dumps({
        "format": 1, "scenario": "merge", "obs": "kinematics", "agent": "idm", "checkpoint": None,
        "checkpoint_hash": None, "value_kind": "action values", "variant": None, "episodes": [episode]}))
    with deadline(20):
        line = cli("--replay", replay, "--no-window")
    assert f"{replay} is not a replay file: holds more than 2,000,000 values, the limit for this file" in line


def test_the_value_limit_counts_values_not_bytes(tmp_path):
    assert load.parse_json('{"a": [1, 2, "x,y"], "b": {}}', max_values=7) == {"a": [1, 2, "x,y"], "b": {}}
    with pytest.raises(load.LoadError, match="holds more than 5 values"):
        load.parse_json("[1, 2, 3, 4, 5, 6]", max_values=5)
    assert load.parse_json("[1, 2, 3, 4, 5, 6]", max_values=None) == [1, 2, 3, 4, 5, 6]  # bounded by bytes only


@pytest.mark.parametrize("actions, values, message", [
    ([1] * 400, [None] * 400, "episode 0 has 400 steps; merge ends after 40"),
    ([1], [[0.0] * 50], "episode 0 step 0: 50 action values, but merge has 5 actions")])
def test_a_replay_that_does_not_fit_its_scenario_is_refused_before_the_first_frame(cli, tmp_path, actions, values,
                                                                                    message):
    episode = {"seed": 0, "complete": True, "actions": actions, "values": values}
    replay = write(tmp_path / "in", "odd.json", json.dumps({
        "format": 1, "scenario": "merge", "obs": "kinematics", "agent": "idm", "checkpoint": None,
        "checkpoint_hash": None, "value_kind": "action values", "variant": None, "episodes": [episode]}))
    with deadline(20):
        line = cli("--replay", replay, "--no-window")
    assert message in line
