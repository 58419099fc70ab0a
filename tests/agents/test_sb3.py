"""stable-baselines3 agents: real (short) training runs, checkpoints in our format, settings,
the frozen / fine-tuned encoder, resume and Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import agents
from agents.runs import train_agent
from agents.sb3 import PPOAgent, SACAgent
from sim import make_env
from tests.conftest import ctrl_c_as_at_a_terminal

ROOT = Path(__file__).resolve().parents[2]
TINY = {  # a few hundred steps, one env in this process (the vector-env test below uses workers)
    "ppo": {"n_envs": 1, "n_steps": 64, "batch_size": 32, "n_epochs": 2},
    "a2c": {"n_envs": 1, "n_steps": 8},
    "sb3-dqn": {"n_envs": 1, "learning_starts": 50, "batch_size": 16, "buffer_size": 1000},
    "sac": {"n_envs": 1, "learning_starts": 50, "batch_size": 16, "buffer_size": 1000},
}
CASES = [("ppo", "merge", "features"), ("a2c", "merge", "kinematics"), ("sb3-dqn", "merge", "kinematics"),
         ("sac", "racetrack", "features")]


def train(name, scenario, runs, steps=192, run="r", **settings):
    cls = agents.get_class(name)
    return train_agent(cls, scenario, steps, torch.device("cpu"), run, False, {**TINY[name], **settings}, seed=1,
                       runs_dir=runs, eval_every=10_000, eval_episodes=1, progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short real training run per adapter: {name: (scenario, obs, run folder)}."""
    runs = tmp_path_factory.mktemp("runs")
    return {name: (scenario, obs, train(name, scenario, runs, obs=obs)) for name, scenario, obs in CASES}


@pytest.mark.parametrize("name", [case[0] for case in CASES])
def test_each_adapter_trains_and_its_checkpoint_round_trips(trained, name):
    scenario, obs, run_dir = trained[name]
    config = json.loads((run_dir / "last" / "config.json").read_text())
    assert config["agent"] == name and config["scenario"] == scenario and config["obs"] == obs
    assert config["steps"] >= 192 and config["settings"]["n_envs"] == 1
    assert json.loads((run_dir / "metrics.json").read_text())[-1]["steps"] == config["steps"]

    env = make_env(scenario, obs=obs)
    observations = [env.reset(seed=seed)[0] for seed in range(5)]
    first, second = (agents.get_class(name).load(run_dir / "last", env, scenario=scenario) for _ in range(2))
    for obs_ in observations:
        a, b = first.act(obs_), second.act(obs_)
        np.testing.assert_array_equal(a, b)
        assert env.action_space.contains(a)
    for method in ("action_values", "action_probabilities"):
        values = getattr(first, method)(observations[0])
        if values is not None:
            np.testing.assert_array_equal(values, getattr(second, method)(observations[0]))
            assert values.shape == (env.action_space.n,)
    if name in ("ppo", "a2c"):
        assert first.action_probabilities(observations[0]).sum() == pytest.approx(1.0, abs=1e-5)


def test_the_checkpoint_is_state_dicts_only_and_loads_with_weights_only(trained):
    _, _, run_dir = trained["sac"]
    state = torch.load(run_dir / "model.pt", weights_only=True)
    assert {"policy", "actor.optimizer", "critic.optimizer"} <= set(state["model"])
    assert not list(run_dir.glob("*.zip"))


def test_loading_refuses_another_scenario_obs_mode_or_agent(trained):
    scenario, obs, run_dir = trained["ppo"]  # merge, features
    with pytest.raises(agents.AgentError, match="trained on scenario 'merge', not 'highway'"):
        PPOAgent.load(run_dir, make_env("highway", obs="features"), scenario="highway")
    with pytest.raises(agents.AgentError, match=r"trained on obs='features' \(256,\); this env gives \(11, 6\)"):
        PPOAgent.load(run_dir, make_env("merge", obs="kinematics"), scenario="merge")
    with pytest.raises(agents.AgentError, match="holds a 'ppo' checkpoint, not 'a2c'"):
        agents.get_class("a2c").load(run_dir, make_env("merge", obs="features"))
    # A variant may play its base scenario's checkpoint (generalisation suites do).
    PPOAgent.load(run_dir, make_env("merge-dense", obs="features"), scenario="merge-dense")


@pytest.mark.parametrize("settings, message", [
    ({"learning_rte": 1e-3}, "unknown ppo setting(s) learning_rte; valid: obs, encoder, n_envs"),
    ({"learning_rate": -1.0}, "learning_rate=-1.0: expected a positive number"),
    ({"n_steps": 12.5}, "n_steps=12.5: expected an integer"),
    ({"gamma": 1.5}, "gamma=1.5: expected a number in [0, 1]"),
    ({"n_epochs": "ten"}, "n_epochs='ten': expected a finite number"),
    ({"normalize_advantage": 1}, "normalize_advantage=1: expected true or false"),
    ({"obs": "lidar"}, "obs='lidar': expected one of features, camera, kinematics"),
    ({"net_arch": [64, -1]}, "expected a list of layer sizes"),
    ({"obs": "kinematics", "finetune_encoder": True}, "finetune_encoder needs camera frames"),
])
def test_settings_are_validated_by_name_type_and_range(settings, message):
    with pytest.raises(agents.AgentError) as err:
        PPOAgent.config_class.from_dict(settings)
    assert message in str(err.value)


