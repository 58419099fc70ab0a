"""make_env: the one place a scenario becomes a gymnasium Env."""

from __future__ import annotations

import warnings

import gymnasium as gym
import highway_env
import numpy as np

import scenarios
from sim import fixes
from scenarios.engines import ENGINES
from sim.camera import CameraConfig
from sim.isolation import restore_vehicle_classes
from sim.metrics import EpisodeMetrics
from sim.raster import StateCamera
from sim.truth import DEFAULT_TRUTH_VEHICLES, kinematics_config, read_lane, truth_from_world
from sim.world import WorldRecorder

fixes.apply()  # highway-env bugs that would end episodes with an exception (sim/fixes.py)

gym.register_envs(highway_env)

OBS_MODES = {
    "camera": "bird's-eye frames of the camera contract (sim/camera.py), uint8 (C, H, W)",
    "features": "the pretrained perception encoder's features of the camera frames, float32 (F,)",
    "kinematics": "the ground-truth array (ego + nearest vehicles), float32 (N+1, 6): the oracle input",
}
RENDER_MODES = (None, "rgb_array")


def make_env(
    scenario: str | scenarios.Scenario,
    obs: str = "camera",
    seed: int | None = None,
    render_mode: str | None = None,
    camera: CameraConfig | None = None,
    truth_vehicles: int = DEFAULT_TRUTH_VEHICLES,
    encoder=None,
    engine: str = "highway-env",
) -> gym.Env:
    """Build a scenario's env.

    obs: "camera" or "kinematics" (see OBS_MODES). Every step's info["truth"] holds the
        ground-truth array in both modes; info["episode"] holds the metrics at episode end.
    seed: used by the first reset() that is given no seed; later resets continue its RNG, so
        one seed fixes a whole sequence of episodes.
    render_mode: None or "rgb_array" (the run_sim viewer draws frames itself).
    camera: the camera contract (sim/camera.py); default CameraConfig(), the world-state camera
        in the ego frame. Under obs="features" the encoder's own contract (a different one is refused).
    encoder: for obs="features", a perception Encoder or the name of shipped weights ("default",
        on highway-env's camera; "v4" (perception.weights.CAMERA_WEIGHTS; v2 and v3 load too), on the
        world-state camera: the one EnvPool can draw).
    engine: "highway-env" (the reference: every scenario) or "envpool" (its C++ port: the
        scenarios it runs exactly, scenarios/engines.py; others are refused in one line).
    """
    if isinstance(scenario, str):
        scenario = scenarios.get(scenario)
    if obs not in OBS_MODES:
        raise ValueError(f"unknown obs mode {obs!r}; valid modes: {', '.join(OBS_MODES)}")
    if render_mode not in RENDER_MODES:
        raise ValueError(f"unknown render_mode {render_mode!r}; valid: None, 'rgb_array'")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid engines: {', '.join(ENGINES)}")
    if isinstance(truth_vehicles, bool) or not isinstance(truth_vehicles, int) or truth_vehicles < 1:
        raise ValueError(f"truth_vehicles must be a positive integer, got {truth_vehicles!r}")

    if camera is not None and not isinstance(camera, CameraConfig):
        raise ValueError(f"camera must be a sim.CameraConfig, got {type(camera).__name__}")
    if obs == "features":
        # The one place sim reaches into perception (imported here, so sim stays usable without
        # torch models): features are the camera frames seen through the pretrained encoder.
        from perception.features import encoder_and_camera

        encoder, camera = encoder_and_camera(encoder, camera)
        if engine == "envpool":
            check_envpool_features_camera(camera)
    camera = camera or CameraConfig()

    ours = obs != "kinematics" and camera.renderer == "world-state"
    if engine == "envpool":
        env = make_envpool_env(scenario, camera if obs != "kinematics" else None, seed, render_mode)
    else:
        config = scenario.env_config()
        config["observation"] = camera.observation_config() if obs != "kinematics" else kinematics_config(truth_vehicles)
        with warnings.catch_warnings():  # the registered tasks (highway-fast-v0, ...) are old ids on purpose
            warnings.filterwarnings("ignore", message=".*is out of date", category=DeprecationWarning)
            env = gym.make(
                scenario.env_id,
                config=config,
                render_mode=render_mode,
                max_episode_steps=scenario.budgets.max_steps,
                # highway-env's Kinematics gives float64 in a float32 space; ours replaces it (check_env checks ours)
                disable_env_checker=ours,
            )
    env = wrap_engine_env(env, scenario, obs, camera, truth_vehicles, encoder, seed)
    return env


