"""Bad YAML read directly by the loaders behind the CLI (issue 8, item 1): scenario variants,
catalog files and the agents' settings tables. Each is one ScenarioError / AgentError line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import scenarios
from agents.base import AgentError
from scenarios import catalog
from tests.reliability.conftest import NOT_UTF8, write


@pytest.mark.parametrize("base, overrides, message", [
    ("merge", {"config": {"vehicle_count": 3}}, "unknown config key 'vehicle_count'"),
    ("merge", "x", "overrides must be a mapping of scenario keys"),
    ("merge", {1: 2}, "overrides must be a mapping of scenario keys"),
    (5, {}, "base must be a scenario name"),
    ("nosuch", {}, "unknown scenario 'nosuch'"),
    ("merge", {"budgets": 5}, "budgets must be a dict"),
    ("merge", {"config": [1, 2]}, "config must be a dict"),
    ("merge", {"description": None}, "description must be a str"),
    ("merge", {"success": ["x"]}, "success must be a str"),
    ("merge", {"budgets": {"max_steps": 10**30}}, "budgets.max_steps must be a positive integer up to"),
])
def test_catalog_variant_with_bad_overrides(base, overrides, message):
    with pytest.raises(scenarios.ScenarioError) as err:
        catalog.variant(base, "v", overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.fixture
def catalog_dir(tmp_path, monkeypatch):
    """A catalog of our own: merge's shipped file plus whatever a test writes."""
    shutil.copy(catalog.CATALOG_DIR / "merge.yaml", tmp_path / "merge.yaml")
    monkeypatch.setattr(catalog, "CATALOG_DIR", tmp_path)
    catalog.clear_cache()
    yield tmp_path
    monkeypatch.undo()
    catalog.clear_cache()


@pytest.mark.parametrize("content, message", [
    ("", "must hold a mapping of keys"),
    (NOT_UTF8, "is not valid YAML"),
    ("base: [merge]\n", "base must be a str"),
    ("base: bad\n", "circular 'base' chain bad -> bad"),
    ("base: merge\nconfig: [1]\n", "config must be a dict"),
    ("base: merge\n1: x\n", "unknown key(s) 1"),
    ("base: merge\nbudgets: {max_steps: 0}\n", "budgets.max_steps must be a positive integer"),
    ("env_id: merge-generic-v1\n", "missing key(s) action, budgets"),
])
def test_bad_catalog_files(catalog_dir, content, message):
    write(catalog_dir, "bad.yaml", content)
    with pytest.raises(scenarios.ScenarioError) as err:
        scenarios.get("bad")
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("module, content, message", [
    ("dqn", NOT_UTF8, "cannot read the settings table"),
    ("dqn", "merge: {gamma: [0.9\n", "cannot read the settings table"),
    ("dqn", "- merge\n", "expected a mapping of names"),
    ("dqn", "merge: [1, 2]\n", "[merge]: expected a mapping of names"),
    ("sb3", "ppo: [1]\n", "[ppo]: expected a mapping of names"),
    ("sb3", "ppo: {default: {}}\n", "[ppo]: unknown key(s) default; valid: defaults, scenarios"),
    ("sb3", "ppo: {defaults: 5}\n", "[ppo] defaults: expected a mapping of names, got 5"),
    ("sb3", "ppo: {scenarios: {merge: x}}\n", "scenarios.merge: expected a mapping of names"),
])
def test_bad_settings_tables(tmp_path, monkeypatch, module, content, message):
    import agents.dqn
    import agents.sb3

    table = write(tmp_path, f"{module}.yaml", content)
    owner = agents.dqn if module == "dqn" else agents.sb3
    monkeypatch.setattr(owner, "SETTINGS_FILE", Path(table))
    agent = agents.dqn.DQNAgent if module == "dqn" else agents.sb3.PPOAgent
    with pytest.raises(AgentError) as err:
        agent.default_settings("merge")
    assert message in str(err.value) and "\n" not in str(err.value)
