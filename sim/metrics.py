"""Episode metrics: the one definition used by run_sim, the viewer, training logs and scoring.

`EpisodeMetrics` (a wrapper) watches the ego each step and, when the episode ends, puts
`info["episode"]`: outcome, return, length, distance, speeds, lane changes, minimum TTC,
collisions, time off road and per-term reward sums. It also carries SB3's "r"/"l"/"t" keys,
so stable-baselines3's episode logging reads the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import gymnasium as gym
import numpy as np

OUTCOMES = ("success", "collision", "offroad", "timeout")


@dataclass
class EpisodeRecord:
    outcome: str = "timeout"  # one of OUTCOMES
    episode_return: float = 0.0  # sum of env rewards
    length: int = 0  # [policy steps]
    distance: float = 0.0  # [m] path length driven by the ego
    mean_speed: float = 0.0  # [m/s] mean over policy steps
    lane_changes: int = 0  # completed changes between lanes of the same road segment
    min_ttc: float = math.inf  # [s] min time-to-collision to the front vehicle; 0 on a crash, inf if never closing
    collisions: int = 0  # 0 or 1: the ego stops at its first crash
    offroad_steps: int = 0  # [policy steps] ended with the ego off the road
    duration: float = 0.0  # [s] simulated time (length / policy frequency)
    collision_with: str | None = None  # what the ego hit: "vehicle", "obstacle", or None
    speeds: list = field(default_factory=list)  # [m/s] ego speed after each policy step (length entries)
    reward_terms: dict = field(default_factory=dict)  # highway-env's info["rewards"], summed

    def as_info(self) -> dict:
        info = asdict(self)
        # stable-baselines3's Monitor keys, so SB3 loggers read these episodes too.
        info.update(r=self.episode_return, l=self.length, t=round(self.duration, 6))
        return info


def is_success(rule: str, terminated: bool, truncated: bool, reached_exit: bool) -> bool:
    """Success rules named by scenarios.SUCCESS_RULES (collision and off-road already excluded)."""
    if rule == "survive":
        return truncated and not terminated
    if rule == "reach_goal":
        return terminated  # highway-env ends merge/intersection episodes at the goal
    if rule == "take_exit":
        return reached_exit
    raise ValueError(f"unknown success rule {rule!r}")


def front_ttc(road, ego) -> float:
    """Time-to-collision [s] to the vehicle ahead in the ego's lane; inf when not closing in."""
    front, _ = road.neighbour_vehicles(ego, ego.lane_index)
    if front is None:
        return math.inf
    lane = ego.lane
    gap = lane.local_coordinates(front.position)[0] - lane.local_coordinates(ego.position)[0]
    gap -= (ego.LENGTH + front.LENGTH) / 2  # bumper to bumper [m]
    closing = ego.speed - front.speed * math.cos(front.heading - ego.heading)  # [m/s]
    if closing <= 0:
        return math.inf
    return max(gap, 0.0) / closing


def crashed_objects(road) -> set[int]:
    """ids of the static objects (highway-env Obstacles in road.objects) flagged as crashed."""
    return {id(obj) for obj in road.objects if getattr(obj, "crashed", False)}


def collision_kind(road, crashed_before: set[int]) -> str:
    """What the ego hit in the step it crashed: "obstacle" if a static object became crashed in
    that same step (highway-env flags both parties crashed=True on impact), else "vehicle".
    Position is no guide: a crashed ego keeps sliding through an obstacle until the step ends."""
    return "obstacle" if crashed_objects(road) - crashed_before else "vehicle"


class EpisodeMetrics(gym.Wrapper, gym.utils.RecordConstructorArgs):
    def __init__(self, env: gym.Env, success_rule: str) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, success_rule=success_rule)
        super().__init__(env)
        self.success_rule = success_rule
        self._record = EpisodeRecord()

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._record = EpisodeRecord()
        self._reached_exit = False
        self._crashed_objects = crashed_objects(self.env.unwrapped.road)
        ego = self.env.unwrapped.vehicle
        self._last_position = np.array(ego.position, dtype=float)
        self._last_lane = ego.lane_index
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._update(reward, info)
        if terminated or truncated:
            info["episode"] = self._finish(terminated, truncated).as_info()
        return obs, reward, terminated, truncated, info

    def _update(self, reward: float, info: dict) -> None:
        env, rec = self.env.unwrapped, self._record
        ego = env.vehicle
        rec.episode_return += float(reward)
        rec.length += 1
        rec.distance += float(np.linalg.norm(ego.position - self._last_position))
        self._last_position = np.array(ego.position, dtype=float)
        rec.speeds.append(float(ego.speed))
        lane = ego.lane_index
        if lane is not None and self._last_lane is not None and lane[:2] == self._last_lane[:2] and lane[2] != self._last_lane[2]:
            rec.lane_changes += 1
        self._last_lane = lane
        # A crash is a time-to-collision of zero, whatever the geometry looks like afterwards.
        rec.min_ttc = 0.0 if ego.crashed else min(rec.min_ttc, front_ttc(env.road, ego))
        if ego.crashed and rec.collision_with is None:
            rec.collision_with = collision_kind(env.road, self._crashed_objects)
        self._crashed_objects = crashed_objects(env.road)
        rec.collisions = int(ego.crashed)
        rec.offroad_steps += int(not ego.on_road)
        for term, value in (info.get("rewards") or {}).items():
            rec.reward_terms[term] = rec.reward_terms.get(term, 0.0) + float(value)
        self._reached_exit |= bool(info.get("is_success", False))

    def _finish(self, terminated: bool, truncated: bool) -> EpisodeRecord:
        env, rec = self.env.unwrapped, self._record
        ego = env.vehicle
        rec.mean_speed = float(np.mean(rec.speeds)) if rec.speeds else 0.0
        rec.duration = rec.length / env.config["policy_frequency"]
        if ego.crashed:
            rec.outcome = "collision"
        elif terminated and not ego.on_road:
            rec.outcome = "offroad"
        elif is_success(self.success_rule, terminated, truncated, self._reached_exit):
            rec.outcome = "success"
        else:
            rec.outcome = "timeout"
        return rec
