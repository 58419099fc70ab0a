"""The driving score (v2) of one episode, in [0, 1]: the one definition (docs/metrics.md explains it).

    driving_score = progress x making_progress x drivable_area x infraction_penalty
                    x speed_ratio x safety_comfort

progress (CARLA's route completion, by distance), in [0, 1]: distance gained along the scenario's
    route / its reference distance (sim/route.py).
making_progress (nuPlan's gate): 0 if progress < MIN_PROGRESS, else 1.
drivable_area (nuPlan's gate): 0 if the ego ever left the road (its centre outside every lane:
    highway-env's on_road, i.e. more than half its width over the edge), else 1.
infraction_penalty (CARLA), in (0, 1]: PENALTY_VEHICLE for a collision with a vehicle that the
    ego caused, PENALTY_OBSTACLE for one with a static obstacle; 1 when it was struck from behind
    while slower (not at fault, as nuPlan rules) or had no collision.
speed_ratio (CARLA leaderboard 2.0's minimum-speed infraction, made continuous), in [0, 1]: the
    mean over driving steps of the ego's speed / the speed it could drive (the scenario's
    reference speed, or a leader's within FOLLOWING_HEADWAY): crawling on an empty road costs,
    following slower traffic does not.
safety_comfort (nuPlan's weighted average), in [0, 1]:
    (W_TTC x ttc_ok + W_COMFORT x comfort) / (W_TTC + W_COMFORT), with ttc_ok = 1 if the
    minimum TTC along the ego's path >= TTC_THRESHOLD, and comfort the share of driving steps
    within nuPlan's acceleration and yaw-rate bounds (sim/metrics.py).

Takes the info["episode"] dict of sim.metrics (plain numbers), so it runs anywhere.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping

VERSION = 2  # results and reports name the score version they were computed with
MIN_PROGRESS = 0.2  # nuPlan's making-progress threshold (share of the reference distance)
PENALTY_VEHICLE = 0.60  # CARLA's multiplier for a collision with another vehicle
PENALTY_OBSTACLE = 0.65  # CARLA's multiplier for a collision with a static obstacle
TTC_THRESHOLD = 0.95  # [s] nuPlan's minimum time-to-collision
W_TTC = 5.0  # nuPlan's weight of the TTC term
W_COMFORT = 2.0  # nuPlan's weight of comfort


@dataclass(frozen=True)
class ScoreParts:
    progress: float  # [0, 1]
    making_progress: float  # 0 or 1
    drivable_area: float  # 0 or 1
    infraction_penalty: float  # (0, 1]
    speed_ratio: float  # [0, 1]
    ttc_ok: float  # 0 or 1
    comfort: float  # [0, 1]
    safety_comfort: float  # [0, 1]
    driving_score: float  # [0, 1] the product

    def as_dict(self) -> dict:
        return asdict(self) | {"version": VERSION}


def infraction_penalty(episode: Mapping) -> float:
    if not episode["collisions"] or episode.get("collision_at_fault") is False:
        return 1.0
    return PENALTY_OBSTACLE if episode.get("collision_with") == "obstacle" else PENALTY_VEHICLE


def score_episode(episode: Mapping) -> ScoreParts:
    """Score one info["episode"] dict of sim.metrics (progress, offroad_steps, collisions,
    collision_with, collision_at_fault, speed_ratio, min_ttc, comfort)."""
    progress = float(episode["progress"])
    making_progress = float(progress >= MIN_PROGRESS)
    drivable = float(episode["offroad_steps"] == 0)
    penalty = infraction_penalty(episode)
    min_ttc = episode["min_ttc"]
    ttc_ok = float(min_ttc is None or math.isinf(min_ttc) or min_ttc >= TTC_THRESHOLD)
    comfort = float(episode["comfort"])
    safety_comfort = (W_TTC * ttc_ok + W_COMFORT * comfort) / (W_TTC + W_COMFORT)
    speed = float(episode["speed_ratio"])
    score = progress * making_progress * drivable * penalty * speed * safety_comfort
    return ScoreParts(progress, making_progress, drivable, penalty, speed, ttc_ok, comfort, safety_comfort, score)
