"""The one checkpoint format: a folder with model.pt (state dicts only) and config.json.

config.json holds the agent name, scenario, obs mode, hyperparameters, training progress, the
perception weights' hash and package versions. model.pt loads with weights_only=True, so a
checkpoint never runs code. Both files are written to temp names and renamed only once both
are complete (sim/files.py): a full disk or a kill leaves the previous checkpoint loadable.

FORMAT_VERSION counts changes of this layout. A checkpoint from a newer sandbox is refused with
"upgrade"; one without a version this sandbox ever wrote is refused as unknown.
"""

from __future__ import annotations

import functools

import io
import os
import platform
from pathlib import Path

import torch

import scenarios
from agents.base import CONFIG_FILE, AgentError, check_seed, read_config
from sim.files import atomic_write_all, json_text, load_state_file

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
    # Serialised in memory first: torch's zip writer masks a failed write (a full disk) with an
    # unrelated RuntimeError, and the files are then written with plain writes.
    model = io.BytesIO()
    torch.save(state, model)
    text = json_text({**config, "format_version": FORMAT_VERSION, "versions": package_versions()})
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_all({folder / MODEL_FILE: lambda out: out.write(model.getbuffer()),
                          folder / CONFIG_FILE: lambda out: out.write(text.encode("utf-8"))})
    except OSError as err:  # full disk, read-only or missing folder: say so in one line, keep what was there
        raise AgentError(f"cannot save the checkpoint to {folder}: {err.strerror or err}; "
                         "the checkpoint that was there (if any) is unchanged") from err
    return folder


def load_checkpoint(folder: str | os.PathLike, agent: str) -> tuple[dict, dict]:
    """(state dicts, config) of a checkpoint folder, checked to be `agent`'s and of a known format."""
    config = read_config(folder)
    check_format_version(folder, config.get("format_version"))
    if config.get("agent") != agent:
        raise AgentError(f"{folder} holds a {config.get('agent')!r} checkpoint, not {agent!r}")
    check_seed(folder, config)  # it seeds the agent before restore_progress runs
    path = Path(folder) / MODEL_FILE
    if not path.is_file():
        raise AgentError(f"{folder} has no {MODEL_FILE} (a checkpoint folder holds {MODEL_FILE} and {CONFIG_FILE})")
    state = load_state_file(path, AgentError, "a checkpoint's dict of state dicts")
    return state, config


def check_format_version(folder, version) -> None:
    """Refuse checkpoints of another layout, telling a newer one (upgrade) from an unknown one."""
    if type(version) is int and version > FORMAT_VERSION:  # type(): true is not format 1
        raise AgentError(f"{folder} was written by a newer version of the sandbox (checkpoint format {version}; "
                         f"this one reads format {FORMAT_VERSION}): upgrade the sandbox (git pull, then "
                         "pip install -r requirements.txt) to load it")
    if type(version) is int and 1 <= version < FORMAT_VERSION:
        raise AgentError(f"{folder} was written by an older version of the sandbox (checkpoint format {version}; "
                         f"this one reads format {FORMAT_VERSION}): play it with the version that wrote it, or retrain")
    if type(version) is not int or version != FORMAT_VERSION:
        found = "no format_version" if version is None else f"format_version {version!r}"
        raise AgentError(f"{folder} has {found} in {CONFIG_FILE}, which no version of the sandbox wrote "
                         f"(this one reads format {FORMAT_VERSION}): it was edited or comes from another tool; "
                         "save it again with agent.save() or retrain")


def perception_hash(obs: str = "features", encoder: str | None = None) -> str | None:
    """Short hash of the installed perception weights that read `obs` (features: `encoder`'s,
    default the default encoder; camera: the world-state camera's), recorded in checkpoints."""
    from perception.weights import CAMERA_WEIGHTS, DEFAULT_WEIGHTS, file_sha256, weights_paths

    path = weights_paths(CAMERA_WEIGHTS if obs == "camera" else (encoder or DEFAULT_WEIGHTS))[0]
    return file_sha256(path)[:16] if path.exists() else None


def features_encoder(obs: str, encoder: str) -> str | None:
    """The weights name a checkpoint's features come from (None unless obs is "features")."""
    return encoder if obs == "features" else None


