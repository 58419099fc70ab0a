"""stable-baselines3's PPO, A2C, SAC and DQN behind the sandbox's Agent interface.

Same inputs, run folders, evaluation, metrics and viewer as our DQN, so a comparison differs
only in the algorithm. Inputs (settings `obs`):
  features    the frozen pretrained encoder's features, computed once per vector step for all
              workers (sim.make_vec_env); the policy is an MLP on them.
  camera      frames; the encoder sits inside the policy as perception.features.EncoderExtractor,
              frozen unless `finetune_encoder: true` (which also turns `features` into `camera`).
  kinematics  the ground-truth array, scaled and flattened (the oracle input).

Checkpoints are ours (agents/checkpoint.py: state dicts + config.json, loaded with
weights_only=True), never SB3's pickled zip. A resumed run keeps its step count and schedules;
the replay buffer of SAC / sb3-dqn is not saved and refills after a resume.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import A2C, DQN, PPO, SAC
from stable_baselines3.common.save_util import recursive_getattr
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.base import Agent, AgentError
from agents.checkpoint import (check_trained_on, features_encoder, load_checkpoint, perception_hash, reset_progress,
                               restore_progress, save_checkpoint)
from agents.dqn import KINEMATICS_SCALE
from agents.settings import check_setting, read_settings_table

# Settings of ours, next to the algorithm's own constructor arguments.
OWN_DEFAULTS = {"obs": "features", "encoder": "default", "n_envs": 4, "net_arch": [256, 256], "finetune_encoder": False,
                "crash_penalty": 0.0,  # [reward] off a crash's or off-road end, training only (agents/training.py)
                "progress_reward": 0.0,  # [reward per whole route] for route progress, training only (agents/training.py)
                "ttc_penalty": 0.0}  # [reward per step] for a short time-to-collision, training only (agents/training.py)
# Constructor arguments that are not hyperparameters (or that the adapter sets itself).
NOT_SETTINGS = {"self", "policy", "env", "tensorboard_log", "policy_kwargs", "verbose", "seed", "device",
                "_init_setup_model", "rollout_buffer_class", "rollout_buffer_kwargs", "replay_buffer_class",
                "replay_buffer_kwargs", "action_noise", "stats_window_size"}
SETTINGS_FILE = Path(__file__).with_name("sb3.yaml")


class KinematicsExtractor(BaseFeaturesExtractor):
    """(B, V, 6) ground-truth arrays -> (B, 6V), each column divided by its scale (all O(1))."""

    def __init__(self, observation_space: gym.spaces.Box) -> None:
        super().__init__(observation_space, features_dim=int(np.prod(observation_space.shape)))
        self.register_buffer("scale", KINEMATICS_SCALE.clone(), persistent=False)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return (observations / self.scale).flatten(1)


def algorithm_defaults(algorithm) -> dict:
    """The SB3 constructor's hyperparameters and their defaults."""
    return {name: p.default for name, p in inspect.signature(algorithm.__init__).parameters.items()
            if name not in NOT_SETTINGS}


class SB3Settings:
    """Validated settings of one SB3 agent: ours (OWN_DEFAULTS) and the algorithm's own."""

    agent: ClassVar[str]
    algorithm: ClassVar[type]

    def __init__(self, values: dict) -> None:
        self.values = values

    @property
    def obs(self) -> str:
        return self.values["obs"]

    @property
    def encoder(self) -> str:
        return self.values["encoder"]

    @classmethod
    def defaults(cls) -> dict:
        return {**OWN_DEFAULTS, **algorithm_defaults(cls.algorithm)}

    @classmethod
    def from_dict(cls, values: dict) -> "SB3Settings":
        if not isinstance(values, dict):
            raise AgentError(f"{cls.agent} settings must be a mapping of names to values, got {values!r:.60}")
        defaults = cls.defaults()
        unknown = sorted(set(values) - set(defaults))
        if unknown:
            raise AgentError(f"unknown {cls.agent} setting(s) {', '.join(unknown)}; valid: {', '.join(defaults)}")
        merged = {**defaults, **{k: check_setting(cls.agent, k, v, defaults[k]) for k, v in values.items()}}
        if merged["finetune_encoder"]:
            if merged["obs"] == "kinematics":
                raise AgentError(f"{cls.agent}: finetune_encoder needs camera frames (obs features or camera), not kinematics")
            merged["obs"] = "camera"  # the encoder sits in the policy and sees the frames
        return cls(merged)

    def algorithm_kwargs(self) -> dict:
        return {k: v for k, v in self.values.items() if k not in OWN_DEFAULTS}

    def policy(self) -> tuple[str, dict]:
        """(SB3 policy name, policy_kwargs) for this input."""
        kwargs: dict = {"net_arch": list(self.values["net_arch"])}
        if self.obs == "camera":
            from perception.features import EncoderExtractor

            kwargs.update(features_extractor_class=EncoderExtractor,
                          features_extractor_kwargs={"finetune": self.values["finetune_encoder"]})
            return "CnnPolicy", kwargs
        if self.obs == "kinematics":
            kwargs["features_extractor_class"] = KinematicsExtractor
        return "MlpPolicy", kwargs


