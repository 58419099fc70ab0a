import numpy as np
import pytest

import agents
import scenarios
from sim import make_env
from sim.rollout import play_episodes


def test_registry_lists_the_baselines_with_descriptions():
    assert {"idm", "random"} <= set(agents.names())
    assert all(agents.describe().values())
    with pytest.raises(agents.AgentError, match="unknown agent 'dqm'; valid agents: .*idm"):
        agents.make("dqm", make_env("merge", obs="kinematics"))


@pytest.mark.parametrize("name", scenarios.names())
@pytest.mark.parametrize("driver", ["idm", "expert"])
def test_rule_based_drivers_give_valid_actions_on_every_scenario(name, driver):
    env = make_env(name, obs="kinematics", seed=1)
    agent = agents.make(driver, env)
    obs, _ = env.reset()
    for _ in range(4):
        action = agent.act(obs)
        assert env.action_space.contains(action if not isinstance(action, np.ndarray) else action.astype(np.float32))
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break


def test_idm_drives_merge_and_highway_without_crashing():
    for name in ("merge", "highway"):
        env = make_env(name, obs="kinematics")
        results = play_episodes(env, agents.make("idm", env), seeds=range(100, 103))
        assert [r["collisions"] for r in results] == [0] * 3, name
        assert min(r["progress"] for r in results) > 0.7, name
    assert [r["outcome"] for r in results if name == "merge"] in ([], ["success"] * 3)


@pytest.mark.parametrize("name, meta, continuous", [("idle", "IDLE", [0.0]), ("brake", "SLOWER", [0.0])])
def test_floor_baselines_play_one_constant_action(name, meta, continuous):
    env = make_env("highway", obs="kinematics")
    agent = agents.make(name, env, seed=0)
    assert {agent.act(None) for _ in range(5)} == {env.unwrapped.action_type.actions_indexes[meta]}
    racetrack = make_env("racetrack", obs="kinematics")  # steering only: zero steering at the held speed
    assert agents.make(name, racetrack).act(None).tolist() == continuous
    intersection = make_env("intersection", obs="kinematics")  # longitudinal only: SLOWER exists there
    index = intersection.unwrapped.action_type.actions_indexes
    assert agents.make(name, intersection).act(None) == index[meta]


def test_brake_parks_at_the_roundabout_entry_and_scores_zero():
    from sim.score import score_episode

    env = make_env("roundabout", obs="kinematics")
    (episode,) = play_episodes(env, agents.make("brake", env), seeds=[1_000_000])
    assert episode["progress"] < 0.2 and episode["collisions"] == 0
    assert score_episode(episode).driving_score == 0.0


def test_random_agent_is_reproducible_from_its_seed():
    def actions(seed):
        env = make_env("highway", obs="kinematics")
        agent = agents.make("random", env, seed=seed)
        return [agent.act(None) for _ in range(20)]

    assert actions(3) == actions(3)
    assert actions(3) != actions(4)


def test_baselines_save_and_load_and_refuse_to_learn(tmp_path):
    env = make_env("merge", obs="kinematics")
    agent = agents.make("random", env, seed=11)
    agent.save(tmp_path / "ckpt")
    loaded = agents.get_class("random").load(tmp_path / "ckpt", env)
    assert loaded.seed == 11
    with pytest.raises(agents.AgentError, match="holds a 'random' checkpoint, not 'idm'"):
        agents.get_class("idm").load(tmp_path / "ckpt", env)
    (tmp_path / "ckpt" / "config.json").write_text("{not json")
    with pytest.raises(agents.AgentError, match="corrupt"):
        agents.get_class("random").load(tmp_path / "ckpt", env)
    with pytest.raises(agents.AgentError, match="not trainable"):
        agent.learn(100)
