"""EnvPool envs split over worker processes: the camera on every core.

EnvPool simulates on threads, but what follows a step is Python that holds the GIL: each env's
WorldState, camera frames, truth, lane labels and metrics (about 3 ms a step on this machine's
cores, against 0.1 ms for EnvPool itself). In one process that Python runs on one core whatever
the machine has. `ShardedVecEnv` runs `shards` worker processes, each an EnvPoolVecEnv of its
share of the envs (their own EnvPool, one thread), and this process gathers their batches.

Env i keeps seed i of the plan, so an episode is the same however the envs are split (EnvPool
seeds each env on its own). WorldStates travel without their road (75 kB of markings, the same
for every episode of a task): a worker sends it once and this process puts it back.

A dead or hung worker ends the run with sim.vector's EnvWorkerError, as highway-env's workers do.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import signal

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from sim.vector import (PIPE_ERRORS, STEP_TIMEOUT, WORKER_JOIN_TIMEOUT, EnvWorkerError, PlannedSeeds,
                        WorkerProcesses, _WorkerPipe)


def split(n_envs: int, shards: int) -> list[range]:
    """Contiguous env indices of each shard, sizes differing by at most one."""
    bounds = np.linspace(0, n_envs, shards + 1).round().astype(int)
    return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _without_road(infos: list[dict], road) -> list[dict]:
    """infos whose WorldStates on `road` (the pool's, sent once) travel with road None."""
    for info in infos:
        if "world" in info and info["world"].road is road:
            info["world"] = dataclasses.replace(info["world"], road=None)
    return infos


def _shard_worker(conn, make) -> None:
    """A worker process: one EnvPoolVecEnv, answering (command, data) messages until "close"."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process acts on Ctrl-C and SIGTERM (sim.vector)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)  # nothing here needs torch's threads; the cores are the workers'
    venv = make()
    road = None
    conn.send((venv.observation_space, venv.action_space))
    while True:
        try:
            command, data = conn.recv()
        except EOFError:  # the main process is gone (its close() was never called): nothing to answer
            return
        if command == "reset":
            obs = venv.reset()
            infos = venv.unwrapped.reset_infos  # under VecFeatures too
            road = infos[0]["world"].road  # every episode of a pool is on its task's one road
            conn.send((obs, _without_road(infos, road), road))
        elif command == "step":
            venv.step_async(data)
            obs, rewards, dones, infos = venv.step_wait()
            conn.send((obs, rewards, dones, _without_road(infos, road)))
        elif command == "call":  # the VecEnv API's per-env access: (method, args, kwargs, local indices)
            method, args, kwargs, indices = data
            conn.send(getattr(venv, method)(*args, indices=indices, **kwargs) or [])  # set_attr: None
        elif command == "close":
            venv.close()
            conn.close()
            return


class ShardedVecEnv(PlannedSeeds, WorkerProcesses, VecEnv):
    """An SB3 VecEnv of `len(makers)` shards (each a zero-argument function that builds an
    EnvPoolVecEnv in its worker), their envs concatenated in order."""

    def __init__(self, makers: list, sizes: list[int], seeds: list[int], scenario: str,
                 step_timeout: float = STEP_TIMEOUT) -> None:
        self.worker_seeds, self.scenario, self.step_timeout = list(seeds), scenario, step_timeout
        self.sizes, self.dead, self.closed, self.roads = list(sizes), None, False, [None] * len(makers)
        self.workers = len(makers)
        context = multiprocessing.get_context("forkserver")  # a clean interpreter, as sim.vector's workers
        self.processes, self.remotes = [], []
        for i, make in enumerate(makers):
            ours, theirs = context.Pipe()
            process = context.Process(target=_shard_worker, args=(theirs, make), daemon=True)
            process.start()
            theirs.close()
            self.processes.append(process)
            self.remotes.append(_WorkerPipe(ours, i, self))
        try:
            spaces = [remote.recv() for remote in self.remotes]
            super().__init__(sum(sizes), *spaces[0])
        except BaseException:
            self._end_workers()
            raise

    def reset(self):
        for remote in self.remotes:
            remote.send(("reset", None))
        results = [remote.recv() for remote in self.remotes]  # _WorkerPipe: dead or hung is EnvWorkerError
        self.roads = [road for _, _, road in results]
        self.reset_infos = [self._with_road(info, shard) for shard, (_, infos, _) in enumerate(results) for info in infos]
        return np.concatenate([obs for obs, _, _ in results])

    def step_async(self, actions) -> None:
        actions = np.asarray(actions)
        start = 0
        for remote, size in zip(self.remotes, self.sizes, strict=True):
            remote.send(("step", actions[start:start + size]))
            start += size

    def step_wait(self):
        results = [remote.recv() for remote in self.remotes]
        infos = [self._with_road(info, shard) for shard, result in enumerate(results) for info in result[3]]
        return (np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results]),
                np.concatenate([r[2] for r in results]), infos)

    def _with_road(self, info: dict, shard: int) -> dict:
        if "world" in info and info["world"].road is None:
            info["world"] = dataclasses.replace(info["world"], road=self.roads[shard])
        return info

    def close(self) -> None:
        if self.closed:
            return
        if self.dead is None:
            try:
                for remote in self.remotes:
                    remote.send(("close", None))
                for process in self.processes:
                    process.join(WORKER_JOIN_TIMEOUT)
            except (EnvWorkerError, *PIPE_ERRORS):
                pass
        self._end_workers()

    # The VecEnv API's per-env access, each env asked in its shard
    def _call(self, method: str, args: tuple, indices, kwargs=None) -> list:
        indices = list(range(self.num_envs)) if indices is None else [indices] if isinstance(indices, int) else indices
        starts = np.cumsum([0] + self.sizes)
        out = []
        for shard, remote in enumerate(self.remotes):
            local = [i - starts[shard] for i in indices if starts[shard] <= i < starts[shard + 1]]
            if local:
                remote.send(("call", (method, args, kwargs or {}, local)))
                out += remote.recv()
        return out

    def get_attr(self, attr_name, indices=None):
        return self._call("get_attr", (attr_name,), indices)

    def set_attr(self, attr_name, value, indices=None):
        self._call("set_attr", (attr_name, value), indices)

    def env_method(self, method_name, *args, indices=None, **kwargs):
        return self._call("env_method", (method_name, *args), indices, kwargs)

    def env_is_wrapped(self, wrapper_class, indices=None):
        return self._call("env_is_wrapped", (wrapper_class,), indices)
