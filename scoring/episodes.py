"""One scored episode: the unit of work every backend (inline, processes, Ray) runs.

A Task is plain data (picklable, no live objects), so any worker rebuilds the same env and
agent from it: the same task gives the same record whichever backend runs it. Which
checkpoint an agent plays is decided before, in agents/resolve.py (AgentSpec).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scenarios.suite import SuiteScenario, episode_seed

if TYPE_CHECKING:  # importing agents pulls in torch: results and reports do not need it
    from agents.resolve import AgentSpec


@dataclass(frozen=True)
class Task:
    agent: AgentSpec
    scenario: SuiteScenario
    seed: int  # suite seed
    episode: int  # index of the episode for this (scenario, seed)
    replay: bool = False  # also return the episode's replay (sim/replay.py) in record["replay"]
    engine: str = "highway-env"  # the simulator that plays it (sim.make_env's engine)

    @property
    def key(self) -> tuple:
        return (self.agent.label, self.scenario.name, self.seed, self.episode)


def record_key(record: dict) -> tuple:
    return (record["agent"], record["scenario"], record["seed"], record["episode"])


def run_task(task: Task) -> dict:
    """Play one episode and return its record; any exception becomes a failed-episode record."""
    record = {
        "agent": task.agent.label,
        "agent_name": task.agent.name,
        "checkpoint_hash": task.agent.checkpoint_hash,  # replaced by the scenario's own for learning agents
        "scenario": task.scenario.name,
        "seed": task.seed,
        "episode": task.episode,
        "env_seed": episode_seed(task.seed, task.episode),
    }
    try:
        checkpoint, record["checkpoint_hash"] = task.agent.checkpoint_for(task.scenario.name)
        metrics, score, replay = _play(task, checkpoint, record["checkpoint_hash"], record["env_seed"])
    except Exception as err:  # noqa: BLE001  an agent's bug must not stop the suite
        where = traceback.extract_tb(err.__traceback__)[-1]
        error = f"{type(err).__name__}: {err} (at {Path(where.filename).name}:{where.lineno})"
        return record | {"outcome": "error", "error": error, "driving_score": 0.0, "score": None, "metrics": None}
    return record | {
        "outcome": metrics["outcome"],
        "error": None,
        "driving_score": score["driving_score"],
        "score": score,
        "metrics": metrics,
    } | ({"replay": replay} if replay is not None else {})


def _play(task: Task, checkpoint: str | None, digest: str, env_seed: int) -> tuple[dict, dict, dict | None]:
    """(metrics, score, replay as a dict or None) of one episode."""
    import dataclasses

    import agents
    from agents.base import read_config
    from agents.checkpoint import checkpoint_encoder
    from sim import make_env
    from sim.replay import Replay
    from sim.rollout import play_episodes
    from sim.score import score_episode
    from sim.viewer import Viewer

    scenario = task.scenario.load()
    config = read_config(checkpoint) if checkpoint else {}
    cls = agents.get_class(config.get("agent", task.agent.name))  # the zoo agent's class differs by scenario
    obs = config.get("obs", cls.default_obs)
    env = make_env(scenario, obs=obs, seed=env_seed, engine=task.engine, encoder=checkpoint_encoder(config))
    replay = None
    try:
        agent = cls.load(checkpoint, env) if checkpoint else agents.make(task.agent.name, env, seed=env_seed)
        if task.replay:  # the viewer's loop without a screen: it logs the actions and the values chosen from
            variant = None if task.scenario.base is None else {"base": task.scenario.base,
                                                               "overrides": dict(task.scenario.overrides)}
            replay = Replay(scenario.name, obs, cls.name, checkpoint, digest, variant=variant)
            (episode,) = Viewer(env, agent, [env_seed], log=replay).run()
        else:
            (episode,) = play_episodes(env, agent, [env_seed])
    finally:
        env.close()
    score = score_episode(episode).as_dict()
    metrics = {k: v for k, v in episode.items() if k not in ("speeds", "r", "l", "t", "seed")}
    return metrics, score, None if replay is None else dataclasses.asdict(replay)
