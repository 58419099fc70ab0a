"""Parity of the EnvPool engine with highway-env, per scenario both run; writes engine_parity.json here.

    python benchmarks/engine_parity.py [--episodes 200] [--scenarios highway-fast-v0 merge-v0]
                                       [--policies random idle brake] [--budget 3600]

Each policy (a registered agent, or a trained checkpoint folder) plays `episodes` episodes on each
engine (obs="kinematics" for registered agents: states at decisions, the registered frequencies; seeds from the evaluation range, the same list on both
engines, though the two engines' RNGs differ, so the episodes are samples of the same task, not
copies). Compared per policy, engine against engine:
- rates (success, collision, off-road): the difference with a 95% Newcombe (Wilson) interval and
  Fisher's exact test;
- means (speed, distance, lane changes, episode length): the difference with a 95% Welch
  interval and Welch's t-test.
A scenario is "parity" when no comparison differs at the Bonferroni-corrected 5% level (every
p >= 0.05 / comparisons); otherwise "train-only", with the differing comparisons listed; and
"too few episodes" when nothing differs but a policy played fewer than MIN_EPISODES.
`--budget` [s] caps the time per scenario: a slow one plays fewer episodes, and says so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")

import numpy as np  # noqa: E402
from rich.progress import Progress  # noqa: E402
from scipy import stats  # noqa: E402

import agents  # noqa: E402
import scenarios  # noqa: E402
from scenarios.seeds import EVAL_SEED_BASE  # noqa: E402
from scenarios.suite import load_suite  # noqa: E402
from sim import make_env  # noqa: E402

RATES = ("success", "collision", "offroad")
MEANS = ("mean_speed", "distance", "lane_changes", "length")
ALPHA = 0.05
MIN_EPISODES = 50  # per policy and engine, for a verdict
ENGINES = ("highway-env", "envpool")


def make_policy(policy: str, scenario, engine: str):
    """(env, agent): a registered agent on obs kinematics, or a checkpoint folder on its own obs."""
    if not Path(policy).is_dir():
        env = make_env(scenario, obs="kinematics", engine=engine)
        return env, agents.make(policy, env, seed=0)
    from agents.base import read_config

    config = read_config(policy)
    env = make_env(scenario, obs=config["obs"], engine=engine)
    return env, agents.get_class(config["agent"]).load(policy, env)


def play(scenario, engine: str, policy: str, seeds: list[int], deadline: float, progress, task) -> list[dict]:
    env, agent = make_policy(policy, scenario, engine)
    out = []
    try:
        for seed in seeds:
            if time.perf_counter() > deadline:
                break
            agent.reset()
            obs, _ = env.reset(seed=seed)
            done = False
            while not done:
                obs, _, terminated, truncated, info = env.step(agent.act(obs, deterministic=True))
                done = terminated or truncated
            out.append(info["episode"])
            progress.advance(task)
    finally:
        env.close()
    return out


def wilson(k: int, n: int) -> tuple[float, float]:
    z = stats.norm.ppf(1 - ALPHA / 2)
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return centre - half, centre + half


def compare_rate(a: list[bool], b: list[bool]) -> dict:
    ka, kb, na, nb = sum(a), sum(b), len(a), len(b)
    (la, ua), (lb, ub) = wilson(ka, na), wilson(kb, nb)
    pa, pb = ka / na, kb / nb
    d = pb - pa  # Newcombe's hybrid score interval for a difference of proportions
    low = d - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2)
    high = d + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)
    p = 1.0 if ka + kb in (0, na + nb) else float(stats.fisher_exact([[ka, na - ka], [kb, nb - kb]])[1])
    return {"highway-env": pa, "envpool": pb, "difference": d, "ci95": [low, high], "p": p}


def compare_mean(a: list[float], b: list[float]) -> dict:
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = float(b.mean() - a.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return {"highway-env": float(a.mean()), "envpool": float(b.mean()), "difference": d, "ci95": [d, d],
                "p": 1.0 if d == 0 else 0.0}
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(1 - ALPHA / 2, dof) * math.sqrt(va + vb)
    p = float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    return {"highway-env": float(a.mean()), "envpool": float(b.mean()), "difference": d, "ci95": [d - half, d + half],
            "p": p}


def compare(runs: dict[str, list[dict]]) -> dict:
    a, b = runs["highway-env"], runs["envpool"]
    out = {f"{r}_rate": compare_rate([e["outcome"] == r for e in a], [e["outcome"] == r for e in b]) for r in RATES}
    out |= {m: compare_mean([e[m] for e in a], [e[m] for e in b]) for m in MEANS}
    return out


def judge(per_policy: dict) -> dict:
    """The verdict of one scenario's comparisons (see the module docstring)."""
    tests = [(p, m, c["p"]) for p, r in per_policy.items() for m, c in r.items() if m != "episodes"]
    threshold = ALPHA / len(tests)
    differing = [f"{p}: {m} (p={q:.2g})" for p, m, q in tests if q < threshold]
    enough = min(r["episodes"] for r in per_policy.values()) >= MIN_EPISODES
    # a difference found is one (the test allowed for the sample size); its absence needs enough episodes
    verdict = "train-only" if differing else ("parity" if enough else "too few episodes")
    return {"verdict": verdict, "differing": differing, "bonferroni_threshold": threshold}


