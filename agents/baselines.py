"""Training-free baselines: `random`, `idm`, and the constant floors `idle` and `brake`.

A constant policy needs no perception: if one scores near idm on a scenario, the scenario (or
the score) cannot rank drivers there, which is why every leaderboard shows them.

`idm` reads highway-env internals, the declared exception to agents seeing observations only
(docs/architecture.md, Layers; `expert` builds on it): it asks highway-env's own IDM
car-following and MOBIL lane-change models what a rule-based driver in the ego's place would do,
and turns that into the scenario's action.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from highway_env import utils
from highway_env.envs.common.action import ContinuousAction, DiscreteMetaAction
from highway_env.vehicle.behavior import IDMVehicle

from agents.base import Agent, AgentError

STEERING_RANGE = np.pi / 4  # [rad] highway-env ContinuousAction's default: action 1 = 45 degrees


def stanley_steering(lateral: float, heading_error: float, speed: float, gain: float = 1.0) -> float:
    """A Stanley lane keeper's steering as a ContinuousAction value (unclipped; 1 = STEERING_RANGE):
    heading error + atan(gain x -lateral / speed) [rad], without curvature feed-forward. lateral [m]
    and heading_error [rad] as sim.truth's lane state; speed [m/s], floored at 1. One law for the
    lane-keeping benchmark and perception.collect's `stanley` driver."""
    return (heading_error + np.arctan2(-gain * lateral, max(speed, 1.0))) / STEERING_RANGE

ONCOMING_HORIZON = 6.0  # [s] a lane is unsafe if a car coming head-on could meet the ego within this time


def _oncoming_in(road, ego, lane_index, horizon: float = ONCOMING_HORIZON) -> bool:
    """Is a vehicle driving against the ego's direction on that lane, ahead and meeting it within horizon [s]?"""
    lane = road.network.get_lane(lane_index)
    s_ego = lane.local_coordinates(ego.position)[0]
    for other in road.vehicles:
        if other is ego or np.cos(other.heading - ego.heading) > 0 or not lane.on_lane(other.position):
            continue
        gap = lane.local_coordinates(other.position)[0] - s_ego  # [m]
        if 0 < gap < (ego.speed + other.speed) * horizon:
            return True
    return False


class RandomAgent(Agent):
    name = "random"
    description = "uniformly random actions: the floor every agent must clear"
    default_obs = "kinematics"  # it ignores the observation; kinematics is the cheaper one

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        super().__init__(env, seed)
        self.action_space.seed(seed)

    def act(self, obs: np.ndarray, deterministic: bool = True) -> Any:
        return self.action_space.sample()


class ConstantAgent(Agent):
    """One fixed action for the whole episode, chosen from the scenario's action space."""

    default_obs = "kinematics"  # it ignores the observation; kinematics is the cheaper one
    meta_action: str  # DiscreteMetaAction name
    continuous: dict  # value in [-1, 1] per ContinuousAction component ("acceleration", "steering")

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        super().__init__(env, seed)
        action_type = env.unwrapped.action_type
        if isinstance(action_type, DiscreteMetaAction):
            index = action_type.actions_indexes
            self._action = index.get(self.meta_action, index["IDLE"])  # SLOWER is absent without longitudinal control
        elif isinstance(action_type, ContinuousAction):
            parts = [part for part, on in (("acceleration", action_type.longitudinal), ("steering", action_type.lateral)) if on]
            self._action = np.array([self.continuous[part] for part in parts], dtype=np.float32)
        else:
            raise AgentError(f"{self.name} supports DiscreteMetaAction and ContinuousAction, not {type(action_type).__name__}")

    def act(self, obs: np.ndarray, deterministic: bool = True) -> Any:
        return self._action.copy() if isinstance(self._action, np.ndarray) else self._action


class IdleAgent(ConstantAgent):
    name = "idle"
    description = "floor: always IDLE (keep lane and speed); zero steering and acceleration when continuous"
    meta_action = "IDLE"
    continuous = {"acceleration": 0.0, "steering": 0.0}


class BrakeAgent(ConstantAgent):
    name = "brake"
    description = "floor: always the slowest meta-action (SLOWER); zero steering at full braking when continuous"
    meta_action = "SLOWER"
    continuous = {"acceleration": -1.0, "steering": 0.0}


