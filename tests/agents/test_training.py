"""What the training loops share (agents/training.py): their vector env's real worker seeds,
held-out evaluation on validation seeds, and the best checkpoint by driving score."""

import json

import numpy as np
import pytest
import torch

import agents
import scenarios
from agents.sb3 import PPOAgent
from agents.training import RunFolder, evaluate, training_vec_env
from scenarios.seeds import VALIDATION, training_env_seeds
from sim import make_env
from sim.score import score_episode


@pytest.mark.parametrize("run_seed", [1000, 2**31 - 1])
def test_the_training_vector_env_plays_plan_seeds_even_under_an_sb3_model(run_seed):
    # The reported bug: --seed 1000 gave workers 1000 * 1000 + worker, the suites' first seeds.
    venv = training_vec_env("merge", 2, "kinematics", run_seed, 5000, crash_penalty=1.0)  # as dqn and sb3 train
    try:
        assert venv.worker_seeds == training_env_seeds(run_seed, 5000, 2)
        assert all(seed < VALIDATION.start for seed in venv.worker_seeds)
        # sb3_train builds its model on this env; SB3 then calls venv.seed(model seed).
        PPOAgent(make_env("merge", obs="kinematics"), config=PPOAgent.config_class.from_dict(
            {"obs": "kinematics", "n_envs": 2, "n_steps": 8, "batch_size": 8}), scenario="merge").build_model(
            venv, seed=venv.worker_seeds[0])
        obs = venv.reset()
    finally:
        venv.close()
    for i, seed in enumerate(venv.worker_seeds):
        np.testing.assert_array_equal(obs[i], make_env("merge", obs="kinematics", seed=seed).reset()[0])


def test_evaluation_plays_the_validation_seeds_and_records_the_driving_score():
    scenario = scenarios.get("u-turn")  # episodes of at most 10 steps
    env = make_env(scenario, obs="kinematics")
    # a policy that reads no simulator: idm would read this env while evaluate plays in its own
    # (random actions from whatever state this env was built in: the test was flaky)
    policy = agents.make("idle", env)
    result = evaluate(policy, "u-turn", "kinematics", 3)
    records = []
    for seed in (900_000, 900_001, 900_002):
        policy.reset()
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy.act(obs))
            done = terminated or truncated
        records.append(info["episode"])
    assert result["episodes"] == 3
    assert result["mean_driving_score"] == pytest.approx(np.mean([score_episode(r).driving_score for r in records]))
    assert result["mean_return"] == pytest.approx(np.mean([r["episode_return"] for r in records]))


class SavedAt:
    """Stands in for an agent: records where the run folder saved it."""

    def __init__(self) -> None:
        self.saved = []

    def save(self, path):
        self.saved.append(path)


def evaluation(score=None, success=0.0, ret=0.0) -> dict:
    result = {"steps": 1, "success_rate": success, "collision_rate": 0.0, "mean_return": ret, "mean_speed": 20.0}
    return result if score is None else {**result, "mean_driving_score": score}


def test_the_best_checkpoint_is_the_one_with_the_highest_driving_score(tmp_path):
    run, agent = RunFolder(tmp_path), SavedAt()
    assert run.record(agent, evaluation(score=0.5, success=0.2, ret=5.0))
    assert not run.record(agent, evaluation(score=0.4, success=1.0, ret=30.0)), "success and return do not rank"
    assert run.record(agent, evaluation(score=0.6, success=0.0, ret=1.0))
    assert agent.saved.count(tmp_path) == 2 and agent.saved.count(tmp_path / "last") == 3


def test_old_runs_without_a_driving_score_rank_below_any_evaluation_with_one(tmp_path):
    old = [evaluation(success=0.5, ret=10.0), evaluation(success=1.0, ret=20.0)]  # metrics.json before the score
    (tmp_path / "metrics.json").write_text(json.dumps(old))
    run, agent = RunFolder(tmp_path), SavedAt()
    assert run.best == RunFolder._rank(old[1]), "among old entries: success, then return"
    assert not run.record(agent, evaluation(success=0.9, ret=50.0))
    assert run.record(agent, evaluation(score=0.0, success=0.0, ret=0.0)), "resumed: the first scored one is best"
    assert len(json.loads((tmp_path / "metrics.json").read_text())) == 4


def test_dqn_and_ppo_train_on_envpool_and_a_resume_keeps_the_engine(tmp_path):
    from agents.base import AgentError
    from agents.runs import train_agent

    tiny = {"dqn": {"obs": "kinematics", "n_envs": 2, "learning_starts": 64, "batch_size": 16, "buffer_size": 2000},
            "ppo": {"obs": "kinematics", "n_envs": 2, "n_steps": 64, "batch_size": 32, "n_epochs": 1}}
    for name, settings in tiny.items():
        cls = agents.get_class(name)
        run_dir = train_agent(cls, "highway-fast-v0", 256, torch.device("cpu"), "e", False, settings, seed=1,
                              runs_dir=tmp_path, engine="envpool", eval_every=10_000, eval_episodes=1, progress=False)
        config = json.loads((run_dir / "last" / "config.json").read_text())
        assert config["engine"] == "envpool" and config["steps"] >= 256
        with pytest.raises(AgentError, match="trains on --engine envpool; resume it there"):
            train_agent(cls, "highway-fast-v0", 512, torch.device("cpu"), "e", True, {}, seed=1, runs_dir=tmp_path,
                        engine="highway-env", progress=False)


def test_features_on_envpool_are_refused_before_a_run_folder_exists(tmp_path):
    from agents.base import AgentError
    from agents.runs import train_agent

    with pytest.raises(AgentError, match="--set obs=camera"):
        train_agent(agents.get_class("dqn"), "highway-fast-v0", 100, torch.device("cpu"), "f", False, {}, seed=1,
                    runs_dir=tmp_path, engine="envpool", progress=False)
    assert not any(tmp_path.rglob("*"))


def test_dqn_trains_on_envpool_features_of_the_v2_encoder_and_plays_them_on_highway_env(tmp_path):
    from agents.base import AgentError, read_config
    from agents.checkpoint import checkpoint_encoder
    from agents.runs import train_agent
    from sim.rollout import play_episodes

    settings = {"encoder": "v2", "n_envs": 2, "learning_starts": 32, "batch_size": 16, "buffer_size": 1000}
    run_dir = train_agent(agents.get_class("dqn"), "merge-v0", 96, torch.device("cpu"), "v2", False, settings, seed=1,
                          runs_dir=tmp_path, engine="envpool", eval_every=10_000, eval_episodes=1, progress=False)
    config = read_config(run_dir)
    assert config["encoder"] == checkpoint_encoder(config) == "v2"
    env = make_env("merge-v0", obs="features", encoder=checkpoint_encoder(config), seed=1_000_000)  # highway-env
    (episode,) = play_episodes(env, agents.get_class("dqn").load(run_dir, env), [1_000_000])
    assert episode["length"] >= 1
    with pytest.raises(AgentError, match="other perception weights"):  # the default encoder's features are not its
        agents.get_class("dqn").load(run_dir, make_env("merge-v0", obs="features"))
