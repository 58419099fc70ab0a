"""Our DQN, readable top to bottom.

Double Q-learning, dueling head, n-step returns, prioritised replay, Huber loss, gradient
clipping, hard or Polyak target updates and a linear epsilon schedule, each switchable in
DQNConfig. Time-limit truncation bootstraps, a crash or goal does not (agents/replay.py).

Inputs (obs): "features" (the frozen pretrained encoder's features, computed in one batched
pass across the vector env's workers), "kinematics" (the ground-truth array), or "camera"
(frames; the encoder is fine-tuned end to end, initialised from the pretrained weights).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from agents.base import Agent, AgentError
from agents.checkpoint import (check_trained_on, features_encoder, load_checkpoint, perception_hash, reset_progress,
                               restore_progress, save_checkpoint)
from agents.settings import check_setting, read_settings_table
from perception.encoder import Encoder
from perception.weights import CAMERA_WEIGHTS, load_encoder

# Kinematics columns (presence, x, y, vx, vy, heading) divided by these: all O(1).
KINEMATICS_SCALE = torch.tensor([1.0, 50.0, 10.0, 20.0, 20.0, np.pi])
SETTINGS_FILE = Path(__file__).with_name("dqn.yaml")  # per-scenario settings over DQNConfig's defaults


@dataclass(frozen=True)
class DQNConfig:
    obs: str = "features"
    # perception weights whose features obs="features" are: "default" (highway-env's camera) or
    # "v3" (the world-state camera: the one EnvPool can draw; "v2", its first version, still loads); perception/weights/
    encoder: str = "default"
    n_envs: int = 4  # vector-env workers
    learning_rate: float = 5e-4
    gamma: float = 0.9  # short episodes (10-40 decisions): a 10-step horizon
    buffer_size: int = 50_000  # [transitions]
    batch_size: int = 64
    learning_starts: int = 1_000  # [env steps] of random-ish experience before updates
    train_every: int = 1  # [vector steps] between updates
    gradient_steps: int = 1  # updates each time
    target_update_interval: int = 250  # [updates]; used when tau == 1 (hard copies)
    tau: float = 1.0  # 1: hard copy every interval; < 1: Polyak averaging after every update
    exploration_fraction: float = 0.3  # of the training steps over which epsilon decays
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    n_step: int = 3
    double: bool = True
    dueling: bool = True
    prioritized: bool = True
    priority_alpha: float = 0.6
    priority_beta: float = 0.4  # annealed to 1 over training
    hidden: int = 256
    max_grad_norm: float = 10.0
    crash_penalty: float = 0.0  # [reward] subtracted when an episode ends in a collision or off road (training only)
    progress_reward: float = 0.0  # [reward per whole route] added as route progress is gained (training only)
    ttc_penalty: float = 0.0  # [reward per step] for a time-to-collision under agents.training.TTC_MARGIN (training only)

    @classmethod
    def from_dict(cls, values: dict) -> "DQNConfig":
        """Settings by name, each checked against its default's type and range (agents/settings.py)."""
        if not isinstance(values, dict):
            raise AgentError(f"dqn settings must be a mapping of names to values, got {values!r:.60}")
        defaults = {f.name: f.default for f in fields(cls)}
        unknown = sorted(set(values) - set(defaults))
        if unknown:
            raise AgentError(f"unknown dqn setting(s) {', '.join(unknown)}; valid: {', '.join(defaults)}")
        return cls(**{k: check_setting("dqn", k, v, defaults[k]) for k, v in values.items()})

    def epsilon(self, step: int, total: int) -> float:
        progress = min(1.0, step / max(1.0, self.exploration_fraction * total))
        return self.epsilon_start + progress * (self.epsilon_end - self.epsilon_start)

    def beta(self, step: int, total: int) -> float:
        return self.priority_beta + min(1.0, step / max(1, total)) * (1.0 - self.priority_beta)