def checkpoint_encoder(config: dict) -> str | None:
    """The perception weights an env must encode with to feed a checkpoint (its config.json):
    None (the default encoder) for checkpoints older than the setting, or not on features."""
    encoder = config.get("encoder")
    return encoder if config.get("obs") == "features" and isinstance(encoder, str) else None


def checkpoint_obs_shape(state: dict) -> tuple:
    shape = state.get("obs_shape")
    return tuple(int(n) for n in shape.tolist()) if isinstance(shape, torch.Tensor) else ()


def check_trained_on(folder, config: dict, state: dict, env, scenario: str | None = None) -> None:
    """Refuse a checkpoint whose input does not fit `env`, whose features came from other
    perception weights, or (when `scenario` is given) that was trained on another scenario.
    A variant may play its base scenario's checkpoint (generalisation suites do)."""
    obs = config.get("obs")
    if env.observation_space.shape != checkpoint_obs_shape(state):
        raise AgentError(f"{folder} was trained on obs={obs!r} {checkpoint_obs_shape(state)}; "
                         f"this env gives {env.observation_space.shape}")
    if obs == "features" and config.get("perception_weights") not in (None, perception_hash(obs, checkpoint_encoder(config))):
        raise AgentError(f"{folder} was trained on other perception weights than the installed ones")
    if obs == "features" and getattr(env, "camera", None) is not None:  # make_env's envs say which camera they encode
        from perception.weights import DEFAULT_WEIGHTS

        name = checkpoint_encoder(config) or DEFAULT_WEIGHTS
        if _weights_camera(name) != env.camera:
            raise AgentError(f"{folder} was trained on the features of other perception weights ({name!r}) than this "
                             f"env encodes: build it with make_env(..., encoder={name!r})")
    trained = config.get("scenario")
    if scenario is not None and trained is not None and trained not in scenarios.lineage(scenario):
        raise AgentError(f"{folder} was trained on scenario {trained!r}, not {scenario!r}")


@functools.lru_cache(maxsize=8)
def _weights_camera(name: str):
    """The camera contract shipped weights read: loaded once per process, not at every checkpoint
    load (a suite loads its agent once per episode)."""
    from perception.weights import load_encoder

    return load_encoder(name).config.camera_config


def reset_progress(agent) -> None:
    """The training progress a checkpoint keeps, for an agent that has not trained yet."""
    agent.steps = 0  # env steps trained
    agent.total_steps = None  # the training budget, kept so that a resume keeps the schedule
    agent.train_seconds = 0.0  # [s] wall-clock of training so far, evaluations excluded
    agent.evaluation = {}  # eval_every / eval_episodes of the run that trains it (agents/runs.py)
    agent.engine = "highway-env"  # the engine it trains on (a resumed run keeps it)


def restore_progress(agent, config: dict, folder) -> None:
    """Set agent.steps, total_steps and train_seconds from a checkpoint's config.json; a
    hand-edited or corrupt value is one AgentError, not a traceback at the next resume."""
    try:
        steps = int(config.get("steps", 0))
        total = config.get("total_steps")
        total = None if total is None else int(total)
        seconds = float(config.get("train_seconds", 0.0))
        if steps < 0 or (total is not None and total < 0) or not seconds >= 0:
            raise ValueError("negative")
    except (TypeError, ValueError):
        raise AgentError(f"{folder}/config.json is corrupt: steps, total_steps and train_seconds must be "
                         "non-negative numbers") from None
    agent.steps, agent.total_steps, agent.train_seconds = steps, total, seconds
    evaluation = config.get("evaluation")
    agent.evaluation = {key: value for key, value in (evaluation.items() if isinstance(evaluation, dict) else ())
                        if key in ("eval_every", "eval_episodes") and isinstance(value, int) and value >= 1}
    from scenarios.engines import ENGINES

    engine = config.get("engine", "highway-env")  # runs older than the engines trained on highway-env
    if engine not in ENGINES:
        raise AgentError(f"{folder}/config.json is corrupt: engine {engine!r:.40} is not one of {', '.join(ENGINES)}")
    agent.engine = engine

