"""Our DQN vs stable-baselines3 DQN on merge, same env-step budget, several seeds, one run.

    python benchmarks/dqn_vs_sb3.py [--steps 20000] [--seeds 0 1 2] [--methods ours sb3-features sb3-cnn]
                                    [--eval-episodes 50] [--checkpoints 4]

Methods:
  ours          agents/dqn.py on obs="features" (frozen pretrained encoder), its default settings
  sb3-features  SB3 DQN ("MlpPolicy") on the same features, SB3 defaults scaled to the budget
  sb3-cnn       highway-env's reference recipe: SB3 DQN "CnnPolicy" on 4x128x64 grayscale frames,
                lr 5e-4, buffer 15k, learning_starts 200, batch 32, gamma 0.8, train_freq 1,
                target update 50, net_arch [256, 256], exploration over 70% of the budget
At fixed step checkpoints each is evaluated greedily on the same held-out seeds (success,
collision, return). Wall-clock excludes evaluation. Writes dqn_vs_sb3.json and .png here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

SCENARIO = "merge"  # evaluation seeds: scenarios.seeds.validation_seeds, the same for every method


class SB3Policy:
    """An SB3 model behind the policy interface sim.rollout plays."""

    def __init__(self, model) -> None:
        self.model = model

    def reset(self) -> None:
        pass

    def act(self, obs, deterministic: bool = True) -> int:
        return int(self.model.predict(obs, deterministic=True)[0])


def run_ours(seed: int, steps: int, every: int, episodes: int, workdir: Path) -> list[dict]:
    from agents.dqn import DQNAgent
    from agents.runs import train_agent

    run_dir = train_agent(DQNAgent, SCENARIO, steps, torch.device("cpu"), f"bench-seed{seed}-{int(time.time())}", False,
                          {}, seed, runs_dir=workdir, eval_every=every, eval_episodes=episodes)
    history = json.loads((run_dir / "metrics.json").read_text())  # evaluated on the same seeds as SB3's
    return [{"steps": h["steps"], "train_seconds": h["train_seconds"], **{k: h[k] for k in ("success_rate", "collision_rate", "mean_return")}}
            for h in history]


def run_sb3(method: str, seed: int, steps: int, every: int, episodes: int) -> list[dict]:
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    from agents.training import evaluate
    from scenarios.seeds import training_env_seeds
    from sim import make_vec_env

    if method == "sb3-cnn":
        obs_mode = "camera"
        env = make_vec_env(SCENARIO, 1, obs="camera", seeds=training_env_seeds(seed, 0, 1))
        model = DQN("CnnPolicy", env, learning_rate=5e-4, buffer_size=15_000, learning_starts=200, batch_size=32,
                    gamma=0.8, train_freq=1, gradient_steps=1, target_update_interval=50, exploration_fraction=0.7,
                    policy_kwargs={"net_arch": [256, 256]}, seed=seed, device="cpu", verbose=0)
    else:
        obs_mode = "features"
        env = make_vec_env(SCENARIO, 4, obs="features", seeds=training_env_seeds(seed, 0, 4))
        model = DQN("MlpPolicy", env, learning_starts=1000, buffer_size=50_000, exploration_fraction=0.3,
                    seed=seed, device="cpu", verbose=0)
    history: list[dict] = []

    class Checkpoints(BaseCallback):
        def __init__(self):
            super().__init__()
            self.next, self.eval_seconds, self.start = every, 0.0, time.perf_counter()

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next:
                self.next += every
                t0 = time.perf_counter()
                scores = evaluate(SB3Policy(model), SCENARIO, obs_mode, episodes)
                self.eval_seconds += time.perf_counter() - t0
                history.append({"steps": self.num_timesteps,
                                "train_seconds": round(time.perf_counter() - self.start - self.eval_seconds, 1), **scores})
                print(f"  {method} seed {seed} step {self.num_timesteps}: {scores}", flush=True)
            return True

    model.learn(steps, callback=Checkpoints())
    env.close()
    return history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["ours", "sb3-features", "sb3-cnn"])
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--checkpoints", type=int, default=4)
    parser.add_argument("--out", default=str(Path(__file__).with_name("dqn_vs_sb3.json")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    every = args.steps // args.checkpoints
    workdir = Path("runs/benchmarks")
    results = {"scenario": SCENARIO, "steps": args.steps, "eval_episodes": args.eval_episodes, "runs": {}}
    for method in args.methods:
        for seed in args.seeds:
            print(f"{method} seed {seed}", flush=True)
            if method == "ours":
                history = run_ours(seed, args.steps, every, args.eval_episodes, workdir)
            else:
                history = run_sb3(method, seed, args.steps, every, args.eval_episodes)
            results["runs"].setdefault(method, {})[str(seed)] = history
            Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    plot(results, Path(args.out).with_suffix(".png"))
    print(f"wrote {args.out}")


def plot(results: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))  # no pyplot: no global backend switch (as agents/curves.py)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    for method, runs in results["runs"].items():
        steps = sorted({h["steps"] for hist in runs.values() for h in hist})
        for ax, key in zip(axes, ("success_rate", "collision_rate")):
            values = np.array([[next((h[key] for h in hist if h["steps"] == s), np.nan) for s in steps] for hist in runs.values()])
            mean = np.nanmean(values, axis=0)
            ax.plot(steps, mean, marker="o", label=method)
            ax.fill_between(steps, np.nanmin(values, axis=0), np.nanmax(values, axis=0), alpha=0.2)
            ax.set_xlabel("env steps")
            ax.set_title(f"{key.replace('_', ' ')} on held-out seeds")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
