"""Episode metrics: the one definition used by run_sim, the viewer, training logs and scoring.

`EpisodeMetrics` (a wrapper) watches the ego each step and, when the episode ends, puts
`info["episode"]`: outcome, return, length, distance, progress along the scenario's route
(sim/route.py), speeds, lane changes, minimum TTC along the ego's path and the speed ratio
(sim/safety.py), comfort, collisions (and whether the ego was at fault), time off road and
per-term reward sums. It also carries SB3's "r"/"l"/"t" keys, so stable-baselines3's episode
logging reads the same numbers. docs/metrics.md defines every key.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import gymnasium as gym
import numpy as np

from sim.route import RouteTracker
from sim.safety import PATH_HORIZON, ahead_on_path, collision_at_fault, speed_ratio

OUTCOMES = ("success", "collision", "offroad", "timeout")
# nuPlan's comfort bounds, checked between policy steps (highway-env exposes no finer states yet).
LONGITUDINAL_ACCELERATION = (-4.05, 2.40)  # [m/s2]
LATERAL_ACCELERATION = 4.89  # [m/s2] |speed x yaw rate|
YAW_RATE = 0.95  # [rad/s]


@dataclass
class EpisodeRecord:
    outcome: str = "timeout"  # one of OUTCOMES
    episode_return: float = 0.0  # sum of env rewards
    length: int = 0  # [policy steps]
    distance: float = 0.0  # [m] path length driven by the ego
    mean_speed: float = 0.0  # [m/s] mean over policy steps
    lane_changes: int = 0  # completed changes between lanes of the same road segment
    progress: float = 0.0  # [0, 1] route_distance / reference_distance
    route_distance: float = 0.0  # [m] distance gained along the route (its furthest point reached)
    reference_distance: float = 0.0  # [m] route length from the start to the goal, or reference speed x duration
    reached_goal: bool = False  # the route's goal was reached (goal scenarios)
    min_ttc: float = math.inf  # [s] min time-to-collision along the ego's path; 0 on an at-fault crash; inf if never closing
    speed_ratio: float = 0.0  # [0, 1] mean over driving steps of speed / (reference or leader's speed)
    comfort: float = 0.0  # [0, 1] share of driving steps within nuPlan's acceleration and yaw-rate bounds
    collisions: int = 0  # 0 or 1: the ego stops at its first crash
    collision_with: str | None = None  # what the ego hit: "vehicle", "obstacle", or None
    collision_at_fault: bool | None = None  # None without a collision; False: struck from behind while slower
    offroad_steps: int = 0  # [policy steps] ended with the ego off the road
    duration: float = 0.0  # [s] simulated time (length / policy frequency)
    speeds: list = field(default_factory=list)  # [m/s] ego speed after each policy step (length entries)
    reward_terms: dict = field(default_factory=dict)  # highway-env's info["rewards"], summed

    def as_info(self) -> dict:
        info = asdict(self)
        # stable-baselines3's Monitor keys, so SB3 loggers read these episodes too.
        info.update(r=self.episode_return, l=self.length, t=round(self.duration, 6))
        return info


def is_success(rule: str, route: RouteTracker, progress: float) -> bool:
    """Success rules named by scenarios.SUCCESS_RULES (collision and off-road already excluded)."""
    if rule == "reach_goal":
        return route.reached_goal
    if rule == "cover_distance":
        return progress >= route.route.success_progress - 1e-9
    raise ValueError(f"unknown success rule {rule!r}")


def comfortable(speed: float, previous_speed: float, turn: float, frequency: float) -> bool:
    """One policy step within nuPlan's bounds; turn [rad] is the heading change over the step."""
    acceleration = (speed - previous_speed) * frequency  # [m/s2]
    yaw_rate = abs(turn) * frequency  # [rad/s]
    low, high = LONGITUDINAL_ACCELERATION
    return low <= acceleration <= high and yaw_rate <= YAW_RATE and speed * yaw_rate <= LATERAL_ACCELERATION


def crashed_objects(road) -> set[int]:
    """ids of the static objects (highway-env Obstacles in road.objects) flagged as crashed."""
    return {id(obj) for obj in road.objects if getattr(obj, "crashed", False)}


def collision_kind(road, crashed_before: set[int]) -> str:
    """What the ego hit in the step it crashed: "obstacle" if a static object became crashed in
    that same step (highway-env flags both parties crashed=True on impact), else "vehicle".
    Position is no guide: a crashed ego keeps sliding through an obstacle until the step ends."""
    return "obstacle" if crashed_objects(road) - crashed_before else "vehicle"



