"""Env steps/s of both engines, raw, through our wrappers and in training, side by side in one run;
writes training_throughput.json here.

    python benchmarks/training_throughput.py [--scenario highway-fast-v0] [--steps 3000] [--skip-training]

1. raw: highway-env's gymnasium env (its own Kinematics observation) against EnvPool's (1 and 8 envs).
2. ours: make_vec_env(n_envs=4) on each engine under obs kinematics, camera (4 frames 0.2 s apart +
   route, drawn from the WorldState) and features (perception's CAMERA_WEIGHTS encoder on that camera), with
   random actions: what a training loop's env side costs.
3. training: our dqn and SB3's ppo through agents.runs.train_agent with their default settings,
   on each engine, on obs features of the CAMERA_WEIGHTS encoder (the world-state camera: the like-for-like
   pair) and kinematics; on highway-env also the zoo's recipe (features of the default encoder, on
   highway-env's own camera) and highway-env's reference SB3 CNN recipe (DQN CnnPolicy on its 4 x
   128 x 64 grayscale frames). Steps/s from each run's train_seconds (evaluations excluded).
4. where the time goes: a profiled features vec env on EnvPool with its 4 envs in this process,
   split into the engine, the WorldState and metrics, the camera and the encoder; and a profiled
   dqn run's main process (envs in their worker processes, one per core: sim/envpool_shards.py),
   split into waiting for the workers, the learner and acting.
The machine is shared: every figure here is measured in this one run, and the ratios are what
the issue's targets name. torch runs on 1 thread (faster for these small networks on 2 cores).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")

import gymnasium as gym  # noqa: E402
import highway_env  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import scenarios  # noqa: E402
from perception.weights import CAMERA_WEIGHTS, load_encoder  # noqa: E402
from sim import CameraConfig, make_vec_env  # noqa: E402

gym.register_envs(highway_env)
ENGINES = ("highway-env", "envpool")


def steps_per_second(step, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def raw(scenario, steps: int) -> dict:
    import envpool

    env = gym.make(scenario.env_id)
    env.reset(seed=0)

    def step_highway():
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()

    out = {"highway-env": steps_per_second(step_highway, steps)}
    for n in (1, 8):
        pool = envpool.make_gymnasium(scenario.env_id, num_envs=n, seed=0, num_threads=min(n, os.cpu_count() or 1))
        pool.reset()
        actions = np.ones(n, np.int32)
        out[f"envpool x{n}"] = n * steps_per_second(lambda: pool.step(actions), max(steps * 20 // n, 50))
    return out


def ours(scenario, steps: int, encoder) -> dict:
    out = {}
    for obs in ("kinematics", "camera", "features"):
        for engine in ENGINES:
            venv = make_vec_env(scenario.name, 4, obs=obs, seed=0, engine=engine,
                                encoder=encoder if obs == "features" else None,
                                camera=CameraConfig() if obs == "camera" else None)
            venv.reset()
            n = steps if engine == "highway-env" else steps * 4

            def step():
                venv.step(np.array([venv.action_space.sample() for _ in range(4)]))

            out[f"{obs}/{engine}"] = 4 * steps_per_second(step, max(n // 4, 10))
            venv.close()
    return out


def train(agent_name: str, scenario: str, obs: str, engine: str, steps: int, workdir: Path,
          encoder: str = CAMERA_WEIGHTS) -> float:
    import agents
    from agents.runs import train_agent

    settings = {"obs": obs} | ({"encoder": encoder} if obs == "features" else {})
    run_dir = train_agent(agents.get_class(agent_name), scenario, steps, torch.device("cpu"),
                          f"{agent_name}-{obs}-{encoder}-{engine}", False, settings, 0, runs_dir=workdir, engine=engine,
                          eval_every=10**9, eval_episodes=1, progress=False)
    config = json.loads((run_dir / "last" / "config.json").read_text())
    return config["steps"] / config["train_seconds"]


def sb3_cnn(scenario: str, steps: int) -> float:
    """highway-env's reference recipe (its documentation's DQN CnnPolicy on grayscale frames)."""
    from stable_baselines3 import DQN

    from scenarios.seeds import training_env_seeds

    env = make_vec_env(scenario, 1, obs="camera", camera=CameraConfig.highway_env(), seeds=training_env_seeds(0, 0, 1))
    model = DQN("CnnPolicy", env, learning_rate=5e-4, buffer_size=15_000, learning_starts=200, batch_size=32,
                gamma=0.8, train_freq=1, gradient_steps=1, target_update_interval=50, exploration_fraction=0.7,
                policy_kwargs={"net_arch": [256, 256]}, seed=0, device="cpu", verbose=0)
    start = time.perf_counter()
    model.learn(steps)
    env.close()
    return steps / (time.perf_counter() - start)


# where a profiled env step's time goes, all envs in this process: (category, functions whose
# cumulative time counts for it)
ENV_PARTS = {
    "engine (EnvPool step + state read)": ("envpool_env.py:_run",),
    "WorldState, truth, lane labels, metrics": ("world.py:_record", "env.py:_label", "metrics.py:_update"),
    "camera (rasterise the frames)": ("raster.py:observation",),
    "encoder (features of the batch)": ("features.py:encode_frames",),
}
# where a profiled dqn run's main process spends its time, the envs in their worker processes
TRAINING_PARTS = {
    "waiting for the env workers": ("~:<method 'poll' of 'select.poll' objects>",),
    "learner (sample, loss, optimiser)": ("dqn.py:update", "replay.py:sample", "replay.py:update_priorities"),
    "acting (Q-values of the batch)": ("dqn.py:q_values",),
}


def shares(run, parts: dict) -> dict:
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    run()
    profiler.disable()
    total = time.perf_counter() - start
    cumulative = {f"{Path(file).name}:{name}": ct for (file, _, name), (_, _, _, ct, _) in pstats.Stats(profiler).stats.items()}
    out = {part: sum(cumulative.get(f, 0.0) for f in functions) / total for part, functions in parts.items()}
    out["other (Python glue, evaluation excluded from steps/s)"] = 1.0 - sum(out.values())
    return {k: round(v, 3) for k, v in out.items()}


def env_profile(scenario, steps: int, encoder) -> dict:
    venv = make_vec_env(scenario.name, 4, obs="features", seed=0, engine="envpool", encoder=encoder, subprocess=False)
    venv.reset()

    def run():
        for _ in range(steps):
            venv.step(np.array([venv.action_space.sample() for _ in range(4)]))

    out = shares(run, ENV_PARTS)
    venv.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="highway-fast-v0")
    parser.add_argument("--steps", type=int, default=3000, help="training steps per run (default: 3000)")
    parser.add_argument("--env-steps", type=int, default=400, help="vector env steps of highway-env per measurement")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    scenario = scenarios.get(args.scenario)
    result = {"scenario": scenario.name, "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                                                    "torch_threads": 1}}
    result["raw_steps_per_s"] = raw(scenario, args.env_steps)
    print("raw", result["raw_steps_per_s"], flush=True)
    result["our_vec_env_steps_per_s"] = ours(scenario, args.env_steps, load_encoder(CAMERA_WEIGHTS))
    print("ours", result["our_vec_env_steps_per_s"], flush=True)
    if not args.skip_training:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            training = {}
            for agent in ("dqn", "ppo"):
                for obs in ("features", "kinematics"):
                    for engine in ENGINES:
                        training[f"{agent}/{obs}/{engine}"] = train(agent, scenario.name, obs, engine, args.steps, workdir)
                        print(agent, obs, engine, training[f"{agent}/{obs}/{engine}"], flush=True)
                training[f"{agent}/features of the default encoder (zoo recipe)/highway-env"] = train(
                    agent, scenario.name, "features", "highway-env", args.steps, workdir, encoder="default")
            training["sb3-cnn reference/highway-env"] = sb3_cnn(scenario.name, args.steps // 3)
            result["training_steps_per_s"] = training
            result["dqn_features_envpool_main_process_time_share"] = shares(
                lambda: train("dqn", scenario.name, "features", "envpool", args.steps // 2, workdir / "profiled"),
                TRAINING_PARTS)
    result["envpool_features_env_step_time_share_in_one_process"] = env_profile(scenario, args.env_steps,
                                                                               load_encoder(CAMERA_WEIGHTS))
    r, o, t = result["raw_steps_per_s"], result["our_vec_env_steps_per_s"], result.get("training_steps_per_s", {})
    result["ratios_envpool_over_highway_env"] = {
        "raw x8": r["envpool x8"] / r["highway-env"],
        **{f"ours {obs}": o[f"{obs}/envpool"] / o[f"{obs}/highway-env"] for obs in ("kinematics", "camera", "features")},
        **{f"training {k}": t[f"{k}/envpool"] / t[f"{k}/highway-env"]
           for k in ("dqn/features", "dqn/kinematics", "ppo/features", "ppo/kinematics") if f"{k}/envpool" in t},
        **{f"training {a}/features on envpool / zoo recipe on highway-env":
           t[f"{a}/features/envpool"] / t[f"{a}/features of the default encoder (zoo recipe)/highway-env"]
           for a in ("dqn", "ppo") if f"{a}/features/envpool" in t},
        **({"ours camera on envpool / raw highway-env": o["camera/envpool"] / r["highway-env"]}),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["ratios_envpool_over_highway_env"], indent=1))


if __name__ == "__main__":
    main()
