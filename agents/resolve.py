"""Which checkpoint an agent plays: the one module that maps a registry name, a checkpoint folder
or a zoo label (`zoo`, `zoo:dqn`) to checkpoint folders, with one hash of a checkpoint.

    checkpoint_for(cls, scenario, checkpoint, obs)   one scenario, as run_sim.py plays it
    resolve_agent(text, suite_scenarios)             an AgentSpec for a suite, per scenario
    checkpoint_hash(folder)                          the hash records, headers and replays carry

Every path to a folder (`zoo:dqn` in a suite, `--agent zoo/merge/dqn`, a replay) hashes it with
checkpoint_hash, so the same files give the same hash wherever they are named from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from agents.base import AgentError, read_config


def checkpoint_hash(folder: str | Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order (16 hex digits).
    Dot files (a manifest lock, editor swap files) are not part of a checkpoint."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(str(file.relative_to(folder)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _identity_hash(identity: dict) -> str:
    """The hash of an agent that is not one folder: its name and what it plays, as JSON."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AgentSpec:
    label: str  # the name results and reports use: registry name, zoo[:agent], or checkpoint folder name
    name: str  # registry name of the agent class ("zoo": each checkpoint's config.json names it)
    checkpoint: str | None  # checkpoint folder, or None for an agent built from its name
    checkpoint_hash: str  # checkpoint_hash of the folder, or a hash of name + class (+ per-scenario hashes)
    # Learning agents and zoo labels: per scenario, (scenario, folder or None, hash or the reason
    # there is none). Filled by resolve_agent(name, scenarios); empty otherwise.
    per_scenario: tuple = ()

    def checkpoint_for(self, scenario: str) -> tuple[str | None, str]:
        """(checkpoint folder or None, hash) an episode of `scenario` plays with."""
        for name, folder, digest in self.per_scenario:
            if name == scenario:
                if folder is None:
                    raise RuntimeError(digest)  # no trained checkpoint: a failed episode saying why
                return folder, digest
        return self.checkpoint, self.checkpoint_hash


def checkpoint_for(agent_class, scenario: str, checkpoint: str | None, obs: str | None):
    """(checkpoint folder or None, obs mode) to play `agent_class` on `scenario`.

    Learning agents need a checkpoint: the given one, else the newest run's best, else the
    shipped one; the observation mode is the one it was trained with.
    """
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


def resolve_agent(text: str, suite_scenarios=()) -> AgentSpec:
    """An agent from a registry name, a zoo label or a checkpoint folder (config.json names its agent).

    A learning agent named from the registry plays each scenario of the suite with its own
    trained checkpoint (checkpoint_for: the newest run's best, else the shipped one; a suite
    variant falls back to its base scenario's). A scenario without one is a failed episode that
    says so; the rest of the suite still runs.
    """
    import agents

    if text == "zoo" or text.startswith("zoo:"):  # the shipped agents (agents/zoo.py), per scenario
        per_scenario = zoo_checkpoints(text, suite_scenarios)
        return AgentSpec(text, text.partition(":")[2] or "zoo", None,
                         _identity_hash({"agent": text, "checkpoints": per_scenario}), per_scenario)
    if text in agents.names():
        cls = agents.get_class(text)
        if cls.trainable:
            per_scenario = tuple(_trained_checkpoint(cls, sc) for sc in suite_scenarios)
            identity = {"agent": text, "checkpoints": per_scenario}
        else:
            per_scenario = ()
            identity = {"agent": text, "class": f"{cls.__module__}.{cls.__qualname__}"}
        return AgentSpec(text, text, None, _identity_hash(identity), per_scenario)
    folder = Path(text)
    if not folder.is_dir():
        raise AgentError(
            f"unknown agent {text!r}; give a registered agent ({', '.join(agents.names())}) or a checkpoint folder"
        )
    config = read_config(folder)
    agents.get_class(str(config.get("agent")))  # raises with the valid names
    return AgentSpec(folder.resolve().name, config["agent"], str(folder.resolve()), checkpoint_hash(folder))


def _trained_checkpoint(cls, scenario) -> tuple[str, str | None, str]:
    """(scenario, folder, hash) of a learning agent's checkpoint for a suite scenario, trying its
    lineage (a variant, then its base); (scenario, None, why and how to train one) if none."""
    names = scenario.lineage
    for name in names:
        try:
            folder = checkpoint_for(cls, name, None, None)[0]
        except AgentError:
            continue
        if folder is not None:
            return (scenario.name, str(Path(folder).resolve()), checkpoint_hash(folder))
    return (scenario.name, None, f"no trained {cls.name} checkpoint for {' or '.join(names)}; "
            f"train one: python run_sim.py --scenario {names[-1]} --agent {cls.name} --train")


def zoo_checkpoints(text: str, suite_scenarios) -> tuple:
    """Per suite scenario, (name, zoo folder or None, hash or why there is none) for the suite agent
    `zoo` (each scenario's default) or `zoo:<agent>`; a variant without its own plays its base's."""
    from agents import zoo

    manifest = zoo.read_manifest()
    wanted = text.partition(":")[2]
    shipped = {entry["agent"] for entry in manifest["agents"].values()}
    if wanted and wanted not in shipped:
        raise AgentError(f"the zoo has no {wanted!r} agents; it ships {', '.join(sorted(shipped)) or 'none'}")
    rows = []
    for scenario in suite_scenarios:
        names = scenario.lineage
        found = None
        for name in names:
            folder = zoo.ZOO_DIR / name / (wanted or manifest["defaults"].get(name, ""))
            if (folder / "model.pt").exists():
                found = (scenario.name, str(folder.resolve()), checkpoint_hash(folder))
                break
        rows.append(found or (scenario.name, None, f"the zoo has no {wanted or 'agent'} for {' or '.join(names)}"))
    return tuple(rows)
