"""The driving score of one episode, in [0, 1]: the one definition (docs/metrics.md explains it).

    driving_score = route_completion x infraction_penalty x comfort_safety

route_completion (CARLA leaderboard style), in [0, 1]:
    1 on success. Otherwise the fraction of the episode budget survived, length / max_steps;
    in goal scenarios (success rule reach_goal / take_exit) an episode that never reached the
    goal earns only GOAL_MISSED_CREDIT of that, so timing out in front of the goal is not a pass.
infraction_penalty (CARLA), in (0, 1]: the product of
    PENALTY_VEHICLE (0.60) for a collision with a vehicle, PENALTY_OBSTACLE (0.65) for a
    collision with a static obstacle, and (1 - offroad_steps / length) for time off the road.
comfort_safety (nuPlan style weighted average), in [0, 1]:
    (W_TTC * ttc_ok + W_SPEED * speed_compliance) / (W_TTC + W_SPEED), with
    ttc_ok = 1 if the episode's minimum time-to-collision >= TTC_THRESHOLD (0.95 s) else 0, and
    speed_compliance = fraction of policy steps with the ego's speed within the scenario's
    speed_range [lo, hi] (inclusive).

Takes the info["episode"] dict of sim.metrics (plain numbers), so it runs anywhere.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping

PENALTY_VEHICLE = 0.60  # multiplier for a collision with another vehicle
PENALTY_OBSTACLE = 0.65  # multiplier for a collision with a static obstacle
TTC_THRESHOLD = 0.95  # [s] nuPlan's minimum time-to-collision
W_TTC = 5.0  # nuPlan weight of the TTC term
W_SPEED = 4.0  # nuPlan weight of speed-limit compliance
GOAL_MISSED_CREDIT = 0.5  # share of survived time credited when a goal scenario's goal was missed
GOAL_RULES = ("reach_goal", "take_exit")


@dataclass(frozen=True)
class ScoreParts:
    route_completion: float  # [0, 1]
    infraction_penalty: float  # (0, 1]
    ttc_ok: float  # 0 or 1
    speed_compliance: float  # [0, 1] fraction of steps within the speed range
    comfort_safety: float  # [0, 1]
    driving_score: float  # [0, 1] the product

    def as_dict(self) -> dict:
        return asdict(self)


def route_completion(episode: Mapping, success_rule: str, max_steps: int) -> float:
    if episode["outcome"] == "success":
        return 1.0
    survived = min(episode["length"] / max_steps, 1.0)
    return survived * GOAL_MISSED_CREDIT if success_rule in GOAL_RULES else survived


def infraction_penalty(episode: Mapping) -> float:
    penalty = 1.0
    if episode["collisions"]:
        penalty *= PENALTY_OBSTACLE if episode.get("collision_with") == "obstacle" else PENALTY_VEHICLE
    if episode["length"]:
        penalty *= 1.0 - episode["offroad_steps"] / episode["length"]
    return penalty


def speed_compliance(speeds, speed_range: tuple[float, float]) -> float:
    if not len(speeds):
        return 1.0
    lo, hi = speed_range
    return sum(lo <= v <= hi for v in speeds) / len(speeds)


def score_episode(episode: Mapping, success_rule: str, max_steps: int, speed_range: tuple[float, float]) -> ScoreParts:
    """Score one info["episode"] dict (needs outcome, length, collisions, collision_with,
    offroad_steps, min_ttc, speeds) for a scenario's success rule, step budget and speed range."""
    rc = route_completion(episode, success_rule, max_steps)
    penalty = infraction_penalty(episode)
    min_ttc = episode["min_ttc"]
    ttc_ok = float(min_ttc is None or math.isinf(min_ttc) or min_ttc >= TTC_THRESHOLD)
    speed = speed_compliance(episode["speeds"], speed_range)
    comfort = (W_TTC * ttc_ok + W_SPEED * speed) / (W_TTC + W_SPEED)
    return ScoreParts(rc, penalty, ttc_ok, speed, comfort, rc * penalty * comfort)


def score_for(episode: Mapping, scenario) -> ScoreParts:
    """score_episode with the rule, budget and speed range read from a scenarios.Scenario."""
    return score_episode(episode, scenario.success, scenario.budgets.max_steps, scenario.speed_range)
