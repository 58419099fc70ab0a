"""Which checkpoint an agent plays: the one module that maps a registry name, a checkpoint folder
or a zoo label (`zoo`, `zoo:dqn`) to checkpoint folders, with one hash of a checkpoint.

    agent_to_play(text, scenario, checkpoint)        run_sim.py's --agent on one scenario: a class, a folder
    checkpoint_for(cls, scenario, checkpoint, obs)   one scenario, as run_sim.py plays it
    resolve_agent(text, suite_scenarios)             an AgentSpec for a suite, per scenario
    checkpoint_hash(folder)                          the hash records, headers and replays carry
    verify_checkpoint(folder, agent)                 its files checked as playing it would load them

Every path to a folder (`zoo:dqn` in a suite, `--agent zoo/merge/dqn`, a replay) hashes it with
checkpoint_hash, so the same files give the same hash wherever they are named from. Every folder a
suite will play is verified here, before its first episode: a refused checkpoint stops the suite
in one line instead of failing every episode in a worker (and being ranked with a score of 0).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from agents.base import AgentError, read_config


# The files a checkpoint consists of (agents/checkpoint.py; a baseline's has config.json only), sorted.
CHECKPOINT_FILES = ("config.json", "model.pt")


def checkpoint_hash(folder: str | Path) -> str:
    """sha256 over each checkpoint file's name and bytes (16 hex digits), read in 1 MiB chunks.

    Only CHECKPOINT_FILES: a run folder also holds last/, metrics.json and TensorBoard events (they
    change as training goes on, and a multi-GB file dropped there was read into memory whole). A zoo
    folder holds nothing else, so its hash is the one every file gave before."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for name in CHECKPOINT_FILES:
        file = folder / name
        if file.is_file():  # not a FIFO: it would block the read
            digest.update(name.encode() + b"\0")
            with open(file, "rb") as data:
                for chunk in iter(lambda: data.read(1 << 20), b""):
                    digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def verify_checkpoint(folder: str | Path, agent: str | None = None) -> dict:
    """The config.json of a checkpoint folder, once its files are known to load as playing it loads
    them: a zoo folder's files as zoo/manifest.json lists them, and whatever the agent's own
    check_checkpoint checks (a learning agent's model.pt: weights only, agents/checkpoint.py).
    agent: the registry name it must hold."""
    import agents
    from agents import zoo

    config = read_config(folder)
    zoo.verify_shipped(folder)  # nothing to check outside zoo/
    cls = agents.get_class(str(config.get("agent")))  # raises with the valid names
    if agent is not None and cls.name != agent:
        raise AgentError(f"{folder} holds a {cls.name!r} checkpoint, not {agent!r}")
    cls.check_checkpoint(folder)  # refuses a crafted, truncated or foreign model.pt
    return config


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


def is_zoo_label(text: str) -> bool:
    return text == "zoo" or text.startswith("zoo:")


def agent_to_play(text: str, scenario: str, checkpoint: str | None) -> tuple[type, str | None]:
    """(agent class, checkpoint folder or None) that --agent `text` plays on one scenario: a
    registry name with the --checkpoint given, or a zoo label (`zoo`, `zoo:dqn`) with the zoo
    folder a suite plays on that scenario (zoo_checkpoints), of the class its config.json names."""
    import agents
    from agents import zoo
    from scenarios.suite import SuiteScenario

    if not is_zoo_label(text):
        return agents.get_class(text), checkpoint
    if checkpoint:
        raise AgentError(f"--agent {text} plays the zoo's checkpoint; to play --checkpoint, give its agent's name")
    [(_, folder, why)] = zoo_checkpoints(text, [SuiteScenario(scenario, None, ())])
    if folder is None:  # e.g. a registered task (merge-v0): the zoo trains on the catalog's own scenarios
        wanted = text.partition(":")[2]
        shipped = sorted({entry["scenario"] for entry in zoo.read_manifest()["agents"].values()
                          if entry["agent"] == (wanted or entry["agent"])})
        raise AgentError(f"{why}; it has {wanted or 'agents'} for {', '.join(shipped) or 'no scenario'}")
    return agents.get_class(str(read_config(folder).get("agent"))), folder


def checkpoint_for(agent_class, scenario: str, checkpoint: str | None, obs: str | None):
    """(checkpoint folder or None, obs mode) to play `agent_class` on `scenario`.

    Learning agents need a checkpoint: the given one, else the newest run's best, else the
    shipped one (checked against zoo/manifest.json); the observation mode is the one it was
    trained with. Loading the agent then checks the rest, before anything plays.
    """
    from agents import zoo
    from agents.runs import checkpoint_obs, find_checkpoint

    if not agent_class.trainable:
        return None, obs or agent_class.default_obs
    path = Path(checkpoint) if checkpoint else find_checkpoint(scenario, agent_class.name)
    if path is None:
        raise AgentError(f"no trained {agent_class.name} for {scenario}: train one with "
                         f"`python run_sim.py --scenario {scenario} --agent {agent_class.name} --train`")
    trained_obs = checkpoint_obs(path)
    zoo.verify_shipped(path)
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

    if is_zoo_label(text):  # the shipped agents (agents/zoo.py), per scenario
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
    config = verify_checkpoint(folder)
    return AgentSpec(folder.resolve().name, config["agent"], str(folder.resolve()), checkpoint_hash(folder))


def _trained_checkpoint(cls, scenario) -> tuple[str, str | None, str]:
    """(scenario, folder, hash) of a learning agent's checkpoint for a suite scenario, trying its
    lineage (a variant, then its base); (scenario, None, why and how to train one) if none. The
    checkpoint found is verified: a corrupt one stops the suite, it is not skipped for another."""
    from agents.runs import find_checkpoint

    names = scenario.lineage
    for name in names:
        folder = find_checkpoint(name, cls.name)
        if folder is not None:
            verify_checkpoint(folder, cls.name)
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
                verify_checkpoint(folder)  # against the manifest too
                found = (scenario.name, str(folder.resolve()), checkpoint_hash(folder))
                break
        rows.append(found or (scenario.name, None, f"the zoo has no {wanted or 'agent'} for {' or '.join(names)}"))
    return tuple(rows)
