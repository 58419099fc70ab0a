"""Can the perception features steer? Closed-loop lane keeping on racetrack from the lane state.

    python benchmarks/lane_keeping.py [--episodes 10] [--gain 1.0] [--weights v2]

A Stanley controller (steering = heading error + atan(gain x -lateral / speed)) drives racetrack
twice per seed: once on the true lane state (sim's info["lane"]) and once on the encoder's lane
head predictions from the camera frames (the encoder's own camera contract: v2 reads the
world-state camera, `--weights default` the v1 encoder on highway-env's). If the first stays
on the track and the second does not, the features (not the agent) are what keeps SAC off the
road. Evaluation seeds from 1,000,000 (nothing was selected on them). Writes
benchmarks/lane_keeping.json: per source, the outcomes, steps survived and the lane head's
closed-loop errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")  # highway-env draws nothing under "dummy"
FIRST_SEED = 1_000_000  # evaluation seeds
STEERING_RANGE = np.pi / 4  # [rad] highway-env ContinuousAction's default: action 1 = 45 degrees


def drive(env, encoder, seed: int, source: str, gain: float) -> dict:
    obs, info = env.reset(seed=seed)
    errors, done, steps = [], False, 0
    while not done:
        predicted = encoder.predict_lane(obs[None])[0]
        errors.append(np.abs(predicted[1:3] - info["lane"][1:3]))
        lane = predicted if source == "predicted" else info["lane"]
        speed = max(float(np.hypot(*info["truth"][0][3:5])), 1.0)  # [m/s]
        steering = lane[2] + np.arctan2(-gain * lane[1], speed)  # [rad]
        obs, _, terminated, truncated, info = env.step(np.array([np.clip(steering / STEERING_RANGE, -1, 1)], np.float32))
        done, steps = terminated or truncated, steps + 1
    lateral, heading = np.mean(errors, axis=0)
    return {"seed": seed, "outcome": info["episode"]["outcome"], "steps": steps,
            "lateral_error_m": round(float(lateral), 3), "heading_error_rad": round(float(heading), 3)}


def main() -> None:
    from perception.weights import CAMERA_WEIGHTS, load_encoder
    from sim import make_env

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--weights", default=CAMERA_WEIGHTS, help="encoder weights (default: v2)")
    parser.add_argument("--gain", type=float, default=1.0, help="Stanley cross-track gain [1/s]")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("lane_keeping.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    encoder = load_encoder(args.weights)
    env = make_env("racetrack", obs="camera", camera=encoder.config.camera_config)
    result = {"scenario": "racetrack", "gain": args.gain, "max_steps": 300, "weights": args.weights,
              "camera": encoder.config.camera}
    for source in ("true", "predicted"):
        episodes = [drive(env, encoder, FIRST_SEED + i, source, args.gain) for i in range(args.episodes)]
        result[source] = {"episodes": episodes, "mean_steps": float(np.mean([e["steps"] for e in episodes])),
                          "offroad": sum(e["outcome"] == "offroad" for e in episodes)}
        print(f"{source:9s} lane state: offroad {result[source]['offroad']}/{args.episodes}, "
              f"mean steps {result[source]['mean_steps']:.0f} of 300, outcomes {[e['outcome'] for e in episodes]}")
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
