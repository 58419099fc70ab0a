"""How fast the traffic flows in each catalog scenario: the measurement behind each route's
reference_speed (scenarios/catalog/*.yaml), written to traffic_speeds.json beside this file.

The ego plays `idle` (keeps its lane and speed) so the traffic drives as it would around any
car; speeds of every other vehicle at every policy step, on validation seeds (900,000 and up:
never the evaluation seeds the suites report).

    python benchmarks/traffic_speeds.py [--episodes 10]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from rich.progress import track  # noqa: E402

import agents  # noqa: E402
import scenarios  # noqa: E402
from sim import make_env  # noqa: E402

FIRST_SEED = 900_000  # validation seeds


def traffic_speeds(name: str, episodes: int) -> dict:
    scenario = scenarios.get(name)
    env = make_env(scenario, obs="kinematics")
    speeds, ego = [], []
    for seed in range(FIRST_SEED, FIRST_SEED + episodes):
        obs, _ = env.reset(seed=seed)
        driver = agents.make("idle", env, seed=seed)
        done = False
        while not done:
            obs, _, terminated, truncated, _ = env.step(driver.act(obs))
            done = terminated or truncated
            road, me = env.unwrapped.road, env.unwrapped.vehicle
            speeds += [float(v.speed) for v in road.vehicles if v is not me]
            ego.append(float(me.speed))
    env.close()
    p10, p50, p90 = np.percentile(speeds, [10, 50, 90]) if speeds else (np.nan,) * 3
    return {"reference_speed": scenario.route.reference_speed, "traffic_mean": float(np.mean(speeds)) if speeds else None,
            "traffic_p10": float(p10), "traffic_p50": float(p50), "traffic_p90": float(p90),
            "samples": len(speeds), "episodes": episodes, "ego_idle_mean": float(np.mean(ego))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10, help="episodes per scenario (default: 10)")
    args = parser.parse_args()
    results = {name: traffic_speeds(name, args.episodes) for name in track(scenarios.names(), description="scenarios")}
    out = Path(__file__).with_suffix(".json")
    out.write_text(json.dumps({"unit": "m/s", "seeds_from": FIRST_SEED, "scenarios": results}, indent=2) + "\n")
    for name, r in results.items():
        print(f"{name:14s} reference {r['reference_speed']:5.1f}  traffic mean {r['traffic_mean'] or float('nan'):5.1f}  "
              f"p90 {r['traffic_p90']:5.1f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
