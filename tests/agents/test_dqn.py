"""Our DQN: hand-computed targets, a known-answer environment, checkpoints, resume, devices."""

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.dqn import DQNAgent, DQNConfig, DQNLearner, td_targets
from agents.replay import NStepCollector, ReplayBuffer
from agents.runs import train_agent
from perception.device import resolve_device
from sim import CameraConfig, make_env
from tests.conftest import ctrl_c_as_at_a_terminal

ROOT = Path(__file__).resolve().parents[2]


def test_n_step_returns_and_discounts_by_hand():
    collector = NStepCollector(n_envs=1, n=3, gamma=0.5)
    assert collector.add(0, "s0", 0, 1.0, "s1", False, False) == []
    assert collector.add(0, "s1", 1, 2.0, "s2", False, False) == []
    # s0: 1 + 0.5*2 + 0.25*4 = 3, bootstrapped from s3 with 0.5^3
    assert collector.add(0, "s2", 0, 4.0, "s3", False, False) == [("s0", 0, 3.0, "s3", 0.125)]
    # A crash (terminated) after s3: no bootstrap for any pending start.
    done = collector.add(0, "s3", 1, -8.0, "s4", True, False)
    assert done == [("s1", 1, 2 + 2 - 2.0, "s4", 0.0), ("s2", 0, 4 - 4.0, "s4", 0.0), ("s3", 1, -8.0, "s4", 0.0)]


def test_time_limit_truncation_bootstraps_from_the_last_observation():
    collector = NStepCollector(n_envs=1, n=3, gamma=0.5)
    collector.add(0, "s0", 0, 1.0, "s1", False, False)
    flushed = collector.add(0, "s1", 0, 1.0, "s2", True, True)  # time limit, not a crash
    assert flushed == [("s0", 0, 1.5, "s2", 0.25), ("s1", 0, 1.0, "s2", 0.5)]


def test_double_q_target_by_hand():
    q_target_next = torch.tensor([[1.0, 5.0], [2.0, 0.0]])
    q_online_next = torch.tensor([[3.0, 1.0], [0.0, 1.0]])  # online picks action 0, then 1
    returns, discounts = torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.0])
    torch.testing.assert_close(td_targets(q_target_next, q_online_next, returns, discounts, double=True),
                               torch.tensor([1.5, 1.0]))
    torch.testing.assert_close(td_targets(q_target_next, q_online_next, returns, discounts, double=False),
                               torch.tensor([3.5, 1.0]))