class _SpacesOnly(gym.Env):
    """Stands in for the env when an SB3 model is built only to act: it has the spaces, and
    stepping it is a bug."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed=None, options=None):
        raise RuntimeError("an acting SB3 model has no env to reset")

    def step(self, action):
        raise RuntimeError("an acting SB3 model has no env to step")


class SB3Agent(Agent):
    """An SB3 algorithm as an Agent. Subclasses name the algorithm and its action space."""

    algorithm: ClassVar[type]
    config_class: ClassVar[type[SB3Settings]]
    action_kind: ClassVar[type]  # gym.spaces.Discrete or gym.spaces.Box
    default_obs = "features"
    trainable = True

    def __init__(self, env: gym.Env, seed: int | None = None, config: SB3Settings | None = None,
                 device: str | torch.device = "cpu", scenario: str | None = None) -> None:
        super().__init__(env, seed)
        if not isinstance(env.action_space, self.action_kind):
            wanted = "continuous" if self.action_kind is gym.spaces.Box else "discrete"
            others = "sac" if wanted == "discrete" else "ppo, a2c or sb3-dqn"
            raise AgentError(f"{self.name} needs {wanted} actions; {scenario or 'this env'} has {env.action_space} "
                             f"(use {others})")
        self.settings = config or self.config_class.from_dict(self.default_settings(scenario) if scenario else {})
        self.device = torch.device(device) if not isinstance(device, torch.device) else device
        self.scenario = scenario
        self.obs_shape = tuple(env.observation_space.shape)
        reset_progress(self)  # steps, total_steps, train_seconds, evaluation: what a resume continues
        # Acting needs the policy only: no rollout data, and a replay buffer of one transition.
        spaces = DummyVecEnv([lambda: _SpacesOnly(env.observation_space, env.action_space)])
        self.model = self.build_model(spaces, seed=seed, buffer_size=1)

    def build_model(self, venv, seed: int | None, buffer_size: int | None = None):
        """The SB3 model for these settings on `venv` (an SB3 VecEnv)."""
        kwargs = self.settings.algorithm_kwargs()
        if buffer_size is not None and "buffer_size" in kwargs:
            kwargs["buffer_size"] = buffer_size
        policy, policy_kwargs = self.settings.policy()
        try:
            return self.algorithm(policy, venv, policy_kwargs=policy_kwargs, seed=seed, device=self.device, verbose=0,
                                  **kwargs)
        except (AssertionError, ValueError, TypeError) as err:
            raise AgentError(f"{self.name} settings rejected by stable-baselines3: {err}") from None

    @classmethod
    def default_settings(cls, scenario: str) -> dict:
        """Per-(agent, scenario) hyperparameters from agents/sb3.yaml, over the agent's defaults there."""
        return read_settings_table(SETTINGS_FILE, cls.name, scenario)

    # --- acting -----------------------------------------------------------------------------

    def _obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        return self.model.policy.obs_to_tensor(np.asarray(obs))[0]

    def act(self, obs: np.ndarray, deterministic: bool = True) -> Any:
        action, _ = self.model.policy.predict(np.asarray(obs), deterministic=deterministic)
        return int(action) if self.action_kind is gym.spaces.Discrete else np.asarray(action, dtype=np.float32)

    # --- training ---------------------------------------------------------------------------

    def learn(self, total_steps: int, **kwargs) -> None:
        from agents.sb3_train import train_sb3

        train_sb3(self, total_steps, **kwargs)

    def training_state(self) -> dict:
        """Everything a checkpoint holds: SB3's own list of state dicts and tensors to save."""
        state_dicts, tensors = self.model._get_torch_save_params()
        state = {name: recursive_getattr(self.model, name).state_dict() for name in state_dicts}
        state.update({name: recursive_getattr(self.model, name).detach().clone() for name in tensors})
        return state

    def load_training_state(self, state: dict) -> None:
        state_dicts, tensors = self.model._get_torch_save_params()
        for name in state_dicts:
            if name == "policy" or name in state:  # optimiser states are absent from exports
                recursive_getattr(self.model, name).load_state_dict(state[name])
        with torch.no_grad():
            for name in tensors:
                if name in state:
                    recursive_getattr(self.model, name).copy_(state[name])

    def config(self) -> dict:
        return {"agent": self.name, "seed": self.seed, "scenario": self.scenario, "obs": self.settings.obs,
                "settings": self.settings.values, "steps": self.steps, "total_steps": self.total_steps,
                "train_seconds": self.train_seconds, "evaluation": self.evaluation, "engine": self.engine,
                "updates": int(getattr(self.model, "_n_updates", 0)), "encoder": features_encoder(self.settings.obs, self.settings.encoder),
                "perception_weights": perception_hash(self.settings.obs, self.settings.encoder)}

    def save(self, path) -> Path:
        state = {"model": self.training_state(), "obs_shape": torch.tensor(self.obs_shape)}
        return save_checkpoint(path, state, self.config())

    @classmethod
    def check_checkpoint(cls, path) -> dict:
        return load_checkpoint(path, cls.name)[1]  # config.json, and model.pt: weights only

    @classmethod
    def load(cls, path, env: gym.Env, device: str | torch.device = "cpu", scenario: str | None = None) -> "SB3Agent":
        state, config = load_checkpoint(path, cls.name)
        try:
            settings = cls.config_class.from_dict(config["settings"])
        except (KeyError, TypeError, AgentError) as err:
            raise AgentError(f"{path}/config.json has no valid {cls.name} settings ({err})") from None
        check_trained_on(path, config, state, env, scenario)
        agent = cls(env, seed=config.get("seed"), config=settings, device=device, scenario=config.get("scenario"))
        try:
            agent.load_training_state(state["model"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise AgentError(f"{path}/model.pt does not fit a {cls.name} policy: {str(err).splitlines()[0]}") from None
        restore_progress(agent, config, path)
        agent.model.num_timesteps = agent.steps
        updates = config.get("updates", 0)
        if isinstance(updates, bool) or not isinstance(updates, int) or updates < 0:
            raise AgentError(f"{path}/config.json is corrupt: updates must be a non-negative integer, got {updates!r}")
        agent.model._n_updates = updates
        return agent


class _DiscreteActorCritic(SB3Agent):
    action_kind = gym.spaces.Discrete

    def action_probabilities(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            distribution = self.model.policy.get_distribution(self._obs_tensor(obs))
            return distribution.distribution.probs[0].cpu().numpy()


def _settings_for(agent: str, algorithm) -> type[SB3Settings]:
    return type(f"{algorithm.__name__}Settings", (SB3Settings,), {"agent": agent, "algorithm": algorithm})


class PPOAgent(_DiscreteActorCritic):
    name = "ppo"
    description = "stable-baselines3 PPO on perception features (discrete meta-actions)"
    algorithm = PPO
    config_class = _settings_for("ppo", PPO)


class A2CAgent(_DiscreteActorCritic):
    name = "a2c"
    description = "stable-baselines3 A2C on perception features (discrete meta-actions)"
    algorithm = A2C
    config_class = _settings_for("a2c", A2C)


class SACAgent(SB3Agent):
    name = "sac"
    description = "stable-baselines3 SAC on perception features (continuous actions, e.g. racetrack)"
    algorithm = SAC
    config_class = _settings_for("sac", SAC)
    action_kind = gym.spaces.Box


class SB3DQNAgent(SB3Agent):
    name = "sb3-dqn"
    description = "stable-baselines3 DQN on perception features: the reference for our dqn"
    algorithm = DQN
    config_class = _settings_for("sb3-dqn", DQN)
    action_kind = gym.spaces.Discrete

    def action_values(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.model.q_net(self._obs_tensor(obs))[0].cpu().numpy()


SB3_AGENTS = (PPOAgent, A2CAgent, SACAgent, SB3DQNAgent)
