"""The one vector-env factory: subprocess workers, usable by stable-baselines3 and our agents.

Returns an SB3 VecEnv (SubprocVecEnv, or DummyVecEnv for one env): a batched step API with
auto-reset, where info["terminal_observation"] and info["TimeLimit.truncated"] tell a learner
whether to bootstrap, and info["episode"] carries the metrics of every finished episode.

A worker that dies (killed, out of memory, crashed) ends the run with an EnvWorkerError that
names it, instead of SB3's bare EOFError / BrokenPipeError; the other workers are then ended
too, so nothing hangs and nothing is left behind.
"""

from __future__ import annotations

import functools
import os
import signal

import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

import scenarios
from scenarios.seeds import MAX_SEED
from sim.camera import CameraConfig
from sim.env import check_envpool_features_camera, make_env, wrap_engine_env
from sim.truth import DEFAULT_TRUTH_VEHICLES

# [s] the longest a worker may take to answer (a step, a reset, its spaces): highway-env steps in
# milliseconds and builds a scenario in under a second, so a silent worker is hung, not slow.
STEP_TIMEOUT = 120.0


def make_vec_env(
    scenario: str | scenarios.Scenario,
    n_envs: int,
    obs: str = "camera",
    seed: int | None = None,
    camera: CameraConfig | None = None,
    truth_vehicles: int = DEFAULT_TRUTH_VEHICLES,
    subprocess: bool | None = None,
    encoder=None,
    seeds: list[int] | None = None,
    step_timeout: float = STEP_TIMEOUT,
    engine: str = "highway-env",
) -> VecEnv:
    """n_envs copies of make_env(scenario, ...), worker i seeded with seeds[i] (training passes
    scenarios.seeds.training_env_seeds), or else with seed + i (seed defaults to 0).

    The returned VecEnv's worker_seeds lists them, and its seed() keeps them (see PlannedSeeds).
    subprocess: None picks subprocesses when n_envs > 1.
    step_timeout [s]: a subprocess worker that does not answer a step or reset within it is hung:
    EnvWorkerError names it, and close() ends every worker.
    obs="features": workers produce camera frames and this process encodes all of them in one
    batched forward pass per step, on the encoder's device (default encoder: shipped weights).
    engine="envpool": EnvPool envs stepped in one call per process (sim/envpool_env.py); with
    subprocess (None: when n_envs > 1 on a machine of several cores) they are split over one
    worker process per core (sim/envpool_shards.py), else all in this process. Scenarios EnvPool
    cannot run exactly are refused in one line.
    """
    if isinstance(n_envs, bool) or not isinstance(n_envs, int) or n_envs < 1:
        raise ValueError(f"n_envs must be a positive integer, got {n_envs!r}")
    if seeds is None:
        seeds = [(seed or 0) + i for i in range(n_envs)]
    elif seed is not None:
        raise ValueError("give make_vec_env seed (worker i gets seed + i) or seeds (one per worker), not both")
    if len(seeds) != n_envs or not all(_is_seed(s) for s in seeds):
        raise ValueError(f"seeds must be {n_envs} integers from 0 to {MAX_SEED}, one per worker, got {seeds!r:.80}")
    seeds = [int(s) for s in seeds]  # plain ints, for worker_seeds and the workers' first reset
    scenario = scenarios.get(scenario) if isinstance(scenario, str) else scenario
    worker_obs = "camera" if obs == "features" else obs
    if obs == "features":
        from perception.features import encoder_and_camera

        encoder, camera = encoder_and_camera(encoder, camera)
    if engine == "envpool":  # features included: its workers may encode their own frames
        return _envpool_vec_env(scenario, n_envs, worker_obs, seeds, camera, truth_vehicles, subprocess, step_timeout,
                                encoder=encoder if obs == "features" else None)
    if engine != "highway-env":
        raise ValueError(f"unknown engine {engine!r}; valid engines: highway-env, envpool")
    venv = _highway_env_vec_env(scenario, n_envs, worker_obs, seeds, camera, truth_vehicles, subprocess, step_timeout)
    return _with_features(venv, encoder) if obs == "features" else venv


def _with_features(venv: VecEnv, encoder) -> VecEnv:
    from perception.features import VecFeatures

    return VecFeatures(venv, encoder)


def _highway_env_vec_env(scenario, n_envs, worker_obs, seeds, camera, truth_vehicles, subprocess, step_timeout) -> VecEnv:
    env_fns = [  # the scenario itself goes to the workers (pickled as data: suite variants too)
        functools.partial(make_env, scenario, obs=worker_obs, seed=s, camera=camera, truth_vehicles=truth_vehicles)
        for s in seeds
    ]
    if subprocess is None:
        subprocess = n_envs > 1
    if subprocess:
        venv = WorkerVecEnv([functools.partial(_worker_env, fn) for fn in env_fns], scenario.name, seeds, step_timeout)
    else:
        venv = SeededDummyVecEnv(env_fns, seeds)
    return venv


