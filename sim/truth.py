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
