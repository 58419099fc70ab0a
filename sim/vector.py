"""The one vector-env factory: subprocess workers, usable by stable-baselines3 and our agents.

Returns an SB3 VecEnv (SubprocVecEnv, or DummyVecEnv for one env): a batched step API with
auto-reset, where info["terminal_observation"] and info["TimeLimit.truncated"] tell a learner
whether to bootstrap, and info["episode"] carries the metrics of every finished episode.
"""

from __future__ import annotations

import functools
import signal

from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from sim.camera import CameraConfig
from sim.env import make_env
from sim.truth import DEFAULT_TRUTH_VEHICLES


def make_vec_env(
    scenario: str,
    n_envs: int,
    obs: str = "camera",
    seed: int = 0,
    camera: CameraConfig = CameraConfig(),
    truth_vehicles: int = DEFAULT_TRUTH_VEHICLES,
    subprocess: bool | None = None,
    encoder=None,
) -> VecEnv:
    """n_envs copies of make_env(scenario, ...), worker i seeded with seed + i.

    subprocess: None picks subprocesses when n_envs > 1.
    obs="features": workers produce camera frames and this process encodes all of them in one
    batched forward pass per step, on the encoder's device (default encoder: shipped weights).
    """
    if isinstance(n_envs, bool) or not isinstance(n_envs, int) or n_envs < 1:
        raise ValueError(f"n_envs must be a positive integer, got {n_envs!r}")
    name = scenario if isinstance(scenario, str) else scenario.name
    worker_obs = "camera" if obs == "features" else obs
    env_fns = [
        functools.partial(make_env, name, obs=worker_obs, seed=seed + i, camera=camera, truth_vehicles=truth_vehicles)
        for i in range(n_envs)
    ]
    if subprocess is None:
        subprocess = n_envs > 1
    if subprocess:
        # forkserver: workers start from a clean interpreter (no copied torch/pygame state).
        venv = SubprocVecEnv([functools.partial(_worker_env, fn) for fn in env_fns], start_method="forkserver")
    else:
        venv = DummyVecEnv(env_fns)
    if obs == "features":
        from perception.features import VecFeatures
        from perception.weights import load_encoder

        venv = VecFeatures(venv, encoder or load_encoder())
    return venv


def _worker_env(make):
    """Runs in a worker process: Ctrl-C and SIGTERM reach the whole process group, but only the
    main process should act on them (save, then close the workers); a worker that died first
    would break the save with a broken pipe. Workers still exit when the main process is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return make()
