"""One scored episode: the unit of work every backend (inline, processes, Ray) runs.

A Task is plain data (picklable, no live objects), so any worker rebuilds the same env and
agent from it: the same task gives the same record whichever backend runs it.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from dataclasses import dataclass
from pathlib import Path

from scenarios.suite import SuiteScenario, episode_seed


@dataclass(frozen=True)
class AgentSpec:
    label: str  # the name results and reports use: registry name, zoo[:agent], or checkpoint folder name
    name: str  # registry name of the agent class ("zoo": each checkpoint's config.json names it)
    checkpoint: str | None  # checkpoint folder, or None for an agent built from its name
    checkpoint_hash: str  # sha256 (16 hex) of the checkpoint files, or of name + class when none
    # Learning agents named from the registry: per scenario, (scenario, folder or None, hash or
    # the reason there is none). Filled by resolve_agent(name, scenarios); empty otherwise.
    per_scenario: tuple = ()

    def checkpoint_for(self, scenario: str) -> tuple[str | None, str]:
        """(checkpoint folder or None, hash) an episode of `scenario` plays with."""
        for name, folder, digest in self.per_scenario:
            if name == scenario:
                if folder is None:
                    raise RuntimeError(digest)  # no trained checkpoint: a failed episode saying why
                return folder, digest
        return self.checkpoint, self.checkpoint_hash


@dataclass(frozen=True)
class Task:
    agent: AgentSpec
    scenario: SuiteScenario
    seed: int  # suite seed
    episode: int  # index of the episode for this (scenario, seed)
    replay: bool = False  # also return the episode's replay (sim/replay.py) in record["replay"]

    @property
    def key(self) -> tuple:
        return (self.agent.label, self.scenario.name, self.seed, self.episode)


def record_key(record: dict) -> tuple:
    return (record["agent"], record["scenario"], record["seed"], record["episode"])


def resolve_agent(text: str, suite_scenarios=()) -> AgentSpec:
    """An agent from a registry name or a checkpoint folder (with config.json naming its agent).

    A learning agent named from the registry plays each scenario of the suite with its own
    trained checkpoint (agents.checkpoint_for: the newest run's best, else the shipped one; a
    suite variant falls back to its base scenario's). A scenario without one is a failed
    episode that says so; the rest of the suite still runs.
    """
    import agents
    from agents.base import read_config

    if text == "zoo" or text.startswith("zoo:"):  # the shipped agents (agents/zoo.py), per scenario
        from agents.zoo import zoo_checkpoints

        per_scenario = zoo_checkpoints(text, suite_scenarios)
        identity = json.dumps({"agent": text, "checkpoints": per_scenario}, sort_keys=True)
        return AgentSpec(text, text.partition(":")[2] or "zoo", None, hashlib.sha256(identity.encode()).hexdigest()[:16],
                         per_scenario)
    if text in agents.names():
        cls = agents.get_class(text)
        if cls.trainable:
            per_scenario = tuple(_trained_checkpoint(cls, sc) for sc in suite_scenarios)
            identity = json.dumps({"agent": text, "checkpoints": per_scenario}, sort_keys=True)
        else:
            per_scenario = ()
            identity = json.dumps({"agent": text, "class": f"{cls.__module__}.{cls.__qualname__}"}, sort_keys=True)
        return AgentSpec(text, text, None, hashlib.sha256(identity.encode()).hexdigest()[:16], per_scenario)
    folder = Path(text)
    if not folder.is_dir():
        raise agents.AgentError(
            f"unknown agent {text!r}; give a registered agent ({', '.join(agents.names())}) or a checkpoint folder"
        )
    config = read_config(folder)
    agents.get_class(str(config.get("agent")))  # raises with the valid names
    return AgentSpec(folder.resolve().name, config["agent"], str(folder.resolve()), folder_hash(folder))


def _trained_checkpoint(cls, scenario: SuiteScenario) -> tuple[str, str | None, str]:
    import agents

    find = getattr(agents, "checkpoint_for", None)
    names = scenario.lineage
    reason = (
        f"no trained {cls.name} checkpoint for {' or '.join(names)}; "
        f"train one: python run_sim.py --scenario {names[-1]} --agent {cls.name} --train"
    )
    for name in names:
        try:
            folder = find(cls, name, None, None)[0] if find else None
        except agents.AgentError:
            continue
        if folder is not None:
            return (scenario.name, str(Path(folder).resolve()), folder_hash(Path(folder)))
    return (scenario.name, None, reason)


def folder_hash(folder: Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order (16 hex digits)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(str(file.relative_to(folder)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


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
    from sim import make_env
    from sim.replay import Replay
    from sim.rollout import play_episodes
    from sim.score import score_for
    from sim.viewer import Viewer

    scenario = task.scenario.load()
    config = read_config(checkpoint) if checkpoint else {}
    cls = agents.get_class(config.get("agent", task.agent.name))  # the zoo agent's class differs by scenario
    obs = config.get("obs", cls.default_obs)
    env = make_env(scenario, obs=obs, seed=env_seed)
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
    score = score_for(episode, scenario).as_dict()
    metrics = {k: v for k, v in episode.items() if k not in ("speeds", "r", "l", "t", "seed")}
    return metrics, score, None if replay is None else dataclasses.asdict(replay)
