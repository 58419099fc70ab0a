"""Training an SB3 agent: SB3's own learn() on the sandbox's vector env, with a callback that
gives it the sandbox's progress bar, held-out evaluations, checkpoints and Ctrl-C handling
(agents/training.py, the same as our DQN's)."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from agents.replay import check_replay_memory, sb3_replay_memory_bytes
from agents.training import (RunFolder, TrainingClock, check_training_engine, evaluate, progress_bar, stop_requests,
                             training_vec_env)


class SandboxCallback(BaseCallback):
    """Per env step: progress, evaluation every `eval_every` steps, stop on request."""

    def __init__(self, agent, run: RunFolder, eval_every: int, eval_episodes: int, stop: dict, bar, task,
                 encoder) -> None:
        super().__init__()
        self.agent, self.run, self.stop = agent, run, stop
        self.eval_every, self.eval_episodes, self.encoder = eval_every, eval_episodes, encoder
        self.bar, self.task = bar, task
        self.next_eval = (agent.steps // eval_every + 1) * eval_every
        self.recent = deque(maxlen=50)  # finished training episodes: (return, crashed)
        self.clock, self.start_steps = TrainingClock(agent), agent.steps

    def _on_step(self) -> bool:
        agent = self.agent
        agent.steps = self.num_timesteps
        for done, info in zip(self.locals["dones"], self.locals["infos"]):
            if done and "episode" in info:
                self.recent.append((info["episode"]["episode_return"], info["episode"]["outcome"] == "collision"))
        sps = (agent.steps - self.start_steps) / max(1e-9, time.perf_counter() - self.clock.start - self.clock.excluded)
        fields = {"sps": sps}
        if self.recent:
            fields.update(ret=float(np.mean([r for r, _ in self.recent])), crash=float(np.mean([c for _, c in self.recent])))
        self.bar.update(self.task, completed=agent.steps, **fields)
        if agent.steps >= self.next_eval:
            self.next_eval = (agent.steps // self.eval_every + 1) * self.eval_every
            self.evaluate()
        return not self.stop["requested"]

    def evaluate(self) -> None:
        agent = self.agent
        result = {"steps": agent.steps, "train_seconds": self.clock.tick()}
        with self.clock.paused():
            result.update(evaluate(agent, agent.scenario, agent.settings.obs, self.eval_episodes, self.encoder))
        self.run.record(agent, result)
        for key in ("mean_driving_score", "success_rate", "collision_rate", "mean_return", "mean_speed"):
            self.logger.record(f"eval/{key}", result[key])
        self.logger.dump(agent.steps)
        self.bar.console.print(f"step {agent.steps}: held-out score {result['mean_driving_score']:.2f}, "
                               f"success {result['success_rate']:.0%}, "
                               f"collision {result['collision_rate']:.0%}, return {result['mean_return']:.2f}, "
                               f"speed {result['mean_speed']:.1f} m/s")


def train_sb3(agent, total_steps: int, run_dir: Path, eval_every: int = 5_000, eval_episodes: int = 20,
              progress: bool = True, engine: str = "highway-env") -> dict:
    """Train `agent` (an SB3Agent, possibly loaded from run_dir/last to resume) up to total_steps.

    PPO and A2C learn from whole rollouts (n_steps x n_envs steps), so their budget is rounded
    up to a whole number of rollouts.
    """
    settings = agent.settings
    check_training_engine(engine, settings.obs, settings.encoder)  # before the run folder exists
    if issubclass(agent.algorithm, OnPolicyAlgorithm):
        rollout = settings.values["n_steps"] * settings.values["n_envs"]
        total_steps = -(-total_steps // rollout) * rollout
        agent.total_steps = total_steps
    if agent.device.type == "cpu" and settings.obs != "camera":
        torch.set_num_threads(1)  # batches of a small MLP: thread hand-offs cost more than they save
    if "buffer_size" in settings.values:  # off-policy (sac, sb3-dqn): before any folder or worker exists
        model = agent.model
        check_replay_memory(lambda n: sb3_replay_memory_bytes(n, model.observation_space, model.action_space,
                                                              settings.values["optimize_memory_usage"]),
                            settings.values["buffer_size"], agent.name)
    run = RunFolder(run_dir)
    encoder = None
    if settings.obs == "features":
        from perception.weights import load_encoder

        encoder = load_encoder(settings.encoder, device=agent.device)
    venv = training_vec_env(agent.scenario, settings.values["n_envs"], settings.obs, agent.seed, agent.steps,
                            settings.values["crash_penalty"], encoder, engine, settings.values["progress_reward"],
                            settings.values["ttc_penalty"])
    # SB3's own seed (torch, numpy, exploration) changes on resume like the workers' seeds. It was
    # run seed * 1000 + steps, which numpy refuses past 2**32. Building the model calls
    # venv.seed(seed), which keeps the workers' seeds (sim/vector.py PlannedSeeds).
    seed = venv.worker_seeds[0]
    start = time.perf_counter()
    stopped = False
    try:
        # The acting model becomes a training model on the vector env, with the same weights,
        # optimiser states and counters (so a resumed run continues its schedules).
        state, updates = agent.training_state(), agent.model._n_updates
        agent.model = agent.build_model(venv, seed=seed)
        agent.load_training_state(state)
        agent.model.num_timesteps, agent.model._n_updates = agent.steps, updates
        agent.model.set_logger(configure(str(run.path), ["tensorboard"]))
        with stop_requests() as stop:
            bar, task = progress_bar(agent.name, agent.scenario, total_steps, agent.steps, progress)
            with bar:
                callback = SandboxCallback(agent, run, eval_every, eval_episodes, stop, bar, task, encoder)
                if agent.steps < total_steps:
                    # SB3 counts the schedule over num_timesteps + this call's steps = total_steps.
                    agent.model.learn(total_steps - agent.steps, callback=callback, reset_num_timesteps=False,
                                      progress_bar=False)
            if stop["requested"]:
                stopped = True
                callback.clock.tick()
                run.save_interrupted(agent, agent.steps)
            elif not run.history or run.history[-1]["steps"] != agent.steps:
                callback.evaluate()  # PPO's last rollout may end past the last evaluation
    finally:
        venv.close()
    return {"steps": agent.steps, "stopped": stopped, "history": run.history,
            "seconds": round(time.perf_counter() - start, 1)}
