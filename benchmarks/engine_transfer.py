"""Train on EnvPool, score on highway-env: the transfer gap, per scenario; writes engine_transfer.json here.

    python benchmarks/engine_transfer.py [--agents dqn ppo] [--scenarios highway-fast-v0 merge-v0]
                                         [--steps N] [--episodes 50] [--obs kinematics]

For each registered task EnvPool runs exactly, each agent trains twice with the same recipe, steps
and run seed (agents.runs.train_agent; checkpoints chosen on validation seeds, on highway-env):
once on highway-env, once on EnvPool. Both checkpoints are then scored on highway-env on the
evaluation seeds (the suites' range, never seen in training or selection):
- on the task itself: gap = score(trained on EnvPool) - score(trained on highway-env);
- on its customised catalog twin (highway-fast-v0 -> highway, merge-v0 -> merge), which EnvPool
  cannot run: twin gap = score on the twin(trained on EnvPool on the task) - score on the twin(the
  same recipe trained on highway-env on the twin itself).
Scores are mean v2 driving scores (sim/score.py) with 95% bootstrap intervals. obs kinematics by
default: features are the default encoder's, on highway-env's camera, which EnvPool cannot draw.
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
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402

import agents  # noqa: E402
import scenarios  # noqa: E402
from agents.runs import train_agent  # noqa: E402
from scenarios.seeds import EVAL_SEED_BASE  # noqa: E402
from sim import make_env  # noqa: E402
from sim.rollout import play_episodes  # noqa: E402
from sim.score import score_episode  # noqa: E402

TWINS = {"highway-fast-v0": "highway", "merge-v0": "merge"}
ENGINES = ("highway-env", "envpool")


def score(run_dir: Path, agent_name: str, scenario: str, obs: str, seeds: list[int]) -> dict:
    env = make_env(scenario, obs=obs)
    try:
        agent = agents.get_class(agent_name).load(run_dir, env)  # the best checkpoint (validation seeds)
        records = play_episodes(env, agent, seeds)
    finally:
        env.close()
    values = np.array([score_episode(r).driving_score for r in records])
    ci = stats.bootstrap((values,), np.mean, confidence_level=0.95, n_resamples=2000, random_state=0).confidence_interval
    return {"mean_driving_score": float(values.mean()), "ci95": [float(ci.low), float(ci.high)],
            "success_rate": float(np.mean([r["outcome"] == "success" for r in records])),
            "collision_rate": float(np.mean([r["outcome"] == "collision" for r in records])), "episodes": len(records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", nargs="+", default=["dqn", "ppo"])
    parser.add_argument("--scenarios", nargs="+", default=list(TWINS))
    parser.add_argument("--steps", type=int, help="training steps (default: each scenario's train_steps)")
    parser.add_argument("--episodes", type=int, default=50, help="evaluation episodes per score (default: 50)")
    parser.add_argument("--obs", default="kinematics")
    parser.add_argument("--runs", default="runs/transfer", help="where the training runs go (reused if there)")
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [EVAL_SEED_BASE + i for i in range(args.episodes)]
    out = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    out.setdefault("results", {})
    for name in args.scenarios:
        steps = args.steps or scenarios.get(name).budgets.train_steps
        for agent_name in args.agents:
            row = {"steps": steps, "obs": args.obs}
            for engine in ENGINES:
                run_dir = Path(args.runs) / name / agent_name / f"{engine}-{args.obs}-{steps}"
                start = time.perf_counter()
                if not (run_dir / "model.pt").exists():
                    train_agent(agents.get_class(agent_name), name, steps, torch.device("cpu"), run_dir.name, False,
                                {"obs": args.obs}, 0, runs_dir=Path(args.runs), engine=engine, progress=False)
                config = json.loads((run_dir / "last" / "config.json").read_text())
                row[f"train_steps_per_s/{engine}"] = config["steps"] / max(config["train_seconds"], 1e-9)
                row[f"on {name}/trained on {engine}"] = score(run_dir, agent_name, name, args.obs, seeds)
                if name in TWINS:
                    row[f"on {TWINS[name]}/trained on {engine}"] = score(run_dir, agent_name, TWINS[name], args.obs, seeds)
                print(name, agent_name, engine, f"{time.perf_counter() - start:.0f} s", flush=True)
            if name in TWINS:  # the reference for the twin: trained where it is scored
                twin = TWINS[name]
                run_dir = Path(args.runs) / twin / agent_name / f"highway-env-{args.obs}-{steps}"
                if not (run_dir / "model.pt").exists():
                    train_agent(agents.get_class(agent_name), twin, steps, torch.device("cpu"), run_dir.name, False,
                                {"obs": args.obs}, 0, runs_dir=Path(args.runs), progress=False)
                row[f"on {twin}/trained on {twin} (highway-env)"] = score(run_dir, agent_name, twin, args.obs, seeds)
            s = lambda key: row[key]["mean_driving_score"]  # noqa: E731
            row["transfer_gap"] = s(f"on {name}/trained on envpool") - s(f"on {name}/trained on highway-env")
            if name in TWINS:
                row["twin_transfer_gap"] = (s(f"on {TWINS[name]}/trained on envpool")
                                            - s(f"on {TWINS[name]}/trained on {TWINS[name]} (highway-env)"))
            out["results"][f"{name}/{agent_name}"] = row
            Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    out["machine"] = {"cores": os.cpu_count(), "python": platform.python_version(),
                      "seeds": f"{seeds[0]}..{seeds[-1]} (evaluation range)", "scored_on": "highway-env"}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    for key, row in out["results"].items():
        print(key, {k: round(v, 3) for k, v in row.items() if k.endswith("gap")})


if __name__ == "__main__":
    main()
