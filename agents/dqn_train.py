"""The DQN training loop: vector-env collection, n-step replay, updates, evaluation, checkpoints.

The run folder's layout and bookkeeping are agents/training.py's, shared with the SB3 agents.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from agents.replay import NStepCollector, ReplayBuffer, check_replay_memory, replay_memory_bytes
from agents.training import (RunFolder, TrainingClock, check_training_engine, evaluate, progress_bar, stop_requests,
                             training_vec_env)


def train_dqn(agent, total_steps: int, run_dir: Path, eval_every: int = 5_000, eval_episodes: int = 20,
              progress: bool = True, engine: str = "highway-env") -> dict:
    """Train `agent` (a DQNAgent, possibly loaded from run_dir/last to resume) up to total_steps
    on `engine`'s vector env (evaluations on highway-env)."""
    c, learner = agent.dqn_config, agent.learner
    check_training_engine(engine, c.obs, c.encoder)  # before the run folder exists
    if agent.device.type == "cpu" and c.obs != "camera":
        torch.set_num_threads(1)  # batches of a small MLP: thread hand-offs cost more than they save
    obs_dtype = np.uint8 if c.obs == "camera" else np.float16  # compact replay: never float frames
    alpha = c.priority_alpha if c.prioritized else 0.0
    # Before the run folder, the workers or the buffer exist: a refused run leaves nothing behind.
    check_replay_memory(lambda n: replay_memory_bytes(n, agent.obs_shape, obs_dtype, alpha > 0), c.buffer_size, "dqn")
    run = RunFolder(run_dir)
    encoder = None
    if c.obs == "features":
        from perception.weights import load_encoder

        encoder = load_encoder(c.encoder, device=agent.device)
    seed = agent.seed or 0  # the run seed; env seeds come from the seed plan (training_vec_env)
    venv = training_vec_env(agent.scenario, c.n_envs, c.obs, seed, agent.steps, c.crash_penalty, encoder, engine, c.progress_reward,
                            c.ttc_penalty)
    space = venv.observation_space
    buffer = ReplayBuffer(c.buffer_size, space.shape, obs_dtype, alpha, seed)
    nstep = NStepCollector(c.n_envs, c.n_step, c.gamma)
    rng = np.random.default_rng(seed + agent.steps)
    writer = SummaryWriter(str(run.path))
    recent = deque(maxlen=50)  # finished training episodes: (return, crashed)
    next_eval = (agent.steps // eval_every + 1) * eval_every

    def learning_due(steps: int) -> bool:  # an update after the vector step that reaches `steps`
        ready = steps >= c.learning_starts and buffer.size >= min(c.learning_starts, c.buffer_size)
        return ready and (steps // c.n_envs) % c.train_every == 0

    def learn(steps: int, epsilon: float) -> None:  # epsilon: the acting step's, logged beside the losses
        for _ in range(c.gradient_steps):
            batch, indices, weights = buffer.sample(c.batch_size, c.beta(steps, total_steps))
            td, logs = learner.update(batch, weights)
            buffer.update_priorities(indices, td)
        if learner.updates % 100 == 0:
            for key, value in logs.items():
                writer.add_scalar(f"train/{key}", value, steps)
            writer.add_scalar("train/epsilon", epsilon, steps)

    obs = venv.reset()
    start, start_steps = time.perf_counter(), agent.steps
    clock = TrainingClock(agent)
    stopped = False
    try:
        with stop_requests() as stop:
            bar, task = progress_bar("dqn", agent.scenario, total_steps, agent.steps, progress)
            with bar:
                while agent.steps < total_steps and not stop["requested"]:
                    epsilon = c.epsilon(agent.steps, total_steps)
                    greedy = learner.q_values(obs).argmax(axis=1)
                    explore = rng.random(c.n_envs) < epsilon
                    actions = np.where(explore, rng.integers(0, learner.n_actions, c.n_envs), greedy)
                    # The envs step (in their workers) while this process learns: the update
                    # samples the replay buffer as it was before this step's transitions.
                    venv.step_async(actions)
                    if learning_due(agent.steps + c.n_envs):
                        learn(agent.steps + c.n_envs, epsilon)
                    next_obs, rewards, dones, infos = venv.step_wait()
                    for i in range(c.n_envs):
                        truncated = bool(infos[i].get("TimeLimit.truncated", False))
                        final = infos[i]["terminal_observation"] if dones[i] else next_obs[i]
                        for transition in nstep.add(i, obs[i], int(actions[i]), float(rewards[i]), final, bool(dones[i]), truncated):
                            buffer.add(*transition)
                        if dones[i] and "episode" in infos[i]:
                            episode = infos[i]["episode"]
                            recent.append((episode["episode_return"], episode["outcome"] == "collision"))
                            writer.add_scalar("episode/return", episode["episode_return"], agent.steps)
                            writer.add_scalar("episode/length", episode["length"], agent.steps)
                            writer.add_scalar("episode/success", float(episode["outcome"] == "success"), agent.steps)
                            writer.add_scalar("episode/collision", float(episode["outcome"] == "collision"), agent.steps)
                    obs = next_obs
                    agent.steps += c.n_envs
                    sps = (agent.steps - start_steps) / (time.perf_counter() - start)
                    if agent.steps % (c.n_envs * 50) == 0:
                        writer.add_scalar("charts/sps", sps, agent.steps)
                    if recent:
                        bar.update(task, completed=agent.steps, sps=sps, ret=float(np.mean([r for r, _ in recent])),
                                   crash=float(np.mean([k for _, k in recent])))
                    else:
                        bar.update(task, completed=agent.steps, sps=sps)
                    if agent.steps >= next_eval or agent.steps >= total_steps:
                        next_eval += eval_every
                        result = {"steps": agent.steps, "train_seconds": clock.tick()}
                        with clock.paused():
                            result.update(evaluate(agent, agent.scenario, c.obs, eval_episodes, encoder))
                        run.record(agent, result)
                        for key in ("mean_driving_score", "success_rate", "collision_rate", "mean_return"):
                            writer.add_scalar(f"eval/{key}", result[key], agent.steps)
                        bar.console.print(f"step {agent.steps}: held-out score {result['mean_driving_score']:.2f}, "
                                          f"success {result['success_rate']:.0%}, "
                                          f"collision {result['collision_rate']:.0%}, return {result['mean_return']:.2f}")
            if stop["requested"]:
                stopped = True
                clock.tick()
                run.save_interrupted(agent, agent.steps)
    finally:
        venv.close()
        writer.close()
    return {"steps": agent.steps, "stopped": stopped, "history": run.history,
            "seconds": round(time.perf_counter() - start, 1)}
