import dataclasses
import shutil
from pathlib import Path

import pytest

import scenarios
from scenarios import catalog

REQUIRED = {"highway", "merge", "roundabout", "intersection", "exit", "two-way", "u-turn", "racetrack"}


def test_catalog_has_every_required_scenario_and_dense_variants():
    assert REQUIRED | {"highway-dense", "merge-dense"} <= set(scenarios.names())


@pytest.mark.parametrize("name", scenarios.names())
def test_every_scenario_loads_into_a_frozen_validated_dataclass(name):
    scenario = scenarios.get(name)
    assert scenario.name == name
    assert scenario.success in scenarios.SUCCESS_RULES
    assert scenario.description and scenario.success_description
    assert scenario.budgets.max_steps > 0 and scenario.budgets.train_steps > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        scenario.env_id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        scenario.config["duration"] = 1  # type: ignore[index]


def test_variant_overrides_only_what_it_names():
    base, dense = scenarios.get("highway"), scenarios.get("highway-dense")
    assert dense.base == "highway" and dense.env_id == base.env_id
    assert dense.config["vehicles_density"] > base.config.get("vehicles_density", 1)
    assert dense.config["duration"] == base.config["duration"]
    assert dense.action == base.action
    assert scenarios.get("merge-dense").config["vehicles_count"] > scenarios.get("merge").config["vehicles_count"]


def test_env_config_is_a_fresh_copy_with_the_action():
    scenario = scenarios.get("roundabout")
    config = scenario.env_config()
    config["action"]["target_speeds"].append(99)
    assert scenario.action["target_speeds"] == [0, 8, 16]
    assert config["action"]["type"] == "DiscreteMetaAction"


def test_unknown_scenario_names_the_valid_ones():
    with pytest.raises(scenarios.ScenarioError, match="unknown scenario 'mrge'.*merge"):
        scenarios.get("mrge")


@pytest.fixture
def catalog_copy(tmp_path, monkeypatch):
    """A scratch copy of the catalog that a test may break."""
    folder = tmp_path / "catalog"
    shutil.copytree(catalog.CATALOG_DIR, folder)
    monkeypatch.setattr(catalog, "CATALOG_DIR", folder)
    catalog.clear_cache()
    yield folder
    catalog.clear_cache()


def _edit(folder: Path, name: str, old: str, new: str) -> None:
    file = folder / f"{name}.yaml"
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    "name, old, new, message",
    [
        ("highway", "duration: 30", "duraton: 30", r"unknown config key 'duraton'.*valid keys:.*duration"),
        ("merge-dense", "vehicles_count: 12", "vehicle_count: 12", r"unknown config key 'vehicle_count'.*vehicles_count"),
        ("roundabout", "target_speeds:", "target_speed:", r"unknown action key 'target_speed'.*target_speeds"),
        ("merge", "success: reach_goal", "success: arrive", r"unknown success rule 'arrive'.*reach_goal"),
        ("merge", "env_id: merge-generic-v1", "env_id: merge-v9", r"unknown highway-env id 'merge-v9'"),
        ("highway", "duration: 30", "duration: long", r"config.duration must be like the highway-env default"),
        ("highway", "max_steps: 30", "max_steps: -3", r"budgets.max_steps must be a positive integer"),
        ("highway", "env_id:", "env:", r"unknown key\(s\) env; valid keys:"),
        ("intersection", "type: DiscreteMetaAction", "type: Teleport", r"action.type 'Teleport' unknown"),
        ("highway", "duration: 30", "observation: {type: Kinematics}", r"config may not set observation"),
    ],
)
def test_a_bad_definition_is_an_error_naming_the_key(catalog_copy, name, old, new, message):
    _edit(catalog_copy, name, old, new)
    with pytest.raises(scenarios.ScenarioError, match=message):
        scenarios.get(name)


def test_a_broken_base_breaks_its_variants_with_the_base_named(catalog_copy):
    _edit(catalog_copy, "highway", "duration: 30", "duraton: 30")
    with pytest.raises(scenarios.ScenarioError, match="scenario 'highway'"):
        scenarios.get("highway-dense")


def test_not_yaml_and_not_a_mapping_are_clear_errors(catalog_copy):
    (catalog_copy / "broken.yaml").write_text("env_id: [unclosed\n")
    (catalog_copy / "listy.yaml").write_bytes(b"- a\n- b\n")
    (catalog_copy / "binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    catalog.clear_cache()
    with pytest.raises(scenarios.ScenarioError, match="not valid YAML"):
        scenarios.get("broken")
    with pytest.raises(scenarios.ScenarioError, match="must hold a mapping"):
        scenarios.get("listy")
    with pytest.raises(scenarios.ScenarioError, match="not valid YAML"):
        scenarios.get("binary")


def test_the_readme_scenario_table_is_the_catalogs():
    from pathlib import Path

    from scenarios.table import markdown_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, "README's scenario table is stale: run python docs/make_readme_tables.py"
