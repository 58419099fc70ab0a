"""DQN ablations: double Q, dueling head, n-step returns and prioritised replay, each turned off
alone, several run seeds each; writes dqn_ablations.json here (--table: the markdown table).

    python benchmarks/dqn_ablations.py [--scenario highway-dense] [--steps 10000] [--seeds 0 1 2]
                                       [--episodes 50] [--workers 2]
    python benchmarks/dqn_ablations.py --table

Every run is agents/dqn.py with its default settings (obs features of the default encoder,
highway-env), one setting changed, trained by agents.runs.train_agent: its checkpoint is chosen on
validation seeds (900,000..) as every run's is. All checkpoints, with idm and brake beside them
for scale, are then scored by the suite scorer on the same evaluation seeds (1,000,000..), never
seen in training or selection, under the v2 driving score.

Two spreads are reported, because they answer different questions:
- over run seeds: each run's mean score is one sample; mean and 95% t-interval over the runs (n =
  number of seeds: with 3 the interval is wide, and it is the honest one for "does this component
  matter for a new training run");
- over episodes: all runs' episodes pooled, bootstrap 95% interval (how precisely these particular
  runs were measured).
The difference to `full` is the difference of run means with a Welch t-interval over run seeds.
Runs are kept under --runs: a rerun (or one interrupted by Ctrl-C) trains only what is missing or
unfinished, and the scoring resumes its results.json.
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
from scipy import stats  # noqa: E402

# (folder slug, what the table calls it, the setting that turns the component off)
VARIANTS = (
    ("full", "full (all four)", {}),
    ("no-double", "no double Q", {"double": False}),
    ("no-dueling", "no dueling head", {"dueling": False}),
    ("no-n-step", "no n-step (n = 1)", {"n_step": 1}),
    ("no-prioritised", "no prioritised replay", {"prioritized": False}),
)
REFERENCES = ("idm", "brake")  # scored beside the runs: the rule-based bar and a constant floor
CONFIDENCE = 0.95


def t_interval(x) -> list[float]:
    """95% t-interval of the mean of x (runs); [mean, mean] when there is one run."""
    x = np.asarray(x, float)
    if len(x) < 2 or np.ptp(x) == 0:
        return [float(x.mean())] * 2
    low, high = stats.t.interval(CONFIDENCE, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    return [float(low), float(high)]


def welch_interval(a, b) -> list[float]:
    """95% Welch t-interval of mean(a) - mean(b) (runs of two variants)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = a.mean() - b.mean()
    if va + vb == 0:
        return [float(diff)] * 2
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, dof) * np.sqrt(va + vb)
    return [float(diff - half), float(diff + half)]


def train_runs(args) -> dict:
    """{run label: run folder}, training what is missing or unfinished."""
    import torch

    import agents
    from agents.runs import train_agent

    torch.set_num_threads(1)
    folders = {}
    for slug, _, settings in VARIANTS:
        for seed in args.seeds:
            label = f"{slug}-s{seed}"
            run_dir = Path(args.runs) / args.scenario / "dqn" / label
            last = run_dir / "last" / "config.json"
            done = last.exists() and json.loads(last.read_text()).get("steps", 0) >= args.steps
            if not done:
                start = time.perf_counter()
                resume = last.exists()  # interrupted: continue its schedule
                print(f"training {label} ({'resumed' if resume else 'new'}, {args.steps} steps)", flush=True)
                train_agent(agents.get_class("dqn"), args.scenario, args.steps, torch.device("cpu"), label, resume,
                            {} if resume else settings, seed, runs_dir=Path(args.runs), progress=False)
                print(f"  {time.perf_counter() - start:.0f} s", flush=True)
            folders[label] = run_dir
    return folders


def score_runs(args, folders: dict) -> list[dict]:
    """Every run's chosen checkpoint, and the references, on the evaluation seeds (one suite run)."""
    from scenarios.seeds import EVAL_SEED_BASE
    from scenarios.suite import Suite, SuiteScenario
    from scoring.api import score_suite

    suite = Suite(name="dqn-ablations", description=f"DQN ablations on {args.scenario}",
                  seeds=tuple(EVAL_SEED_BASE + i for i in range(args.episodes)), episodes=1,
                  scenarios=(SuiteScenario(args.scenario, None, ()),))
    run = f"{args.scenario}-{args.steps}"
    resume = (Path(args.reports) / suite.name / run / "results.json").exists()
    outcome = score_suite(suite, [str(f) for f in folders.values()] + list(REFERENCES), reports_dir=args.reports,
                          run=run, resume=resume, workers=args.workers)
    if outcome.interrupted:
        raise SystemExit("interrupted: the episodes played are kept; run the same command again to resume")
    return outcome.records