def markdown(results: dict) -> str:
    """docs/engines.md's parity table: per scenario and policy, each engine's rates and means."""
    rows = ["| scenario | verdict | policy | episodes | success | collision | off-road | speed [m/s] | distance [m] "
            "| lane changes | length [steps] |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results["scenarios"].items():
        for policy, c in r["policies"].items():
            cells = [f"{c[m]['highway-env']:.2f} / {c[m]['envpool']:.2f}" + (" *" if c[m]["p"] < r["bonferroni_threshold"] else "")
                     for m in [f"{x}_rate" for x in RATES] + list(MEANS)]
            rows.append(f"| {name} | {r['verdict']} | {policy} | {c['episodes']} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=200, help="episodes per policy and engine (default: 200)")
    parser.add_argument("--scenarios", nargs="+", help="default: the 'registered' suite")
    parser.add_argument("--policies", nargs="+", default=["random", "idle", "brake"])
    parser.add_argument("--budget", type=float, default=3600.0, help="[s] per scenario (default: 3600)")
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    parser.add_argument("--table", action="store_true", help="print the markdown table of --out and stop")
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(Path(args.out).read_text())), end="")
        return
    names = args.scenarios or [s.name for s in load_suite("registered").scenarios]
    seeds = [EVAL_SEED_BASE + i for i in range(args.episodes)]
    results = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    results.setdefault("scenarios", {})
    with Progress() as progress:
        for name in names:
            scenario = scenarios.get(name)
            deadline = time.perf_counter() + args.budget
            per_policy, seconds = {}, {}
            for policy in args.policies:
                runs = {}
                for engine in ENGINES:
                    task = progress.add_task(f"{name} {policy} {engine}", total=len(seeds))
                    start = time.perf_counter()
                    # each (policy, engine) gets its share of what is left of the budget
                    share = (deadline - start) / (len(ENGINES) * (len(args.policies) - args.policies.index(policy))
                                                  - ENGINES.index(engine))
                    runs[engine] = play(scenario, engine, policy, seeds, start + share, progress, task)
                    seconds[f"{policy}/{engine}"] = round(time.perf_counter() - start, 1)
                n = min(len(r) for r in runs.values())
                runs = {e: r[:n] for e, r in runs.items()}  # the same seeds on both
                per_policy[policy] = {"episodes": n, **compare(runs)}
            results["scenarios"][name] = judge(per_policy) | {"policies": per_policy, "seconds": seconds}
            Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    results["machine"] = {"cores": os.cpu_count(), "python": platform.python_version(),
                          "seeds": f"{seeds[0]}..{seeds[-1]} (evaluation range)", "obs": "kinematics"}
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    for name, r in results["scenarios"].items():
        print(f"{name:18s} {r['verdict']:10s} {'; '.join(r['differing'])}")


if __name__ == "__main__":
    main()
