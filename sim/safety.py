"""What lies ahead of the ego on its own path, and who was at fault in a collision.

TTC is measured along the ego's path (its lane and the lanes its route continues into), to the
vehicles and obstacles on those lanes ahead of it, so a car on a parallel or opposite lane, or
behind the ego, is not a threat here (nuPlan projects the ego forward along its own path too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from highway_env.road.lane import StraightLane

PATH_HORIZON = 150.0  # [m] of lanes ahead searched for vehicles
FOLLOWING_HEADWAY = 3.0  # [s] a leader closer than this (at the reference speed) sets the pace
REAR_END_TOLERANCE = 0.1  # [m/s] an ego this much faster than the car that hit it still counts as slower


@dataclass(frozen=True)
class Ahead:
    ttc: float  # [s] smallest time-to-collision to anything ahead on the path; inf if nothing closes in
    leader_gap: float  # [m] bumper-to-bumper gap to the nearest vehicle ahead on the path; inf if none
    leader_speed: float  # [m/s] that vehicle's speed along the path; inf if none


def ahead_on_path(road, ego, path: list) -> Ahead:
    """TTC and the leader along `path` (highway-env lanes, the ego's own first: RouteTracker.lanes_ahead)."""
    first = path[0]
    s_ego, _ = first.local_coordinates(ego.position)
    ego_speed = ego.speed * math.cos(ego.heading - first.heading_at(s_ego))  # [m/s] along the path
    ttc, gap_min, leader_speed = math.inf, math.inf, math.inf
    others = [v for v in (*road.vehicles, *road.objects) if v is not ego]
    positions = np.array([other.position for other in others], float).reshape(-1, 2)  # (K, 2) [m]
    offset = -s_ego  # [m] path length from the ego to the start of the current lane
    for lane in path:
        along, on = _on_lane(lane, positions)
        for k in np.flatnonzero(on):
            other, s = others[k], float(along[k])
            centre_gap = offset + s  # [m] along the path, centre to centre
            if centre_gap <= 0:
                continue  # beside or behind the ego
            gap = max(centre_gap - (ego.LENGTH + other.LENGTH) / 2, 0.0)
            speed = other.speed * math.cos(other.heading - lane.heading_at(s))  # [m/s] along the path
            closing = ego_speed - speed
            if closing > 0:
                ttc = min(ttc, gap / closing)
            if gap < gap_min:
                gap_min, leader_speed = gap, speed
        offset += lane.length
        if offset > PATH_HORIZON:
            break
    return Ahead(ttc, gap_min, leader_speed)


def _on_lane(lane, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(longitudinal (K,) [m], on the lane (K,) bool) of positions (K, 2): highway-env's
    local_coordinates and on_lane, at once for a straight lane (a highway's every vehicle in
    one call, instead of one call each: a twentieth of an env step on EnvPool)."""
    if isinstance(lane, StraightLane):
        delta = positions - lane.start
        longitudinal, lateral = delta @ lane.direction, delta @ lane.direction_lateral
        on = (np.abs(lateral) <= lane.width / 2) & (-lane.VEHICLE_LENGTH <= longitudinal) & \
            (longitudinal < lane.length + lane.VEHICLE_LENGTH)
        return longitudinal, on
    coordinates = [lane.local_coordinates(p) for p in positions]
    along = np.array([s for s, _ in coordinates], float)
    return along, np.array([lane.on_lane(p, s, d) for p, (s, d) in zip(positions, coordinates, strict=True)], bool)


def speed_ratio(ego_speed: float, ahead: Ahead, reference_speed: float) -> float:
    """The ego's speed against what it could drive, in [0, 1]: the reference speed, or the leader's
    when one is within FOLLOWING_HEADWAY (following slower traffic is not slowness)."""
    expected = reference_speed
    if ahead.leader_gap < FOLLOWING_HEADWAY * reference_speed:
        expected = min(expected, max(ahead.leader_speed, 0.0))
    if expected < 0.5:  # queued behind a stopped car: nothing faster was possible
        return 1.0
    return float(np.clip(ego_speed / expected, 0.0, 1.0))


def collision_at_fault(road, ego, before: dict) -> bool:
    """Did the ego cause the collision it is in? Not when it was struck from behind while slower
    than (or as slow as) the vehicle that hit it, as nuPlan rules; hitting an obstacle, or a
    vehicle ahead or beside, is at fault. before: id(vehicle) -> (speed [m/s], crashed) one policy
    step earlier (speeds after a crash are the crash's, not the driving's)."""
    struck_by = [v for v in road.vehicles if v is not ego and v.crashed and not before.get(id(v), (0, False))[1]]
    if not struck_by:  # an obstacle (the caller tells those apart) or nothing we can name
        return True
    other = min(struck_by, key=lambda v: np.linalg.norm(v.position - ego.position))
    forward = np.array([math.cos(ego.heading), math.sin(ego.heading)])
    behind = float(np.dot(other.position - ego.position, forward)) < 0
    ego_speed = before.get(id(ego), (ego.speed,))[0]
    other_speed = before.get(id(other), (other.speed,))[0]
    return not (behind and ego_speed <= other_speed + REAR_END_TOLERANCE)
