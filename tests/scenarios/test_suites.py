"""Suites: every shipped one loads, seeds are evaluation seeds, variants validate and inherit."""

import pytest

import scenarios
from scenarios.catalog import variant
from scenarios.suite import EVAL_SEED_BASE, episode_seed, load_suite, suite_names


def test_the_four_suites_exist_with_their_shapes():
    assert {"smoke", "standard", "dense", "generalisation"} <= set(suite_names())
    smoke, standard = load_suite("smoke"), load_suite("standard")
    assert [s.name for s in smoke.scenarios] == [s.name for s in standard.scenarios]
    registered = {s.name for s in load_suite("registered").scenarios}
    assert {s.name for s in standard.scenarios} | registered == set(scenarios.names())
    assert all(scenarios.get(name).env_id.endswith("-v0") for name in registered)
    assert len(smoke.seeds) == 2 and len(standard.seeds) == 50


@pytest.mark.parametrize("name", ["smoke", "standard", "dense", "generalisation", "registered"])
def test_every_seed_is_an_evaluation_seed(name):
    suite = load_suite(name)
    assert min(suite.seeds) >= EVAL_SEED_BASE
    assert all(episode_seed(s, e) >= EVAL_SEED_BASE for s in suite.seeds[:3] for e in range(3))


def test_generalisation_variants_are_new_and_inherit_from_their_base():
    suite = load_suite("generalisation")
    assert not {s.name for s in suite.scenarios} & set(scenarios.names())
    four_lanes = suite.scenario("highway-4-lanes").load()
    assert four_lanes.config["lanes_count"] == 4 and four_lanes.base == "highway"
    assert four_lanes.route == scenarios.get("highway").route
    assert suite.scenario("u-turn-slow").load().action["target_speeds"] == [4, 8, 12]


def test_dense_sweeps_traffic_on_highway_and_merge():
    densities = [s.load().config.get("vehicles_density") for s in load_suite("dense").scenarios if s.base == "highway"]
    assert densities == sorted(densities) and len(densities) >= 4


def test_every_catalog_scenario_has_a_route_and_variants_inherit_it():
    for name in scenarios.names():
        scenario = scenarios.get(name)
        assert scenario.route.lanes and scenario.route.reference_speed > 0
        assert (scenario.route.goal is None) == (scenario.reference_distance is not None)
    assert scenarios.get("highway-dense").route == scenarios.get("highway").route
    faster = variant("highway", "fast-highway", {"route": {"reference_speed": 30}})
    assert faster.route.reference_speed == 30 and faster.route.lanes == scenarios.get("highway").route.lanes
    assert faster.reference_distance == 30 * 30


@pytest.mark.parametrize(
    "text, message",
    [
        ("seeds: [5]\nepisodes: 1\ndescription: x\nscenarios: [merge]\n", "seeds must be integers >= 1000000"),
        ("seeds: [1000000]\nepisodes: 1\ndescription: x\nscenarios: [nope]\n", "unknown scenario 'nope'"),
        ("seeds: [1000000]\nepisodes: 0\ndescription: x\nscenarios: [merge]\n", "episodes must be a positive integer"),
        (
            "seeds: [1000000]\nepisodes: 1\ndescription: x\nscenarios: [{name: m2, base: merge, config: {vehicle_count: 3}}]\n",
            "unknown config key 'vehicle_count'",
        ),
        ("seeds: [1000000]\nepisode: 1\ndescription: x\nscenarios: [merge]\n", "unknown key"),
    ],
)
def test_a_bad_suite_is_a_clear_error(tmp_path, text, message):
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(scenarios.ScenarioError, match=message):
        load_suite(str(file))


def test_unknown_suite_lists_the_valid_ones():
    with pytest.raises(scenarios.ScenarioError, match="valid suites: .*smoke"):
        load_suite("nope")
