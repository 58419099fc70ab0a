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
