"""Ground truth: the ego and its N nearest vehicles as one fixed-size float32 array.

This array is both the "kinematics" observation (the oracle input) and the label the
perception module learns to predict from camera frames, so its layout is a contract:

    truth[0]   the ego:            presence=1, x=0, y=0, vx, vy (absolute), heading
    truth[1:]  nearest vehicles:   presence, x, y, vx, vy (relative to the ego), heading
               sorted by straight-line distance to the ego, nearest first (an order a network
               can read off the image); empty slots are all zeros.

Units: x, y [m] and vx, vy [m/s] in the world frame translated to the ego (not rotated: the
camera is not rotated either), heading [rad] in the world frame, wrapped to [-pi, pi).
Only vehicles (not static obstacles) closer than highway-env's perception distance (200 m).
These are the values of highway-env's Kinematics observation with absolute=False,
normalize=False (tests/sim/test_env.py checks it), computed without its pandas overhead.
"""

from __future__ import annotations

import numpy as np

TRUTH_FEATURES = ("presence", "x", "y", "vx", "vy", "heading")
DEFAULT_TRUTH_VEHICLES = 10  # others besides the ego -> truth shape (11, 6)

# The ego's place on its lane (info["lane"], shape (5,)): what a steering policy needs and the
# vehicle rows do not hold. on_road is 0/1; lateral [m] is the offset from the lane centre
# (positive to the lane's right, clipped to +-LATERAL_CLIP); angles [rad] are relative to the
# ego's heading: the lane's heading here (heading error) and LOOKAHEAD metres further along
# its route (the bend ahead).
LANE_FEATURES = ("on_road", "lateral", "heading_error", "bend_10m", "bend_25m")
LOOKAHEAD = (10.0, 25.0)  # [m]
LATERAL_CLIP = 10.0  # [m]


def read_truth(env, vehicles: int) -> np.ndarray:
    """The truth array (vehicles + 1, 6) of a highway-env env (the unwrapped AbstractEnv)."""
    ego = env.vehicle
    truth = np.zeros((vehicles + 1, len(TRUTH_FEATURES)), dtype=np.float32)
    truth[0] = (1.0, 0.0, 0.0, *ego.velocity, _wrap(ego.heading))
    near = [
        (float(np.linalg.norm(other.position - ego.position)), i, other)
        for i, other in enumerate(env.road.vehicles)
        if other is not ego
    ]
    near = sorted(item for item in near if item[0] < env.PERCEPTION_DISTANCE)[:vehicles]
    for row, (_, _, other) in enumerate(near, start=1):
        truth[row] = (1.0, *(other.position - ego.position), *(other.velocity - ego.velocity), _wrap(other.heading))
    return truth


def read_lane(env) -> np.ndarray:
    """The ego's lane-relative state (LANE_FEATURES) of a highway-env env (the unwrapped AbstractEnv)."""
    ego = env.vehicle
    network = env.road.network
    lane = network.get_lane(ego.lane_index)
    longitudinal, lateral = lane.local_coordinates(ego.position)
    ahead = [_wrap(_heading_along(network, ego, longitudinal + d) - ego.heading) for d in LOOKAHEAD]
    return np.array([float(ego.on_road), np.clip(lateral, -LATERAL_CLIP, LATERAL_CLIP),
                     _wrap(lane.heading_at(longitudinal) - ego.heading), *ahead], dtype=np.float32)


def _heading_along(network, ego, longitudinal: float) -> float:
    """Heading [rad] of the ego's lane `longitudinal` metres from its start, following the ego's
    route (or the closest continuation) into the next lanes when the lane ends before that."""
    index, route = ego.lane_index, list(getattr(ego, "route", None) or [])
    lane = network.get_lane(index)
    for _ in range(8):  # lanes are longer than the lookahead; the bound guards odd networks
        if longitudinal <= lane.length:
            break
        route = _route_after(route, index)
        following = network.next_lane(index, route=list(route) or None, position=lane.position(lane.length, 0))
        if following == index:  # a dead end: extrapolate the last lane
            break
        longitudinal -= lane.length
        index, lane = following, network.get_lane(following)
    return lane.heading_at(longitudinal)


def _route_after(route: list, index: tuple) -> list:
    """The part of a route that continues from the end of road `index`, or [] when it does not
    (highway-env's next_lane would log a warning at every step and then ignore it anyway)."""
    if route and tuple(route[0][:2]) == tuple(index[:2]):
        route = route[1:]
    return route if route and route[0][0] == index[1] else []


def kinematics_config(vehicles: int) -> dict:
    """highway-env's own Kinematics observation with the same content (used under obs="kinematics",
    so that raw highway-env with this config is the like-for-like speed reference)."""
    return {
        "type": "Kinematics",
        "vehicles_count": vehicles + 1,  # + the ego row
        "features": list(TRUTH_FEATURES),
        "absolute": False,
        "normalize": False,
        "clip": False,
        "see_behind": True,
        "order": "sorted",
        "include_obstacles": False,
    }


def _wrap(angle: float) -> float:
    return (angle + np.pi) % (2 * np.pi) - np.pi
