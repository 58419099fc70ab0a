"""The one checkpoint format: a folder with model.pt (state dicts only) and config.json.

config.json holds the agent name, scenario, obs mode, hyperparameters, training progress, the
perception weights' hash and package versions. model.pt loads with weights_only=True, so a
checkpoint never runs code. Both files are written to temp names and renamed.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from agents.base import AgentError, read_config
from sim.files import atomic_write, write_json_atomic

FORMAT_VERSION = 1
MODEL_FILE = "model.pt"


def package_versions() -> dict:
    import gymnasium
    import highway_env
    import stable_baselines3

    return {"python": platform.python_version(), "torch": torch.__version__, "gymnasium": gymnasium.__version__,
            "highway_env": highway_env.__version__, "stable_baselines3": stable_baselines3.__version__}


def save_checkpoint(folder: str | os.PathLike, state: dict, config: dict) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / MODEL_FILE, lambda out: torch.save(state, out))
    write_json_atomic(folder / "config.json", {**config, "format_version": FORMAT_VERSION, "versions": package_versions()})
    return folder


def load_checkpoint(folder: str | os.PathLike, agent: str) -> tuple[dict, dict]:
    """(state dicts, config) of a checkpoint folder, checked to be `agent`'s and of a known format."""
    config = read_config(folder)
    if config.get("agent") != agent:
        raise AgentError(f"{folder} holds a {config.get('agent')!r} checkpoint, not {agent!r}")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise AgentError(f"{folder} has checkpoint format {version!r}; this version reads format {FORMAT_VERSION}")
    try:
        state = torch.load(Path(folder) / MODEL_FILE, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise AgentError(f"{folder} has no {MODEL_FILE}") from None
    except Exception as err:  # truncated, not a torch file, or pickled code refused by weights_only
        raise AgentError(f"cannot load {Path(folder) / MODEL_FILE}: {str(err).splitlines()[0]}") from None
    return state, config


def perception_hash() -> str | None:
    """Short hash of the installed perception weights, recorded in checkpoints trained on features."""
    from perception.weights import WEIGHTS_DIR, file_sha256

    path = WEIGHTS_DIR / "default.pt"
    return file_sha256(path)[:16] if path.exists() else None


def checkpoint_obs_shape(state: dict) -> tuple:
    return tuple(int(n) for n in state.get("obs_shape", torch.tensor([])).tolist())


def check_trained_on(folder, config: dict, state: dict, env, scenario: str | None = None) -> None:
    """Refuse a checkpoint whose input does not fit `env`, whose features came from other
    perception weights, or (when `scenario` is given) that was trained on another scenario.
    A variant may play its base scenario's checkpoint (generalisation suites do)."""
    obs = config.get("obs")
    if env.observation_space.shape != checkpoint_obs_shape(state):
        raise AgentError(f"{folder} was trained on obs={obs!r} {checkpoint_obs_shape(state)}; "
                         f"this env gives {env.observation_space.shape}")
    if obs == "features" and config.get("perception_weights") not in (None, perception_hash()):
        raise AgentError(f"{folder} was trained on other perception weights than the installed ones")
    trained = config.get("scenario")
    if scenario is not None and trained is not None and trained not in scenario_lineage(scenario):
        raise AgentError(f"{folder} was trained on scenario {trained!r}, not {scenario!r}")


def scenario_lineage(scenario: str) -> list[str]:
    """The scenario and the bases it overrides: `highway-dense` -> [highway-dense, highway]."""
    import scenarios

    names = [scenario]
    try:
        while (base := scenarios.get(names[-1]).base) is not None:
            names.append(base)
    except scenarios.ScenarioError:
        pass  # a suite variant not in the catalog: only its own name
    return names

