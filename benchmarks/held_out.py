"""Trained agents against the baselines on held-out evaluation seeds, with training time.

    python benchmarks/held_out.py --scenario highway --agents ppo idm [--episodes 100]
    python benchmarks/held_out.py --scenario racetrack --agents sac idm --checkpoint sac=runs/racetrack/sac/r1

Each agent plays seeds 1_000_000 .. +episodes-1 (the suites' evaluation seeds; training never
sees them), one episode each. A learning agent plays its newest run's best checkpoint (or the
one given with --checkpoint NAME=FOLDER); the record carries the checkpoint's steps and
training time. Results are merged into held_out.json next to this file, keyed by scenario
and agent, with Wilson 95% intervals for the success and collision rates.
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

import agents  # noqa: E402
from agents.base import read_config  # noqa: E402
from scoring.stats import wilson  # noqa: E402
from sim import make_env  # noqa: E402
from sim.rollout import play_episodes  # noqa: E402
from sim.table import summary  # noqa: E402

FIRST_SEED = 1_000_000
OUT = Path(__file__).with_name("held_out.json")


def evaluate(scenario: str, name: str, checkpoint: str | None, episodes: int) -> dict:
    cls = agents.get_class(name)
    folder, obs = agents.checkpoint_for(cls, scenario, checkpoint, None)
    env = make_env(scenario, obs=obs)
    agent = cls.load(folder, env, scenario=scenario) if folder else cls(env, seed=0)
    start = time.perf_counter()
    records = play_episodes(env, agent, range(FIRST_SEED, FIRST_SEED + episodes))
    env.close()
    result = summary(records)
    n = result["episodes"]
    for outcome in ("success", "collision", "offroad"):
        count = sum(r["outcome"] == outcome for r in records)
        interval = wilson(count, n)
        result[f"{outcome}_rate"] = count / n
        result[f"{outcome}_ci95"] = [round(interval.low, 4), round(interval.high, 4)]
    result["eval_seconds"] = round(time.perf_counter() - start, 1)
    if folder is not None:
        config = read_config(folder)
        result.update(checkpoint=str(folder), obs=obs, steps=config.get("steps"),
                      train_seconds=config.get("train_seconds"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--agents", nargs="+", required=True)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=FOLDER")
    args = parser.parse_args()
    checkpoints = dict(pair.split("=", 1) for pair in args.checkpoint)
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    for name in args.agents:
        result = evaluate(args.scenario, name, checkpoints.get(name), args.episodes)
        result["machine"] = f"{platform.machine()}, {os.cpu_count()} CPU cores"
        data.setdefault(args.scenario, {})[name] = result
        print(f"{args.scenario} {name}: " + ", ".join(f"{k} {v}" for k, v in result.items()))
        OUT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
