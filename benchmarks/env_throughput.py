"""Steps/s of every scenario through sim.make_env vs raw gymnasium.make of the same highway-env
id and config, side by side in one run, in both obs modes. Writes env_throughput.json here.

    python benchmarks/env_throughput.py [--steps 200] [--repeats 3]

Each (scenario, mode) pair runs raw and ours alternately `repeats` times with the same seeds
and the same action sequence and keeps each side's best time: noise on a shared machine only
ever slows a run down, so the best of several is the fairest estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gymnasium as gym  # noqa: E402
import highway_env  # noqa: E402

import scenarios  # noqa: E402
from sim import CameraConfig, make_env  # noqa: E402
from sim.truth import DEFAULT_TRUTH_VEHICLES, kinematics_config  # noqa: E402

gym.register_envs(highway_env)


def raw_env(scenario: scenarios.Scenario, obs: str) -> gym.Env:
    config = scenario.env_config()
    config["observation"] = (
        CameraConfig.highway_env().observation_config() if obs == "camera" else kinematics_config(DEFAULT_TRUTH_VEHICLES)
    )
    return gym.make(scenario.env_id, config=config, max_episode_steps=scenario.budgets.max_steps)


def steps_per_second(env: gym.Env, steps: int, seed: int) -> float:
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    episode = 0
    env.reset(seed=seed)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            episode += 1
            env.reset(seed=seed + episode)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="env steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="alternating measurements per side")
    parser.add_argument("--scenarios", nargs="*", default=None, help="subset of scenarios (default: all)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("env_throughput.json")))
    args = parser.parse_args()

    rows = []
    for name in args.scenarios or scenarios.names():
        scenario = scenarios.get(name)
        for obs in ("camera", "kinematics"):
            raw, ours = raw_env(scenario, obs), make_env(scenario, obs=obs)
            best_ours = 0.0
            best_raw = 0.0
            for r in range(args.repeats):  # alternate so drift in machine load hits both sides
                best_raw = max(best_raw, steps_per_second(raw, args.steps, seed=r))
                best_ours = max(best_ours, steps_per_second(ours, args.steps, seed=r))
            row = {
                "scenario": name,
                "obs": obs,
                "raw_steps_per_s": round(best_raw, 1),
                "ours_steps_per_s": round(best_ours, 1),
                "overhead": round(1 - best_ours / best_raw, 4),
            }
            rows.append(row)
            print(f"{name:14s} {obs:10s} raw {best_raw:7.1f}/s  ours {best_ours:7.1f}/s  overhead {row['overhead']:+.1%}", flush=True)
            raw.close(), ours.close()
    result = {
        "what": "env steps/s, sim.make_env vs raw gymnasium.make (same id, config, seeds, actions)",
        "steps": args.steps,
        "repeats": args.repeats,
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "target": "overhead <= 10%",
        "max_overhead": max(r["overhead"] for r in rows),
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