def test_settings_come_from_the_yaml_and_finetuning_means_camera_input():
    defaults = PPOAgent.default_settings("highway")
    assert PPOAgent.config_class.from_dict(defaults).values["n_steps"] == defaults["n_steps"]
    assert PPOAgent.config_class.from_dict({"finetune_encoder": True}).obs == "camera"
    assert SACAgent.config_class.from_dict({"ent_coef": "auto_0.1"}).values["ent_coef"] == "auto_0.1"


def test_sac_refuses_discrete_actions_and_ppo_on_continuous_is_allowed():
    with pytest.raises(agents.AgentError, match="sac needs continuous actions; merge has Discrete"):
        SACAgent(make_env("merge", obs="kinematics"), scenario="merge")
    with pytest.raises(agents.AgentError, match="sb3-dqn needs discrete actions"):
        agents.get_class("sb3-dqn")(make_env("racetrack", obs="kinematics"), scenario="racetrack")


def _encoder_state(agent):
    return {k: v.clone() for k, v in agent.model.policy.features_extractor.encoder.state_dict().items()}


@pytest.mark.parametrize("finetune", [False, True])
def test_the_encoder_is_frozen_unless_finetuning_is_asked(tmp_path, finetune):
    from perception.weights import CAMERA_WEIGHTS, load_encoder

    pretrained = load_encoder(CAMERA_WEIGHTS).state_dict()  # obs="camera": the world-state camera's encoder
    run_dir = train("ppo", "merge", tmp_path, steps=64, obs="camera", finetune_encoder=finetune)
    trained_agent = PPOAgent.load(run_dir / "last", make_env("merge", obs="camera"))
    after = _encoder_state(trained_agent)
    changed = [k for k in pretrained if not torch.equal(pretrained[k], after[k])]
    if finetune:
        assert any(k.endswith("weight") for k in changed), "fine-tuning trains the encoder"
    else:
        assert changed == [], "a frozen encoder keeps its weights and batch-norm statistics"
    heads = trained_agent.model.policy.action_net.weight
    assert heads.requires_grad


def test_resume_continues_the_step_count_schedule_and_optimiser(tmp_path):
    run_dir = train("ppo", "merge", tmp_path, steps=64, obs="kinematics")
    first = json.loads((run_dir / "last" / "config.json").read_text())
    assert first["steps"] == 64 and first["total_steps"] == 64 and first["updates"] == 2
    state = torch.load(run_dir / "last" / "model.pt", weights_only=True)["model"]
    assert state["policy.optimizer"]["state"], "the optimiser's moments are saved"
    train_agent(PPOAgent, "merge", 128, torch.device("cpu"), "r", True, {}, seed=1, runs_dir=tmp_path,
                progress=False)  # no evaluation settings: the run keeps its own
    after = json.loads((run_dir / "last" / "config.json").read_text())
    assert after["steps"] == 128 and after["total_steps"] == 128 and after["updates"] == 4
    assert after["settings"] == first["settings"]
    assert after["train_seconds"] > first["train_seconds"] > 0, "the training clock continues across a resume"
    assert after["evaluation"] == first["evaluation"] == {"eval_every": 10_000, "eval_episodes": 1}


def test_training_uses_the_vector_env_workers(tmp_path):
    run_dir = train("a2c", "merge", tmp_path, steps=64, obs="kinematics", n_envs=2)
    assert json.loads((run_dir / "last" / "config.json").read_text())["steps"] == 64