class EpisodeMetrics(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """info["episode"] at the end of each episode, for `scenario` (a scenarios.Scenario)."""

    def __init__(self, env: gym.Env, scenario) -> None:
        if isinstance(scenario, str):  # gymnasium re-makes a wrapped env from its recorded arguments
            import scenarios

            scenario = scenarios.get(scenario)
        gym.utils.RecordConstructorArgs.__init__(self, scenario=scenario.name)  # a name: Scenario holds mappingproxies
        super().__init__(env)
        self.scenario = scenario
        self._record = EpisodeRecord()

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        env = self.env.unwrapped
        ego = env.vehicle
        self._record = EpisodeRecord()
        self._route = RouteTracker(env.road.network, self.scenario.route, ego.position)
        self._record.reference_distance = float(self.scenario.reference_distance or (self._route.goal - self._route.start))
        self._crashed_objects = crashed_objects(env.road)
        self._before = _states(env.road)
        self._last_position = np.array(ego.position, dtype=float)
        self._last_heading = float(ego.heading)
        self._last_lane = ego.lane_index
        self._ratios: list[float] = []
        self._comfortable = 0
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        # Python bools, as gymnasium's API says: highway-env's merge returns numpy's (x > 370), and SB3's check_env refuses it
        terminated, truncated = bool(terminated), bool(truncated)
        self._update(reward, info)
        if terminated or truncated:
            info["episode"] = self._finish().as_info()
        return obs, reward, terminated, truncated, info

    def _update(self, reward: float, info: dict) -> None:
        env, rec = self.env.unwrapped, self._record
        ego, road = env.vehicle, env.road
        rec.episode_return += float(reward)
        rec.length += 1
        rec.distance += float(np.linalg.norm(ego.position - self._last_position))
        self._last_position = np.array(ego.position, dtype=float)
        previous_speed = rec.speeds[-1] if rec.speeds else self._before[id(ego)][0]
        rec.speeds.append(float(ego.speed))
        lane = ego.lane_index
        if lane is not None and self._last_lane is not None and lane[:2] == self._last_lane[:2] and lane[2] != self._last_lane[2]:
            rec.lane_changes += 1
        self._last_lane = lane
        self._route.update(ego.position)
        # the share of the reference distance gained so far: what training's progress shaping reads (agents/training.py)
        info["route_progress"] = float(self._route.gained / rec.reference_distance) if rec.reference_distance > 0 else 0.0
        if ego.crashed and rec.collision_with is None:
            rec.collision_with = collision_kind(road, self._crashed_objects)
            rec.collision_at_fault = rec.collision_with == "obstacle" or collision_at_fault(road, ego, self._before)
            # A crash the ego caused is a time-to-collision of zero; being struck from behind is
            # not a failure of its own headway.
            rec.min_ttc = 0.0 if rec.collision_at_fault else rec.min_ttc
        elif not ego.crashed:  # a driving step (the crash step measures the crash, not the driving)
            ahead = ahead_on_path(road, ego, self._route.lanes_ahead(road.network, lane, PATH_HORIZON))
            rec.min_ttc = min(rec.min_ttc, ahead.ttc)
            info["ttc"] = float(ahead.ttc)  # [s] this step's, along the path (inf: not closing); training's TTC shaping reads it
            self._ratios.append(speed_ratio(float(ego.speed), ahead, self.scenario.route.reference_speed))
            turn = (float(ego.heading) - self._last_heading + math.pi) % (2 * math.pi) - math.pi
            self._comfortable += comfortable(float(ego.speed), previous_speed, turn, env.config["policy_frequency"])
        self._last_heading = float(ego.heading)
        self._crashed_objects = crashed_objects(road)
        self._before = _states(road)
        rec.collisions = int(ego.crashed)
        rec.offroad_steps += int(not ego.on_road)
        for term, value in (info.get("rewards") or {}).items():
            rec.reward_terms[term] = rec.reward_terms.get(term, 0.0) + float(value)

    def _finish(self) -> EpisodeRecord:
        env, rec = self.env.unwrapped, self._record
        rec.mean_speed = float(np.mean(rec.speeds)) if rec.speeds else 0.0
        rec.duration = rec.length / env.config["policy_frequency"]
        rec.route_distance = float(self._route.gained)
        rec.progress = float(np.clip(rec.route_distance / rec.reference_distance, 0.0, 1.0))
        rec.reached_goal = bool(self._route.reached_goal)
        rec.speed_ratio = float(np.mean(self._ratios)) if self._ratios else 0.0
        rec.comfort = self._comfortable / len(self._ratios) if self._ratios else 0.0
        if rec.collisions:
            rec.outcome = "collision"
        elif rec.offroad_steps:
            rec.outcome = "offroad"
        elif is_success(self.scenario.success, self._route, rec.progress):
            rec.outcome = "success"
        else:
            rec.outcome = "timeout"
        return rec


def _states(road) -> dict[int, tuple[float, bool]]:
    """id(vehicle) -> (speed [m/s], crashed) of every vehicle now, to judge a collision in the next step."""
    return {id(v): (float(v.speed), bool(v.crashed)) for v in road.vehicles}