class QNetwork(nn.Module):
    """obs -> Q-values (B, A). With an encoder (camera input) the frames are encoded first."""

    def __init__(self, obs_shape: tuple, n_actions: int, hidden: int, dueling: bool, obs_mode: str,
                 encoder: Encoder | None = None) -> None:
        super().__init__()
        self.obs_mode = obs_mode
        self.encoder = encoder
        in_dim = encoder.config.features if encoder is not None else int(np.prod(obs_shape))
        self.body = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.advantage = nn.Linear(hidden, n_actions)
        self.value = nn.Linear(hidden, 1) if dueling else None
        self.register_buffer("kinematics_scale", KINEMATICS_SCALE.clone(), persistent=False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.obs_mode == "camera":
            x = self.encoder.features(obs.float() / 255)  # (B, C, H, W) uint8 -> (B, F)
        elif self.obs_mode == "kinematics":
            x = (obs.float() / self.kinematics_scale).flatten(1)  # (B, V, 6) -> (B, 6V)
        else:
            x = obs.float()  # (B, F) features
        h = self.body(x)
        advantage = self.advantage(h)
        if self.value is None:
            return advantage
        return self.value(h) + advantage - advantage.mean(dim=1, keepdim=True)


def td_targets(q_target_next: torch.Tensor, q_online_next: torch.Tensor, returns: torch.Tensor,
               discounts: torch.Tensor, double: bool) -> torch.Tensor:
    """R + discount * Q_target(s', a*), a* = argmax of Q_online (double) or of Q_target.

    discounts is gamma^k for a bootstrapped n-step transition and 0 after a real termination.
    """
    chooser = q_online_next if double else q_target_next
    best = chooser.argmax(dim=1, keepdim=True)
    return returns + discounts * q_target_next.gather(1, best).squeeze(1)


class DQNLearner:
    """The networks, the optimiser and one gradient update. The training loop lives in agents/dqn_train.py."""

    def __init__(self, config: DQNConfig, observation_space: gym.spaces.Box, n_actions: int,
                 device: torch.device, encoder: Encoder | None = None) -> None:
        self.config, self.device, self.n_actions = config, device, n_actions

        def network() -> QNetwork:
            import copy

            enc = copy.deepcopy(encoder) if encoder is not None else None
            return QNetwork(observation_space.shape, n_actions, config.hidden, config.dueling, config.obs, enc)

        self.q = network().to(device)
        self.target = network().to(device)
        self.target.load_state_dict(self.q.state_dict())
        self.target.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=config.learning_rate)
        self.updates = 0

    @torch.no_grad()
    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """(B, ...) observations -> (B, A) Q-values, in eval mode."""
        self.q.eval()
        return self.q(torch.as_tensor(obs, device=self.device)).cpu().numpy()

    def update(self, batch: dict, weights: np.ndarray) -> tuple[np.ndarray, dict]:
        """One gradient step on a replay batch; returns TD errors (for priorities) and logs."""
        c, dev = self.config, self.device
        self.q.train()
        obs = torch.as_tensor(batch["obs"], device=dev)
        next_obs = torch.as_tensor(batch["next_obs"], device=dev)
        actions = torch.as_tensor(batch["actions"], device=dev)
        returns = torch.as_tensor(batch["returns"], device=dev)
        discounts = torch.as_tensor(batch["discounts"], device=dev)
        with torch.no_grad():
            q_online_next = self.q(next_obs) if c.double else None
            targets = td_targets(self.target(next_obs), q_online_next, returns, discounts, c.double)
        q_taken = self.q(obs).gather(1, actions[:, None]).squeeze(1)
        td = q_taken - targets
        loss = (torch.as_tensor(weights, device=dev) * nn.functional.smooth_l1_loss(q_taken, targets, reduction="none")).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.q.parameters(), c.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        self._update_target()
        logs = {"loss": loss.item(), "q_mean": q_taken.mean().item(), "grad_norm": float(grad_norm)}
        return td.detach().cpu().numpy(), logs

    def _update_target(self) -> None:
        c = self.config
        if c.tau >= 1.0:
            if self.updates % c.target_update_interval == 0:
                self.target.load_state_dict(self.q.state_dict())
            return
        with torch.no_grad():
            for target, online in zip(self.target.parameters(), self.q.parameters()):
                target.lerp_(online, c.tau)
            for target, online in zip(self.target.buffers(), self.q.buffers()):
                target.copy_(online)

    def state_dict(self) -> dict:
        return {"q": self.q.state_dict(), "target": self.target.state_dict(),
                "optimizer": self.optimizer.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.q.load_state_dict(state["q"])
        self.target.load_state_dict(state.get("target", state["q"]))  # shipped zoo checkpoints drop the target
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state.get("updates", 0))


