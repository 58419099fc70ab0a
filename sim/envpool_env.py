"""The EnvPool engine: EnvPool's C++ port of highway-env behind the same wrappers as highway-env.

`EnvPoolEnv` is one env of an EnvPool, presented as the unwrapped highway-env env that sim's
wrappers read (vehicle, road, config, action_type, time; sim/envpool_road.py), so the
WorldState, camera, truth, lane labels and metrics are the same code on both engines. Its own
observation is empty: make_env always replaces it (camera frames, features or the truth array).

Frames dt apart. EnvPool reports states only between its policy steps, so when the camera needs
instants between decisions (dt shorter than a decision), one of our steps is `substeps` EnvPool
steps at `substeps` times the policy frequency: the action at the first, then IDLE (a discrete
meta-action) or the same controls (continuous). highway-env acts only at a decision's first
simulation frame and keeps the targets or controls until the next one, so this is the same
episode (tests/sim/test_envpool.py checks it on highway-env itself); the reward is the last
substep's, the one highway-env computes at the decision's end.

`Pool` holds one EnvPool of N envs on threads. A vector env (sim/vector.py EnvPoolVecEnv) steps all of
them in one call and each EnvPoolEnv then takes its env's result.
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
from highway_env.envs.common.action import DiscreteMetaAction, action_factory

from scenarios.engines import ENVPOOL_TASKS, envpool_config, envpool_refusal
from sim.envpool_road import RoadView, read_network

STEPS_MARGIN = 10  # EnvPool's own step limit is set this many decisions past the scenario's budget: ours ends episodes


class EngineError(ValueError):
    """A scenario or setting the EnvPool engine cannot run (one line, with the reason)."""


def check_envpool(scenario) -> None:
    reason = envpool_refusal(scenario)
    if reason is not None:
        raise EngineError(f"scenario {scenario.name!r} cannot run on --engine envpool: {reason}; "
                          "use --engine highway-env, or a scenario of the 'registered' suite")


def check_envpool_camera(camera, instead: str = "the world-state camera (CameraConfig())") -> None:
    """EnvPool has no highway-env objects for highway-env's own camera to draw: one line saying
    what to use `instead`."""
    if camera is not None and camera.renderer != "world-state":
        raise EngineError(f"the {camera.renderer!r} camera draws highway-env's own objects, which EnvPool does not "
                          f"have; on --engine envpool use {instead}")


class Pool:
    """One EnvPool of `n_envs` envs of a scenario, each with its own seed, on threads.

    substeps: EnvPool steps per decision (see the module docstring)."""

    def __init__(self, scenario, n_envs: int, seeds: list[int], substeps: int = 1, threads: int | None = None,
                 exact: bool = True) -> None:
        import envpool  # imported here: the highway-env engine does not need it

        if exact:
            check_envpool(scenario)
        elif scenario.env_id not in ENVPOOL_TASKS:
            raise EngineError(f"EnvPool has no port of {scenario.env_id}")
        self.scenario, self.n_envs, self.substeps = scenario, n_envs, substeps
        kwargs = envpool_config(scenario)
        if not exact:  # only what every port takes
            kwargs = {k: v for k, v in kwargs.items() if k == "duration"}
        # [Hz] the scenario's decisions (a highway task's config may change it)
        self.policy_frequency = float(kwargs.get("policy_frequency", _registered_config(scenario)["policy_frequency"]))
        kwargs["policy_frequency"] = int(round(self.policy_frequency * substeps))
        kwargs["max_episode_steps"] = (scenario.budgets.max_steps + STEPS_MARGIN) * substeps
        threads = threads or min(n_envs, os.cpu_count() or 1)
        seeds = [int(np.random.default_rng().integers(2**31)) if s is None else int(s) for s in seeds]
        self._make = lambda env_seeds: envpool.make_gymnasium(scenario.env_id, num_envs=n_envs, env_seed=env_seeds,
                                                              num_threads=threads, **kwargs)
        self._env = self._make(seeds)
        self._fresh: set[int] | None = None  # envs reset with the whole pool and not yet handed out
        self.prepared: dict[int, tuple] = {}
        self._road = None

    def reseed(self, seed: int) -> None:
        """A new RNG for the (only) env: EnvPool seeds an env when it builds it (cheap: under 1 ms)."""
        if self.n_envs != 1:
            raise EngineError("an env of a batched EnvPool cannot be reseeded alone; seed the pool when building it")
        self._env.close()
        self._env = self._make([int(seed)])
        self._fresh = None

    def reset(self, index: int):
        if self._fresh is None:  # EnvPool's first reset is of all envs: each env's first episode starts here
            self._env.reset()
            self._fresh = set(range(self.n_envs))
        if index in self._fresh:
            self._fresh.discard(index)
        else:
            self._env.reset(np.array([index], np.int32))
        self.prepared.pop(index, None)
        return self._env.debug_states(np.array([index], np.int32))[0]

    def road(self, debug):
        """(highway-env RoadNetwork, WorldState RoadGeometry) of the task: its road is the same in
        every episode, so both are built once per Pool (the camera's marking index is kept too)."""
        if self._road is None:
            from sim.world import read_road

            network = read_network(debug)
            self._road = (network, read_road(network))
        return self._road

    def step_all(self, actions, filler) -> None:
        """Step every env one decision and keep each env's result for its EnvPoolEnv.step."""
        self.prepared = dict(self._run(list(range(self.n_envs)), actions, filler))

    def step(self, index: int, action, filler):
        if index in self.prepared:
            return self.prepared.pop(index)
        return dict(self._run([index], [action], filler))[index]

    def _run(self, indices: list[int], actions, filler):
        """(index, (debug states of each substep, reward, terminated, truncated)) per env: the
        action at the first substep, filler(actions) at the others, envs that ended left out."""
        states = {i: [] for i in indices}
        reward = dict.fromkeys(indices, 0.0)
        done = dict.fromkeys(indices, (False, False))
        first, later = np.asarray(actions), filler(np.asarray(actions))  # (n,) or (n, A), in `indices` order
        live = np.arange(len(indices))  # positions in `indices` of the envs still running
        for k in range(self.substeps):
            if len(live) == 0:
                break
            ids = np.array([indices[p] for p in live], np.int32)
            _, r, terminated, truncated, _ = self._env.step((first if k == 0 else later)[live], ids)
            for i, debug, ri, te, tr in zip(ids.tolist(), self._env.debug_states(ids), r, terminated, truncated, strict=True):
                states[i].append(debug)
                reward[i], done[i] = float(ri), (bool(te), bool(tr))
            live = np.array([p for p in live if not any(done[indices[p]])], dtype=int)
        for i in indices:
            yield i, (states[i], reward[i], *done[i])

    def close(self) -> None:
        self._env.close()


# Tasks whose env does something once per decision besides simulating (intersection spawns
# traffic in step()): more decisions per second would change their traffic, so no substeps.
PER_DECISION_TASKS = ("intersection-v0", "intersection-v1")


def substeps_for(scenario, camera) -> int:
    """EnvPool steps per decision so that the camera's frames dt apart are observed states: the
    fewest that divide a decision's simulation frames with dt a whole number of them."""
    if camera is None:
        return 1
    config = _registered_config(scenario) | dict(scenario.config)
    policy, simulation = float(config["policy_frequency"]), float(config["simulation_frequency"])
    dt = camera.dt if camera.dt is not None else 1.0 / policy
    frames = int(round(simulation / policy))  # simulation frames per decision
    for k in range(1, frames + 1):
        if frames % k == 0 and abs(dt * policy * k - round(dt * policy * k)) < 1e-6:
            if k > 1 and scenario.env_id in PER_DECISION_TASKS:
                raise EngineError(f"{scenario.env_id} spawns traffic once per decision, so EnvPool cannot show the "
                                  f"camera's frames {dt:g} s apart without changing its traffic; use obs='kinematics' "
                                  "or --engine highway-env")
            return k
    raise EngineError(f"camera dt {dt:g} s is not a whole number of {scenario.name!r}'s simulation steps "
                      f"(1/{simulation:g} s)")


def _registered_config(scenario) -> dict:
    from scenarios.catalog import _env_default_config

    return _env_default_config(scenario.name, scenario.env_id)


class EnvPoolEnv(gym.Env):
    """Env `index` of a Pool, as an unwrapped highway-env env looks to sim's wrappers."""

    metadata = {"render_modes": []}
    engine = "envpool"  # agents that read highway-env's own objects (idm) check it

    def __init__(self, pool: Pool, index: int = 0) -> None:
        self.pool, self.index = pool, index
        registered = _registered_config(pool.scenario)
        self.config = dict(registered) | dict(pool.scenario.config)
        self.config["policy_frequency"] = pool.policy_frequency
        # [Hz] how often states are observed (WorldRecorder's substeps): the camera's instants,
        # not EnvPool's physics rate (which stays the registered simulation_frequency)
        self.config["simulation_frequency"] = pool.policy_frequency * pool.substeps
        self.action_type = action_factory(self, dict(pool.scenario.action))
        self.action_space = self.action_type.space()
        self.observation_space = gym.spaces.Box(0.0, 0.0, (1,), np.float32)  # replaced by make_env's wrappers
        self.road = self.vehicle = None
        self.time = 0.0
        self._idle = self.action_type.actions_indexes["IDLE"] if isinstance(self.action_type, DiscreteMetaAction) else None

    def _filler(self, actions: np.ndarray) -> np.ndarray:
        """The actions of a decision's later substeps: IDLE, or the same controls."""
        return np.full_like(actions, self._idle) if self._idle is not None else actions

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.pool.reseed(seed)
        debug = self.pool.reset(self.index)
        self.road = RoadView(debug, *self.pool.road(debug))
        self.vehicle = self.road.vehicles[0]
        self.time = 0.0
        return np.zeros(1, np.float32), self._info()

    def step(self, action):
        states, reward, terminated, truncated = self.pool.step(self.index, action, self._filler)
        dt = 1.0 / self.config["simulation_frequency"]
        for k, debug in enumerate(states):
            if k == len(states) - 1:
                self.road.update(debug)  # a decision: the views metrics read
            else:
                self.road.observe(debug)
            self.time = round(self.time + dt, 6)
            self.road.step(dt)  # WorldRecorder reads a state here
        return np.zeros(1, np.float32), reward, terminated, truncated, self._info()

    def _info(self) -> dict:
        return {"speed": self.vehicle.speed, "crashed": self.vehicle.crashed}


def pool_env(pool: Pool, index: int = 0) -> gym.Env:
    """Env `index` of a pool with its scenario's step budget: what make_env wraps, as gym.make's is."""
    return gym.wrappers.TimeLimit(EnvPoolEnv(pool, index), max_episode_steps=pool.scenario.budgets.max_steps)


def measuring_env(scenario, obs: str = "kinematics", seed: int | None = None) -> gym.Env:
    """An EnvPool env with sim's wrappers even for a registered task EnvPool cannot run exactly
    (its seedless ports), to measure how it differs (benchmarks/engine_parity.py, tests); never
    for training or scoring, which make_env(engine="envpool") refuses it for."""
    from sim.camera import CameraConfig
    from sim.env import wrap_engine_env
    from sim.truth import DEFAULT_TRUTH_VEHICLES

    camera = CameraConfig()
    pool = Pool(scenario, 1, [seed], substeps_for(scenario, camera if obs != "kinematics" else None), exact=False)
    return wrap_engine_env(pool_env(pool), scenario, obs, camera, DEFAULT_TRUTH_VEHICLES, None, seed)