def summarise(args, folders: dict, records: list[dict]) -> dict:
    from scoring.stats import mean_ci

    by_agent: dict[str, list[dict]] = {}
    for record in records:
        by_agent.setdefault(record["agent"], []).append(record)

    def scores(label: str) -> np.ndarray:
        return np.array([r["driving_score"] for r in by_agent[label]])

    def rate(label: str, outcome: str) -> float:
        return float(np.mean([r["outcome"] == outcome for r in by_agent[label]]))

    runs, variants = {}, {}
    for label, folder in folders.items():
        chosen = json.loads((folder / "config.json").read_text())  # the checkpoint validation chose
        last = json.loads((folder / "last" / "config.json").read_text())
        runs[label] = {"score": float(scores(label).mean()), "success": rate(label, "success"),
                       "collision": rate(label, "collision"), "chosen_at_steps": chosen.get("steps"),
                       "train_minutes": last["train_seconds"] / 60}
    for slug, name, settings in VARIANTS:
        labels = [f"{slug}-s{seed}" for seed in args.seeds]
        means = [runs[label]["score"] for label in labels]
        pooled = mean_ci(np.concatenate([scores(label) for label in labels]))
        variants[slug] = {
            "name": name, "settings": settings, "runs": labels, "run_scores": means,
            "score": float(np.mean(means)), "ci95_over_runs": t_interval(means),
            "ci95_over_episodes": [pooled.low, pooled.high],
            "success": float(np.mean([runs[label]["success"] for label in labels])),
            "collision": float(np.mean([runs[label]["collision"] for label in labels])),
            "train_minutes": float(np.mean([runs[label]["train_minutes"] for label in labels])),
        }
    full = variants["full"]["run_scores"]
    for slug, entry in variants.items():
        if slug != "full":
            entry["minus_full"] = float(np.mean(entry["run_scores"]) - np.mean(full))
            entry["minus_full_ci95"] = welch_interval(entry["run_scores"], full)
    references = {}
    for name in REFERENCES:
        ci = mean_ci(scores(name))
        references[name] = {"score": ci.value, "ci95": [ci.low, ci.high], "success": rate(name, "success"),
                            "collision": rate(name, "collision")}
    return {"scenario": args.scenario, "steps": args.steps, "seeds": args.seeds, "episodes": args.episodes,
            "variants": variants, "runs": runs, "references": references,
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "device": "cpu",
                        "evaluation_seeds": f"1000000..{1000000 + args.episodes - 1}"}}


def table(result: dict) -> str:
    """The markdown table docs/training.md shows."""
    lines = [f"| variant | score, mean of {len(result['seeds'])} runs [95% t over runs] | runs | "
             "[95% over episodes] | minus full [95% Welch] | success | collision | training [min/run] |",
             "|---|---|---|---|---|---|---|---|"]
    for slug, v in result["variants"].items():
        diff = "-" if slug == "full" else "{:+.3f} [{:+.2f}, {:+.2f}]".format(v["minus_full"], *v["minus_full_ci95"])
        lines.append("| {} | {:.3f} [{:.2f}, {:.2f}] | {} | [{:.2f}, {:.2f}] | {} | {:.0%} | {:.0%} | {:.1f} |".format(
            v["name"], v["score"], *v["ci95_over_runs"], " ".join(f"{s:.2f}" for s in v["run_scores"]),
            *v["ci95_over_episodes"], diff, v["success"], v["collision"], v["train_minutes"]))
    for name, ref in result["references"].items():
        lines.append("| {} (reference) | {:.3f} [{:.2f}, {:.2f}] over episodes | - | - | - | {:.0%} | {:.0%} | - |".format(
            name, ref["score"], *ref["ci95"], ref["success"], ref["collision"]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="highway-dense")
    parser.add_argument("--steps", type=int, default=10_000, help="training env steps per run (default: 10000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="run seeds (default: 0 1 2)")
    parser.add_argument("--episodes", type=int, default=50, help="evaluation episodes per run (default: 50)")
    parser.add_argument("--workers", type=int, default=2, help="scoring processes (default: 2)")
    parser.add_argument("--runs", default="runs/ablations", help="where the runs go (kept: a rerun resumes)")
    parser.add_argument("--reports", default="reports", help="where the scoring reports go")
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    parser.add_argument("--table", action="store_true", help="print the table of --out and stop")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(Path(args.out).read_text())))
        return
    if args.steps < 1 or args.episodes < 1 or len(args.seeds) < 2:
        parser.error("--steps and --episodes must be positive, and --seeds needs at least 2 seeds for an interval")
    start = time.perf_counter()
    try:
        folders = train_runs(args)
    except KeyboardInterrupt:
        raise SystemExit("interrupted: finished runs are kept and the interrupted one saved; "
                         "run the same command again to resume") from None
    result = summarise(args, folders, score_runs(args, folders))
    result["wall_minutes"] = (time.perf_counter() - start) / 60
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