def _envpool_vec_env(scenario, n_envs, obs, seeds, camera, truth_vehicles, subprocess=False,
                     step_timeout=STEP_TIMEOUT, threads=None, encoder=None) -> VecEnv:
    """EnvPool envs, sharded over worker processes or in this one; encoder: their camera frames
    become its features (obs "camera" then), in the workers when it runs on the CPU (each
    worker's core encodes its own frames, instead of one core all of them while the workers
    wait), else here in one batch for the device."""
    from sim.envpool_env import Pool, check_envpool, check_envpool_camera, pool_env, substeps_for

    camera = camera or CameraConfig()
    if encoder is not None:  # the camera is the encoder's contract
        check_envpool_features_camera(camera)
    check_envpool_camera(camera)
    substeps = substeps_for(scenario, camera if obs != "kinematics" else None)  # its refusals before any worker
    cores = os.cpu_count() or 1
    if subprocess or (subprocess is None and n_envs > 1 and cores > 1):
        from sim.envpool_shards import ShardedVecEnv, split

        check_envpool(scenario)
        shards = split(n_envs, min(n_envs, cores))
        in_workers = encoder is not None and next(encoder.parameters()).device.type == "cpu"
        makers = [functools.partial(_envpool_vec_env, scenario, len(r), obs, seeds[r.start:r.stop], camera,
                                    truth_vehicles, threads=1, encoder=encoder if in_workers else None) for r in shards]
        venv = ShardedVecEnv(makers, [len(r) for r in shards], seeds, scenario.name, step_timeout)
        return _with_features(venv, encoder) if encoder is not None and not in_workers else venv
    pool = Pool(scenario, n_envs, seeds, substeps, threads)

    def slot(index: int):  # the pool holds the seeds: no seed for the wrappers
        return wrap_engine_env(pool_env(pool, index), scenario, obs, camera, truth_vehicles, None, None)

    venv = EnvPoolVecEnv([functools.partial(slot, i) for i in range(n_envs)], seeds, pool)
    return _with_features(venv, encoder) if encoder is not None else venv


def _is_seed(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value <= MAX_SEED


class PlannedSeeds:
    """A VecEnv whose workers keep the seeds they were built with (worker_seeds).

    An SB3 model built on a VecEnv calls env.seed(model seed), and SB3's seed() would then reset
    worker i with model seed + i: training would leave the seed plan (scenarios/seeds.py), and
    could land on evaluation seeds. Here seed() changes nothing and returns the workers' seeds.
    """

    worker_seeds: list[int]

    def seed(self, seed: int | None = None) -> list[int]:
        return list(self.worker_seeds)


class SeededDummyVecEnv(PlannedSeeds, DummyVecEnv):
    def __init__(self, env_fns, seeds: list[int]) -> None:
        self.worker_seeds = list(seeds)
        super().__init__(env_fns)

    def step_wait(self):
        """SB3's DummyVecEnv.step_wait without its deepcopy of the infos: that copied every
        WorldState (a twentieth of an EnvPool env step) and protects nothing here: each env's
        info is a new dict every step, its arrays new too, on both engines."""
        for i, env in enumerate(self.envs):
            obs, self.buf_rews[i], terminated, truncated, info = env.step(self.actions[i])
            self.buf_dones[i] = terminated or truncated
            info["TimeLimit.truncated"] = truncated and not terminated
            if self.buf_dones[i]:
                info["terminal_observation"] = obs
                obs, self.reset_infos[i] = env.reset()
            self.buf_infos[i] = info
            self._save_obs(i, obs)
        return self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones), list(self.buf_infos)


class EnvPoolVecEnv(SeededDummyVecEnv):
    """n envs of one EnvPool: each step runs all of them in one EnvPool call (threads), then
    each env's wrappers (WorldState, camera, truth, metrics) take its result."""

    def __init__(self, env_fns, seeds: list[int], pool) -> None:
        self.pool = pool
        super().__init__(env_fns, seeds)
        self._filler = self.envs[0].unwrapped._filler

    def step_wait(self):
        self.pool.step_all(self.actions, self._filler)
        return super().step_wait()

    def close(self) -> None:
        super().close()
        self.pool.close()


# What a multiprocessing pipe raises when the process at its other end is gone.
PIPE_ERRORS = (EOFError, BrokenPipeError, ConnectionResetError)
WORKER_JOIN_TIMEOUT = 2.0  # [s] to collect a dead worker's exit code, or for a live one to exit