class Chain(gym.Env):
    """Two states. In state 0, action 1 pays 1 and moves to state 1; action 0 pays 0 and stays.
    State 1 always pays 0 and ends. The optimal first action is 1 (Q = 1 vs 0.9 * 1)."""

    observation_space = gym.spaces.Box(0, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        self.state, self.t = 0, 0
        return np.eye(2, dtype=np.float32)[0], {}

    def step(self, action):
        self.t += 1
        if self.state == 0 and action == 1:
            self.state = 1
            return np.eye(2, dtype=np.float32)[1], 1.0, False, False, {}
        return np.eye(2, dtype=np.float32)[self.state], 0.0, self.state == 1, self.t >= 5, {}


def test_dqn_learns_the_optimal_action_of_a_two_state_chain():
    config = DQNConfig(obs="kinematics-free", n_envs=1, batch_size=32, learning_starts=50, n_step=2,
                       target_update_interval=20, hidden=32, learning_rate=3e-3, gamma=0.9)
    env = Chain()
    torch.manual_seed(0)
    learner = DQNLearner(config, env.observation_space, 2, torch.device("cpu"))
    buffer = ReplayBuffer(1000, (2,), np.float32, alpha=0.6, seed=0)
    nstep = NStepCollector(1, config.n_step, config.gamma)
    rng = np.random.default_rng(0)
    obs, _ = env.reset()
    for step in range(400):
        action = int(rng.integers(2)) if rng.random() < max(0.1, 1 - step / 200) else int(learner.q_values(obs[None]).argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        for transition in nstep.add(0, obs, action, reward, next_obs, terminated or truncated, truncated and not terminated):
            buffer.add(*transition)
        obs = env.reset()[0] if terminated or truncated else next_obs
        if step >= config.learning_starts:
            batch, indices, weights = buffer.sample(config.batch_size, beta=0.4)
            td, _ = learner.update(batch, weights)
            buffer.update_priorities(indices, td)
    q0 = learner.q_values(np.eye(2, dtype=np.float32)[:1])[0]
    assert q0.argmax() == 1
    assert q0[1] == pytest.approx(1.0, abs=0.15)


def test_prioritised_sampling_follows_priorities():
    buffer = ReplayBuffer(8, (1,), np.float32, alpha=1.0, seed=0)
    for i in range(8):
        buffer.add(np.array([i]), 0, 0.0, np.array([i]), 0.0)
    buffer.update_priorities(np.arange(8), np.array([0, 0, 0, 0, 0, 0, 0, 10.0]))
    _, indices, weights = buffer.sample(64, beta=1.0)
    assert (indices == 7).mean() > 0.9
    assert weights.max() == 1.0


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """A real (tiny) training run on merge with kinematics observations."""
    runs = tmp_path_factory.mktemp("runs")
    settings = {"obs": "kinematics", "n_envs": 2, "learning_starts": 64, "batch_size": 16, "buffer_size": 2000,
                "crash_penalty": 1.0}  # the training-only shaping path runs too
    run_dir = train_agent(DQNAgent, "merge", 120, torch.device("cpu"), "r1", False, settings, seed=3, runs_dir=runs)
    return runs, run_dir


def test_a_training_run_writes_checkpoints_metrics_and_tensorboard(short_run):
    _, run_dir = short_run
    assert (run_dir / "model.pt").exists() and (run_dir / "last" / "model.pt").exists()
    history = json.loads((run_dir / "metrics.json").read_text())
    assert history[-1]["steps"] == 120
    assert 0 <= history[-1]["mean_driving_score"] <= 1, "the best checkpoint is chosen by it"
    assert list(run_dir.glob("events.out.tfevents.*"))
    config = json.loads((run_dir / "last" / "config.json").read_text())
    assert config["agent"] == "dqn" and config["scenario"] == "merge" and config["steps"] == 120


def test_save_then_load_gives_identical_q_values(short_run):
    _, run_dir = short_run
    env = make_env("merge", obs="kinematics", seed=0)
    agent = DQNAgent.load(run_dir / "last", env)
    obs, _ = env.reset()
    again = DQNAgent.load(run_dir / "last", env)
    np.testing.assert_array_equal(agent.action_values(obs), again.action_values(obs))
    with pytest.raises(Exception, match="trained on obs='kinematics'"):
        DQNAgent.load(run_dir / "last", make_env("merge", obs="camera"))


def test_resume_continues_the_step_counter_and_schedule(short_run):
    runs, run_dir = short_run
    before = DQNAgent.load(run_dir / "last", make_env("merge", obs="kinematics"))
    assert before.steps == 120
    train_agent(DQNAgent, "merge", 200, torch.device("cpu"), "r1", True, {}, seed=3, runs_dir=runs)
    after = json.loads((run_dir / "last" / "config.json").read_text())
    assert after["steps"] == 200 and after["total_steps"] == 200
    assert after["dqn"] == json.loads((run_dir / "model.pt").with_name("config.json").read_text())["dqn"]


def test_cuda_without_a_gpu_falls_back_with_a_message(capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert resolve_device("cuda").type == "cpu"
    assert "no GPU" in capsys.readouterr().err


def test_main_command_plays_the_shipped_merge_checkpoint_headless(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "--scenario", "merge", "--agent", "dqn",
                             "--episodes", "1"], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={"SDL_VIDEODRIVER": "dummy", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "loaded dqn checkpoint" in result.stdout and "zoo/merge/dqn" in result.stdout
    assert "1 episodes: success" in result.stdout


# SIGTERM runs the same handler as SIGINT (agents/training.py): slow-marked for the CI budget.
@pytest.mark.parametrize("sig", ["SIGINT", pytest.param("SIGTERM", marks=pytest.mark.slow)])
def test_interrupting_training_saves_a_checkpoint_and_says_how_to_resume(tmp_path, sig):
    import signal
    import time

    command = [sys.executable, str(ROOT / "run_sim.py"), "--scenario", "merge", "--agent", "dqn", "--train",
               "--steps", "100000", "--set", "obs=kinematics", "--set", "n_envs=2", "--run", "r"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={"SDL_VIDEODRIVER": "dummy", "PATH": "/usr/bin:/bin"}, start_new_session=True,
                               preexec_fn=ctrl_c_as_at_a_terminal)
    run_dir = tmp_path / "runs/merge/dqn/r"
    deadline = time.monotonic() + 120
    while not list(run_dir.glob("events.out.tfevents.*")) and time.monotonic() < deadline:
        time.sleep(0.5)  # the TensorBoard file appears when the training loop starts
    time.sleep(3)  # some steps taken
    os.killpg(process.pid, getattr(signal, sig))  # like Ctrl-C in a terminal: the whole process group
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "--resume" in out
    last = json.loads((tmp_path / "runs/merge/dqn/r/last/config.json").read_text())
    assert 0 < last["steps"] < 100000


def test_camera_input_fine_tunes_the_pretrained_encoder_and_replay_keeps_uint8_frames():
    from perception.weights import CAMERA_WEIGHTS, load_encoder

    space = gym.spaces.Box(0, 255, CameraConfig().shape, np.uint8)
    config = DQNConfig(obs="camera", batch_size=4, prioritized=False)
    learner = DQNLearner(config, space, 5, torch.device("cpu"), encoder=load_encoder(CAMERA_WEIGHTS))
    pretrained = load_encoder(CAMERA_WEIGHTS).stem[0].weight.detach().clone()
    torch.testing.assert_close(learner.q.encoder.stem[0].weight, pretrained)  # initialised from the weights
    buffer = ReplayBuffer(16, space.shape, np.uint8, alpha=0.0, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(8):
        frames = rng.integers(0, 255, space.shape, dtype=np.uint8)
        buffer.add(frames, int(rng.integers(5)), 1.0, frames, 0.9)
    assert buffer.obs.dtype == np.uint8
    batch, _, weights = buffer.sample(4, beta=0.4)
    learner.update(batch, weights)
    assert not torch.equal(learner.q.encoder.stem[0].weight, pretrained), "the encoder is trained end to end"