class DQNAgent(Agent):
    name = "dqn"
    description = "our DQN (double, dueling, n-step, prioritised replay) on perception features"
    default_obs = "features"
    trainable = True
    config_class = DQNConfig

    def __init__(self, env: gym.Env, seed: int | None = None, config: DQNConfig | None = None,
                 device: str | torch.device = "cpu", scenario: str | None = None) -> None:
        super().__init__(env, seed)
        self.dqn_config = config or DQNConfig()
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise AgentError(f"dqn needs discrete actions; this env has {env.action_space}")
        self.device = torch.device(device) if not isinstance(device, torch.device) else device
        # obs="camera": the v2 encoder reads the world-state camera's frames inside the network
        encoder = load_encoder(CAMERA_WEIGHTS, device=self.device) if self.dqn_config.obs == "camera" else None
        self.learner = DQNLearner(self.dqn_config, env.observation_space, int(env.action_space.n), self.device, encoder)
        self.scenario = scenario
        self.obs_shape = tuple(env.observation_space.shape)
        reset_progress(self)  # steps, total_steps, train_seconds, evaluation: what a resume continues

    @staticmethod
    def default_settings(scenario: str) -> dict:
        """Per-scenario hyperparameters (agents/dqn.yaml), over DQNConfig's defaults."""
        return read_settings_table(SETTINGS_FILE, None, scenario)

    def act(self, obs: np.ndarray, deterministic: bool = True) -> int:
        return int(np.argmax(self.action_values(obs)))

    def action_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-value of each action for one observation (what the viewer draws)."""
        return self.learner.q_values(np.asarray(obs)[None])[0]

    def learn(self, total_steps: int, **kwargs) -> None:
        from agents.dqn_train import train_dqn

        train_dqn(self, total_steps, **kwargs)

    def config(self) -> dict:
        return {"agent": self.name, "seed": self.seed, "scenario": self.scenario, "obs": self.dqn_config.obs,
                "dqn": asdict(self.dqn_config), "steps": self.steps, "total_steps": self.total_steps,
                "train_seconds": self.train_seconds, "evaluation": self.evaluation, "engine": self.engine,
                "encoder": features_encoder(self.dqn_config.obs, self.dqn_config.encoder),
                "perception_weights": perception_hash(self.dqn_config.obs, self.dqn_config.encoder)}

    def save(self, path) -> Path:
        state = {"learner": self.learner.state_dict(), "obs_shape": torch.tensor(self.obs_shape)}
        return save_checkpoint(path, state, self.config())

    @classmethod
    def check_checkpoint(cls, path) -> dict:
        return load_checkpoint(path, cls.name)[1]  # config.json, and model.pt: weights only

    @classmethod
    def load(cls, path, env: gym.Env, device: str | torch.device = "cpu", scenario: str | None = None) -> "DQNAgent":
        """The agent saved in `path`, for `env`; with `scenario`, refuses one trained on another scenario."""
        state, config = load_checkpoint(path, cls.name)
        try:
            dqn_config = DQNConfig.from_dict(config["dqn"])
        except (KeyError, TypeError, AgentError) as err:
            raise AgentError(f"{path}/config.json has no valid 'dqn' settings ({err})") from None
        check_trained_on(path, config, state, env, scenario)
        agent = cls(env, seed=config.get("seed"), config=dqn_config, device=device, scenario=config.get("scenario"))
        try:
            agent.learner.load_state_dict(state["learner"])
        except (KeyError, RuntimeError) as err:
            raise AgentError(f"{path}/model.pt does not fit a dqn network: {str(err).splitlines()[0]}") from None
        restore_progress(agent, config, path)
        return agent

