"""Train on EnvPool, score on highway-env: the transfer gap, per scenario; writes engine_transfer.json here.

    python benchmarks/engine_transfer.py [--agents dqn ppo] [--scenarios highway-fast-v0 merge-v0]
                                         [--steps N] [--episodes 50] [--obs kinematics]

For each registered task EnvPool runs exactly, each agent trains twice with the same recipe, steps
and run seed (agents.runs.train_agent; checkpoints chosen on validation seeds, on highway-env):
once on highway-env, once on EnvPool. Both checkpoints are then scored on highway-env on the
evaluation seeds (the suites' range, never seen in training or selection):
- on the task itself: gap = score(trained on EnvPool) - score(trained on highway-env);
- on each customised catalog twin it stands in for (highway-fast-v0 -> highway, highway-dense;
  merge-v0 -> merge, merge-dense), which EnvPool cannot run: twin gap = score on the twin(trained
  on EnvPool on the task) - score on the twin(the same recipe trained on highway-env on the twin
  itself).
Results are kept in the JSON: a rerun (a twin added, an interrupted run) trains and scores only
what is missing; `--table` prints docs/engines.md's table.
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

# each EnvPool task and the customised catalog scenarios it stands in for (docs/engines.md)
TWINS = {"highway-fast-v0": ("highway", "highway-dense"), "merge-v0": ("merge", "merge-dense")}
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


def run_dir_of(runs: str, scenario: str, agent_name: str, engine: str, obs: str, steps: int) -> Path:
    return Path(runs) / scenario / agent_name / f"{engine}-{obs}-{steps}"


def trained(run_dir: Path, agent_name: str, scenario: str, steps: int, obs: str, engine: str) -> Path:
    """The run at run_dir, trained first if it is not there (a rerun reuses it)."""
    if not (run_dir / "model.pt").exists():
        train_agent(agents.get_class(agent_name), scenario, steps, torch.device("cpu"), run_dir.name, False,
                    {"obs": obs}, 0, runs_dir=run_dir.parents[2], engine=engine, progress=False)
    return run_dir


def transfer_row(row: dict, name: str, agent_name: str, steps: int, args, seeds: list[int]) -> dict:
    """Fills what `row` (this task and agent's results so far) lacks: a rerun with a twin added
    trains and scores only what that twin needs."""
    s = lambda key: row[key]["mean_driving_score"]  # noqa: E731
    for engine in ENGINES:
        twins = TWINS.get(name, ()) if engine == "envpool" else ()  # twins are scored on the EnvPool run
        wanted = {f"on {scenario}/trained on {engine}": scenario for scenario in (name, *twins)}
        if all(key in row for key in wanted):
            continue
        start = time.perf_counter()
        run_dir = trained(run_dir_of(args.runs, name, agent_name, engine, args.obs, steps), agent_name, name, steps,
                          args.obs, engine)
        config = json.loads((run_dir / "last" / "config.json").read_text())
        row[f"train_steps_per_s/{engine}"] = config["steps"] / max(config["train_seconds"], 1e-9)
        for key, scenario in wanted.items():
            if key not in row:
                row[key] = score(run_dir, agent_name, scenario, args.obs, seeds)
        print(name, agent_name, engine, f"{time.perf_counter() - start:.0f} s", flush=True)
    row["transfer_gap"] = s(f"on {name}/trained on envpool") - s(f"on {name}/trained on highway-env")
    for twin in TWINS.get(name, ()):  # the reference for the twin: the recipe trained where it is scored
        reference = f"on {twin}/trained on {twin} (highway-env)"
        if reference not in row:
            run_dir = trained(run_dir_of(args.runs, twin, agent_name, "highway-env", args.obs, steps), agent_name,
                              twin, steps, args.obs, "highway-env")
            row[reference] = score(run_dir, agent_name, twin, args.obs, seeds)
        row[f"twin_transfer_gap/{twin}"] = s(f"on {twin}/trained on envpool") - s(reference)
    return row


def table(out: dict) -> str:
    """docs/engines.md's table: one line per task and agent, then one per further twin."""
    cell = lambda r: "{:.3f} [{:.2f}, {:.2f}]".format(r["mean_driving_score"], *r["ci95"])  # noqa: E731
    lines = ["| task / agent | trained on highway-env | trained on EnvPool | gap | twin | twin, trained there on "
             "highway-env | twin, trained on EnvPool task | twin gap |", "|---|---|---|---|---|---|---|---|"]
    for key, row in out["results"].items():
        name, label = key.split("/")[0], key.replace("/", " / ")
        task = [cell(row[f"on {name}/trained on highway-env"]), cell(row[f"on {name}/trained on envpool"]),
                f"{row['transfer_gap']:+.3f}"]
        for n, twin in enumerate(TWINS.get(name, ())):
            if f"twin_transfer_gap/{twin}" in row:  # the task's own cells once, on its first twin's line
                cells = [label, *(task if n == 0 else ["", "", ""]), twin,
                         cell(row[f"on {twin}/trained on {twin} (highway-env)"]),
                         cell(row[f"on {twin}/trained on envpool"]), f"{row[f'twin_transfer_gap/{twin}']:+.3f}"]
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", nargs="+", default=["dqn", "ppo"])
    parser.add_argument("--scenarios", nargs="+", default=list(TWINS))
    parser.add_argument("--steps", type=int, help="training steps (default: each scenario's train_steps)")
    parser.add_argument("--episodes", type=int, default=50, help="evaluation episodes per score (default: 50)")
    parser.add_argument("--obs", default="kinematics")
    parser.add_argument("--runs", default="runs/transfer", help="where the training runs go (reused if there)")
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    parser.add_argument("--table", action="store_true", help="print the table of --out and stop")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(Path(args.out).read_text())))
        return
    torch.set_num_threads(1)
    seeds = [EVAL_SEED_BASE + i for i in range(args.episodes)]
    out = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    out.setdefault("results", {})
    for name in args.scenarios:
        steps = args.steps or scenarios.get(name).budgets.train_steps
        for agent_name in args.agents:
            kept = out["results"].get(f"{name}/{agent_name}", {})
            if (kept.get("steps"), kept.get("obs"), kept.get("episodes")) != (steps, args.obs, args.episodes):
                kept = {}  # another recipe or seed count: nothing of it is reused
            row = transfer_row({**kept, "steps": steps, "obs": args.obs, "episodes": args.episodes}, name, agent_name,
                               steps, args, seeds)
            out["results"][f"{name}/{agent_name}"] = row
            Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    out["machine"] = {"cores": os.cpu_count(), "python": platform.python_version(),
                      "seeds": f"{seeds[0]}..{seeds[-1]} (evaluation range)", "scored_on": "highway-env"}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(table(out))


if __name__ == "__main__":
    main()
