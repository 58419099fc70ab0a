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