class IDMAgent(Agent):
    name = "idm"
    description = "rule-based driver: highway-env's IDM car-following + MOBIL lane changes (reads the simulator)"
    default_obs = "kinematics"

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        super().__init__(env, seed)
        self._env = env.unwrapped
        if getattr(self._env, "engine", "highway-env") != "highway-env":
            raise AgentError(f"idm asks highway-env's own driver models, which the {self._env.engine} engine does not "
                             "have: play it with --engine highway-env")
        if not isinstance(self._env.action_type, (DiscreteMetaAction, ContinuousAction)):
            raise AgentError(f"idm supports DiscreteMetaAction and ContinuousAction, not {type(self._env.action_type).__name__}")

    def act(self, obs: np.ndarray, deterministic: bool = True) -> Any:
        env = self._env
        ego = env.vehicle
        driver = self._shadow_driver(ego)
        # The shadow takes the ego's place in the road while it decides, so that neighbour
        # searches see the traffic around the ego and not the ego itself.
        vehicles = env.road.vehicles
        slot = vehicles.index(ego)
        vehicles[slot] = driver
        try:
            if getattr(driver, "route", None):
                driver.follow_road()
            if env.action_type.lateral:
                driver.change_lane_policy()
                self._avoid_oncoming(driver, ego)
            acceleration = self._idm_acceleration(driver)
            steering = driver.steering_control(driver.target_lane_index)
        finally:
            vehicles[slot] = ego
        if isinstance(env.action_type, ContinuousAction):
            return self._continuous(env.action_type, acceleration, steering)
        return self._meta_action(env, ego, driver, acceleration)

    def _avoid_oncoming(self, driver: IDMVehicle, ego) -> None:
        """MOBIL only looks at traffic going its way; never pick (or stay in) a lane with a car coming head-on."""
        road = driver.road
        if driver.target_lane_index == ego.lane_index and not _oncoming_in(road, ego, ego.lane_index):
            return
        candidates = [driver.target_lane_index, ego.lane_index, *road.network.side_lanes(ego.lane_index)]
        driver.target_lane_index = next(
            (lane for lane in candidates if not _oncoming_in(road, ego, lane)), ego.lane_index
        )

    @staticmethod
    def _shadow_driver(ego) -> IDMVehicle:
        if hasattr(ego, "target_lane_index"):
            driver = IDMVehicle.create_from(ego)
        else:  # continuous-action egos are plain Vehicles: follow the current lane
            driver = IDMVehicle(ego.road, ego.position, ego.heading, ego.speed, target_lane_index=ego.lane_index)
        driver.timer = IDMVehicle.LANE_CHANGE_DELAY + 1e-6  # let MOBIL decide at every policy step
        return driver

    @staticmethod
    def _idm_acceleration(driver: IDMVehicle) -> float:
        """IDM acceleration [m/s2], checking the target lane too while a lane change is under way."""
        road = driver.road
        accelerations = []
        for lane in {driver.lane_index, driver.target_lane_index}:
            front, rear = road.neighbour_vehicles(driver, lane)
            if front is not None and np.cos(front.heading - driver.heading) < 0:
                front = None  # a car coming head-on is not a leader to follow (_avoid_oncoming handles it)
            accelerations.append(driver.acceleration(driver, front, rear))
        return float(np.clip(min(accelerations), -driver.ACC_MAX, driver.ACC_MAX))

    @staticmethod
    def _continuous(action_type: ContinuousAction, acceleration: float, steering: float) -> np.ndarray:
        parts = []
        if action_type.longitudinal:
            parts.append(utils.lmap(acceleration, action_type.acceleration_range, [-1, 1]))
        if action_type.lateral:
            parts.append(utils.lmap(steering, action_type.steering_range, [-1, 1]))
        return np.clip(np.array(parts, dtype=np.float32), -1, 1)

    @staticmethod
    def _lane_move(action_type: DiscreteMetaAction, available: set, ego, driver: IDMVehicle) -> int | None:
        """The meta-action towards the driver's target lane, if it differs from the ego's and can be taken."""
        index = action_type.actions_indexes
        if driver.target_lane_index != ego.target_lane_index and action_type.lateral:
            move = "LANE_LEFT" if driver.target_lane_index[2] < ego.target_lane_index[2] else "LANE_RIGHT"
            if index.get(move) in available:
                return index[move]
        return None

    @staticmethod
    def _speed_move(action_type: DiscreteMetaAction, available: set, ego, wanted: int) -> int:
        """The meta-action one target speed towards index `wanted` (IDLE when there or when it cannot be taken)."""
        index, current = action_type.actions_indexes, int(ego.speed_index)
        move = "FASTER" if wanted > current else "SLOWER" if wanted < current else "IDLE"
        return index[move] if index.get(move) in available else index["IDLE"]

    @classmethod
    def _meta_action(cls, env, ego, driver: IDMVehicle, acceleration: float) -> int:
        available = set(env.get_available_actions())
        lane_move = cls._lane_move(env.action_type, available, ego, driver)
        if lane_move is not None:
            return lane_move
        # Longitudinal: the discrete target speed closest to where IDM would be in one policy step.
        desired = ego.speed + acceleration / env.config["policy_frequency"]  # [m/s]
        wanted = int(np.argmin(np.abs(np.asarray(ego.target_speeds) - desired)))
        return cls._speed_move(env.action_type, available, ego, wanted)
