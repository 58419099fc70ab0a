"""Agents: the interface, the registry and the baselines.

    agents.names()                  registered names
    agents.describe()               {name: one-line description}
    agents.make(name, env, seed)    a ready agent for that env
"""

from __future__ import annotations

import gymnasium as gym

from agents.base import Agent, AgentError
from agents.baselines import BrakeAgent, IdleAgent, IDMAgent, RandomAgent
from agents.dqn import DQNAgent
from agents.sb3 import SB3_AGENTS

REGISTRY: dict[str, type[Agent]] = {cls.name: cls for cls in (DQNAgent, *SB3_AGENTS, IDMAgent, RandomAgent, IdleAgent, BrakeAgent)}


def names() -> list[str]:
    return list(REGISTRY)


def describe() -> dict[str, str]:
    return {name: cls.description for name, cls in REGISTRY.items()}


def get_class(name: str) -> type[Agent]:
    if name not in REGISTRY:
        raise AgentError(f"unknown agent {name!r}; valid agents: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def make(name: str, env: gym.Env, seed: int | None = None) -> Agent:
    return get_class(name)(env, seed=seed)


def checkpoint_for(agent_class: type[Agent], scenario: str, checkpoint: str | None, obs: str | None):
    """(checkpoint folder or None, obs mode) to play `agent_class` on `scenario`.

    Learning agents need a checkpoint: the given one, else the newest run's best, else the
    shipped one; the observation mode is the one it was trained with.
    """
    from pathlib import Path

    from agents.runs import checkpoint_obs, find_checkpoint

    if not agent_class.trainable:
        return None, obs or agent_class.default_obs
    path = Path(checkpoint) if checkpoint else find_checkpoint(scenario, agent_class.name)
    if path is None:
        raise AgentError(f"no trained {agent_class.name} for {scenario}: train one with "
                         f"`python run_sim.py --scenario {scenario} --agent {agent_class.name} --train`")
    trained_obs = checkpoint_obs(path)
    if obs and obs != trained_obs:
        raise AgentError(f"{path} was trained on obs={trained_obs!r}, not {obs!r}")
    return path, trained_obs


__all__ = ["Agent", "AgentError", "REGISTRY", "checkpoint_for", "describe", "get_class", "make", "names"]
