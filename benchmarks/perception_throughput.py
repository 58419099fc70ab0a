"""Perception speed: encoder frames/s at batch 1 and 64, and vector-env steps/s with
obs="features" vs obs="camera" vs raw highway-env GrayscaleObservation, in one run.

    python benchmarks/perception_throughput.py [--envs 8] [--steps 200] [--scenarios highway merge]

Writes perception_throughput.json next to this file. Target: features mode costs at most 15%
over camera mode with 8 vector-env workers (one batched encoder pass per step for all 8).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gymnasium as gym  # noqa: E402
import highway_env  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from stable_baselines3.common.vec_env import SubprocVecEnv  # noqa: E402

import scenarios  # noqa: E402
from perception.weights import load_encoder  # noqa: E402
from sim import CameraConfig, make_vec_env  # noqa: E402

gym.register_envs(highway_env)


def encoder_fps(encoder, batch: int, seconds: float = 3.0) -> float:
    frames = torch.rand(batch, 4, 128, 64)
    with torch.no_grad():
        encoder.features(frames)  # warm-up
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            encoder.features(frames)
            n += batch
    return n / (time.perf_counter() - start)


def raw_camera_env(name: str) -> gym.Env:
    scenario = scenarios.get(name)
    config = scenario.env_config()
    config["observation"] = CameraConfig.highway_env().observation_config()
    return gym.make(scenario.env_id, config=config, max_episode_steps=scenario.budgets.max_steps)


def vec_steps_per_second(venv, steps: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    venv.reset()
    n = venv.num_envs
    start = time.perf_counter()
    for _ in range(steps):
        venv.step(rng.integers(0, 5, size=n))
    rate = steps * n / (time.perf_counter() - start)
    venv.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=100, help="vector steps per measurement")
    parser.add_argument("--scenarios", nargs="*", default=["highway", "merge"])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads in the main process (default 1: the env workers already fill the cores)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("perception_throughput.json")))
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    encoder = load_encoder("default", "cpu")
    result = {
        "machine": {"python": platform.python_version(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "torch_threads": args.threads, "load_average_at_start": os.getloadavg()[0]},
        "encoder_frames_per_s": {str(b): round(encoder_fps(encoder, b), 1) for b in (1, 64)},
        "vector_envs": args.envs,
        "rows": [],
    }
    print(f"encoder frames/s on CPU: {result['encoder_frames_per_s']}")
    for name in args.scenarios:
        raw = vec_steps_per_second(SubprocVecEnv([functools.partial(raw_camera_env, name)] * args.envs), args.steps)
        camera = vec_steps_per_second(make_vec_env(name, args.envs, obs="camera"), args.steps)
        features = vec_steps_per_second(make_vec_env(name, args.envs, obs="features", encoder=encoder), args.steps)
        row = {"scenario": name, "raw_camera_steps_per_s": round(raw, 1), "camera_steps_per_s": round(camera, 1),
               "features_steps_per_s": round(features, 1), "features_cost_over_camera": round(1 - features / camera, 4)}
        result["rows"].append(row)
        print(f"{name:10s} raw {raw:6.1f}/s  camera {camera:6.1f}/s  features {features:6.1f}/s  "
              f"features cost {row['features_cost_over_camera']:+.1%}", flush=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
