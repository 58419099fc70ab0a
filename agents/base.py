"""The agent interface every agent implements, learning or not."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from scenarios.load import SMALL_FILE_BYTES, LoadError, read_json
from sim.files import write_json_atomic

CONFIG_FILE = "config.json"


class AgentError(ValueError):
    """Something the user asked of an agent that it cannot do; the message says why."""


class Agent(ABC):
    """An agent maps observations to actions.

    name, description: registry name and one line for --help.
    default_obs: the observation mode the agent is built for ("camera" or "kinematics").
    trainable: False for baselines; learn() then raises AgentError.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    default_obs: ClassVar[str] = "camera"
    trainable: ClassVar[bool] = False

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        self.action_space = env.action_space
        self.seed = seed

    def reset(self) -> None:
        """Called at the start of each episode (agents with per-episode state override it)."""

    @abstractmethod
    def act(self, obs: np.ndarray, deterministic: bool = True) -> Any:
        """One action for one observation."""

    def action_values(self, obs: np.ndarray) -> np.ndarray | None:
        """Value of each discrete action for `obs` (e.g. Q-values), for the viewer's chart; None if the agent has none."""
        return None

    def action_probabilities(self, obs: np.ndarray) -> np.ndarray | None:
        """Probability of each discrete action for `obs` (stochastic policies); None if the agent has none."""
        return None

    def learn(self, total_steps: int, **kwargs) -> None:
        raise AgentError(f"agent {self.name!r} is not trainable (it has no parameters to learn)")

    def config(self) -> dict:
        """What save() writes to config.json and load() needs to rebuild the agent."""
        return {"agent": self.name, "seed": self.seed}

    def save(self, path: str | os.PathLike) -> Path:
        """Write a checkpoint folder (config.json, and model.pt for learning agents)."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / CONFIG_FILE, self.config())
        return folder

    @classmethod
    def check_checkpoint(cls, path: str | os.PathLike) -> dict:
        """The config of a checkpoint folder of this agent, after every check load() makes before it
        needs an env (learning agents: model.pt too). A suite makes them for each folder up front."""
        config = read_config(path)
        if config.get("agent") != cls.name:
            raise AgentError(f"{path} holds a {config.get('agent')!r} checkpoint, not {cls.name!r}")
        check_seed(path, config)
        return config

    @classmethod
    def load(cls, path: str | os.PathLike, env: gym.Env, scenario: str | None = None) -> "Agent":
        """The agent saved in `path`, for `env` (learning agents also check it was trained on `scenario`)."""
        return cls(env, seed=cls.check_checkpoint(path).get("seed"))


def check_seed(path: str | os.PathLike, config: dict) -> None:
    """A checkpoint's seed seeds the agent (and a resumed run's workers): refuse a hand-edited one here,
    in one line naming the file, not as a crash inside numpy or SB3."""
    from scenarios.seeds import MAX_SEED

    seed = config.get("seed")
    if seed is not None and not (type(seed) is int and 0 <= seed <= MAX_SEED):  # type(): true is not 1
        raise AgentError(f"{Path(path) / CONFIG_FILE} is corrupt: seed must be an integer from 0 to {MAX_SEED} "
                         f"or null, got {seed!r:.40}")


def read_config(path: str | os.PathLike) -> dict:
    file = Path(path) / CONFIG_FILE
    try:
        config = read_json(file, max_bytes=SMALL_FILE_BYTES)
    except FileNotFoundError:
        raise AgentError(f"no checkpoint at {path} ({CONFIG_FILE} missing)") from None
    except NotADirectoryError:  # e.g. --checkpoint run/model.pt
        raise AgentError(f"{path} is a file; a checkpoint is a folder holding {CONFIG_FILE} (and model.pt)") from None
    except OSError as err:  # permissions, or a folder named config.json
        raise AgentError(f"cannot read {file}: {err.strerror or err}") from None
    except LoadError as err:  # not JSON or UTF-8, or a FIFO, too big, too deep (scenarios/load.py)
        raise AgentError(f"{file} is corrupt: {err.reason}") from None
    if not isinstance(config, dict):
        raise AgentError(f"{file} is corrupt: expected a JSON object")
    return config
