"""Ground truth: the ego and its N nearest vehicles as one fixed-size float32 array.

This array is both the "kinematics" observation (the oracle input) and the label the
perception module learns to predict from camera frames, so its layout is a contract:

    truth[0]   the ego:            presence=1, x=0, y=0, vx, vy (absolute), heading
    truth[1:]  nearest vehicles:   presence, x, y, vx, vy (relative to the ego), heading
               sorted by distance to the ego, nearest first; empty slots are all zeros.

Units: x, y [m] and vx, vy [m/s] in the world frame translated to the ego (not rotated: the
camera is not rotated either), heading [rad] in the world frame, wrapped to [-pi, pi).
Vehicles farther than highway-env's perception distance (200 m) are never listed.
"""

from __future__ import annotations

import numpy as np
from highway_env.envs.common.observation import KinematicObservation

TRUTH_FEATURES = ("presence", "x", "y", "vx", "vy", "heading")
DEFAULT_TRUTH_VEHICLES = 10  # others besides the ego -> truth shape (11, 6)


def kinematics_config(vehicles: int) -> dict:
    """highway-env Kinematics observation config that yields the raw truth array."""
    return {
        "type": "Kinematics",
        "vehicles_count": vehicles + 1,  # + the ego row
        "features": list(TRUTH_FEATURES),
        "absolute": False,  # others relative to the ego
        "normalize": False,  # keep SI units
        "clip": False,
        "see_behind": True,  # the camera sees behind the ego too
        "order": "sorted",  # nearest first: a slot order a network can infer from the image
        "include_obstacles": False,  # vehicles only
    }


def finish_truth(raw: np.ndarray) -> np.ndarray:
    """Turn highway-env's Kinematics array into the truth contract above (returns a copy)."""
    truth = np.array(raw, dtype=np.float32, copy=True)
    truth[0, 1:3] = 0.0  # highway-env gives the ego's absolute position; we centre on it
    present = truth[:, 0] > 0
    heading = truth[:, 5]
    truth[:, 5] = np.where(present, (heading + np.pi) % (2 * np.pi) - np.pi, 0.0)
    return truth


class TruthSensor:
    """Reads the truth array from an env whose observation is something else (the camera)."""

    def __init__(self, env, vehicles: int) -> None:
        config = kinematics_config(vehicles)
        config.pop("type")
        self._observation = KinematicObservation(env, **config)

    def read(self) -> np.ndarray:
        return finish_truth(self._observation.observe())
