"""Replay files: what it takes to re-render watched episodes exactly, without the agent.

A replay is a small JSON file:

    {"format": 1, "scenario": "merge", "obs": "features", "agent": "dqn",
     "checkpoint": "zoo/merge/dqn", "checkpoint_hash": "3f2a...",   (null for baselines)
     "value_kind": "action values",
     "variant": null,            or {"base": "highway", "overrides": {...}} for a suite's variant
     "episodes": [{"seed": 0, "complete": true,
                   "actions": [1, 3, ...],          ints, or lists of floats (continuous)
                   "values": [[q0, q1, ...], ...]}]} the action values drawn each step (or nulls)

The environment is deterministic given its seed and the actions, so feeding the actions back
re-creates every frame; the stored action values redraw the bar chart the agent showed.
Episodes cut short (restart, next, quit) are kept with "complete": false, so a replay shows
exactly what the viewer showed. Scored suite episodes are saved the same way (run_sim.py
--suite ... --replays); a suite's variant, which is not a catalog name, is carried in
"variant". Written to a temp name and renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.files import write_json_atomic

FORMAT_VERSION = 1


class ReplayError(ValueError):
    """A replay file that cannot be read; the message says why."""


@dataclass
class ReplayEpisode:
    seed: int
    actions: list = field(default_factory=list)
    values: list = field(default_factory=list)
    complete: bool = False

    def add(self, action: Any, values: np.ndarray | None) -> None:
        self.actions.append(_plain_action(action))
        self.values.append(None if values is None else [float(v) for v in np.asarray(values).ravel()])

    def action(self, step: int) -> Any:
        """The recorded action of `step` in the form the env takes (int, or float32 array)."""
        action = self.actions[step]
        return np.asarray(action, dtype=np.float32) if isinstance(action, list) else action

    def value(self, step: int) -> np.ndarray | None:
        values = self.values[step] if step < len(self.values) else None
        return None if values is None else np.asarray(values, dtype=np.float64)


@dataclass
class Replay:
    scenario: str
    obs: str
    agent: str
    checkpoint: str | None = None
    checkpoint_hash: str | None = None
    value_kind: str = "action values"  # or "action probabilities": the chart's label
    episodes: list[ReplayEpisode] = field(default_factory=list)
    variant: dict | None = None  # {"base": name, "overrides": {...}} when scenario is not in the catalog

    def load_scenario(self):
        """The Scenario the episodes were played on: a catalog one, or the suite variant it records."""
        from scenarios.catalog import get, variant

        if self.variant is None:
            return get(self.scenario)
        return variant(self.variant["base"], self.scenario, self.variant["overrides"])

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        data = {"format": FORMAT_VERSION, **asdict(self)}
        return write_json_atomic(path, data, indent=None, sort_keys=False, separators=(",", ":"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Replay":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ReplayError(f"no replay file at {path}") from None
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ReplayError(f"{path} is not a replay file: {err}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise ReplayError(f"{path} is not a replay file of format {FORMAT_VERSION}")
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as err:
            raise ReplayError(f"{path} is a corrupt replay file ({err!r})") from None

    @classmethod
    def from_dict(cls, data: dict) -> "Replay":
        """A replay from its JSON form (what save() writes, or dataclasses.asdict of one)."""
        episodes = [ReplayEpisode(int(e["seed"]), list(e["actions"]), list(e["values"]), bool(e["complete"]))
                    for e in data["episodes"]]
        return cls(str(data["scenario"]), str(data["obs"]), str(data["agent"]), data.get("checkpoint"),
                   data.get("checkpoint_hash"), str(data.get("value_kind", "action values")), episodes,
                   data.get("variant"))


def check_replay_path(path: str | os.PathLike) -> Path:
    """Fail early, with one clear line, if a replay cannot be written at `path`."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"cannot save the replay to {path}: folder {folder} does not exist")
    if path.is_dir():
        raise ValueError(f"cannot save the replay to {path}: it is a folder")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"cannot save the replay to {path}: cannot write in {folder}")
    return path


def checkpoint_hash(folder: str | os.PathLike | None) -> str | None:
    """sha256 (16 hex digits) over a checkpoint folder's files, or None for no checkpoint."""
    if folder is None:
        return None
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".")):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _plain_action(action: Any):
    array = np.asarray(action)
    if array.ndim == 0 and np.issubdtype(array.dtype, np.integer):
        return int(array)
    return [float(v) for v in array.ravel()]
