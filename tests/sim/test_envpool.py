"""The EnvPool engine (sim/envpool_env.py): the same wrappers, WorldState and episodes as highway-env."""

import gymnasium as gym
import highway_env  # noqa: F401
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import scenarios
from scenarios.engines import engines
from sim import CameraConfig, make_env
from sim.envpool_env import EngineError, measuring_env
from sim.raster import Rasteriser
from sim.vector import make_vec_env
from sim.world import WorldState

ENVPOOL = [name for name in scenarios.names() if "envpool" in engines(scenarios.get(name))]
# scenarios whose ego starts at a fixed place (the others draw it from the engine's RNG)
FIXED_START = ["merge-v0", "roundabout-v0", "u-turn-v0", "two-way"]


def test_envpool_runs_the_registered_tasks_it_randomises_and_nothing_customised():
    assert set(ENVPOOL) == {"highway-fast-v0", "highway-v0", "merge-v0"}


@pytest.mark.parametrize(("name", "reason"), [("highway", "action"), ("merge", "no port of merge-generic-v1"),
                                              ("roundabout-v0", "draws no random traffic")])
def test_a_scenario_envpool_cannot_run_exactly_is_refused_in_one_line(name, reason):
    with pytest.raises(EngineError) as err:
        make_env(name, engine="envpool")
    message = str(err.value)
    assert "\n" not in message and name in message and reason in message and "--engine highway-env" in message


@pytest.mark.parametrize("name", ["roundabout-v0", "two-way", "u-turn-v0"])
def test_the_refused_ports_really_ignore_the_seed(name):
    """Why they are refused: EnvPool 1.2.5 gives every seed the same episode there."""
    first = [measuring_env(scenarios.get(name), seed=s).reset()[1]["world"].vehicles for s in (1, 2)]
    np.testing.assert_array_equal(*first)
    other = [make_env(name, obs="kinematics", seed=s).reset()[1]["world"].vehicles for s in (1, 2)]
    assert other[0].shape != other[1].shape or not np.array_equal(*other), "highway-env draws its traffic from the seed"


def test_unknown_engine_is_one_line():
    with pytest.raises(ValueError, match="valid engines: highway-env, envpool"):
        make_env("highway-fast-v0", engine="carla")


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped version")
@pytest.mark.parametrize("obs", ["camera", "kinematics"])
@pytest.mark.parametrize("name", ENVPOOL)
def test_envpool_envs_pass_gymnasium_and_sb3_env_checkers(name, obs):
    env = make_env(name, obs=obs, engine="envpool", seed=0)
    check_env(env, skip_render_check=True)
    sb3_check_env(env, warn=False)
    env.close()


def _rollout(env, actions):
    out = []
    obs, info = env.reset()
    out.append((obs.copy(), info["world"].vehicles.copy()))
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((obs.copy(), info["world"].vehicles.copy(), reward))
        if terminated or truncated:
            break
    return out


@pytest.mark.parametrize("name", ["highway-fast-v0", "merge-v0"])
def test_same_seed_same_episode_on_envpool_frame_for_frame(name):
    def run(seed):
        env = make_env(name, obs="camera", engine="envpool", seed=seed)
        actions = [int(a) for a in np.random.default_rng(0).integers(env.action_space.n, size=8)]
        return _rollout(env, actions)

    a, b, other = run(11), run(11), run(12)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v)
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a, other)), "another seed gives another episode"


def test_a_vector_env_slot_plays_the_episode_of_a_single_env_with_its_seed():
    venv = make_vec_env("highway-fast-v0", 3, obs="kinematics", seeds=[5, 7, 9], engine="envpool")
    env = make_env("highway-fast-v0", obs="kinematics", seed=7, engine="envpool")
    obs_v, (obs_e, _) = venv.reset(), env.reset()
    np.testing.assert_array_equal(obs_v[1], obs_e)
    for _ in range(6):
        obs_v, reward_v, done_v, _ = venv.step(np.array([1, 3, 0]))
        obs_e, reward_e, terminated, truncated, _ = env.step(3)
        assert reward_v[1] == pytest.approx(reward_e)
        assert done_v[1] == (terminated or truncated)
        if done_v[1]:
            break
        np.testing.assert_array_equal(obs_v[1], obs_e)
    venv.close()


