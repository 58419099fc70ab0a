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
"variant". Written to a temp name and renamed. The checkpoint_hash is the caller's
(agents.resolve.checkpoint_hash, the hash suites record): sim does not know checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scenarios.load import LARGE_FILE_BYTES, LoadError, read_json
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
            data = read_json(path, max_bytes=LARGE_FILE_BYTES)
        except FileNotFoundError:
            raise ReplayError(f"no replay file at {path}") from None
        except LoadError as err:  # not JSON or UTF-8, or a FIFO, too big, too deep (scenarios/load.py)
            raise ReplayError(f"{path} is not a replay file: {err.reason}") from None
        except OSError as err:
            raise ReplayError(f"{path} is not a replay file: {err}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise ReplayError(f"{path} is not a replay file of format {FORMAT_VERSION}")
        problem = _shape_problem(data)
        if problem:
            raise ReplayError(f"{path} is a corrupt replay file: {problem}")
        return cls.from_dict(data)

    def check_fits(self, action_space, max_steps: int | None = None) -> None:
        """Refuse actions the scenario's env cannot take, episodes longer than its step budget and
        more action values per step than it has actions (checked before the first frame, not mid-replay)."""
        values_per_step = getattr(action_space, "n", None)
        for number, episode in enumerate(self.episodes):
            if max_steps is not None and len(episode.actions) > max_steps:
                raise ReplayError(f"episode {number} has {len(episode.actions)} steps; {self.scenario} ends "
                                  f"after {max_steps}: this replay was not recorded on this scenario")
            for step, values in enumerate(episode.values):
                if values is not None and values_per_step is not None and len(values) > int(values_per_step):
                    raise ReplayError(f"episode {number} step {step}: {len(values)} action values, but "
                                      f"{self.scenario} has {int(values_per_step)} actions")
            for step, action in enumerate(episode.actions):
                if not action_space.contains(episode.action(step)):
                    raise ReplayError(f"episode {number} step {step}: action {action!r:.60} is not in "
                                      f"{self.scenario}'s action space {action_space}")

    @classmethod
    def from_dict(cls, data: dict) -> "Replay":
        """A replay from its JSON form (what save() writes, or dataclasses.asdict of one)."""
        episodes = [ReplayEpisode(int(e["seed"]), list(e["actions"]), list(e["values"]), bool(e["complete"]))
                    for e in data["episodes"]]
        return cls(str(data["scenario"]), str(data["obs"]), str(data["agent"]), data.get("checkpoint"),
                   data.get("checkpoint_hash"), str(data.get("value_kind", "action values")), episodes,
                   data.get("variant"))


def _shape_problem(data: dict) -> str | None:
    """What is wrong with a replay's JSON form, in a few words; None if its shape is right.
    Checked strictly so that a hand-edited or foreign file is one clear line, not a crash in
    the viewer halfway through the episodes."""
    from sim.env import OBS_MODES

    texts = {"scenario": data.get("scenario"), "agent": data.get("agent"), "value_kind": data.get("value_kind", "")}
    for key, value in texts.items():
        if not isinstance(value, str):
            return f"{key} must be text, got {value!r:.60}"
    if data.get("obs") not in OBS_MODES:
        return f"obs {data.get('obs')!r:.60} is not one of {', '.join(OBS_MODES)}"
    for key in ("checkpoint", "checkpoint_hash"):
        if not isinstance(data.get(key), (str, type(None))):
            return f"{key} must be text or null"
    variant = data.get("variant")
    if variant is not None and not (isinstance(variant, dict) and isinstance(variant.get("base"), str)
                                    and isinstance(variant.get("overrides"), dict)):
        return 'variant must be null or {"base": name, "overrides": {...}}'
    episodes = data.get("episodes")
    if not isinstance(episodes, list) or not episodes:
        return "episodes must be a non-empty list"
    for number, episode in enumerate(episodes):
        problem = _episode_problem(episode)
        if problem:
            return f"episode {number}: {problem}"
    return None


def _episode_problem(episode: Any) -> str | None:
    if not isinstance(episode, dict):
        return "not a mapping"
    seed, actions, values = episode.get("seed"), episode.get("actions"), episode.get("values")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        return f"seed must be an integer from 0 to 2**32 - 1, got {seed!r:.60}"
    if not isinstance(episode.get("complete"), bool):
        return "complete must be true or false"
    if not isinstance(actions, list) or not all(_is_int(a) or _is_numbers(a) for a in actions):
        return "actions must be a list of integers or of lists of numbers"
    if not isinstance(values, list) or not all(v is None or _is_numbers(v) for v in values):
        return "values must be a list of lists of numbers or nulls"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_numbers(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


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


def _plain_action(action: Any):
    array = np.asarray(action)
    if array.ndim == 0 and np.issubdtype(array.dtype, np.integer):
        return int(array)
    return [float(v) for v in array.ravel()]