class EnvWorkerError(RuntimeError):
    """An environment worker process died or hung; the vector env cannot go on (close() ends them all).

    worker: its index; pid; cause: e.g. "killed by SIGKILL" or "exit code 1"; what: the
    message without the hint on resuming."""

    def __init__(self, worker: int, n_envs: int, pid: int | None, scenario: str, cause: str) -> None:
        self.worker, self.pid, self.cause = worker, pid, cause
        verb = "is" if cause.startswith("hung") else "died:"
        self.what = f"environment worker {worker} of {n_envs} (pid {pid}, {scenario}) {verb} {cause}"
        super().__init__(f"{self.what}; a training run can continue from its last checkpoint with --resume")


def exit_cause(exitcode: int | None) -> str:
    if exitcode is None:
        return "its pipe closed but the process is still running"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class _WorkerPipe:
    """One worker's pipe, as SB3 uses it (send, recv, close), turning a dead peer into EnvWorkerError."""

    def __init__(self, conn, index: int, owner: "WorkerVecEnv") -> None:
        self.conn, self.index, self.owner = conn, index, owner

    def send(self, message) -> None:
        try:
            self.conn.send(message)
        except PIPE_ERRORS as err:
            raise self.owner.worker_died(self.index) from err

    def recv(self):
        try:
            if not self.conn.poll(self.owner.step_timeout):
                raise self.owner.worker_died(self.index, hung=True)
            return self.conn.recv()
        except PIPE_ERRORS as err:
            raise self.owner.worker_died(self.index) from err

    def close(self) -> None:
        self.conn.close()


class WorkerProcesses:
    """What a vector env of worker processes does when one of them dies or hangs, and how it ends
    them all: WorkerVecEnv (an env per worker) and sim/envpool_shards.py ShardedVecEnv (a shard of
    envs per worker). Reads processes, remotes, scenario, step_timeout and workers (their number);
    sets dead and closed."""

    def worker_died(self, index: int, hung: bool = False) -> EnvWorkerError:
        """The error for worker `index`, whose pipe just broke (or that gave no answer within
        step_timeout: hung); marks this vector env as broken, so close() ends every worker."""
        process = self.processes[index] if index < len(self.processes) else None
        if hung:
            cause = f"hung: no answer within {self.step_timeout:g} s"
        else:
            if process is not None:
                process.join(WORKER_JOIN_TIMEOUT)  # a pipe breaks a moment before the exit code is known
            cause = exit_cause(process.exitcode) if process is not None else "never started"
        self.dead = EnvWorkerError(index, self.workers, getattr(process, "pid", None), self.scenario, cause)
        return self.dead

    def _end_workers(self) -> None:
        # The survivors may be mid-step with a reply nobody will read: SIGKILL, since workers
        # ignore SIGINT/SIGTERM, and their envs hold nothing worth a clean exit.
        for process in self.processes:
            if process.is_alive():
                process.kill()
        for process in self.processes:
            process.join(WORKER_JOIN_TIMEOUT)
        for remote in getattr(self, "remotes", ()):
            remote.close()
        self.closed = True


class WorkerVecEnv(PlannedSeeds, WorkerProcesses, SubprocVecEnv):
    """SB3's SubprocVecEnv (forkserver) whose dead workers raise EnvWorkerError, and whose
    close() never waits on a dead worker (SB3's would raise from it, or block)."""

    def __init__(self, env_fns, scenario: str, seeds: list[int], step_timeout: float = STEP_TIMEOUT) -> None:
        self.scenario, self.dead, self.worker_seeds, self.step_timeout = scenario, None, list(seeds), step_timeout
        self.workers = len(env_fns)
        # forkserver: workers start from a clean interpreter (no copied torch/pygame state).
        try:
            super().__init__(env_fns, start_method="forkserver")
        except PIPE_ERRORS as err:  # worker 0 died before it could describe its spaces
            self.processes = getattr(self, "processes", [])
            error = self.worker_died(0)
            self._end_workers()
            raise error from err
        self.remotes = tuple(_WorkerPipe(conn, i, self) for i, conn in enumerate(self.remotes))

    def close(self) -> None:
        if self.closed:
            return
        if self.dead is None:
            try:
                super().close()
                return
            except EnvWorkerError:  # a worker died while closing: end the others as below
                pass
        self._end_workers()


def _worker_env(make):
    """Runs in a worker process: Ctrl-C and SIGTERM reach the whole process group, but only the
    main process should act on them (save, then close the workers); a worker that died first
    would break the save with a broken pipe. Workers still exit when the main process is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return make()
