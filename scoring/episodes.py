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
    from sim.replay import Replay
    from sim.rollout import play_episodes
    from sim.score import score_episode
    from sim.viewer import Viewer

    scenario = task.scenario.load()
    cls, obs, env = _agent_env(task.agent.name, scenario, checkpoint, task.engine, env_seed)
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


def _agent_env(agent_name: str, scenario, checkpoint: str | None, engine: str, seed: int | None = None):
    """(agent class, obs mode, env) for playing `checkpoint` (or the registered agent) on a loaded
    scenario: the obs mode and encoder the checkpoint was trained with (the zoo agent's class
    differs by scenario, so it is read from the checkpoint)."""
    import agents
    from agents.base import read_config
    from agents.checkpoint import checkpoint_encoder
    from sim import make_env

    config = read_config(checkpoint) if checkpoint else {}
    cls = agents.get_class(config.get("agent", agent_name))
    obs = config.get("obs", cls.default_obs)
    return cls, obs, make_env(scenario, obs=obs, seed=seed, engine=engine, encoder=checkpoint_encoder(config))


def check_agent_loads(spec: AgentSpec, scenarios: list[SuiteScenario], engine: str = "highway-env") -> None:
    """Load every checkpoint `spec` plays in `scenarios` as an episode loads it: its env built and its
    network's weights fitted. Raises what refuses it (AgentError for a model.pt of another shape or
    obs mode), so a suite stops before its first episode instead of failing each one. About 50 ms a
    checkpoint after the first (which loads the encoder); nothing for agents without one."""
    checked = set()
    for suite_scenario in scenarios:
        try:
            checkpoint, _ = spec.checkpoint_for(suite_scenario.name)
        except RuntimeError:  # no trained checkpoint here: its episodes are recorded as failed, saying why
            continue
        if checkpoint is None or (checkpoint, suite_scenario.name) in checked:
            continue
        checked.add((checkpoint, suite_scenario.name))
        cls, _, env = _agent_env(spec.name, suite_scenario.load(), checkpoint, engine)
        try:
            cls.load(checkpoint, env)
        finally:
            env.close()