def wrap_engine_env(env: gym.Env, scenario, obs: str, camera: CameraConfig, truth_vehicles: int, encoder, seed):
    """sim's wrappers around an engine's env (highway-env's, or an EnvPoolEnv): the WorldState,
    camera, truth and lane labels, metrics, features and seeding, the same on both engines."""
    ours = obs != "kinematics" and camera.renderer == "world-state"
    env = WorldRecorder(env, scenario.route, substeps=ours)
    if ours:
        env = StateCamera(env, camera)
    env = GroundTruth(env, truth_vehicles, as_observation=obs == "kinematics")
    env = EpisodeMetrics(env, scenario)
    if obs == "features":
        from perception.features import FeaturesObservation

        env = FeaturesObservation(env, encoder)
    env = ReproducibleReset(env, seed)
    env.camera = camera  # the contract of its frames (obs="camera" and "features"), for the viewer
    return env


def check_envpool_features_camera(camera: CameraConfig) -> None:
    """Features on EnvPool need an encoder that reads the world-state camera: one line naming it."""
    from perception.weights import CAMERA_WEIGHTS
    from sim.envpool_env import check_envpool_camera

    check_envpool_camera(camera, f"the features of an encoder that reads the world-state camera ({CAMERA_WEIGHTS!r})")


def make_envpool_env(scenario, camera: CameraConfig | None, seed: int | None, render_mode: str | None) -> gym.Env:
    """One EnvPool env of `scenario` with the scenario's step budget; camera: the contract whose
    frame spacing sets the substeps (None: states at decisions only)."""
    from sim.envpool_env import EngineError, Pool, check_envpool, check_envpool_camera, pool_env, substeps_for

    check_envpool(scenario)
    if render_mode is not None:
        raise EngineError("the EnvPool engine draws nothing itself: use render_mode=None (the viewer draws our camera)")
    check_envpool_camera(camera)
    pool = Pool(scenario, 1, [seed], substeps_for(scenario, camera))
    return pool_env(pool)


class GroundTruth(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Puts the truth array in info["truth"] (in kinematics mode it is also the observation) and
    the ego's lane-relative state in info["lane"] (sim/truth.py LANE_FEATURES)."""

    def __init__(self, env: gym.Env, vehicles: int, as_observation: bool) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, vehicles=vehicles, as_observation=as_observation)
        super().__init__(env)
        self._vehicles = vehicles
        self._as_observation = as_observation
        if as_observation:
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (vehicles + 1, 6), np.float32)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._label(info)
        return (info["truth"] if self._as_observation else obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._label(info)
        return (info["truth"] if self._as_observation else obs), reward, terminated, truncated, info

    def _label(self, info: dict) -> None:
        info["truth"] = truth_from_world(info["world"], self._vehicles)
        info["lane"] = read_lane(self.env.unwrapped, info["world"])


class ReproducibleReset(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Same seed, same episode: applies make_env's seed on the first reset that is not given
    one, and first undoes highway-env's process-wide side effects (sim/isolation.py), so an
    episode does not depend on which scenarios ran before it in this process."""

    def __init__(self, env: gym.Env, seed: int | None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, seed=seed)
        super().__init__(env)
        self._pending_seed = seed

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None:
            seed, self._pending_seed = self._pending_seed, None
        else:
            self._pending_seed = None
        restore_vehicle_classes()
        return self.env.reset(seed=seed, options=options)
