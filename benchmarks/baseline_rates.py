"""Success and collision rates of the training-free baselines (idm, random and the floors idle, brake) on every scenario.

    python benchmarks/baseline_rates.py [--seeds 20] [--first-seed 900000]

Writes baseline_rates.json next to this file. Seeds first_seed .. first_seed+seeds-1, one
episode each, kinematics observations (neither baseline looks at the camera).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import agents  # noqa: E402
import scenarios  # noqa: E402
from sim import OUTCOMES, make_env  # noqa: E402
from sim.rollout import play_episodes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=900_000)  # validation seeds (scenarios/seeds.py)
    parser.add_argument("--agents", nargs="*", default=["idm", "random", "idle", "brake"])
    parser.add_argument("--scenarios", nargs="*", default=None)
    parser.add_argument("--out", default=str(Path(__file__).with_name("baseline_rates.json")))
    args = parser.parse_args()

    rows = []
    for name in args.scenarios or scenarios.names():
        for agent_name in args.agents:
            env = make_env(name, obs="kinematics")
            agent = agents.make(agent_name, env, seed=args.first_seed)
            start = time.perf_counter()
            seeds = range(args.first_seed, args.first_seed + args.seeds)
            records = play_episodes(env, agent, seeds)
            env.close()
            counts = Counter(r["outcome"] for r in records)
            row = {
                "scenario": name,
                "agent": agent_name,
                "episodes": len(records),
                **{f"{o}_rate": counts[o] / len(records) for o in OUTCOMES},
                "mean_return": sum(r["episode_return"] for r in records) / len(records),
                "mean_speed": sum(r["mean_speed"] for r in records) / len(records),
                "seconds": round(time.perf_counter() - start, 1),
            }
            rows.append(row)
            print(
                f"{name:14s} {agent_name:7s} success {row['success_rate']:5.0%}  collision {row['collision_rate']:5.0%}"
                f"  offroad {row['offroad_rate']:4.0%}  timeout {row['timeout_rate']:4.0%}  ({row['seconds']} s)",
                flush=True,
            )
    Path(args.out).write_text(json.dumps({"seeds": list(seeds), "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
