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

from sim.world import V

PERCEPTION_DISTANCE = 200.0  # [m] highway-env's AbstractEnv.PERCEPTION_DISTANCE

TRUTH_FEATURES = ("presence", "x", "y", "vx", "vy", "heading")
DEFAULT_TRUTH_VEHICLES = 10  # others besides the ego -> truth shape (11, 6)

# The ego's place on its lane (info["lane"], shape (6,)): what a steering policy needs and the
# vehicle rows do not hold. on_road is 0/1; lateral [m] is the offset from the lane centre
# (positive to the lane's right, clipped to +-LATERAL_CLIP); angles [rad] are relative to the
# ego's heading: the lane's heading here (heading error) and LOOKAHEAD metres further along
# its route (the bend ahead); route_25m is the bearing of the point ROUTE_LOOKAHEAD further
# along the route (WorldState.route) than the route point nearest the ego: where to go. On open
# roads (no route polyline) it is the bearing of the ego's lane centre that far ahead.
LANE_FEATURES = ("on_road", "lateral", "heading_error", "bend_10m", "bend_25m", "route_25m")
LOOKAHEAD = (10.0, 25.0)  # [m]
ROUTE_LOOKAHEAD = 25.0  # [m]
LATERAL_CLIP = 10.0  # [m]


def truth_from_world(world, vehicles: int) -> np.ndarray:
    """The truth array (vehicles + 1, 6) of a WorldState (sim/world.py)."""
    arr = world.vehicles.astype(np.float64)
    position, velocity = arr[:, [V["x"], V["y"]]], arr[:, [V["vx"], V["vy"]]]
    truth = np.zeros((vehicles + 1, len(TRUTH_FEATURES)), dtype=np.float32)
    truth[0] = (1.0, 0.0, 0.0, *velocity[0], _wrap(arr[0, V["heading"]]))
    distance = np.hypot(*(position[1:] - position[0]).T)
    near = np.argsort(distance, kind="stable")  # ties keep highway-env's vehicle order
    near = (near[distance[near] < PERCEPTION_DISTANCE] + 1)[:vehicles]
    truth[1 : 1 + len(near), 0] = 1.0
    truth[1 : 1 + len(near), 1:3] = position[near] - position[0]
    truth[1 : 1 + len(near), 3:5] = velocity[near] - velocity[0]
    truth[1 : 1 + len(near), 5] = _wrap(arr[near, V["heading"]])
    return truth


def to_ego_frame(truth: np.ndarray) -> np.ndarray:
    """A truth array (..., S, 6) in the ego's frame (the ego camera's): x forward, y to its right
    [m], vx, vy the same axes [m/s] (the ego row: its own velocity), headings relative to the ego's."""
    heading = truth[..., :1, 5:6]  # (..., 1, 1) the ego's world heading
    c, s = np.cos(heading), np.sin(heading)
    out = truth.copy()
    for i in (1, 3):  # (x, y) and (vx, vy): rotate by -heading
        a, b = truth[..., i : i + 1], truth[..., i + 1 : i + 2]
        out[..., i : i + 1], out[..., i + 1 : i + 2] = c * a + s * b, -s * a + c * b
    out[..., 5:6] = _wrap(truth[..., 5:6] - heading)
    return (out * (truth[..., :1] > 0)).astype(np.float32)  # empty slots stay zero


def read_lane(env, world=None) -> np.ndarray:
    """The ego's lane-relative state (LANE_FEATURES) of a highway-env env (the unwrapped AbstractEnv);
    world: its WorldState, for the route polyline."""
    ego = env.vehicle
    network = env.road.network
    lane = network.get_lane(ego.lane_index)
    longitudinal, lateral = lane.local_coordinates(ego.position)
    ahead = [_wrap(lane_at.heading_at(s) - ego.heading)
             for lane_at, s in (along_lane(network, ego, longitudinal + d) for d in LOOKAHEAD)]
    if world is not None and len(world.route) > 1:
        target = route_point_ahead(world.route, ego.position, ROUTE_LOOKAHEAD)
    else:
        far, s = along_lane(network, ego, longitudinal + ROUTE_LOOKAHEAD)
        target = far.position(s, 0.0)
    bearing = _wrap(np.arctan2(target[1] - ego.position[1], target[0] - ego.position[0]) - ego.heading)
    return np.array([float(ego.on_road), np.clip(lateral, -LATERAL_CLIP, LATERAL_CLIP),
                     _wrap(lane.heading_at(longitudinal) - ego.heading), *ahead, bearing], dtype=np.float32)


def route_point_ahead(route: np.ndarray, position, distance: float) -> np.ndarray:
    """The point (2,) [m] `distance` further along a polyline (P, 2) than its vertex nearest `position`
    (its last point when the route ends before that)."""
    nearest = int(np.argmin(np.hypot(*(route - np.asarray(position, np.float32)).T)))
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(route, axis=0).T))])
    goal = arc[nearest] + distance
    return np.array([np.interp(goal, arc, route[:, 0]), np.interp(goal, arc, route[:, 1])])


def along_lane(network, ego, longitudinal: float):
    """(lane, longitudinal [m] on it) of the point `longitudinal` metres from the start of the
    ego's lane, following the ego's route (or the closest continuation) into the next lanes when
    the lane ends before that."""
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
    return lane, longitudinal


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
