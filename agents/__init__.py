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
from agents.expert import ExpertAgent
from agents.resolve import agent_to_play, checkpoint_for, is_zoo_label  # which checkpoint plays (agents/resolve.py)
from agents.sb3 import SB3_AGENTS

REGISTRY: dict[str, type[Agent]] = {cls.name: cls for cls in (DQNAgent, *SB3_AGENTS, ExpertAgent, IDMAgent, RandomAgent, IdleAgent, BrakeAgent)}


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


__all__ = ["Agent", "AgentError", "REGISTRY", "agent_to_play", "checkpoint_for", "describe", "get_class", "is_zoo_label",
           "make", "names"]
