"""The expert baseline: idm's driver models, plus the route and predicted conflicts (agents/expert.py)."""

import pytest

import agents
from sim import make_env
from sim.rollout import play_episodes


@pytest.mark.parametrize("name, seed, idm_outcome", [
    ("exit", 3, "timeout"),  # idm never leaves the left lanes; the expert crosses to the exit lane in time
    ("two-way", 0, "collision"),  # idm returns behind a car slower than it can drive; the expert overtakes the platoon
])
def test_the_expert_takes_the_route_where_idm_fails(name, seed, idm_outcome):
    env = make_env(name, obs="kinematics")
    outcomes = {agent: play_episodes(env, agents.make(agent, env, seed=seed), [seed])[0]["outcome"]
                for agent in ("expert", "idm")}
    env.close()
    assert outcomes == {"expert": "success", "idm": idm_outcome}
    assert "route" in agents.describe()["expert"]


def test_predicted_paths_are_on_the_lanes_highway_env_drives():
    """A car entering the two-lane ring from its one-lane entry drives the outer lane; highway-env's
    own prediction keeps the entry's lane id (the inner lane), which had the expert enter in
    front of cars it predicted elsewhere. resolved_route follows the lane it will really take."""
    from agents.expert import resolved_route

    env = make_env("roundabout", obs="kinematics", seed=900_002)
    env.reset()
    ego = env.unwrapped.vehicle
    network = ego.road.network
    path = resolved_route(network, ego.lane_index, ego.route)
    driven = {ego.lane_index}
    for _ in range(5):
        env.step(1)  # IDLE: it follows its route at its speed
        driven.add(ego.lane_index)
    env.close()
    ring = [lane for lane in driven if lane[:2] == ("se", "ex")]
    assert ring and set(ring) <= set(path), (ring, path)
    assert ("se", "ex", 0) not in path  # where highway-env's own prediction would have put it


def test_the_expert_stops_before_a_road_that_ends():
    """roundabout's exit road ends 126 m past the goal: 15 s at 16 m/s would run off it. Before
    the goal a road's end does not slow it (merge's episode ends at its goal, short of the end)."""
    env = make_env("roundabout", obs="kinematics", seed=900_001)
    env.reset()
    expert = agents.make("expert", env, seed=0)
    assert expert._road_end(env.unwrapped.vehicle) == float("inf")  # before the goal
    ends = []
    expert_act = expert.act
    expert.act = lambda obs, deterministic=True: ends.append(expert._road_end(env.unwrapped.vehicle)) or expert_act(obs)
    episode = play_episodes(env, expert, [900_001])[0]
    env.close()
    assert episode["offroad_steps"] == 0 and episode["outcome"] == "success"
    assert 0 < min(ends) < 130  # [m] it saw the road's end once past the goal, and stopped before it