def _cli(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "run_sim.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={"SDL_VIDEODRIVER": "dummy", "PATH": "/usr/bin:/bin"})


def test_play_a_trained_sac_from_the_command_line_prints_the_metrics(trained, tmp_path):
    _, _, run_dir = trained["sac"]
    result = _cli("--scenario", "racetrack", "--agent", "sac", "--checkpoint", str(run_dir), "--episodes", "1",
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "loaded sac checkpoint" in result.stdout and "1 episodes: success" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--agent", "ppo", "--train", "--set", "n_stepz=5"], "unknown ppo setting(s) n_stepz"),
    (["--agent", "sac", "--scenario", "merge", "--train"], "sac needs continuous actions"),
    (["--agent", "idm", "--train", "--finetune-encoder"], "--finetune-encoder applies to the SB3 agents"),
])
def test_cli_training_errors_are_one_line(tmp_path, args, message):
    result = _cli(*args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_ctrl_c_during_sb3_training_saves_and_says_how_to_resume(tmp_path):
    command = [sys.executable, str(ROOT / "run_sim.py"), "--scenario", "merge", "--agent", "ppo", "--train",
               "--steps", "100000", "--set", "obs=kinematics", "--set", "n_envs=2", "--set", "n_steps=32", "--run", "r"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={"SDL_VIDEODRIVER": "dummy", "PATH": "/usr/bin:/bin"}, start_new_session=True,
                               preexec_fn=ctrl_c_as_at_a_terminal)
    run_dir = tmp_path / "runs/merge/ppo/r"
    deadline = time.monotonic() + 120
    while not list(run_dir.glob("events.out.tfevents.*")) and time.monotonic() < deadline:
        time.sleep(0.5)  # the TensorBoard file appears when training starts
    time.sleep(3)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "--resume" in out
    assert 0 < json.loads((run_dir / "last" / "config.json").read_text())["steps"] < 100000


def test_set_reads_numbers_the_way_users_write_them():
    import run_sim

    assert run_sim.parse_settings(["learning_rate=3e-4", "n_steps=64", "obs=kinematics", "use_sde=true"]) == {
        "learning_rate": 3e-4, "n_steps": 64, "obs": "kinematics", "use_sde": True}


def test_crash_penalty_shapes_only_the_training_reward_of_a_failed_episode():
    from agents.training import VecTrainingShaping
    from sim import make_vec_env

    plain = make_vec_env("highway", 1, obs="kinematics", seed=5)
    shaped = VecTrainingShaping(make_vec_env("highway", 1, obs="kinematics", seed=5), penalty=10.0)
    plain.reset(), shaped.reset()
    for _ in range(30):  # always "faster": this seed's episode ends in a collision
        _, r_plain, done, info = plain.step(np.array([3]))
        _, r_shaped, _, info_shaped = shaped.step(np.array([3]))
        if done[0]:
            break
        assert r_shaped[0] == r_plain[0], "steps that do not end in a failure keep their reward"
    assert info[0]["episode"]["outcome"] == "collision"
    assert r_shaped[0] == pytest.approx(r_plain[0] - 10.0)
    assert info_shaped[0]["episode"]["episode_return"] == info[0]["episode"]["episode_return"], "metrics keep the scenario's reward"


def test_progress_reward_pays_for_route_progress_and_nothing_for_waiting():
    """On the roundabout, braking at the entry gains no progress and earns no shaping; driving in does."""
    from agents.training import VecTrainingShaping
    from sim import make_vec_env

    totals = {}
    for action, name in ((4, "brake"), (1, "idle")):  # SLOWER; IDLE at 8 m/s into the ring
        plain = make_vec_env("roundabout", 1, obs="kinematics", seed=3)
        shaped = VecTrainingShaping(make_vec_env("roundabout", 1, obs="kinematics", seed=3), progress_reward=2.0)
        plain.reset(), shaped.reset()
        extra, progress = 0.0, 0.0
        for _ in range(6):
            _, r_plain, done, info = plain.step(np.array([action]))
            _, r_shaped, _, _ = shaped.step(np.array([action]))
            extra += float(r_shaped[0] - r_plain[0])
            if done[0]:
                break
            progress = info[0]["route_progress"]
        plain.close(), shaped.close()
        totals[name] = (extra, progress)
    assert totals["brake"][0] == pytest.approx(2.0 * totals["brake"][1], abs=1e-5) and totals["brake"][1] < 0.05
    assert totals["idle"][0] == pytest.approx(2.0 * totals["idle"][1], abs=1e-5) and totals["idle"][1] > 0.1


def test_ttc_penalty_charges_each_step_by_how_short_its_time_to_collision_is():
    """Always "faster" on highway seed 5 closes in on a car and crashes: the steps whose TTC along
    the path falls under the margin pay for it in proportion, the others pay nothing."""
    from agents.training import TTC_MARGIN, VecTrainingShaping
    from sim import make_vec_env

    plain = make_vec_env("highway", 1, obs="kinematics", seed=5)
    shaped = VecTrainingShaping(make_vec_env("highway", 1, obs="kinematics", seed=5), ttc_penalty=2.0)
    plain.reset(), shaped.reset()
    charged = []
    for _ in range(30):
        _, r_plain, done, info = plain.step(np.array([3]))
        _, r_shaped, _, _ = shaped.step(np.array([3]))
        ttc = info[0].get("ttc", np.inf)
        expected = 2.0 * max(0.0, 1.0 - ttc / TTC_MARGIN)
        assert r_plain[0] - r_shaped[0] == pytest.approx(expected, abs=1e-5)
        charged.append(expected)
        if done[0]:
            break
    plain.close(), shaped.close()
    assert info[0]["episode"]["outcome"] == "collision"
    assert any(c > 0 for c in charged) and any(c == 0 for c in charged)
