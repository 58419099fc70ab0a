"""Undo highway-env's process-wide side effects, so an episode does not depend on which
scenarios ran before it in the same process.

highway-env's IntersectionEnv writes IDM parameters onto the vehicle *class* when it resets
(intersection_env.py, _make_vehicles: `vehicle_type.DISTANCE_WANTED = 7`, COMFORT_ACC_MAX = 6,
COMFORT_ACC_MIN = -3). Every env built later in that process, and the idm baseline, then drive
with them: the same seed gives a different highway episode after an intersection episode than
in a fresh process. make_env's reset wrapper calls restore_vehicle_classes() before every reset.
"""

from __future__ import annotations

from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.controller import ControlledVehicle

# IDMVehicle's own values in highway-env 1.12 (vehicle/behavior.py); no subclass overrides them.
IDM_CLASS_DEFAULTS = {
    "DISTANCE_WANTED": 5.0 + ControlledVehicle.LENGTH,  # [m]
    "COMFORT_ACC_MAX": 3.0,  # [m/s2]
    "COMFORT_ACC_MIN": -5.0,  # [m/s2]
}


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def restore_vehicle_classes() -> None:
    """Put the class-level IDM parameters that highway-env envs overwrite back to their defaults."""
    for key, value in IDM_CLASS_DEFAULTS.items():
        setattr(IDMVehicle, key, value)
        for sub in _subclasses(IDMVehicle):
            if key in vars(sub):  # only an env's write can have put it there: inherit again
                delattr(sub, key)