def test_an_envpool_vector_env_auto_resets_with_metrics_and_terminal_observations():
    venv = make_vec_env("merge-v0", 2, obs="camera", seeds=[1, 2], engine="envpool")
    venv.reset()
    episodes = []
    for _ in range(40):
        obs, _, dones, infos = venv.step(np.array([3, 3]))
        assert obs.shape == (2, 5, 128, 64)
        for done, info in zip(dones, infos, strict=True):
            if done:
                assert info["terminal_observation"].shape == (5, 128, 64)
                episodes.append(info["episode"])
    venv.close()
    assert episodes and all(e["outcome"] in ("success", "collision", "offroad", "timeout") for e in episodes)


@pytest.mark.parametrize("name", ["highway-fast-v0", "merge-v0", "roundabout-v0", "intersection-v0", "exit-v0",
                                  "u-turn-v0", "racetrack-v0", "two-way"])
def test_envpool_world_state_equals_highway_envs_at_a_reset(name):
    worlds = {engine: make(scenarios.get(name), obs="kinematics", seed=3).reset()[1]["world"]
              for engine, make in (("highway-env", make_env), ("envpool", measuring_env))}
    a, b = worlds["highway-env"], worlds["envpool"]
    np.testing.assert_allclose(a.road.segments, b.road.segments, atol=1e-6)
    assert a.road.lane_ids == b.road.lane_ids
    for p, q in zip(a.road.centres, b.road.centres, strict=True):
        np.testing.assert_allclose(p, q, atol=1e-6)
    np.testing.assert_allclose(a.route, b.route, atol=1e-6)
    # x, y, heading, speed, lane of the ego where it starts at a fixed place; where each engine draws
    # its start from its own RNG (lane, distance), the heading and speed it starts with
    fields = [0, 1, 2, 3, 10] if name in FIXED_START else [2, 3]
    np.testing.assert_allclose(a.ego[fields], b.ego[fields], atol=1e-6)


def test_a_traffic_free_highway_reset_is_the_same_world_on_both_engines():
    scenario = scenarios.catalog.variant("highway-fast-v0", "empty-highway", {"config": {"vehicles_count": 0}})
    worlds = [make_env(scenario, obs="kinematics", engine=e, seed=1).reset()[1]["world"] for e in ("highway-env", "envpool")]
    assert len(worlds[0].vehicles) == len(worlds[1].vehicles) == 1
    np.testing.assert_allclose(worlds[0].ego[1:], worlds[1].ego[1:], atol=1e-6)  # all but x, drawn by each RNG


def test_a_world_state_draws_the_same_frame_whichever_engine_built_its_road():
    states = [make_env("merge-v0", obs="camera", engine=e, seed=1).reset()[1]["world"] for e in ("highway-env", "envpool")]
    mixed = WorldState(states[0].time, states[0].vehicles, states[0].objects, states[1].road, states[1].route)
    raster = Rasteriser(CameraConfig())
    np.testing.assert_array_equal(raster.scene(states[0]), raster.scene(mixed))
    np.testing.assert_array_equal(raster.route(states[0]), raster.route(mixed))


def test_camera_substeps_do_not_change_a_highway_env_episode():
    """What the EnvPool camera does (sim/envpool_env.py), done on highway-env itself: a decision
    at 1 Hz against the same decision at 5 Hz followed by IDLE gives the same states."""
    rng = np.random.default_rng(0)
    actions = [int(a) for a in rng.integers(0, 5, 12)]
    one, five = (gym.make("highway-fast-v0", config={"policy_frequency": f}).unwrapped for f in (1, 5))
    one.reset(seed=4), five.reset(seed=4)
    for action in actions:
        _, _, terminated, truncated, _ = one.step(action)
        for k in range(5):
            five.step(action if k == 0 else 1)
        if terminated or truncated:
            break  # a crash ends the substeps early: the last state may differ
        for u, v in zip(one.road.vehicles, five.road.vehicles, strict=True):
            np.testing.assert_allclose(u.position, v.position, atol=1e-9)
