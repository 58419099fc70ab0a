"""Can the perception features steer? Closed-loop lane keeping on racetrack from the lane state.

    python benchmarks/lane_keeping.py [--episodes 10] [--gain 1.0] [--weights v2] [--first-seed 1000000]
                                      [--trace trace.json]

A Stanley controller (steering = heading error + atan(gain x -lateral / speed)) drives racetrack
twice per seed: once on the true lane state (sim's info["lane"]) and once on the encoder's lane
head predictions from the camera frames (the encoder's own camera contract: v2 reads the
world-state camera, `--weights default` the v1 encoder on highway-env's). If the first stays
on the track and the second does not, the features (not the agent) are what keeps SAC off the
road. Evaluation seeds from 1,000,000 (nothing was selected on them). Writes
benchmarks/lane_keeping.json: per source, the outcomes, steps survived and the lane head's
closed-loop errors. --first-seed 900000 runs validation seeds (tune there, never on the
evaluation seeds); --trace writes every step (predicted and true lane state, speed, pose, road
section) and prints the lane head's errors per section of the track, which is how a failure is
located (issue 15: v2 left the road at the first right-hand bend, a section its data never held).
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

from agents.baselines import stanley_steering  # noqa: E402
FIRST_SEED = 1_000_000  # evaluation seeds


def drive(env, encoder, seed: int, source: str, gain: float, trace: list | None = None) -> dict:
    obs, info = env.reset(seed=seed)
    errors, done, steps = [], False, 0
    while not done:
        predicted = encoder.predict_lane(obs[None])[0]
        errors.append(np.abs(predicted[1:3] - info["lane"][1:3]))
        if trace is not None:
            ego = env.unwrapped.vehicle
            trace.append({"seed": seed, "source": source, "step": steps, "section": "".join(ego.lane_index[:2]),
                          "lane": int(ego.lane_index[2]), "x": float(ego.position[0]), "y": float(ego.position[1]),  # [m]
                          "speed": float(ego.speed),  # [m/s]
                          "predicted": predicted.round(4).tolist(), "true": info["lane"].round(4).tolist()})  # (6,) LANE_FEATURES
        lane = predicted if source == "predicted" else info["lane"]
        speed = float(np.hypot(*info["truth"][0][3:5]))  # [m/s]
        steering = stanley_steering(lane[1], lane[2], speed, gain)
        obs, _, terminated, truncated, info = env.step(np.array([np.clip(steering, -1, 1)], np.float32))
        done, steps = terminated or truncated, steps + 1
    lateral, heading = np.mean(errors, axis=0)
    return {"seed": seed, "outcome": info["episode"]["outcome"], "steps": steps,
            "lateral_error_m": round(float(lateral), 3), "heading_error_rad": round(float(heading), 3)}


def main() -> None:
    import scenarios
    from perception.weights import CAMERA_WEIGHTS, load_encoder
    from scenarios import catalog
    from sim import make_env

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--weights", default=CAMERA_WEIGHTS, help=f"encoder weights (default: {CAMERA_WEIGHTS})")
    parser.add_argument("--gain", type=float, default=1.0, help="Stanley cross-track gain [1/s]")
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED,
                        help=f"first episode seed (default: {FIRST_SEED:_}, evaluation; 900_000: validation, to tune on)")
    parser.add_argument("--trace", type=Path, help="also write every step here (JSON) and print errors per track section")
    parser.add_argument("--no-traffic", action="store_true",
                        help="racetrack without its other car (config other_vehicles: 0): every episode drives its "
                             "whole 300 steps (~1.7 laps) unless it leaves the road, where with traffic most end "
                             "in a collision within 110 steps")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("lane_keeping.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    encoder = load_encoder(args.weights)
    scenario = catalog.variant("racetrack", "racetrack-no-traffic", {"config": {"other_vehicles": 0}}) \
        if args.no_traffic else scenarios.get("racetrack")
    env = make_env(scenario, obs="camera", camera=encoder.config.camera_config)
    result = {"scenario": scenario.name, "gain": args.gain, "max_steps": 300, "weights": args.weights,
              "first_seed": args.first_seed, "camera": encoder.config.camera}
    trace = [] if args.trace else None
    for source in ("true", "predicted"):
        episodes = [drive(env, encoder, args.first_seed + i, source, args.gain, trace) for i in range(args.episodes)]
        result[source] = {"episodes": episodes, "mean_steps": float(np.mean([e["steps"] for e in episodes])),
                          "offroad": sum(e["outcome"] == "offroad" for e in episodes)}
        print(f"{source:9s} lane state: offroad {result[source]['offroad']}/{args.episodes}, "
              f"mean steps {result[source]['mean_steps']:.0f} of 300, outcomes {[e['outcome'] for e in episodes]}")
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {args.out}")
    if trace is not None:
        args.trace.write_text(json.dumps(trace) + "\n")
        print_sections(trace)
        print(f"-> {args.trace}")


def print_sections(trace: list[dict]) -> None:
    """The lane head's mean absolute and signed (predicted - true) errors per source and track section."""
    for source in ("true", "predicted"):
        print(f"lane head errors, driving on the {source} lane state: section, steps, lateral MAE / bias [m], "
              "heading MAE / bias [rad], median |true lateral| [m]")
        for section in sorted({t["section"] for t in trace if t["source"] == source}):
            rows = [t for t in trace if t["source"] == source and t["section"] == section]
            error = np.array([np.subtract(t["predicted"][1:3], t["true"][1:3]) for t in rows])  # (N, 2)
            offset = np.median([abs(t["true"][1]) for t in rows])
            print(f"  {section} {len(rows):4d}  {np.abs(error[:, 0]).mean():.3f} / {error[:, 0].mean():+.3f}  "
                  f"{np.abs(error[:, 1]).mean():.3f} / {error[:, 1].mean():+.3f}  {offset:.2f}")


if __name__ == "__main__":
    main()
